// A sample's model output must not depend on the batch it shares a forward with, its position in
// that batch, or the thread count: the generator and the server batch freely and promise the same
// bytes as a lone `denoise generate`. Each check compares, bit for bit, every sample of a batched
// forward with the same sample run alone on one thread.

import Foundation
import Testing
@testable import Diffusion
@testable import Graphs
import ModelIO
import Tensors
import TestSupport

@Suite struct BatchInvarianceTests {
    /// Runs `model` on samples `xs` with timesteps `ts` in one forward of batch xs.count.
    func forward(_ model: DiffusionModel, _ xs: [Tensor], _ ts: [Int], threads: Int) throws -> [Tensor] {
        let (image, time) = try model.graph.diffusionInputs()
        let b = xs.count
        var shapes = try ModelLoader.inputShapes(model.graph, batch: b)
        shapes[image] = Shape([b] + model.imageShape)
        let plan = try InferencePlan(model.graph, inputShapes: shapes, cpu: CPU(threads: threads), options: PlanOptions(timeTable: 1000))
        let x = Tensor(uninitialized: shapes[image]!)
        for (j, s) in xs.enumerated() { x.rows(j..<(j + 1)).assign(s) }
        var inputs: [ValueID: Value] = [image: .float(x)]
        if let time { inputs[time] = .int(IntTensor(shape: [b], values: ts.map(Int64.init))) }
        guard case .float(let y) = try plan.run(inputs)[0] else { throw GraphError.invalid("no output") }
        return (0..<b).map { y.rows($0..<($0 + 1)).copy() }
    }

    func check(_ model: DiffusionModel) throws {
        var rng = TestRNG(seed: 5)
        let samples = (0..<5).map { _ in Tensor(shape: Shape([1] + model.imageShape), scalars: (0..<model.imageShape.reduce(1, *)).map { _ in rng.uniform() }) }
        let times = [999, 500, 17, 0, 250]
        let alone = try (0..<5).map { try forward(model, [samples[$0]], [times[$0]], threads: 1)[0] }
        for threads in [1, 2] {
            for batch in [[0, 1, 2, 3, 4], [4, 2], [3, 1, 0]] {
                let ys = try forward(model, batch.map { samples[$0] }, batch.map { times[$0] }, threads: threads)
                for (j, k) in batch.enumerated() {
                    let d = relativeError(ys[j], alone[k])
                    let same = ys[j].scalars == alone[k].scalars; #expect(same, "sample \(k) at position \(j) of \(batch.count), \(threads) threads: rel diff \(d)")
                }
            }
        }
    }

    @Test func defaultShapedUNet() throws {
        let model = DiffusionModel(graph: try UNet2DBuilder.initialized(.fashionMNIST, seed: 3, cpu: CPU(threads: 2)),
                                schedule: ScheduleConfig(), imageShape: [1, 28, 28])
        try check(model)
    }

    /// Imported graphs: denoising-diffusion-pytorch's Unet (RMSNorm, linear attention) and a
    /// diffusers UNet2DModel, as exported by PyTorch.
    @Test(arguments: ["ddpm_unet_small/ddpm_unet_small.ts.onnx", "simple_unet/simple_unet.dynamo.onnx", "diffusers_unet_small/diffusers_unet_small.ts.onnx"])
    func importedONNX(_ file: String) throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../GraphTests/Fixtures/onnx/" + file).standardizedFileURL.path
        try check(try ModelLoader.open(path))
    }
}


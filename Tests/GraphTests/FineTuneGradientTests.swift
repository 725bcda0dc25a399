// The gradients of imported ONNX graphs match PyTorch's: the noise-prediction loss of each
// fixture model (TorchScript export) on its fixture batch, run on the autograd tape, against
// PyTorch's parameter gradients of the same model in train mode (scripts/make_finetune_fixtures.py).

import Foundation
import Testing
import Graphs
import ModelIO
import Tensors
import TestSupport

@Suite struct FineTuneGradientTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    @Test(arguments: ["diffusers_unet_small", "simple_unet", "ddpm_unet_small"])
    func gradientsMatchPyTorch(_ name: String) throws {
        let onnx = Self.root.appendingPathComponent("onnx/\(name)"), fixture = Self.root.appendingPathComponent("finetune/\(name)")
        let graph = try ModelLoader.open(onnx.appendingPathComponent("\(name).ts.onnx").path).graph
        let expected = try SafeTensors.read(contentsOf: fixture.appendingPathComponent("grads.safetensors"))
        let x = try NumPy.read(onnx.appendingPathComponent("x.npy").path), t = try NumPy.read(onnx.appendingPathComponent("t.npy").path)
        guard case .float(let target) = try NumPy.read(fixture.appendingPathComponent("target.npy").path) else { Issue.record("target"); return }
        let (image, time) = try graph.diffusionInputs()
        var inputs: [ValueID: Value] = [image: x]
        if let time { inputs[time] = t }
        // Which ONNX initializer holds which PyTorch parameter, and how (the exporter renames and
        // transposes some); the graph's trainable constants must be exactly these.
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: fixture.appendingPathComponent("meta.json"))) as? [String: Any]
        let mapping = try #require(meta?["onnx_names"] as? [String: [String]])
        let trainable = graph.trainableConstants(imageInputs: [image])
        let trainableNames = Set(trainable.map { graph[$0].name })
        let extra = trainableNames.subtracting(mapping.keys).sorted(), missing = Set(mapping.keys).subtracting(trainableNames).sorted()
        #expect(extra.isEmpty && missing.isEmpty, "\(name): trained but not PyTorch parameters: \(extra.prefix(4)); PyTorch parameters not trained: \(missing.prefix(4))")
        let cpu = CPU(threads: 2)
        let specialized = try graph.specialized(inputShapes: inputs.mapValues(\.shape), cpu: cpu, trainable: trainable)
        let tape = Tape(cpu: cpu)
        var vars: [ValueID: Var] = [:]
        for id in trainable { if case .float(let w)? = graph.constants[id] { vars[id] = tape.parameter(w.copy()) } }
        let y = try TapeExecutor(tape: tape).run(specialized.graph, inputs: inputs, parameters: vars)[0]
        let loss = try tape.mseLoss(y, tape.constant(target))
        let grads = try tape.backward(from: loss)
        // Per tensor: max|ours − PyTorch's| / max|PyTorch's|. Gradients that vanish in exact
        // arithmetic (attention's key bias: softmax ignores a shift shared by all keys) hold only
        // rounding noise on both sides; those must be negligible in ours too.
        var references: [(String, Tensor, Tensor)] = []
        for (id, v) in vars {
            guard let entry = mapping[graph[id].name] else { continue }
            var ours = try #require(grads[v], "\(entry[0]): no gradient")
            let reference = try expected.tensor(entry[0])
            if entry[1] == "transpose" { ours = try cpu.permute(ours, [1, 0]) }
            references.append((entry[0], try ours.reshaped(reference.shape), reference))
        }
        let magnitude = { (t: Tensor) in t.scalars.map(abs).max() ?? 0 }
        let largest = references.map { magnitude($0.2) }.max() ?? 1
        var worst: (Float, String) = (0, ""), vanishing: [String] = []
        for (param, ours, reference) in references {
            if magnitude(reference) < 1e-6 * largest {
                vanishing.append(param)
                #expect(magnitude(ours) < 1e-5 * largest, "\(param): PyTorch's gradient vanishes, ours is \(magnitude(ours))")
                continue
            }
            let e = relativeError(ours, reference)
            if e > worst.0 { worst = (e, param) }
        }
        #expect(vanishing.allSatisfy { $0.hasSuffix("to_k.bias") }, "\(name): unexpected vanishing gradients \(vanishing)")
        #expect(references.count == mapping.count)
        #expect(worst.0 <= 1e-3, "\(name): worst relative gradient error \(worst.0) at \(worst.1)")
    }
}

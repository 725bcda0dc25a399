// ONNX export: a model trained and exported by denoise runs in onnxruntime with denoise's own
// outputs (fixture from scripts/make_export_fixtures.py); exporting is deterministic; and every
// imported fixture graph survives export → import with identical outputs.

import Foundation
import Testing
import Graphs
import ModelIO
import Tensors
import TestSupport

@Suite struct ONNXExportTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    func evaluate(_ graph: Graph, x: Value, t: Value) throws -> Tensor {
        let (image, time) = try graph.diffusionInputs()
        var inputs: [ValueID: Value] = [image: x]
        if let time { inputs[time] = t }
        guard case .float(let y) = try Interpreter(cpu: CPU(threads: 2)).run(graph, inputs: inputs)[0] else { throw GraphError.invalid("no output") }
        return y
    }

    @Test func trainedModelMatchesOnnxRuntimeAndExportIsDeterministic() throws {
        let dir = Self.fixtures.appendingPathComponent("export")
        let model = try ModelLoader.open(dir.appendingPathComponent("tiny").path)
        let x = try NumPy.read(dir.appendingPathComponent("x.npy").path), t = try NumPy.read(dir.appendingPathComponent("t.npy").path)
        guard case .float(let ort) = try NumPy.read(dir.appendingPathComponent("y.ort.npy").path) else { Issue.record("y.ort.npy"); return }
        let ours = try evaluate(model.graph, x: x, t: t)
        #expect(relativeError(ours, ort) <= 1e-4, "denoise vs onnxruntime on the exported model: \(relativeError(ours, ort))")
        let bytes = try ONNXExporter.export(model)
        #expect(bytes == (try Data(contentsOf: dir.appendingPathComponent("tiny.onnx"))), "export changed: rerun scripts/make_export_fixtures.py if intended")
        // The exported file imports back with the schedule in its metadata and the same outputs (up
        // to rounding: fused attention was expanded to MatMul → Mul → Softmax → MatMul).
        let back = try ModelLoader.open(dir.appendingPathComponent("tiny.onnx").path)
        #expect(back.schedule == model.schedule)
        #expect(relativeError(try evaluate(back.graph, x: x, t: t), ours) <= 1e-5)
    }

    @Test(arguments: ["ddpm_unet_small", "ddpm_unet_rgb", "diffusers_unet_small", "diffusers_float_time", "simple_unet", "noise_predictor"])
    func importedGraphsRoundTrip(_ name: String) throws {
        let dir = Self.fixtures.appendingPathComponent("onnx/\(name)")
        let graph = try ModelLoader.open(dir.appendingPathComponent("\(name).ts.onnx").path).graph
        let x = try NumPy.read(dir.appendingPathComponent("x.npy").path), t = try NumPy.read(dir.appendingPathComponent("t.npy").path)
        let back = try ONNXImporter.load(data: try ONNXExporter.export(graph), path: "\(name) (exported)")
        #expect(try evaluate(back, x: x, t: t).scalars == evaluate(graph, x: x, t: t).scalars, "\(name)")
    }
}

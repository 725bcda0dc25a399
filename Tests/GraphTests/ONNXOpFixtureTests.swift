// The ONNX op-family fixtures (scripts/make_onnx_op_fixtures.py: tiny PyTorch modules around
// pooling, activations, every Resize mode, nearest-exact's GatherND, ConvTranspose and expand
// patterns, each from both exporters; and hand-made ConvTranspose output_shape / auto_pad and Conv
// SAME graphs, Resize at ONNX's other sampling positions) import and match onnxruntime within 1e-5
// of the output's scale, imported and as a compiled plan (where the TorchScript exporter's Mish and
// GELU decompositions fuse); fine-tuning finds a gradient for every parameter and the tape's gradients match
// central differences of its own forward; and each graph survives the native format and ONNX
// export with identical outputs. Fixtures are discovered from the folder, laid out as
// ONNXParityTests' (`<model>/<model>.<variant>.onnx` against `y.<variant>.npy`, fed `x.npy`).

import Foundation
import Testing
@testable import Graphs
import ModelIO
import Tensors
import TestSupport

@Suite struct ONNXOpFixtureTests {
    static let root = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/onnx_ops")
    let cpu = CPU(threads: 2)

    static var all: [ONNXFixture] {
        let fm = FileManager.default
        let folders = (try? fm.contentsOfDirectory(at: root, includingPropertiesForKeys: nil)) ?? []
        return folders.filter(\.hasDirectoryPath).sorted { $0.path < $1.path }.flatMap { folder in
            ((try? fm.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".onnx") }.sorted()
                .map { ONNXFixture(folder: folder, file: $0) }
        }
    }

    /// The first output of `graph` run by the interpreter on `inputs`.
    func output(_ graph: Graph, _ inputs: [ValueID: Value]) throws -> Tensor {
        guard case .float(let y) = try Interpreter(cpu: cpu).run(graph, inputs: inputs)[0] else { throw GraphError.invalid("output is not float") }
        return y
    }

    @Test func fixturesArePresent() {
        let all = Self.all, models = Set(all.map { $0.folder.lastPathComponent })
        #expect(all.count >= 17, "found \(all.count) fixtures under \(Self.root.path)")
        for model in ["pools", "activations", "resizes", "nearest_exact", "convtranspose", "expands", "convtranspose_output_shape", "conv_same"] {
            #expect(models.contains(model), "no fixture for \(model)")
        }
        #expect(all.filter { $0.variant == "ts" }.count >= 5 && all.filter { $0.variant == "dynamo" }.count >= 6)
    }

    @Test(arguments: all) func importedGraphAndPlanMatchOnnxRuntime(_ fixture: ONNXFixture) throws {
        let graph = try ONNXImporter.load(fixture.path)
        let inputs = try fixture.inputs(for: graph), expected = try fixture.expected()
        let y = try output(graph, inputs)
        try #require(y.shape == expected.shape, "\(fixture): shape \(y.shape) vs \(expected.shape)")
        #expect(relativeError(y, expected) <= 1e-5, "\(fixture): interpreter vs onnxruntime \(relativeError(y, expected))")
        let plan = try InferencePlan(graph, inputShapes: inputs.mapValues(\.shape), cpu: cpu)
        guard case .float(let planned) = try plan.run(inputs)[0] else { Issue.record("\(fixture): plan output is not float"); return }
        #expect(relativeError(planned, expected) <= 1e-5, "\(fixture): plan vs onnxruntime \(relativeError(planned, expected))")
    }

    /// The TorchScript exporter's decompositions of nn.Mish (Softplus, Tanh, Mul) and nn.GELU (Div,
    /// Erf, Add, Mul, Mul) fuse into single unary nodes; the fused plan matches onnxruntime above.
    @Test func torchScriptMishAndGELUFuse() throws {
        let fixture = try #require(Self.all.first { $0.folder.lastPathComponent == "activations" && $0.variant == "ts" })
        let graph = try ONNXImporter.load(fixture.path)
        let inputs = try fixture.inputs(for: graph)
        let fused = try graph.specialized(inputShapes: inputs.mapValues(\.shape), cpu: cpu).fused().graph.nodes.map(\.op.name)
        #expect(fused.contains("mish") && fused.contains("gelu") && !fused.contains("erf"), "\(fused)")
        let y = try output(try graph.specialized(inputShapes: inputs.mapValues(\.shape), cpu: cpu).fused().graph, inputs)
        #expect(relativeError(y, try fixture.expected()) <= 1e-5)
    }

    /// Fine-tuning: every trainable constant (the convs' weights and biases, the expanded scale)
    /// gets a finite gradient of L = Σ y ⊙ R, and a few elements of each match central
    /// differences of the tape's forward, which matches onnxruntime.
    @Test(arguments: all) func fineTuningGradientsMatchFiniteDifferences(_ fixture: ONNXFixture) throws {
        let graph = try ONNXImporter.load(fixture.path)
        let inputs = try fixture.inputs(for: graph)
        let image = try #require(graph.inputs.first)
        let trainable = graph.trainableConstants(imageInputs: [image])
        try #require(!trainable.isEmpty, "\(fixture): no trainable constants")
        let specialized = try graph.specialized(inputShapes: inputs.mapValues(\.shape), cpu: cpu, trainable: trainable)
        let point = Dictionary(uniqueKeysWithValues: trainable.compactMap { id -> (ValueID, Tensor)? in
            guard case .float(let w)? = graph.constants[id] else { return nil }
            return (id, w)
        })
        func forward(_ parameters: [ValueID: Tensor]) throws -> (Tape, [ValueID: Var], Var) {
            let tape = Tape(cpu: cpu)
            let vars = parameters.mapValues { tape.parameter($0) }
            return (tape, vars, try TapeExecutor(tape: tape).run(specialized.graph, inputs: inputs, parameters: vars)[0])
        }
        let (tape, vars, y) = try forward(point)
        #expect(relativeError(tape[y], try fixture.expected()) <= 1e-5, "\(fixture): tape forward vs onnxruntime")
        let projection = randomTensor(tape[y].shape, seed: 31)
        let gradients = try tape.backward(from: y, seed: projection)
        // A step small enough to cross no activation kink (3·bias moves every feature of a channel).
        let check = GradientCheck(eps: 2e-4, rtol: 1e-2, atol: 1e-2)
        for (id, w) in point.sorted(by: { $0.key < $1.key }) {
            let g = try #require(gradients[vars[id]!], "\(fixture): no gradient for \(graph[id].name)")
            #expect(g.scalars.allSatisfy { $0.isFinite } && g.scalars.contains { $0 != 0 }, "\(fixture): gradient of \(graph[id].name) is \(g.scalars.prefix(4))")
            let picks = Set([0, w.count / 2, w.count - 1])
            let mismatches = try check.mismatches(g, at: w, elements: picks.sorted()) { perturbed in
                var p = point
                p[id] = perturbed
                let (t, _, out) = try forward(p)
                return projectedSum(t[out], projection)
            }
            #expect(mismatches.isEmpty, "\(fixture), \(graph[id].name) \(w.shape): \(mismatches)")
        }
    }

    /// The graph written as a native folder and read back, and exported to ONNX and imported
    /// back, gives the same bits.
    @Test(arguments: all) func nativeFormatAndONNXExportRoundTrip(_ fixture: ONNXFixture) throws {
        let graph = try ONNXImporter.load(fixture.path)
        let inputs = try fixture.inputs(for: graph)
        let image = try #require(graph.inputs.first), expected = try output(graph, inputs)
        let dir = try temporaryFolder()
        try DiffusionModel(graph: graph, schedule: ScheduleConfig(), imageShape: Array(inputs[image]!.shape.dropFirst())).write(to: dir)
        let native = try DiffusionModel.readNative(dir).graph
        #expect(try output(native, [native.inputs[0]: inputs[image]!]).scalars == expected.scalars, "\(fixture): native round trip")
        let exported = try ONNXImporter.load(data: try ONNXExporter.export(graph), path: "\(fixture) (exported)")
        #expect(try output(exported, [exported.inputs[0]: inputs[image]!]).scalars == expected.scalars, "\(fixture): ONNX export round trip")
    }
}

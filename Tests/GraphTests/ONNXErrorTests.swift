// Bad ONNX input gets a clear error, never a crash or a hang: hundreds of truncated and corrupted
// variants of a fixture; unsupported ops, missing initializers and wrong input shapes named in
// the message; external data read from the model's folder and refused outside it.

import Foundation
import Testing
@testable import Graphs
@testable import ModelIO
import Tensors
import TestSupport

private let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
private let instanceNorm = fixtures.appendingPathComponent("onnx/groupnorm_forms/instancenorm.onnx").path

/// The error's text, or nil when `body` succeeded.
private func errorText(_ body: () throws -> Void) -> String? {
    do { try body(); return nil } catch { return "\(error)" }
}

/// Imports `data` and runs it on zeros of its declared shapes (batch 1).
private func importAndRun(_ data: Data) throws {
    let graph = try ONNXImporter.load(data: data, path: "variant.onnx")
    let shapes = try ModelLoader.inputShapes(graph, batch: 1)
    let inputs = Dictionary(uniqueKeysWithValues: graph.inputs.map { id in
        (id, graph[id].type == .float32 ? Value.float(Tensor(zeros: shapes[id]!)) : Value.int(IntTensor(shape: shapes[id]!, values: Array(repeating: 0, count: shapes[id]!.elementCount))))
    })
    _ = try Interpreter(cpu: CPU(threads: 1)).run(graph, inputs: inputs)
}

@Suite struct ONNXErrorTests {
    /// Every truncation of a valid file is an error naming the file.
    @Test func truncatedFilesAreErrors() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: instanceNorm))
        var rng = TestRNG(seed: 1)
        var lengths = Array(0..<min(64, data.count))
        lengths += (0..<200).map { _ in Int.random(in: 0..<data.count, using: &rng) }
        for n in lengths {
            let message = errorText { try importAndRun(data.prefix(n)) }
            #expect(message != nil, "a \(n)-byte prefix of \(data.count) bytes imported without error")
            if let message { #expect(message.contains("variant.onnx") || message.contains("input"), "unhelpful message: \(message)") }
        }
    }

    /// Random byte corruption never crashes or hangs: each variant either fails with an error that
    /// names the file or a node, or is a model that still imports and runs (bytes inside weight
    /// data change numbers, not structure). Most variants must be errors.
    @Test func corruptedFilesNeverCrash() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: instanceNorm))
        var rng = TestRNG(seed: 2)
        var errors = 0
        let variants = 300
        for _ in 0..<variants {
            var bytes = [UInt8](data)
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[i] = Bool.random(using: &rng) ? 0xFF : UInt8.random(in: 0...255, using: &rng)
            }
            if let message = errorText({ try importAndRun(Data(bytes)) }) {
                errors += 1
                #expect(message.contains("variant.onnx") || message.contains("node") || message.contains("input") || message.contains("graph"),
                        "unhelpful message: \(message)")
            }
        }
        #expect(errors >= variants / 2, "only \(errors) of \(variants) corrupted variants were rejected")
    }

    @Test func unsupportedOpNamesOpNodeOpsetAndSupportedSet() throws {
        var model = try ONNXModel(contentsOf: instanceNorm)
        let index = try #require(model.nodes.firstIndex { $0.opType == "InstanceNormalization" })
        model.nodes[index].opType = "Frobnicate"
        let message = errorText { _ = try ONNXImporter.importModel(model) } ?? "no error"
        for part in ["Frobnicate", model.nodes[index].name, "opset 17", "InstanceNormalization", "Conv"] {
            #expect(message.contains(part), "message lacks '\(part)': \(message)")
        }
    }

    /// `supportedOps` is what the importer maps: each listed op type reaches its mapping (a node
    /// without attributes may still be refused, but never as an unknown op type).
    @Test func everySupportedOpIsMapped() throws {
        let base = try ONNXModel(contentsOf: instanceNorm)
        let x = try #require(base.inputs.first?.name)
        for opType in ONNXImporter.supportedOps {
            var model = base
            model.nodes = [ONNXNode(opType: opType, domain: "", name: "probe", inputs: [x, x, x], outputs: ["probe_out"], attributes: [:])]
            model.outputs = []
            let message = errorText { _ = try ONNXImporter.importModel(model) } ?? ""
            #expect(!message.contains("op type '\(opType)' is not supported"), "\(opType) is listed but not mapped: \(message)")
        }
    }

    @Test func refusedOptionsAreNamed() throws {
        let base = try ONNXModel(contentsOf: instanceNorm)
        let x = try #require(base.inputs.first?.name)
        /// The probe reads `mid`, an Identity of x, whose shape the file does not state.
        func message(_ opType: String, outputs: [String] = ["y"], _ attributes: [String: ONNXAttribute]) -> String {
            var model = base
            model.nodes = [ONNXNode(opType: "Identity", domain: "", name: "mid", inputs: [x], outputs: ["mid"], attributes: [:]),
                           ONNXNode(opType: opType, domain: "", name: "probe", inputs: ["mid"], outputs: outputs, attributes: attributes)]
            model.outputs = []
            return errorText { _ = try ONNXImporter.importModel(model) } ?? "no error"
        }
        func ints(_ v: [Int]) -> ONNXAttribute { ONNXAttribute(ints: v) }
        func string(_ v: String) -> ONNXAttribute { ONNXAttribute(string: v) }
        let k2 = ["kernel_shape": ints([2, 2])]
        let cases: [(String, [String], [String: ONNXAttribute], [String])] = [
            ("MaxPool", ["y", "indices"], k2, ["Indices", "'indices'"]),
            ("AveragePool", ["y"], k2.merging(["pads": ints([0, 1, 1, 1])]) { $1 }, ["asymmetric pads"]),
            ("AveragePool", ["y"], k2.merging(["dilations": ints([2, 2])]) { $1 }, ["dilations"]),
            ("MaxPool", ["y"], k2.merging(["pads": ints([2, 2, 2, 2])]) { $1 }, ["half the kernel"]),
            ("MaxPool", ["y"], ["kernel_shape": ints([2, 2, 2])], ["2-D pooling"]),
            ("Resize", ["y"], ["mode": string("cubic"), "cubic_coeff_a": ONNXAttribute(float: -0.5)], ["cubic_coeff_a"]),
            ("Resize", ["y"], ["mode": string("nearest"), "coordinate_transformation_mode": string("tf_half_pixel_for_nn")], ["tf_half_pixel_for_nn"]),
            ("Resize", ["y"], ["antialias": ONNXAttribute(int: 1)], ["antialias"]),
            ("ConvTranspose", ["y"], ["output_shape": ints([8, 8]), "kernel_shape": ints([3, 3])], ["output_shape", "fixed spatial size"]),
            ("Conv", ["y"], ["auto_pad": string("SAME_UPPER"), "kernel_shape": ints([3, 3])], ["auto_pad SAME_UPPER", "fixed spatial size"]),
        ]
        for (opType, outputs, attributes, parts) in cases {
            let text = message(opType, outputs: outputs, attributes)
            for part in parts + ["probe", opType] { #expect(text.contains(part), "\(opType) \(attributes.keys.sorted()): message lacks '\(part)': \(text)") }
        }
    }

    @Test func missingInitializerIsNamed() throws {
        var model = try ONNXModel(contentsOf: instanceNorm)
        let removed = model.initializers.removeFirst().name
        let message = errorText { _ = try ONNXImporter.importModel(model) } ?? "no error"
        #expect(message.contains(removed) && message.contains("instancenorm.onnx"), "\(message)")
    }

    @Test func unsupportedOpsetIsNamed() throws {
        var model = try ONNXModel(contentsOf: instanceNorm)
        model.opsets[""] = 9
        let message = errorText { _ = try ONNXImporter.importModel(model) } ?? "no error"
        #expect(message.contains("opset 9") && message.contains("13"), "\(message)")
    }

    @Test func wrongInputShapeIsNamed() throws {
        let graph = try ONNXImporter.load(instanceNorm)
        let x = try #require(graph.inputs.first)
        let message = errorText { _ = try graph.specialized(inputShapes: [x: [1, 5, 16, 16]], cpu: CPU(threads: 1)) } ?? "no error"
        #expect(message.contains(graph[x].name) && message.contains("[1, 5, 16, 16]"), "\(message)")
        let plan = try InferencePlan(graph, inputShapes: [x: [2, 3, 16, 16]], cpu: CPU(threads: 1))
        let runMessage = errorText { _ = try plan.run([x: .float(Tensor(zeros: [1, 3, 16, 16]))]) } ?? "no error"
        #expect(runMessage.contains("[1, 3, 16, 16]") && runMessage.contains("[2, 3, 16, 16]"), "\(runMessage)")
    }

    @Test func externalDataIsConfinedToTheModelFolder() throws {
        let folder = fixtures.appendingPathComponent("external_data")
        let graph = try ONNXImporter.load(folder.appendingPathComponent("inside.onnx").path)
        let x = try NumPy.read(fixtures.appendingPathComponent("onnx/groupnorm_forms/x.npy").path)
        guard case .float(let expected) = try NumPy.read(fixtures.appendingPathComponent("onnx/groupnorm_forms/y.instancenorm.npy").path),
              case .float(let y) = try Interpreter(cpu: CPU(threads: 1)).run(graph, inputs: [graph.inputs[0]: x])[0] else {
            Issue.record("float tensors expected"); return
        }
        #expect(relativeError(y, expected) <= 1e-5)
        let escaping = errorText { _ = try ONNXImporter.load(folder.appendingPathComponent("escaping.onnx").path) } ?? "no error"
        #expect(escaping.contains("outside the model's folder") && escaping.contains("../outside.weights"), "\(escaping)")
        let missing = errorText { _ = try ONNXImporter.load(folder.appendingPathComponent("missing.onnx").path) } ?? "no error"
        #expect(missing.contains("nothere.weights"), "\(missing)")
    }
}

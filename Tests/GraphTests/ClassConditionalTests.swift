// Class-conditional graphs: the class-label input's role and class count found from the graph,
// the forward against PyTorch with per-sample labels (with and without the time table: the labels'
// branch must not be tabulated by timestep), and the classes (null label included) surviving the
// native format and ONNX export.

import Foundation
import Testing
@testable import Graphs
@testable import ModelIO
import Tensors
import TestSupport

private let folder = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/onnx/diffusers_class_cond")
private let onnx = folder.appendingPathComponent("diffusers_class_cond.ts.onnx").path

@Suite struct ClassConditionalTests {
    func npy(_ name: String) throws -> Value { try NumPy.read(folder.appendingPathComponent(name).path) }

    @Test func rolesAndClassCountComeFromTheGraph() throws {
        let model = try ModelLoader.open(onnx)
        let roles = try model.graph.diffusionInputRoles()
        #expect(model.graph[roles.image].name == "x" && roles.time.map { model.graph[$0].name } == "t")
        #expect(roles.classLabels.map { model.graph[$0].name } == "class_labels")
        #expect(model.graph.classLabelCount == 4 && model.classes == ClassLabels(count: 4))
        // Without names, the third input is the labels; an unconditional graph has none.
        var renamed = model.graph
        renamed.values[roles.classLabels!.index].name = "c"
        let renamedRoles = try renamed.diffusionInputRoles()
        #expect(renamedRoles == roles)
        let unconditional = try ModelLoader.open(folder.appendingPathComponent("../diffusers_unet_small/diffusers_unet_small.ts.onnx").path)
        #expect(unconditional.classes == nil)
    }

    @Test func forwardMatchesPyTorchWithPerSampleLabels() throws {
        let model = try ModelLoader.open(onnx)
        let roles = try model.graph.diffusionInputRoles()
        let (x, t, c) = (try npy("x.npy"), try npy("t.npy"), try npy("class_labels.npy"))
        guard case .float(let expected) = try npy("y.torch.npy") else { Issue.record("y.torch.npy is not float"); return }
        for timeTable in [1000, 0] {
            let plan = try InferencePlan(model.graph, inputShapes: [roles.image: x.shape, roles.time!: t.shape, roles.classLabels!: c.shape],
                                         cpu: CPU(threads: 2), options: PlanOptions(timeTable: timeTable))
            #expect(plan.hasTimeTable == (timeTable > 0))
            guard case .float(let y) = try plan.run([roles.image: x, roles.time!: t, roles.classLabels!: c])[0] else { Issue.record("no float output"); return }
            #expect(relativeError(y, expected) < 1e-4, "time table \(timeTable): \(relativeError(y, expected))")
        }
    }

    @Test func classesSurviveTheNativeFormat() throws {
        var model = try ModelLoader.open(onnx)
        model.classes = ClassLabels(count: 4, names: ["zero", "one", "two", "three"])
        let dir = try temporaryFolder()
        try model.write(to: dir)
        let json = try String(contentsOfFile: dir + "/model.json", encoding: .utf8)
        #expect(json.contains(#""classes": {"#) && json.contains(#""count": 4"#) && json.contains(#""names": ["zero", "one", "two", "three"]"#))
        let back = try DiffusionModel.readNative(dir)
        let two = try back.classes?.label("two")
        #expect(back.classes == model.classes && two == 2)
        // A count that disagrees with the names is refused, naming the key.
        try Data(json.replacingOccurrences(of: #""count": 4"#, with: #""count": 3"#).utf8).write(to: URL(fileURLWithPath: dir + "/model.json"))
        #expect { try DiffusionModel.readNative(dir) } throws: { "\($0)".contains("classes") && "\($0)".contains("count 3 and 4 names") }
    }

    @Test func classesSurviveONNXExport() throws {
        var model = try ModelLoader.open(onnx)
        model.classes = ClassLabels(count: 4, names: ["t-shirt", "trouser", "say \"hi\"", "bag"])
        let path = try temporaryFolder() + "/m.onnx"
        try ONNXExporter.write(model, to: path)
        #expect(try ModelLoader.open(path).classes == model.classes)
        #expect { try ClassLabels.from(metadata: ["denoise.class_names": "[\"a\"]"], inferred: ClassLabels(count: 4), source: "m.onnx") } throws: {
            "\($0)".contains("1 names for 4 classes")
        }
    }

    /// The null label (the row after the classes) survives both formats; one that is a class is refused by name.
    @Test func nullLabelSurvivesBothFormats() throws {
        var model = try ModelLoader.open(onnx)
        model.classes = ClassLabels(count: 3, names: ["a", "b", "c"], nullLabel: 3)
        let dir = try temporaryFolder()
        try model.write(to: dir)
        let json = try String(contentsOfFile: dir + "/model.json", encoding: .utf8)
        #expect(json.contains(#""null_label": 3"#))
        #expect(try DiffusionModel.readNative(dir).classes == model.classes)
        try Data(json.replacingOccurrences(of: #""null_label": 3"#, with: #""null_label": 1"#).utf8).write(to: URL(fileURLWithPath: dir + "/model.json"))
        #expect { try DiffusionModel.readNative(dir) } throws: { "\($0)".contains("null_label 1") && "\($0)".contains("is one of the 3 classes") }
        let path = try temporaryFolder() + "/m.onnx"
        try ONNXExporter.write(model, to: path)
        #expect(try ModelLoader.open(path).classes == model.classes)
        #expect(model.classes?.metadata["denoise.null_class"] == "3")
        #expect { try ClassLabels.from(metadata: ["denoise.null_class": "x"], inferred: ClassLabels(count: 4), source: "m.onnx") } throws: {
            "\($0)".contains("denoise.null_class = 'x' is not a non-negative integer")
        }
        // The null label is not a class a request can name.
        #expect(throws: ClassLabelError.self) { try model.classes!.label("3") }
    }
}

// denoise export: a model (any format) to an ONNX file that onnxruntime runs.

import ArgumentParser
import Foundation
import ModelIO

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model (native, diffusers folder or ONNX) as an ONNX file (opset \(ONNXExporter.opset)).",
        discussion: "The schedule travels in the file's metadata_props (\(ScheduleConfig.metadataKeys.joined(separator: ", "))), so `denoise import` and `serve` read it back.")

    @Argument(help: "The model.")
    var model: String

    @Option(help: "Where to write the ONNX file (replaced atomically).")
    var onnx: String

    func run() throws {
        let diffusionModel = try ModelLoader.open(model)
        try ONNXExporter.write(diffusionModel, to: onnx)
        print("wrote \(onnx): \(diffusionModel.graph.nodes.count) nodes, \(diffusionModel.graph.parameterCount) parameters, opset \(ONNXExporter.opset)")
    }
}

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
        let native = try ModelLoader.open(model)
        try ONNXExporter.write(native, to: onnx)
        print("wrote \(onnx): \(native.graph.nodes.count) nodes, \(native.graph.parameterCount) parameters, opset \(ONNXExporter.opset)")
    }
}

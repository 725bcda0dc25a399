// denoise export: a model (any format) to an ONNX file that onnxruntime runs.

import ArgumentParser
import Foundation
import Graphs
import ModelIO
import Tensors

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
        var graph = native.graph
        for (k, v) in native.schedule.metadata { graph.metadata[k] = v }
        // Shapes at batch 1 give the ranks some expansions need.
        var inputShapes = try ModelLoader.inputShapes(graph, batch: 1)
        let (image, _) = try ModelLoader.imageAndTimeInputs(graph)
        inputShapes[image] = Shape([1] + native.imageShape)
        let shapes = try graph.specialized(inputShapes: inputShapes, cpu: CPU(threads: 1)).shapes
        try ONNXExporter.write(graph, shapes: shapes, to: onnx)
        print("wrote \(onnx): \(graph.nodes.count) nodes, \(graph.parameterCount) parameters, opset \(ONNXExporter.opset)")
    }
}

// ModelLoader: opens any supported model format by path and returns its graph, and finds the
// image and timestep inputs of a diffusion model's graph. Formats: ONNX files (`.onnx`); the
// native folder and diffusers folders join here as they land.

import Foundation
import Graphs

/// Opens models of every supported format.
public enum ModelLoader {
    /// The graph of the model at `path`.
    public static func load(_ path: String) throws -> Graph {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw ONNXError(path: path, problem: "no such file or folder")
        }
        guard !isFolder.boolValue, path.hasSuffix(".onnx") else {
            throw ONNXError(path: path, problem: "not a supported model (expected an .onnx file)")
        }
        return try ONNXImporter.load(path)
    }

    /// The image input (the first rank-4 float input, or the first input) and the timestep input
    /// (the other input, if any) of a diffusion model's graph.
    public static func imageAndTimeInputs(_ graph: Graph) throws -> (image: ValueID, time: ValueID?) {
        guard !graph.inputs.isEmpty, graph.inputs.count <= 2 else {
            throw GraphError.invalid("a diffusion model takes an image and optionally a timestep; this one has \(graph.inputs.count) inputs (\(graph.inputs.map { graph[$0].name }))")
        }
        let image = graph.inputs.first { graph[$0].dims?.count == 4 && graph[$0].type == .float32 } ?? graph.inputs[0]
        return (image, graph.inputs.first { $0 != image })
    }
}

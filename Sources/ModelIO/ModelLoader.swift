// ModelLoader: opens any supported model format by path — ONNX files (`.onnx`), native model
// folders and diffusers folders — or ONNX bytes held in memory, and gives the concrete input
// shapes for a batch size.

import Foundation
import Graphs
import Tensors

/// Opens models of every supported format.
public enum ModelLoader {
    /// The model at `path`: an ONNX file, a native model folder (`model.json` + `weights.safetensors`)
    /// or a diffusers UNet2DModel / pipeline folder.
    /// `schedule` comes from the native folder, else from `scheduleConfig` (a diffusers
    /// scheduler_config.json), else from the ONNX metadata keys, else the defaults.
    public static func open(_ path: String, scheduleConfig: String? = nil) throws -> DiffusionModel {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw ModelFileError(path: path, problem: "no such file or folder")
        }
        if isFolder.boolValue {
            if DiffusersFolder.isDiffusers(path) { return try DiffusersFolder.load(path, scheduleConfig: scheduleConfig) }
            guard FileManager.default.fileExists(atPath: path + "/model.json") else {
                throw ModelFileError(path: path, problem: "a folder with neither model.json (native) nor diffusion_pytorch_model.safetensors / .bin / unet/ (diffusers)")
            }
            var model = try DiffusionModel.readNative(path)
            if let scheduleConfig { model.schedule = try ScheduleConfig.read(scheduleConfig) }
            return model
        }
        if path.hasSuffix(".safetensors") || path.hasSuffix(".pt") {
            throw ModelFileError(path: path, problem: "a state dict is not a model by itself (a denoising-diffusion-pytorch checkpoint needs its image size): "
                                 + "convert it with `denoise import \(path) --image-size S --out DIR`, then use DIR")
        }
        guard path.hasSuffix(".onnx") else {
            throw ModelFileError(path: path, problem: "not a supported model (expected an .onnx file or a native model folder)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError(path: path, problem: "cannot read the file (missing, unreadable or a folder)")
        }
        return try open(onnx: data, path: path, scheduleConfig: scheduleConfig)
    }

    /// The model in ONNX bytes, as ``open(_:scheduleConfig:)`` reads an `.onnx` file: `path`
    /// names them in errors and anchors external data; the schedule comes from `scheduleConfig`,
    /// else from the ONNX metadata keys, else the defaults.
    public static func open(onnx data: Data, path: String, scheduleConfig: String? = nil) throws -> DiffusionModel {
        let graph = try ONNXImporter.load(data: data, path: path)
        let schedule = try scheduleConfig.map(ScheduleConfig.read) ?? ScheduleConfig.from(metadata: graph.metadata, source: path)
        let (image, _) = try graph.diffusionInputs()
        guard let dims = graph[image].dims, dims.count == 4 else {
            throw ModelFileError(path: path, problem: "image input '\(graph[image].name)' must be [N, C, H, W]")
        }
        let chw = try dims.dropFirst().map { d -> Int in
            guard case .fixed(let n) = d else {
                throw ModelFileError(path: path, problem: "image input '\(graph[image].name)' must have fixed C, H, W (got \(dims.map(\.description)))")
            }
            return n
        }
        var model = DiffusionModel(graph: graph, schedule: schedule, imageShape: try DiffusionModel.checkedImageShape(chw, source: path))
        if let inferred = model.classes { model.classes = try ClassLabels.from(metadata: graph.metadata, inferred: inferred, source: path) }
        return model
    }

    /// The graph of the model at `path` (any supported format).
    public static func load(_ path: String) throws -> Graph { try open(path).graph }

    /// Concrete shapes of every input for a batch of `batch`: declared fixed dims kept, the first
    /// dim set to `batch`. Other symbolic dims are an error naming the input.
    public static func inputShapes(_ graph: Graph, batch: Int) throws -> [ValueID: Shape] {
        var shapes: [ValueID: Shape] = [:]
        for id in graph.inputs {
            guard let dims = graph[id].dims else {
                throw GraphError.badInput("input '\(graph[id].name)' declares no shape; re-export with input shapes")
            }
            shapes[id] = Shape(try dims.enumerated().map { axis, d -> Int in
                if axis == 0 { return batch }
                guard case .fixed(let n) = d else {
                    throw GraphError.badInput("input '\(graph[id].name)' has symbolic dim '\(d)' at axis \(axis); only the batch may be symbolic")
                }
                guard n >= 1 && n <= 1 << 20 else { throw GraphError.badInput("input '\(graph[id].name)' declares dim \(n) at axis \(axis)") }
                return n
            })
        }
        return shapes
    }
}

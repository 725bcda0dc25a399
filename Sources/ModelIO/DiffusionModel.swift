// DiffusionModel: what every model loader returns and every consumer takes — the network as a
// graph IR, the noise schedule it was trained with, and the shape of the images it makes. Built
// from any format (ONNX, diffusers folder, native folder; `ModelLoader.open`) and written in the
// native format (`Native/NativeFormat.swift`).

import Graphs

/// A diffusion model: graph, schedule and image shape.
public struct DiffusionModel: Sendable {
    public var graph: Graph
    public var schedule: ScheduleConfig
    /// Channels, height and width of the images the model makes.
    public var imageShape: [Int]

    public init(graph: Graph, schedule: ScheduleConfig, imageShape: [Int]) {
        self.graph = graph
        self.schedule = schedule
        self.imageShape = imageShape
    }
}

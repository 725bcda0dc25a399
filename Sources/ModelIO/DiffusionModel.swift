// DiffusionModel: what every model loader returns and every consumer takes — the network as a
// graph IR, the noise schedule it was trained with, the shape of the images it makes, and, for a
// class-conditional network, what its class labels are. Built from any format (ONNX, diffusers
// folder, native folder; `ModelLoader.open`) and written in the native format
// (`Native/NativeFormat.swift`).

import Graphs

/// The classes of a class-conditional model.
public struct ClassLabels: Sendable, Equatable {
    /// Number of classes (labels 0..<count); nil when any non-negative integer is a label (a
    /// label projected like a timestep rather than looked up in a table).
    public var count: Int?
    /// A name per class, when the model records them (empty otherwise).
    public var names: [String]

    public init(count: Int?, names: [String] = []) {
        self.count = count
        self.names = names
    }

    /// The label `text` names: an index, or one of `names`. The error names the text and what is accepted.
    public func label(_ text: String) throws -> Int {
        if let k = Int(text) {
            guard k >= 0, count.map({ k < $0 }) ?? true else { throw ClassLabelError(text: text, labels: self) }
            return k
        }
        guard let k = names.firstIndex(of: text) else { throw ClassLabelError(text: text, labels: self) }
        return k
    }

    /// What a label may be, for messages: `0…9 (or a name: a, b, …)`.
    public var accepted: String {
        let range = count.map { "0…\($0 - 1)" } ?? "a non-negative integer"
        return names.isEmpty ? range : "\(range) or a name (\(names.joined(separator: ", ")))"
    }
}

/// A class label the model does not have.
public struct ClassLabelError: Error, CustomStringConvertible, Sendable {
    public let text: String
    public let labels: ClassLabels
    public var description: String { "class '\(text)' is not a class of this model (\(labels.accepted))" }
}

/// A diffusion model: graph, schedule, image shape and, when class-conditional, its classes.
public struct DiffusionModel: Sendable {
    public var graph: Graph
    public var schedule: ScheduleConfig
    /// Channels, height and width of the images the model makes.
    public var imageShape: [Int]
    /// The classes, for a model whose graph takes class labels (nil: unconditional).
    public var classes: ClassLabels?

    /// `classes` defaults to what the graph shows: none without a class-label input, else the rows
    /// of the embedding table the labels index (`Graph.classLabelCount`).
    public init(graph: Graph, schedule: ScheduleConfig, imageShape: [Int], classes: ClassLabels? = nil) {
        self.graph = graph
        self.schedule = schedule
        self.imageShape = imageShape
        let takesLabels = (try? graph.diffusionInputRoles().classLabels) != nil
        self.classes = takesLabels ? classes ?? ClassLabels(count: graph.classLabelCount) : nil
    }
}

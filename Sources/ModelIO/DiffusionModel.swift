// DiffusionModel: what every model loader returns and every consumer takes — the network as a
// graph IR, the noise schedule it was trained with, the shape of the images it makes, and, for a
// class-conditional network, what its class labels are. Built from any format (ONNX, diffusers
// folder, native folder; `ModelLoader.open`) and written in the native format
// (`Native/NativeFormat.swift`).

import Foundation
import Graphs

/// The classes of a class-conditional model.
public struct ClassLabels: Sendable, Equatable {
    /// Number of classes (labels 0..<count); nil when any non-negative integer is a label (a
    /// label projected like a timestep rather than looked up in a table).
    public var count: Int?
    /// A name per class, when the model records them (empty otherwise).
    public var names: [String]
    /// The label meaning "no class" (the unconditional row of the embedding table, by convention
    /// index `count`, so the table has count + 1 rows), for a model trained with label dropout:
    /// it generates unconditionally and allows classifier-free guidance. Not one of the classes.
    public var nullLabel: Int?

    public init(count: Int?, names: [String] = [], nullLabel: Int? = nil) {
        self.count = count
        self.names = names
        self.nullLabel = nullLabel
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

extension ClassLabels {
    /// The ONNX `metadata_props` keys that carry the classes: `denoise.num_classes` (decimal),
    /// `denoise.class_names` (a JSON array of strings) and `denoise.null_class` (decimal), each optional.
    public var metadata: [String: String] {
        var m: [String: String] = [:]
        if let count { m["denoise.num_classes"] = "\(count)" }
        if let nullLabel { m["denoise.null_class"] = "\(nullLabel)" }
        if !names.isEmpty { m["denoise.class_names"] = "[" + names.map(SafeTensors.jsonString).joined(separator: ",") + "]" }
        return m
    }

    /// The classes `metadata` states over `inferred` (what the graph shows), or `inferred` when it
    /// states none; malformed values are an error naming the key.
    public static func from(metadata: [String: String], inferred: ClassLabels, source: String) throws -> ClassLabels {
        var c = inferred
        if let text = metadata["denoise.num_classes"] {
            guard let n = Int(text), n >= 1 else { throw ModelFileError(path: source, problem: "metadata denoise.num_classes = '\(text)' is not a positive integer") }
            c.count = n
        }
        if let text = metadata["denoise.class_names"] {
            guard case .array(let items)? = try? JSONValue.parse(Data(text.utf8)),
                  case let names = items.compactMap({ if case .string(let s) = $0 { return s } else { return nil } }), names.count == items.count
            else { throw ModelFileError(path: source, problem: "metadata denoise.class_names is not a JSON array of strings") }
            guard c.count.map({ $0 == names.count }) ?? true else {
                throw ModelFileError(path: source, problem: "metadata denoise.class_names has \(names.count) names for \(c.count!) classes")
            }
            c.names = names
        }
        if let text = metadata["denoise.null_class"] {
            guard let k = Int(text), k >= 0 else { throw ModelFileError(path: source, problem: "metadata denoise.null_class = '\(text)' is not a non-negative integer") }
            c.nullLabel = k
        }
        if let problem = c.nullLabelProblem { throw ModelFileError(path: source, problem: "metadata denoise.null_class: \(problem)") }
        return c
    }
}

extension ClassLabels {
    /// Why `nullLabel` cannot be the null label (nil when it can, or there is none): it must not be
    /// one of the classes 0..<count.
    public var nullLabelProblem: String? {
        guard let nullLabel else { return nil }
        if nullLabel < 0 { return "null label \(nullLabel) is negative" }
        if let count, nullLabel < count { return "null label \(nullLabel) is one of the \(count) classes (by convention it is \(count), the row after them)" }
        return nil
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

    /// The most elements one image may have: 2^28 (1 GiB of float32 per sample), far above what a
    /// CPU generates, yet small enough that a sample's buffers can always be allocated.
    public static let maxImageElements = 1 << 28

    /// `shape` when it is a `[C, H, W]` images can be made of (every size at least 1, at most
    /// ``maxImageElements`` in all); else an error naming `source`. A model file states its
    /// image shape, and generation allocates buffers of it, so loaders check it here.
    public static func checkedImageShape(_ shape: [Int], source: String) throws -> [Int] {
        let problem = ModelFileError(path: source, problem: "image shape \(shape) must be [channels, height, width], each at least 1, \(maxImageElements) elements at most")
        guard shape.count == 3, shape.allSatisfy({ $0 >= 1 }) else { throw problem }
        var elements = 1
        for d in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow, product <= maxImageElements else { throw problem }
            elements = product
        }
        return shape
    }
}

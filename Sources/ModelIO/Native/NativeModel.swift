// NativeModel: denoise's own model format — a folder with `model.json` (format version, the graph
// IR, the image shape, the schedule) and `weights.safetensors` (every float constant of the graph,
// readable by Python's safetensors). Loading parses JSON and reads the weights file; no protobuf.
// Int64 constants (shape arithmetic) are small and live inline in the JSON. Each file is written
// atomically (weights first), and both carry the same random write id (`model.json`
// the safetensors metadata `denoise.write_id`; JSON key `writeID`): a kill between the two renames leaves a folder
// whose files disagree, and loading says so instead of pairing a graph with the wrong weights.
// Format reference: docs/model-formats.md.

import Foundation
import Graphs
import Tensors

/// A model in denoise's native format: graph, schedule and image shape.
public struct NativeModel: Sendable {
    public static let formatName = "denoise-model"
    public static let formatVersion = 1

    public var graph: Graph
    public var schedule: ScheduleConfig
    /// Channels, height and width of the images the model makes.
    public var imageShape: [Int]

    public init(graph: Graph, schedule: ScheduleConfig, imageShape: [Int]) {
        self.graph = graph
        self.schedule = schedule
        self.imageShape = imageShape
    }

    /// The JSON document (`model.json`).
    struct Document: Codable {
        var format: String
        var version: Int
        var image: [Int]
        var schedule: ScheduleConfig
        var metadata: [String: String]
        var values: [ValueInfo]
        var inputs: [ValueID]
        var outputs: [ValueID]
        var nodes: [Node]
        /// Float constants by value id → tensor name in weights.safetensors.
        var weights: [String: String]
        /// Int64 constants by value id.
        var intConstants: [String: Value]
        /// Equal to the weights file's `denoise.write_id` metadata when both come from one write.
        var writeID: String
    }

    /// Writes `folder/model.json` and `folder/weights.safetensors`, creating the folder.
    public func write(to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var tensors: [String: Tensor] = [:], weights: [String: String] = [:], ints: [String: Value] = [:]
        var used = Set<String>(), values = graph.values
        for (id, value) in graph.constants.sorted(by: { $0.key < $1.key }) {
            switch value {
            case .float(let t):
                var name = graph[id].name.isEmpty ? "value.\(id.index)" : graph[id].name
                if used.contains(name) { name += ".\(id.index)" }
                used.insert(name)
                tensors[name] = t
                weights["\(id.index)"] = name
                values[id.index].dims = t.shape.map { .fixed($0) }  // checked against the file on read
            case .int:
                ints["\(id.index)"] = value
            }
        }
        let doc = Document(format: Self.formatName, version: Self.formatVersion, image: imageShape, schedule: schedule,
                           metadata: graph.metadata, values: values, inputs: graph.inputs, outputs: graph.outputs,
                           nodes: graph.nodes, weights: weights, intConstants: ints, writeID: UUID().uuidString)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(doc)
        try SafeTensors.write(tensors, metadata: ["format": Self.formatName, "denoise.write_id": doc.writeID], to: URL(fileURLWithPath: folder + "/weights.safetensors"))
        try AtomicFile.write(json, to: URL(fileURLWithPath: folder + "/model.json"))
    }

    /// Reads a native model folder.
    public static func read(_ folder: String) throws -> NativeModel {
        let path = folder + "/model.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError(path: path, problem: "cannot read model.json (is \(folder) a native model folder?)")
        }
        let doc: Document
        do { doc = try JSONDecoder().decode(Document.self, from: data) } catch {
            throw ModelFileError(path: path, problem: "not a valid native model description: \(error)")
        }
        guard doc.format == formatName, doc.version == formatVersion else {
            throw ModelFileError(path: path, problem: "format '\(doc.format)' version \(doc.version) is not \(formatName) version \(formatVersion)")
        }
        var graph = Graph()
        graph.values = doc.values
        graph.inputs = doc.inputs
        graph.outputs = doc.outputs
        graph.nodes = doc.nodes
        graph.metadata = doc.metadata
        let count = doc.values.count
        func id(_ key: String) throws -> ValueID {
            guard let i = Int(key), i >= 0, i < count else { throw ModelFileError(path: path, problem: "constant id '\(key)' is not a value") }
            return ValueID(i)
        }
        for (key, value) in doc.intConstants { graph.constants[try id(key)] = value }
        let weightsPath = folder + "/weights.safetensors"
        let file = try SafeTensors.read(contentsOf: URL(fileURLWithPath: weightsPath))
        guard file.metadata["denoise.write_id"] == doc.writeID else {
            throw ModelFileError(path: weightsPath, problem: "does not belong to \(path) (write ids differ: was a write interrupted?)")
        }
        for (key, name) in doc.weights {
            guard file.entry(name) != nil else { throw ModelFileError(path: weightsPath, problem: "tensor '\(name)' named by model.json is missing") }
            let v = try id(key), t = try file.tensor(name)
            if let dims = graph.values[v.index].dims, dims != t.shape.map({ .fixed($0) }) {
                throw ModelFileError(path: weightsPath, problem: "tensor '\(name)' has shape \(t.shape); model.json expects \(dims)")
            }
            graph.constants[v] = .float(t)
        }
        // Every reference must name a value, and every node input must be computed before it is read.
        var known = Set(graph.constants.keys).union(graph.inputs)
        for v in graph.inputs + graph.outputs where v.index < 0 || v.index >= count {
            throw ModelFileError(path: path, problem: "input/output \(v) is not a value")
        }
        for node in graph.nodes {
            for case let v? in node.inputs where !known.contains(v) {
                throw ModelFileError(path: path, problem: "node '\(node.name)' reads \(v), which is computed by no earlier node")
            }
            for v in node.outputs {
                guard v.index >= 0 && v.index < count else { throw ModelFileError(path: path, problem: "node '\(node.name)' writes \(v), which is not a value") }
                known.insert(v)
            }
        }
        for v in graph.outputs where !known.contains(v) { throw ModelFileError(path: path, problem: "output \(v) is computed by no node") }
        guard doc.image.count == 3, doc.image.allSatisfy({ $0 >= 1 }) else {
            throw ModelFileError(path: path, problem: "image shape \(doc.image) must be [channels, height, width]")
        }
        return NativeModel(graph: graph, schedule: try doc.schedule.validated(source: path), imageShape: doc.image)
    }
}

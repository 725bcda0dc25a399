// NativeFormat: denoise's own model format — a folder with `model.json` (format version, the graph
// IR, the image shape, the schedule) and `weights.safetensors` (every float constant of the graph,
// readable by Python's safetensors). Loading parses JSON and reads the weights file; no protobuf.
// Int64 constants (shape arithmetic) are small and live inline in the JSON. Each file is written
// atomically (weights first), and both carry the same random write id (`model.json`'s
// `write_id`, the safetensors metadata `denoise.write_id`): a kill between the two renames leaves
// a folder whose files disagree, and loading says so instead of pairing a graph with the wrong
// weights. Writes format version 2, or 3 when the schedule has a key version 2 lacks
// (`ScheduleConfig.laterKeys`; `ModelDocument.swift`, ops in `OpAttributes.swift`); reads versions
// 1 (`ModelDocumentV1.swift`), 2 and 3. Format reference: docs/model-formats.md.

import Foundation
import Graphs
import Tensors

/// The native format's name and the versions this build writes.
public enum NativeFormat {
    public static let name = "denoise-model"
    /// The newest `format_version` this build writes and reads.
    public static let version = 3

    /// The version a model is written in: 3 when it has something version 2 lacks (schedule keys:
    /// trained betas, sampler defaults; a class-conditional model's `classes`), else 2, so that
    /// builds reading only version 2 still read every file that does not need version 3.
    public static func version(for schedule: ScheduleConfig, classes: ClassLabels? = nil) -> Int {
        schedule.laterKeys.isEmpty && classes == nil ? 2 : 3
    }
}

extension DiffusionModel {
    /// Writes `folder/model.json` and `folder/weights.safetensors`, creating the folder.
    public func write(to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var tensors: [String: Tensor] = [:], weights: [Int: String] = [:], ints: [Int: Value] = [:]
        var used = Set<String>(), values = graph.values
        for (id, value) in graph.constants.sorted(by: { $0.key < $1.key }) {
            switch value {
            case .float(let t):
                var name = graph[id].name.isEmpty ? "value.\(id.index)" : graph[id].name
                if used.contains(name) { name += ".\(id.index)" }
                used.insert(name)
                tensors[name] = t
                weights[id.index] = name
                values[id.index].dims = t.shape.map { .fixed($0) }  // checked against the file on read
            case .int:
                ints[id.index] = value
            }
        }
        let doc = ModelDocument(image: imageShape, schedule: schedule, metadata: graph.metadata, values: values, inputs: graph.inputs,
                                outputs: graph.outputs, nodes: graph.nodes, weights: weights, intConstants: ints, writeID: UUID().uuidString,
                                classes: classes)
        let json = Data(try doc.documentJSON().document().utf8)
        try SafeTensors.write(tensors, metadata: ["format": NativeFormat.name, "denoise.write_id": doc.writeID], to: URL(fileURLWithPath: folder + "/weights.safetensors"))
        try AtomicFile.write(json, to: URL(fileURLWithPath: folder + "/model.json"))
    }

    /// The format version `folder/model.json` declares, or nil when the folder has no model.json.
    public static func storedFormatVersion(_ folder: String) throws -> Int? {
        let path = folder + "/model.json"
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do { return try ModelDocument.declaredVersion(JSONValue.parse(data), path: path) } catch let e as ModelFileError { throw e } catch {
            throw ModelFileError(path: path, problem: "not valid JSON: \(error)")
        }
    }

    /// Reads a native model folder of any format version this build reads (1, 2 or 3).
    public static func readNative(_ folder: String) throws -> DiffusionModel { try load(folder).model }

    /// Rewrites the native folder `folder` (any version this build reads) in the current format
    /// version (`NativeFormat.version(for:)` of the new schedule) at `out` (which may be `folder`): model.json is written anew with the schedule
    /// `schedule` returns and the same write id; weights.safetensors is copied byte for byte (left
    /// alone when rewriting in place). Returns the model as read, with the new schedule.
    public static func rewrite(_ folder: String, to out: String,
                               schedule: (ScheduleConfig) throws -> ScheduleConfig = { $0 }) throws -> DiffusionModel {
        var (model, doc) = try load(folder)
        model.schedule = try schedule(model.schedule)
        doc.schedule = model.schedule
        let json = Data(try doc.documentJSON().document().utf8)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let source = URL(fileURLWithPath: folder + "/weights.safetensors"), target = URL(fileURLWithPath: out + "/weights.safetensors")
        if source.resolvingSymlinksInPath().standardizedFileURL != target.resolvingSymlinksInPath().standardizedFileURL {
            try AtomicFile.write(try Data(contentsOf: source), to: target)
        }
        try AtomicFile.write(json, to: URL(fileURLWithPath: out + "/model.json"))
        return model
    }

    /// The model in `folder` and the document its model.json holds, checked against each other.
    private static func load(_ folder: String) throws -> (model: DiffusionModel, document: ModelDocument) {
        let path = folder + "/model.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError(path: path, problem: "cannot read model.json (is \(folder) a native model folder?)")
        }
        let doc = try ModelDocument.read(data, path: path).document
        var graph = Graph()
        graph.values = doc.values
        graph.inputs = doc.inputs
        graph.outputs = doc.outputs
        graph.nodes = doc.nodes
        graph.metadata = doc.metadata
        let count = doc.values.count
        func id(_ index: Int) throws -> ValueID {
            guard index >= 0, index < count else { throw ModelFileError(path: path, problem: "constant id \(index) is not a value") }
            return ValueID(index)
        }
        for (key, value) in doc.intConstants { graph.constants[try id(key)] = value }
        let weightsPath = folder + "/weights.safetensors"
        let file = try SafeTensors.read(contentsOf: URL(fileURLWithPath: weightsPath))
        guard file.metadata["denoise.write_id"] == doc.writeID else {
            throw ModelFileError(path: weightsPath, problem: "does not belong to \(path) (write ids differ: was a write interrupted?)")
        }
        for (key, name) in doc.weights.sorted(by: { $0.key < $1.key }) {
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
        let image = try DiffusionModel.checkedImageShape(doc.image, source: path)
        return (DiffusionModel(graph: graph, schedule: try doc.schedule.validated(source: path), imageShape: image, classes: doc.classes), doc)
    }
}

// ModelDocument: what a native `model.json` says, whatever its format version — the graph
// without its float weights (weights.safetensors holds those; the document names them), the
// image shape, the schedule and the write id — and the version-2/3 text, written and read by hand:
// fixed key order, one value and one node per line, every key checked (an unknown key is an
// error naming it). Version 3 is version 2 with the schedule keys added since (`ScheduleConfig.
// laterKeys`), which a version-2 file may not use. Reading dispatches on the declared version: 2
// and 3 here, 1 (Swift's synthesized
// Codable of the IR) in `ModelDocumentV1.swift`. Ops' attributes: `OpAttributes.swift`. Folder,
// weights and the cross-checks between the two files: `DiffusionModel.swift`.
// Format reference: docs/model-formats.md.

import Foundation
import Graphs
import Tensors

/// The contents of a `model.json`, independent of its format version. `package` so that the fuzz
/// harness (Sources/FuzzTargets) reads untrusted bytes through this same entry point.
package struct ModelDocument {
    var image: [Int]
    package var schedule: ScheduleConfig
    var metadata: [String: String]
    var values: [ValueInfo]
    var inputs: [ValueID]
    var outputs: [ValueID]
    var nodes: [Node]
    /// Float constants: value index → tensor name in weights.safetensors.
    var weights: [Int: String]
    /// Int64 constants (shape arithmetic) by value index, inline.
    var intConstants: [Int: Value]
    /// Equal to the weights file's `denoise.write_id` when both come from one write.
    var writeID: String
    /// A class-conditional model's classes (`classes`: `count`, `names` and `null_label`, each optional).
    var classes: ClassLabels? = nil

    /// Reads a `model.json` of any version this build reads; returns the version it declared.
    package static func read(_ data: Data, path: String) throws -> (document: ModelDocument, version: Int) {
        let root: JSONValue
        do { root = try JSONValue.parse(data) } catch {
            throw ModelFileError(path: path, problem: "not valid JSON: \(error)")
        }
        let version = try declaredVersion(root, path: path)
        switch version {
        case 1: return (try ModelDocumentV1.read(data, path: path), 1)
        default:
            let doc = try ModelDocument(version2: root, path: path)
            if version == 2, let key = doc.schedule.laterKeys.first {
                throw ModelFileError(path: path, problem: "schedule key '\(key)' needs format_version 3 (this file declares 2)")
            }
            if version == 2, doc.classes != nil {
                throw ModelFileError(path: path, problem: "key 'classes' needs format_version 3 (this file declares 2)")
            }
            return (doc, version)
        }
    }

    /// The format version `root` declares (`format_version`, or version 1's `version`), after
    /// checking that it is a denoise model and a version this build reads.
    static func declaredVersion(_ root: JSONValue, path: String) throws -> Int {
        let current = NativeFormat.version, known = "this denoise reads versions 1…\(current)"
        guard case .object(let members) = root else {
            throw ModelFileError(path: path, problem: "not a native model description (expected a JSON object, got \(root.kindDescription))")
        }
        let top = Dictionary(members, uniquingKeysWith: { _, last in last })
        guard case .string(let format)? = top["format"], format == NativeFormat.name else {
            throw ModelFileError(path: path, problem: "not a native model description (its 'format' is not '\(NativeFormat.name)')")
        }
        if let declared = top["format_version"] {
            guard case .integer(let v) = declared else {
                throw ModelFileError(path: path, problem: "format_version must be an integer, got \(declared.kindDescription)")
            }
            guard v <= current else {
                throw ModelFileError(path: path, problem: "format version \(v) is newer than this denoise reads (\(current)); use a newer denoise")
            }
            guard v >= 2 else { throw ModelFileError(path: path, problem: "format_version \(v) is not a version (\(known))") }
            return Int(v)
        }
        guard case .integer(let v)? = top["version"] else {
            throw ModelFileError(path: path, problem: "has no format_version (\(known))")
        }
        guard v == 1 else { throw ModelFileError(path: path, problem: "version \(v) is not a version (\(known))") }
        return 1
    }
}

// MARK: versions 2 and 3

extension ModelDocument {
    /// The document in version `NativeFormat.version(for: schedule)`: keys in the documented
    /// order, weights and int constants by id.
    func documentJSON() throws -> JSONValue {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let schedule = try JSONValue.parse(encoder.encode(self.schedule))  // diffusers key names, ScheduleConfig's own Codable
        let values = self.values.map { v -> JSONValue in
            var members: [(String, JSONValue)] = [("name", .string(v.name)), ("type", .string(NativeNames.elementType(v.type)))]
            if let dims = v.dims {
                members.append(("dims", .array(dims.map { d in
                    switch d {
                    case .fixed(let n): return .int(n)
                    case .symbol(let s): return .string(s)
                    }
                })))
            }
            return .object(members)
        }
        let nodes = self.nodes.map { n -> JSONValue in
            .object([("op", .string(n.op.kind.rawValue)), ("name", .string(n.name)),
                     ("inputs", .array(n.inputs.map { $0.map { .int($0.index) } ?? .null })), ("outputs", .ints(n.outputs.map(\.index))),
                     ("attributes", .object(n.op.nativeAttributes))])
        }
        return .object([
            ("format", .string(NativeFormat.name)),
            ("format_version", .int(NativeFormat.version(for: self.schedule, classes: classes))),
            ("image", .ints(image)),
        ] + (classes.map { c in [("classes", .object((c.count.map { [("count", JSONValue.int($0))] } ?? []) + [("names", .array(c.names.map { .string($0) }))]
                                                      + (c.nullLabel.map { [("null_label", JSONValue.int($0))] } ?? [])))] } ?? []) + [
            ("schedule", schedule),
            ("metadata", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("inputs", .ints(inputs.map(\.index))),
            ("outputs", .ints(outputs.map(\.index))),
            ("values", .array(values)),
            ("nodes", .array(nodes)),
            ("weights", .object(weights.sorted { $0.key < $1.key }.map { ("\($0.key)", .string($0.value)) })),
            ("int_constants", .object(intConstants.sorted { $0.key < $1.key }.map { ("\($0.key)", NativeTensor.json($0.value)) })),
            ("write_id", .string(writeID)),
        ])
    }

    /// Reads a version-2 or -3 document (its format and version already checked).
    init(version2 root: JSONValue, path: String) throws {
        var top = try JSONFields(root, path: path, context: "top level")
        _ = try top.string("format")
        _ = try top.int("format_version")
        image = try top.ints("image")
        if let json = top.optional("classes") {
            var c = try JSONFields(json, path: path, context: "top level: key 'classes'")
            let count = try c.optionalInt("count"), names = try c.strings("names"), nullLabel = try c.optionalInt("null_label")
            try c.finish()
            guard count.map({ $0 >= 1 && (names.isEmpty || names.count == $0) }) ?? true else {
                throw top.fail("classes", "has count \(count!) and \(names.count) names: a count must be at least 1 and match the names")
            }
            let labels = ClassLabels(count: count, names: names, nullLabel: nullLabel)
            if let problem = labels.nullLabelProblem { throw top.fail("classes", "has null_label \(nullLabel!): \(problem)") }
            classes = labels
        }
        let scheduleJSON = try top.required("schedule")
        guard case .object = scheduleJSON else { throw top.fail("schedule", "must be an object, got \(scheduleJSON.kindDescription)") }
        do { schedule = try JSONDecoder().decode(ScheduleConfig.self, from: Data(scheduleJSON.document().utf8)) } catch {
            throw top.fail("schedule", "is not a schedule: \(error)")
        }
        let meta = try JSONFields(top.optional("metadata") ?? .object([]), path: path, context: "top level: key 'metadata'", noun: "entry")
        metadata = try Dictionary(uniqueKeysWithValues: meta.entries.map { ($0.key, try meta.string($0.key, $0.value)) })
        inputs = try top.ints("inputs").map(ValueID.init)
        outputs = try top.ints("outputs").map(ValueID.init)
        values = try Self.array(top.required("values"), "values", top).enumerated().map { i, item in
            var v = try JSONFields(item, path: path, context: "value \(i)")
            let info = ValueInfo(name: try v.string("name"), type: try v.name("type", NativeNames.elementType), dims: try v.optional("dims").map { dims in
                try Self.array(dims, "dims", v).map { d -> Dim in
                    switch d {
                    case .integer(let n): return .fixed(try v.int("dims", .integer(n)))
                    case .string(let s): return .symbol(s)
                    default: throw v.fail("dims", "must hold integers and names, got \(d.kindDescription)")
                    }
                }
            })
            try v.finish()
            return info
        }
        nodes = try Self.array(top.required("nodes"), "nodes", top).enumerated().map { i, item in
            var n = try JSONFields(item, path: path, context: "node \(i)")
            let name = try n.optional("name").map { try n.string("name", $0) } ?? ""
            let opName = try n.string("op")
            guard let kind = OpKind(rawValue: opName) else {
                throw ModelFileError(path: path, problem: "node \(i) '\(name)': unknown op '\(opName)' (known ops: \(OpKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let inputs = try Self.array(n.required("inputs"), "inputs", n).map { v -> ValueID? in
                if case .null = v { return nil }
                return ValueID(try n.int("inputs", v))
            }
            let outputs = try n.ints("outputs").map(ValueID.init)
            var attributes = try JSONFields(n.optional("attributes") ?? .object([]), path: path, context: "node \(i) '\(name)' (\(opName))", noun: "attribute")
            let op = try Op.native(kind, &attributes)
            try attributes.finish()
            try n.finish()
            return Node(op, inputs: inputs, outputs: outputs, name: name)
        }
        let weightFields = try JSONFields(top.required("weights"), path: path, context: "top level: key 'weights'", noun: "value id")
        weights = try Dictionary(uniqueKeysWithValues: weightFields.entries.map { key, value in
            guard let id = Self.valueIndex(key) else { throw weightFields.fail(key, "is not a value id") }
            return (id, try weightFields.string(key, value))
        })
        let intFields = try JSONFields(top.optional("int_constants") ?? .object([]), path: path, context: "top level: key 'int_constants'", noun: "value id")
        intConstants = try Dictionary(uniqueKeysWithValues: intFields.entries.map { key, value in
            guard let id = Self.valueIndex(key) else { throw intFields.fail(key, "is not a value id") }
            let tensor = try NativeTensor.read(key, in: intFields, value)
            guard case .int = tensor else { throw intFields.fail(key, "must be an int64 tensor") }
            return (id, tensor)
        })
        writeID = try top.string("write_id")
        try top.finish()
    }

    /// A value index written as a key: decimal digits, no sign or leading zeros (so keys are unique).
    private static func valueIndex(_ key: String) -> Int? {
        guard let i = Int(key), "\(i)" == key else { return nil }
        return i
    }

    /// The items of an array member, or an error naming it.
    private static func array(_ value: JSONValue, _ key: String, _ fields: JSONFields) throws -> [JSONValue] {
        guard case .array(let items) = value else { throw fields.fail(key, "must be an array, got \(value.kindDescription)") }
        return items
    }
}

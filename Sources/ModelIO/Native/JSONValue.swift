// JSONValue: a plain JSON tree for formats written by hand (the native `model.json`). Writing
// keeps object members in the order they were given, prints floats in Swift's shortest
// round-trip form and lays the document out for reading and diffing: the top level and its
// objects and arrays of containers one member per line, everything deeper on one line.
// Reading goes through the strict reader (StrictJSON.swift: syntax errors name the byte offset,
// duplicate members are refused); integers that fit Int64 stay exact. `JSONFields` reads one object's members by name with type checks and refuses
// members nobody asked for; its errors are `ModelFileError`s naming the place and the member.
// Not a general JSON library: no streaming, no pretty-printing options.

import Foundation

/// A JSON value; objects keep their members' order.
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits Int64.
    case integer(Int64)
    /// Any other number.
    case real(Double)
    /// A float32 to be written in its shortest round-trip form (writing only; reads give `real`).
    case float(Float)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func int(_ n: Int) -> JSONValue { .integer(Int64(n)) }
    static func ints(_ ns: [Int]) -> JSONValue { .array(ns.map(JSONValue.int)) }

    /// What kind of value this is, for messages ("a string", "an array", …).
    var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer: return "an integer"
        case .real, .float: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// The value as JSON text: the top level and, below it, objects and arrays of containers
    /// expanded one member per line; deeper levels compact. Ends with a newline.
    func document() -> String {
        var out = ""
        write(to: &out, depth: 0)
        out += "\n"
        return out
    }

    private var isContainer: Bool {
        switch self {
        case .array, .object: return true
        default: return false
        }
    }

    /// Whether this value, `depth` levels below the top, is written one member per line.
    private func expanded(depth: Int) -> Bool {
        switch self {
        case .object(let members): return !members.isEmpty && depth <= 1
        case .array(let items): return !items.isEmpty && (depth == 0 || (depth == 1 && items.contains { $0.isContainer }))
        default: return false
        }
    }

    private func write(to out: inout String, depth: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let n): out += "\(n)"
        case .real(let d):
            precondition(d.isFinite, "JSONValue: non-finite number \(d) (encode it as a string)")
            out += "\(d)"
        case .float(let f):
            precondition(f.isFinite, "JSONValue: non-finite number \(f) (encode it as a string)")
            out += "\(f)"
        case .string(let s): Self.quote(s, into: &out)
        case .array(let items):
            let expand = expanded(depth: depth)
            out += "["
            for (i, item) in items.enumerated() {
                out += i == 0 ? (expand ? "\n" : "") : (expand ? ",\n" : ", ")
                if expand { out += String(repeating: "  ", count: depth + 1) }
                item.write(to: &out, depth: depth + 1)
            }
            if expand { out += "\n" + String(repeating: "  ", count: depth) }
            out += "]"
        case .object(let members):
            let expand = expanded(depth: depth)
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                out += i == 0 ? (expand ? "\n" : "") : (expand ? ",\n" : ", ")
                if expand { out += String(repeating: "  ", count: depth + 1) }
                Self.quote(key, into: &out)
                out += ": "
                value.write(to: &out, depth: depth + 1)
            }
            if expand { out += "\n" + String(repeating: "  ", count: depth) }
            out += "}"
        }
    }

    /// A JSON string literal, escaped as the safetensors writer (and serde_json) escapes.
    private static func quote(_ s: String, into out: inout String) { out += SafeTensors.jsonString(s) }

    /// Parses JSON text with the strict reader: a syntax error names its byte offset, and an
    /// object that names a member twice is an error (never silently the last one).
    static func parse(_ data: Data) throws -> JSONValue {
        let tree: StrictJSON
        do { tree = try data.withUnsafeBytes { try StrictJSONParser.parse($0) } } catch let e as StrictJSONError {
            throw JSONSyntaxError(description: "\(e.message) at byte \(e.offset)")
        }
        return try JSONValue(tree)
    }

    /// The tree the strict reader gives, with duplicate members refused.
    private init(_ tree: StrictJSON) throws {
        switch tree {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .integer(let n): self = .integer(Int64(n))
        case .number(let text):
            guard let d = Double(text) else { throw JSONSyntaxError(description: "number '\(text)' is out of range") }
            self = .real(d)
        case .string(let s): self = .string(s)
        case .array(let items): self = .array(try items.map(JSONValue.init))
        case let .object(keys, values):
            var seen = Set<String>()
            for k in keys where !seen.insert(k).inserted { throw JSONSyntaxError(description: "member '\(k)' appears twice in one object") }
            self = .object(try zip(keys, values).map { ($0, try JSONValue($1)) })
        }
    }
}

/// A JSON text that the strict reader refuses.
struct JSONSyntaxError: Error, CustomStringConvertible {
    let description: String
}

/// The members of one JSON object, read by name with type checks; `finish()` refuses members
/// nobody asked for, so a misspelled key is an error rather than a silently used default.
/// Messages read `<context>: <noun> '<key>' <problem>`, e.g. `node 3 'conv' (conv): attribute
/// 'stride' is missing`.
struct JSONFields {
    let path: String
    /// Where the object is, e.g. `node 3 'conv' (conv)`.
    let context: String
    /// What a member is called in messages: `key` or `attribute`.
    let noun: String
    private let members: [String: JSONValue]
    private var asked: [String] = []

    init(_ value: JSONValue, path: String, context: String, noun: String = "key") throws {
        guard case .object(let list) = value else {
            throw ModelFileError(path: path, problem: "\(context) must be a JSON object, got \(value.kindDescription)")
        }
        self.path = path
        self.context = context
        self.noun = noun
        members = Dictionary(list, uniquingKeysWith: { _, last in last })
    }

    /// Every member, sorted by key: for objects that map ids or names to values rather than
    /// records with known keys (no `finish()` needed).
    var entries: [(key: String, value: JSONValue)] { members.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }

    /// An error about member `key`.
    func fail(_ key: String, _ problem: String) -> ModelFileError {
        ModelFileError(path: path, problem: "\(context): \(noun) '\(key)' \(problem)")
    }

    /// The member, or nil when it is absent or null.
    mutating func optional(_ key: String) -> JSONValue? {
        asked.append(key)
        guard let value = members[key] else { return nil }
        if case .null = value { return nil }
        return value
    }

    mutating func required(_ key: String) throws -> JSONValue {
        guard let value = optional(key) else {
            throw fail(key, "is missing" + (members.isEmpty ? "" : " (given: \(members.keys.sorted().joined(separator: ", ")))"))
        }
        return value
    }

    /// Throws when the object has members no read asked for, naming them and the expected ones.
    func finish() throws {
        let unknown = members.keys.filter { !asked.contains($0) }.sorted()
        guard !unknown.isEmpty else { return }
        let expected = asked.isEmpty ? "none" : Set(asked).sorted().joined(separator: ", ")
        throw ModelFileError(path: path, problem: "\(context): unknown \(noun)\(unknown.count == 1 ? "" : "s") "
                             + "\(unknown.map { "'\($0)'" }.joined(separator: ", ")) (expected: \(expected))")
    }

    // MARK: typed members

    mutating func int(_ key: String) throws -> Int { try int(key, required(key)) }
    mutating func optionalInt(_ key: String) throws -> Int? { try optional(key).map { try int(key, $0) } }
    mutating func bool(_ key: String) throws -> Bool { try bool(key, required(key)) }
    mutating func float(_ key: String) throws -> Float { try float(key, required(key)) }
    mutating func string(_ key: String) throws -> String { try string(key, required(key)) }
    /// An array of integers, of exactly `count` elements when given.
    mutating func ints(_ key: String, count: Int? = nil) throws -> [Int] { try ints(key, required(key), count: count) }
    mutating func optionalInts(_ key: String) throws -> [Int]? { try optional(key).map { try ints(key, $0) } }
    /// An array of strings.
    mutating func strings(_ key: String) throws -> [String] {
        let value = try required(key)
        guard case .array(let items) = value else { throw fail(key, "must be an array of strings, got \(value.kindDescription)") }
        return try items.map { try string(key, $0) }
    }

    /// A case of `C` by its spelling in the file.
    mutating func name<C: CaseIterable>(_ key: String, _ spelling: (C) -> String) throws -> C {
        try name(key, required(key), spelling)
    }

    mutating func optionalName<C: CaseIterable>(_ key: String, _ spelling: (C) -> String) throws -> C? {
        try optional(key).map { try name(key, $0, spelling) }
    }

    // MARK: conversions of a member's value

    func int(_ key: String, _ value: JSONValue) throws -> Int {
        guard case .integer(let n) = value, let i = Int(exactly: n) else { throw fail(key, "must be an integer, got \(value.kindDescription)") }
        return i
    }

    func bool(_ key: String, _ value: JSONValue) throws -> Bool {
        guard case .bool(let b) = value else { throw fail(key, "must be true or false, got \(value.kindDescription)") }
        return b
    }

    func string(_ key: String, _ value: JSONValue) throws -> String {
        guard case .string(let s) = value else { throw fail(key, "must be a string, got \(value.kindDescription)") }
        return s
    }

    /// A number, or one of the strings `Infinity`, `-Infinity`, `NaN` (see ``JSONValue/float32(_:)``).
    func float(_ key: String, _ value: JSONValue) throws -> Float {
        switch value {
        case .integer(let n): return Float(n)
        case .real(let d): return Float(d)
        case .float(let f): return f
        case .string("Infinity"): return .infinity
        case .string("-Infinity"): return -.infinity
        case .string("NaN"): return .nan
        default: throw fail(key, "must be a number (or \"Infinity\", \"-Infinity\", \"NaN\"), got \(value.kindDescription)")
        }
    }

    func ints(_ key: String, _ value: JSONValue, count: Int? = nil) throws -> [Int] {
        let what = count.map { "an array of \($0) integers" } ?? "an array of integers"
        guard case .array(let items) = value else { throw fail(key, "must be \(what), got \(value.kindDescription)") }
        let ints = try items.map { item -> Int in
            guard case .integer(let n) = item, let i = Int(exactly: n) else { throw fail(key, "must be \(what), got an element that is \(item.kindDescription)") }
            return i
        }
        if let count, ints.count != count { throw fail(key, "must be \(what), got \(ints.count)") }
        return ints
    }

    func name<C: CaseIterable>(_ key: String, _ value: JSONValue, _ spelling: (C) -> String) throws -> C {
        let text = try string(key, value)
        guard let found = C.allCases.first(where: { spelling($0) == text }) else {
            throw fail(key, "is '\(text)', not one of \(C.allCases.map(spelling).joined(separator: ", "))")
        }
        return found
    }
}

extension JSONValue {
    /// A float32 as written in the file: a number, or `"Infinity"`, `"-Infinity"`, `"NaN"`
    /// (JSON has no literal for them).
    static func float32(_ f: Float) -> JSONValue {
        if f.isNaN { return .string("NaN") }
        if f.isInfinite { return .string(f > 0 ? "Infinity" : "-Infinity") }
        return .float(f)
    }
}

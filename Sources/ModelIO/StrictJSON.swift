// StrictJSON: the one JSON reader of files we load (safetensors headers, the native model.json):
// RFC 8259 grammar over raw bytes, UTF-8 validated, nesting depth limited, numbers kept as
// integers when they are integers that fit in Int, other numbers as written. Object members are
// returned in file order with duplicates kept, so callers can reject duplicate names
// (Foundation's JSONSerialization and JSONDecoder silently keep the last one).
// Not a general JSON library: no writer (the safetensors writer emits its few fixed shapes
// itself; model.json is written by Native/JSONValue.swift). Public only through `StrictJSON`,
// `StrictJSON.parse(_:)` and `StrictJSONError`, for the server's request bodies.

/// A parsed JSON value.
public indirect enum StrictJSON: Sendable {
    /// Members in file order, duplicates kept: `keys[k]` names `values[k]`.
    case object(keys: [String], values: [StrictJSON])
    case array([StrictJSON])
    case string(String)
    /// An integer literal that fits in `Int`.
    case integer(Int)
    /// Any other number (fraction, exponent, or out of `Int` range), as written.
    case number(String)
    case bool(Bool)
    case null

    /// Parses `bytes` as one JSON value followed only by whitespace.
    public static func parse(_ bytes: [UInt8]) throws(StrictJSONError) -> StrictJSON {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(StrictJSONError) -> StrictJSON in try StrictJSONParser.parse(raw) }
        }
        return try result.get()
    }

    /// A short name for error messages: "an object", "a string", ...
    public var kind: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .integer, .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }
}

/// A JSON syntax error at a byte offset of the parsed text.
public struct StrictJSONError: Error, CustomStringConvertible {
    public let message: String
    public let offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

/// Recursive-descent parser over a byte buffer. Linear time; depth at most `maxDepth`.
struct StrictJSONParser {
    private let bytes: UnsafeRawBufferPointer
    private var i = 0
    private var depth = 0
    static let maxDepth = 64

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Parses one value followed only by JSON whitespace (safetensors pads its header with spaces).
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(StrictJSONError) -> StrictJSON {
        var p = StrictJSONParser(bytes)
        p.skipWhitespace()
        let value = try p.value()
        p.skipWhitespace()
        guard p.i == bytes.count else { throw p.fail("unexpected \(p.describeCurrent()) after the value") }
        return value
    }

    private func fail(_ message: String) -> StrictJSONError { StrictJSONError(message: message, offset: i) }

    private func describeCurrent() -> String {
        guard i < bytes.count else { return "end of text" }
        let c = bytes[i]
        return (c >= 0x20 && c < 0x7f) ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x\(String(c, radix: 16))"
    }

    private mutating func skipWhitespace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0a || bytes[i] == 0x0d || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func expect(_ c: UInt8) throws(StrictJSONError) {
        guard i < bytes.count, bytes[i] == c else {
            throw fail("expected '\(Character(Unicode.Scalar(c)))' but found \(describeCurrent())")
        }
        i += 1
    }

    private mutating func value() throws(StrictJSONError) -> StrictJSON {
        guard i < bytes.count else { throw fail("unexpected end of text") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected \(describeCurrent())")
        }
    }

    private mutating func literal(_ word: StaticString) throws(StrictJSONError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw fail("unexpected end of text") }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw fail("unexpected \(describeCurrent())") }
        i += n
    }

    private mutating func enter() throws(StrictJSONError) {
        depth += 1
        if depth > StrictJSONParser.maxDepth { throw fail("nesting deeper than \(StrictJSONParser.maxDepth)") }
    }

    private mutating func object() throws(StrictJSONError) -> StrictJSON {
        try enter()
        i += 1
        var keys: [String] = [], values: [StrictJSON] = []
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
            i += 1
            depth -= 1
            return .object(keys: keys, values: values)
        }
        while true {
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else {
                throw fail("expected a member name but found \(describeCurrent())")
            }
            let key = try string()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            keys.append(key)
            values.append(try value())
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of text in an object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            try expect(UInt8(ascii: "}"))
            depth -= 1
            return .object(keys: keys, values: values)
        }
    }

    private mutating func array() throws(StrictJSONError) -> StrictJSON {
        try enter()
        i += 1
        var items: [StrictJSON] = []
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
            i += 1
            depth -= 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try value())
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of text in an array") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            try expect(UInt8(ascii: "]"))
            depth -= 1
            return .array(items)
        }
    }

    private mutating func number() throws(StrictJSONError) -> StrictJSON {
        let start = i
        var isInteger = true
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count, isDigit(bytes[i]) else { throw fail("expected a digit but found \(describeCurrent())") }
        if bytes[i] == UInt8(ascii: "0") { i += 1 } else { while i < bytes.count, isDigit(bytes[i]) { i += 1 } }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            guard i < bytes.count, isDigit(bytes[i]) else { throw fail("expected a digit but found \(describeCurrent())") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            isInteger = false
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, isDigit(bytes[i]) else { throw fail("expected a digit but found \(describeCurrent())") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        if isInteger, let n = Int(text) { return .integer(n) }
        return .number(text)
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private mutating func hex4() throws(StrictJSONError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("unexpected end of text in a \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw fail("bad hex digit \(describeCurrent()) in a \\u escape")
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    private mutating func string() throws(StrictJSONError) -> String {
        let start = i
        i += 1
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { throw StrictJSONError(message: "unterminated string", offset: start) }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c < 0x20 { throw fail("control byte 0x\(String(c, radix: 16)) inside a string") }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < bytes.count else { throw StrictJSONError(message: "unterminated string", offset: start) }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "r"): out.append(0x0d)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800, scalar < 0xDC00 {
                    guard i + 2 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate in a \\u escape")
                    }
                    i += 2
                    let low = try hex4()
                    guard low >= 0xDC00, low < 0xE000 else { throw fail("unpaired surrogate in a \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00, scalar < 0xE000 {
                    throw fail("unpaired surrogate in a \\u escape")
                }
                out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default:
                i -= 1
                throw fail("bad escape \\\(describeCurrent())")
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else {
            throw StrictJSONError(message: "string is not valid UTF-8", offset: start)
        }
        return s
    }
}

// NumPy: `.npy` files (format versions 1–3), the tensor format of the command line, so numpy
// users can feed and check any model input or output. Reads little-endian float32/float64/
// float16 (to float32) and int64/int32/int16/int8/uint8/bool (to int64), C order only; writes
// float32 and int64, atomically. Every malformed header names the file and the problem.

import Foundation
import Graphs
import Tensors

/// A file that is not a readable `.npy`; names the file and the problem.
public struct NumPyError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String
    public var description: String { "\(path): \(problem)" }
}

/// Reading and writing `.npy` files.
public enum NumPy {
    /// Reads the `.npy` file at `path`.
    public static func read(_ path: String) throws -> Value {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NumPyError(path: path, problem: "cannot read the file (missing, unreadable or a folder)")
        }
        return try decode(data, path: path)
    }

    /// Decodes `.npy` bytes; `path` names them in errors.
    public static func decode(_ data: Data, path: String) throws -> Value {
        let fail = { (problem: String) in NumPyError(path: path, problem: problem) }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw fail("not a .npy file (missing the \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let (lengthBytes, start): (Int, Int) = major == 1 ? (2, 8) : (major == 2 || major == 3 ? (4, 8) : (0, 0))
        guard lengthBytes > 0 else { throw fail("unsupported .npy format version \(major)") }
        guard bytes.count >= start + lengthBytes else { throw fail("truncated header") }
        let headerLength = (0..<lengthBytes).reduce(0) { $0 | Int(bytes[start + $1]) << (8 * $1) }
        let dataStart = start + lengthBytes + headerLength
        guard dataStart <= bytes.count else { throw fail("header length \(headerLength) runs past the end of the file") }
        let header = String(decoding: bytes[(start + lengthBytes)..<dataStart], as: UTF8.self)
        guard let descr = field(header, "descr"), let order = field(header, "fortran_order"), let shapeText = field(header, "shape") else {
            throw fail("header lacks descr, fortran_order or shape: \(header.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        guard order == "False" else { throw fail("Fortran-ordered arrays are not supported (save with np.ascontiguousarray)") }
        let inner = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
        let dims = try inner.split(separator: ",").map { part -> Int in
            guard let d = Int(part.trimmingCharacters(in: .whitespaces)), d >= 0 else { throw fail("bad shape \(shapeText)") }
            return d
        }
        guard dims.count <= Shape.maxRank else { throw fail("shape \(shapeText) has more than \(Shape.maxRank) axes") }
        let shape = Shape(dims)
        let type = descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
        let widths: [String: Int] = ["<f4": 4, "<f8": 8, "<f2": 2, "<i8": 8, "<i4": 4, "<i2": 2, "|i1": 1, "|u1": 1, "|b1": 1]
        guard let width = widths[type] else {
            throw fail("dtype \(type) is not supported (float32/64/16, int64/32/16/8, uint8, bool; little-endian)")
        }
        // The header's sizes are the file's word: multiply them with overflow checks.
        var count = 1
        for d in dims {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw fail("shape \(shapeText) has more elements than can be addressed") }
            count = product
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: width)
        guard !overflow else { throw fail("shape \(shapeText) of \(type) has more bytes than can be addressed") }
        guard bytes.count - dataStart == byteCount else {
            throw fail("\(bytes.count - dataStart) data bytes for shape \(dims) of \(type) (\(byteCount) expected)")
        }
        return bytes.withUnsafeBytes { raw -> Value in
            let body = UnsafeRawBufferPointer(rebasing: raw[dataStart...])
            func load<T>(_: T.Type, _ i: Int) -> T { body.loadUnaligned(fromByteOffset: i * width, as: T.self) }
            switch type {
            case "<f4": return .float(Tensor(shape: shape, scalars: (0..<count).map { load(Float.self, $0) }))
            case "<f8": return .float(Tensor(shape: shape, scalars: (0..<count).map { Float(load(Double.self, $0)) }))
            case "<f2": return .float(Tensor(shape: shape, scalars: (0..<count).map { Float(Float16(bitPattern: load(UInt16.self, $0))) }))
            case "<i8": return .int(IntTensor(shape: shape, values: (0..<count).map { load(Int64.self, $0) }))
            case "<i4": return .int(IntTensor(shape: shape, values: (0..<count).map { Int64(load(Int32.self, $0)) }))
            case "<i2": return .int(IntTensor(shape: shape, values: (0..<count).map { Int64(load(Int16.self, $0)) }))
            case "|i1": return .int(IntTensor(shape: shape, values: (0..<count).map { Int64(load(Int8.self, $0)) }))
            default: return .int(IntTensor(shape: shape, values: (0..<count).map { Int64(load(UInt8.self, $0)) }))
            }
        }
    }

    /// The `.npy` bytes of a value (float32 or int64, format version 1).
    public static func encode(_ value: Value) -> Data {
        let descr = value.elementType == .float32 ? "<f4" : "<i8"
        let dims = value.shape.map(String.init)
        let shapeText = "(" + dims.joined(separator: ", ") + (dims.count == 1 ? ",)" : ")")
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        data.append(contentsOf: [UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        switch value {
        case .float(let t): t.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: $0.baseAddress, count: $0.count)) }
        case .int(let t): t.values.withUnsafeBufferPointer { data.append($0) }
        }
        return data
    }

    /// Writes `value` to `path` atomically.
    public static func write(_ value: Value, to path: String) throws {
        try AtomicFile.write(encode(value), to: URL(fileURLWithPath: path))
    }

    /// The text of `key`'s value in a Python dict literal header.
    private static func field(_ header: String, _ key: String) -> String? {
        guard let k = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\""),
              let colon = header[k.upperBound...].firstIndex(of: ":") else { return nil }
        var rest = header[header.index(after: colon)...].drop { $0 == " " }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        rest = rest.prefix { $0 != "," && $0 != "}" }
        return String(rest).trimmingCharacters(in: .whitespaces)
    }
}

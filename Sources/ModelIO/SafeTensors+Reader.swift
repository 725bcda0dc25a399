// Reading a safetensors file: parse and validate the whole header before any tensor is touched.
// Checks, each failing with a SafeTensorsError that names the file and the problem:
//   - the file holds the 8-byte length prefix; the header length is at most 100 MB and fits the file;
//   - the header is UTF-8 JSON, starts with '{', is one object (trailing spaces allowed);
//   - `__metadata__`, if present, maps strings to strings; tensor names are unique;
//   - each entry has a known dtype, a shape of at most 6 non-negative integer dimensions (our Shape's
//     limit) whose element count does not overflow, and `data_offsets` [begin, end] with
//     begin <= end and end - begin == elementCount × dtype size;
//   - sorted by offsets, the entries tile the data region exactly: the first begins at 0, each
//     begins where the previous ends (no holes, no overlap), the last ends at the end of the file.
// Unknown members inside an entry are ignored, as the reference implementation does.

import Foundation
import Tensors
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

#if _endian(big)
#error("safetensors data is little-endian; this reader assumes a little-endian host")
#endif

extension SafeTensors {
    /// Reads and validates the safetensors file at `url`, mapping it read-only.
    /// Tensors are copied out of the map when asked for (``SafeTensorsFile/tensor(_:)``).
    public static func read(contentsOf url: URL) throws -> SafeTensorsFile {
        let path = url.path
        return try parse(FileBytes(mapping: path), path: path)
    }

    /// Validates safetensors bytes held in memory (copied); `name` stands for the path in errors.
    public static func read(bytes: Data, name: String) throws -> SafeTensorsFile {
        try parse(FileBytes(copying: bytes), path: name)
    }

    static func parse(_ bytes: FileBytes, path: String) throws -> SafeTensorsFile {
        func fail(_ problem: String) -> SafeTensorsError { SafeTensorsError(path: path, problem: problem) }

        let size = bytes.count
        guard size >= 8 else {
            throw fail("file is \(size) bytes, shorter than the 8-byte header length prefix")
        }
        let headerLength64 = bytes.base.loadUnaligned(as: UInt64.self)  // little-endian host
        guard headerLength64 <= UInt64(maxHeaderLength) else {
            throw fail("header length \(headerLength64) is over the \(maxHeaderLength)-byte limit")
        }
        let headerLength = Int(headerLength64)
        guard headerLength <= size - 8 else {
            throw fail("header length \(headerLength) is more than the \(size - 8) bytes after the length prefix")
        }
        guard headerLength >= 2 else { throw fail("header length \(headerLength) is too short for a JSON object") }
        let header = UnsafeRawBufferPointer(start: bytes.base + 8, count: headerLength)
        guard header[0] == UInt8(ascii: "{") else {
            throw fail("header does not start with '{' (byte 0x\(String(header[0], radix: 16)))")
        }
        let json: StrictJSON
        do {
            json = try StrictJSONParser.parse(header)
        } catch {
            throw fail("header is not valid JSON: \(error.message) at byte \(error.offset) of the header")
        }
        guard case let .object(memberNames, memberValues) = json else { throw fail("header is not a JSON object") }

        let dataStart = 8 + headerLength
        let dataLength = size - dataStart
        var metadata: [String: String] = [:]
        var sawMetadata = false
        var entries: [SafeTensorsEntry] = []
        var seen = Set<String>()
        entries.reserveCapacity(memberNames.count)

        for (name, value) in zip(memberNames, memberValues) {
            if name == "__metadata__" {
                guard !sawMetadata else { throw fail("'__metadata__' appears twice") }
                sawMetadata = true
                guard case let .object(metaKeys, metaValues) = value else {
                    throw fail("'__metadata__' is \(value.kind), not an object of strings")
                }
                for (key, v) in zip(metaKeys, metaValues) {
                    guard case let .string(s) = v else {
                        throw fail("'__metadata__' key '\(key)' is \(v.kind), not a string")
                    }
                    guard metadata.updateValue(s, forKey: key) == nil else {
                        throw fail("'__metadata__' key '\(key)' appears twice")
                    }
                }
                continue
            }
            guard seen.insert(name).inserted else { throw fail("tensor name '\(name)' appears twice") }
            entries.append(try parseEntry(name, value, fail))
        }

        // The tensors must tile the data region: sorted by offsets, each starts where the last ended.
        let ordered = entries.enumerated().sorted {
            ($0.element.dataOffsets.lowerBound, $0.element.dataOffsets.upperBound, $0.offset)
                < ($1.element.dataOffsets.lowerBound, $1.element.dataOffsets.upperBound, $1.offset)
        }.map(\.element)
        var end = 0
        var previous: String?
        for e in ordered {
            let r = e.dataOffsets
            if r.lowerBound != end {
                let after = previous.map { "tensor '\($0)' ends at \(end)" } ?? "the data region starts at 0"
                let what = r.lowerBound > end ? "leaves a hole" : "overlaps"
                throw fail("tensor '\(e.name)' data_offsets [\(r.lowerBound), \(r.upperBound)] \(what): \(after)")
            }
            guard r.upperBound <= dataLength else {
                throw fail("tensor '\(e.name)' data_offsets [\(r.lowerBound), \(r.upperBound)] run past the \(dataLength)-byte data region")
            }
            end = r.upperBound
            previous = e.name
        }
        guard end == dataLength else {
            throw fail("tensors cover \(end) bytes but the data region after the header holds \(dataLength)")
        }
        return SafeTensorsFile(path: path, metadata: metadata, entries: ordered, bytes: bytes, dataStart: dataStart)
    }

    private static func parseEntry(_ name: String, _ value: StrictJSON,
                                   _ fail: (String) -> SafeTensorsError) throws -> SafeTensorsEntry {
        guard case let .object(fieldNames, fieldValues) = value else { throw fail("tensor '\(name)' is \(value.kind), not an object") }
        var dtypeValue: StrictJSON?, shapeValue: StrictJSON?, offsetsValue: StrictJSON?
        for (key, v) in zip(fieldNames, fieldValues) {
            switch key {
            case "dtype", "shape", "data_offsets":
                let already = key == "dtype" ? dtypeValue : key == "shape" ? shapeValue : offsetsValue
                guard already == nil else { throw fail("tensor '\(name)' has '\(key)' twice") }
                if key == "dtype" { dtypeValue = v } else if key == "shape" { shapeValue = v } else { offsetsValue = v }
            default:
                continue  // ignored, as the reference implementation does
            }
        }
        guard let dtypeValue else { throw fail("tensor '\(name)' has no 'dtype'") }
        guard let shapeValue else { throw fail("tensor '\(name)' has no 'shape'") }
        guard let offsetsValue else { throw fail("tensor '\(name)' has no 'data_offsets'") }

        guard case let .string(dtypeName) = dtypeValue else { throw fail("tensor '\(name)' dtype is \(dtypeValue.kind), not a string") }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw fail("tensor '\(name)' has unknown dtype '\(dtypeName)'")
        }

        guard case let .array(dimValues) = shapeValue else { throw fail("tensor '\(name)' shape is \(shapeValue.kind), not an array") }
        guard dimValues.count <= Shape.maxRank else {
            throw fail("tensor '\(name)' has \(dimValues.count) axes; at most \(Shape.maxRank) are supported")
        }
        var dims: [Int] = []
        var elements = 1
        for d in dimValues {
            guard case let .integer(n) = d, n >= 0 else {
                throw fail("tensor '\(name)' shape \(describe(shapeValue)) has a dimension that is not a non-negative integer")
            }
            let (product, overflow) = elements.multipliedReportingOverflow(by: n)
            guard !overflow else { throw fail("tensor '\(name)' shape \(describe(shapeValue)) has too many elements") }
            elements = product
            dims.append(n)
        }
        let (byteCount, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else { throw fail("tensor '\(name)' shape \(describe(shapeValue)) has too many elements") }
        let shape = Shape(dims)

        guard case let .array(offsetValues) = offsetsValue, offsetValues.count == 2,
              case let .integer(begin) = offsetValues[0], case let .integer(end) = offsetValues[1],
              begin >= 0, end >= begin
        else {
            throw fail("tensor '\(name)' data_offsets \(describe(offsetsValue)) are not two integers 0 <= begin <= end")
        }
        guard end - begin == byteCount else {
            throw fail("tensor '\(name)' data_offsets [\(begin), \(end)] hold \(end - begin) bytes but shape \(shape) of \(dtype.rawValue) needs \(byteCount)")
        }
        return SafeTensorsEntry(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    /// A compact rendering of a small JSON value for error messages.
    private static func describe(_ v: StrictJSON) -> String {
        switch v {
        case let .array(items):
            let shown = items.prefix(8).map(describe).joined(separator: ", ")
            return "[\(shown)\(items.count > 8 ? ", …" : "")]"
        case .object: return "{…}"
        case let .string(s): return "\"\(s.prefix(40))\""
        case let .integer(n): return "\(n)"
        case let .number(s): return String(s.prefix(40))
        case let .bool(b): return "\(b)"
        case .null: return "null"
        }
    }
}

// Writing safetensors: float32 tensors (our only element type) plus a string metadata map, in the
// exact byte layout Python's `safetensors` produces for F32 tensors: tensors sorted by name (byte
// order), data packed in that order, compact JSON with members `dtype, shape, data_offsets`,
// `__metadata__` first when not empty, header padded with spaces to a multiple of 8 bytes. So a
// file we write is byte-identical to `safetensors.torch.save_file` on the same tensors whenever the
// metadata has at most one key (Python orders several metadata keys arbitrarily; we sort them).
// Files are written atomically through AtomicFile and streamed (no copy of the data in memory).

import Foundation
import Tensors

extension SafeTensors {
    /// Writes `tensors` (F32) and `metadata` to `url` atomically.
    ///
    /// - Parameters:
    ///   - tensors: name → tensor, any shapes (rank 0 and empty tensors included).
    ///   - metadata: the `__metadata__` map; omitted from the file when empty.
    /// - Throws: ``SafeTensorsError`` for a tensor named `__metadata__`; ``AtomicFileError`` when
    ///   the file cannot be written.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        let (names, header) = try encodeHeader(tensors, metadata: metadata, path: url.path)
        try AtomicFile.write(to: url) { writer in
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try writer.write($0) }
            try header.withUnsafeBytes { try writer.write($0) }
            for name in names {
                let t = tensors[name]!
                try t.withUnsafeBufferPointer { try writer.write(UnsafeRawBufferPointer($0)) }
            }
        }
    }

    /// The padded header JSON and the tensor names in data order.
    static func encodeHeader(_ tensors: [String: Tensor], metadata: [String: String],
                             path: String) throws -> (names: [String], header: [UInt8]) {
        guard tensors["__metadata__"] == nil else {
            throw SafeTensorsError(path: path, problem: "a tensor cannot be named '__metadata__'")
        }
        let byteOrder: (String, String) -> Bool = { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let names = tensors.keys.sorted(by: byteOrder)
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            json += metadata.keys.sorted(by: byteOrder)
                .map { jsonString($0) + ":" + jsonString(metadata[$0]!) }.joined(separator: ",")
            json += "}"
            first = false
        }
        var offset = 0
        for name in names {
            let t = tensors[name]!
            let bytes = t.count * 4
            if !first { json += "," }
            first = false
            json += jsonString(name) + ":{\"dtype\":\"F32\",\"shape\":["
            json += t.shape.map(String.init).joined(separator: ",")
            json += "],\"data_offsets\":[\(offset),\(offset + bytes)]}"
            offset += bytes
        }
        json += "}"
        var header = Array(json.utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))
        return (names, header)
    }

    /// A JSON string literal escaped as serde_json does: `"` `\` and control characters only.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}

// safetensors files (https://github.com/huggingface/safetensors): the public types, and getting
// tensors out of a validated file. Parsing and validation: SafeTensors+Reader.swift (header JSON in
// StrictJSON.swift); writing: SafeTensors+Writer.swift.
//
// Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON
// `{"__metadata__": {str: str}?, name: {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}`
// (padded with spaces), then the data region; offsets are relative to the data region's start, the
// tensors tile it exactly (no holes, no overlap), and elements are little-endian, row-major.
//
// Reading maps the file read-only (mmap) and validates the whole header up front; tensors are
// copied out of the map into ordinary, owned `Tensor`s (float32) only when asked for, so a file's
// memory is not doubled for tensors never read. Conversions to Float32 on load: F32 as is; F16,
// BF16 exactly; F64 rounded to nearest (overflow gives ±inf); integers and BOOL rounded to the
// nearest Float (exact up to 2^24). Integer tensors are also readable exactly as `[Int64]`.
// F8 dtypes are recognized (their sizes validated) but not converted.
//
// Not here: a file's meaning (which names a model expects) — that is the importers' job.

import Foundation
import Tensors
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An element type a safetensors file can declare.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case bool = "BOOL", u8 = "U8", i8 = "I8", f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3"
    case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
    case i32 = "I32", u32 = "U32", f32 = "F32", f64 = "F64", i64 = "I64", u64 = "U64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3: return 1
        case .i16, .u16, .f16, .bf16: return 2
        case .i32, .u32, .f32: return 4
        case .f64, .i64, .u64: return 8
        }
    }

    /// True for the integer types and BOOL, which ``SafeTensorsFile/integers(_:)`` reads exactly.
    public var isInteger: Bool {
        switch self {
        case .bool, .u8, .i8, .i16, .u16, .i32, .u32, .i64, .u64: return true
        default: return false
        }
    }
}

/// One tensor's header entry: its dtype, shape and where its bytes are.
public struct SafeTensorsEntry: Sendable, Equatable {
    public let name: String
    public let dtype: SafeTensorsDType
    /// Dimensions, row-major; `[]` for a scalar.
    public let shape: Shape
    /// Byte range relative to the start of the data region (the header's `data_offsets`).
    public let dataOffsets: Range<Int>
}

/// A file that is not a valid safetensors file, or a request it cannot satisfy. The description
/// names the file and the problem, e.g.
/// `weights.safetensors: tensor 'conv.weight' data_offsets [0, 100] hold 100 bytes but shape [3, 3] of F32 needs 36`.
public struct SafeTensorsError: Error, CustomStringConvertible, Sendable {
    /// The file's path (or the name given to an in-memory read).
    public let path: String
    /// What is wrong.
    public let problem: String

    public var description: String { "\(path): \(problem)" }
}

/// Reading and writing `.safetensors` files.
public enum SafeTensors {
    /// The largest header accepted (the reference implementation's limit).
    public static let maxHeaderLength = 100_000_000
}

/// The bytes of a whole file: a read-only memory map, or an owned copy for in-memory input.
/// A mapped file that another process truncates while mapped raises SIGBUS on access — the
/// usual mmap caveat; our own writers never modify a file in place (they rename a new one over it).
final class FileBytes: @unchecked Sendable {
    let base: UnsafeRawPointer
    let count: Int
    private let mapped: Bool

    /// Maps `path` read-only. Files of fewer than 8 bytes are read, not mapped (mmap refuses 0 bytes).
    init(mapping path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SafeTensorsError(path: path, problem: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw SafeTensorsError(path: path, problem: "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw SafeTensorsError(path: path, problem: "not a regular file")
        }
        let size = Int(info.st_size)
        if size < 8 {
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 16)
            let n = size == 0 ? 0 : read(fd, buffer, size)
            base = UnsafeRawPointer(buffer)
            count = max(0, n)
            mapped = false
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw SafeTensorsError(path: path, problem: "cannot map \(size) bytes: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
        count = size
        mapped = true
    }

    /// Copies `data`.
    init(copying data: Data) {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(data.count, 1), alignment: 16)
        data.withUnsafeBytes { if let src = $0.baseAddress { buffer.copyMemory(from: src, byteCount: data.count) } }
        base = UnsafeRawPointer(buffer)
        count = data.count
        mapped = false
    }

    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    deinit {
        if mapped { munmap(UnsafeMutableRawPointer(mutating: base), count) } else { base.deallocate() }
    }
}

/// A validated safetensors file: its entries and metadata, with tensors read on demand.
public final class SafeTensorsFile: @unchecked Sendable {
    /// The path it was read from (or the name of an in-memory read); errors start with it.
    public let path: String
    /// The `__metadata__` string map (empty when absent).
    public let metadata: [String: String]
    /// Every tensor entry, in data order (by `dataOffsets`).
    public let entries: [SafeTensorsEntry]
    private let index: [String: Int]
    private let bytes: FileBytes
    private let dataStart: Int

    init(path: String, metadata: [String: String], entries: [SafeTensorsEntry], bytes: FileBytes, dataStart: Int) {
        self.path = path
        self.metadata = metadata
        self.entries = entries
        self.bytes = bytes
        self.dataStart = dataStart
        var index: [String: Int] = [:]
        for (k, e) in entries.enumerated() { index[e.name] = k }
        self.index = index
    }

    /// Tensor names, sorted.
    public var names: [String] { entries.map(\.name).sorted() }

    /// The entry called `name`, or nil.
    public func entry(_ name: String) -> SafeTensorsEntry? { index[name].map { entries[$0] } }

    /// The tensor called `name` as an owned float32 `Tensor` (copied out of the file, converted
    /// from F16 / BF16 / F64 / integer types as described in the file header).
    /// Throws when the name is absent or its dtype is an F8 type.
    public func tensor(_ name: String) throws -> Tensor {
        let e = try requireEntry(name)
        let out = Tensor(zeros: e.shape)
        let n = out.count
        let src = bytes.base + dataStart + e.dataOffsets.lowerBound
        let dst = out.pointer
        switch e.dtype {
        case .f32:
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n * 4)
        case .f16:
            for k in 0..<n { dst[k] = floatFromHalfBits(src.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)) }
        case .bf16:
            for k in 0..<n { dst[k] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)) << 16) }
        case .f64:
            for k in 0..<n { dst[k] = Float(src.loadUnaligned(fromByteOffset: 8 * k, as: Double.self)) }
        case .bool, .u8:
            for k in 0..<n { dst[k] = Float(src.load(fromByteOffset: k, as: UInt8.self)) }
        case .i8:
            for k in 0..<n { dst[k] = Float(src.load(fromByteOffset: k, as: Int8.self)) }
        case .i16:
            for k in 0..<n { dst[k] = Float(src.loadUnaligned(fromByteOffset: 2 * k, as: Int16.self)) }
        case .u16:
            for k in 0..<n { dst[k] = Float(src.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)) }
        case .i32:
            for k in 0..<n { dst[k] = Float(src.loadUnaligned(fromByteOffset: 4 * k, as: Int32.self)) }
        case .u32:
            for k in 0..<n { dst[k] = Float(src.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self)) }
        case .i64:
            for k in 0..<n { dst[k] = Float(src.loadUnaligned(fromByteOffset: 8 * k, as: Int64.self)) }
        case .u64:
            for k in 0..<n { dst[k] = Float(src.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self)) }
        case .f8e5m2, .f8e4m3:
            throw SafeTensorsError(path: path, problem: "tensor '\(name)' has dtype \(e.dtype.rawValue), which is not supported")
        }
        withExtendedLifetime(bytes) {}
        return out
    }

    /// The integer (or BOOL, as 0/1) tensor called `name`, exactly, row-major.
    /// Throws for floating-point dtypes and for U64 values above `Int64.max`.
    public func integers(_ name: String) throws -> [Int64] {
        let e = try requireEntry(name)
        guard e.dtype.isInteger else {
            throw SafeTensorsError(path: path, problem: "tensor '\(name)' has dtype \(e.dtype.rawValue), not an integer type")
        }
        let n = e.shape.elementCount
        let src = bytes.base + dataStart + e.dataOffsets.lowerBound
        var out = [Int64](repeating: 0, count: n)
        for k in 0..<n {
            switch e.dtype {
            case .bool, .u8: out[k] = Int64(src.load(fromByteOffset: k, as: UInt8.self))
            case .i8: out[k] = Int64(src.load(fromByteOffset: k, as: Int8.self))
            case .i16: out[k] = Int64(src.loadUnaligned(fromByteOffset: 2 * k, as: Int16.self))
            case .u16: out[k] = Int64(src.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self))
            case .i32: out[k] = Int64(src.loadUnaligned(fromByteOffset: 4 * k, as: Int32.self))
            case .u32: out[k] = Int64(src.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self))
            case .i64: out[k] = src.loadUnaligned(fromByteOffset: 8 * k, as: Int64.self)
            case .u64:
                let v = src.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self)
                guard let x = Int64(exactly: v) else {
                    throw SafeTensorsError(path: path, problem: "tensor '\(name)' element \(k) is \(v), above Int64.max")
                }
                out[k] = x
            default: preconditionFailure("unreachable: \(e.dtype) is not an integer type")
            }
        }
        withExtendedLifetime(bytes) {}
        return out
    }

    /// Every tensor, converted to float32 as ``tensor(_:)`` does.
    public func tensors() throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for e in entries { out[e.name] = try tensor(e.name) }
        return out
    }

    private func requireEntry(_ name: String) throws -> SafeTensorsEntry {
        guard let e = entry(name) else {
            let known = names.prefix(8).map { "'\($0)'" }.joined(separator: ", ")
            throw SafeTensorsError(path: path, problem: "no tensor named '\(name)' (the file has \(entries.count): \(known)\(entries.count > 8 ? ", …" : ""))")
        }
        return e
    }
}

/// IEEE 754 binary16 bits to Float, exactly (subnormals, infinities and NaN payloads included).
@inline(__always)
func floatFromHalfBits(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1f
    let mantissa = UInt32(h & 0x3ff)
    if exponent == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13)) }
    if exponent != 0 { return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13)) }
    // Zero or subnormal: mantissa × 2^-24, exact in Float.
    let magnitude = Float(mantissa) * 0x1p-24
    return sign != 0 ? -magnitude : magnitude
}

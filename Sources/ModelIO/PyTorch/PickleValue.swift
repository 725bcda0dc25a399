// PickleValue: what a PyTorch checkpoint's pickle (`data.pkl`) is read into — a small tree of
// dicts (ordered; str or int keys), lists, tuples, ints, floats, strings, bools, None (`.null`), bytes and
// tensors. Sets are read as lists (file order). Tensors (`TorchTensor`) are descriptors over the
// mapped file, validated when read and copied out (converted) only when asked for.
//
// Not here: parsing (Pickle.swift), the zip container (ZipArchive.swift), the public entry point
// and state-dict flattening (TorchCheckpoint.swift).

import Graphs
import Tensors

/// A dict key of a pickled dict: Python `str` or `int` (other key types are refused when reading).
public enum PickleKey: Hashable, Sendable, CustomStringConvertible {
    case string(String)
    case int(Int64)

    /// The key as written in a flattened state-dict name: the string, or the integer in decimal.
    public var description: String {
        switch self {
        case .string(let s): return s
        case .int(let n): return String(n)
        }
    }
}

/// A pickled dict (or `collections.OrderedDict`): entries in insertion order, later duplicates
/// replacing the earlier value in its first position, as in Python.
public struct PickleDict: Sendable {
    /// Keys in insertion order.
    public private(set) var keys: [PickleKey] = []
    /// Values, parallel to `keys`.
    public private(set) var values: [PickleValue] = []
    private var index: [PickleKey: Int] = [:]

    public init() {}

    /// Number of entries.
    public var count: Int { keys.count }

    /// Sets `value` for `key`, keeping the first position of an existing key.
    public mutating func set(_ key: PickleKey, _ value: PickleValue) {
        if let k = index[key] { values[k] = value; return }
        index[key] = keys.count
        keys.append(key)
        values.append(value)
    }

    /// The value for `key`, or nil.
    public subscript(key: PickleKey) -> PickleValue? { index[key].map { values[$0] } }

    /// The value for the string key `key`, or nil.
    public subscript(key: String) -> PickleValue? { self[.string(key)] }
}

/// A value read from a pickle.
public enum PickleValue: Sendable {
    /// Python's None (not named `none`, which `Optional<PickleValue>` would shadow).
    case null
    case bool(Bool)
    /// A Python int that fits in 64 bits (wider ones are refused when reading).
    case int(Int64)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    /// A list; also a set or frozenset, in file order.
    case list([PickleValue])
    case tuple([PickleValue])
    case dict(PickleDict)
    case tensor(TorchTensor)

    /// The Python-ish kind, for messages: "dict", "list", "tensor float16 [3, 4]", …
    public var kind: String {
        switch self {
        case .null: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .tensor(let t): return "tensor \(t.dtype.rawValue) \(t.shape)"
        }
    }

    /// The value under string key `key` of a dict, or nil (also when this is not a dict).
    public subscript(key: String) -> PickleValue? {
        guard case .dict(let d) = self else { return nil }
        return d[key]
    }

    public var dict: PickleDict? { if case .dict(let d) = self { return d }; return nil }
    public var tensor: TorchTensor? { if case .tensor(let t) = self { return t }; return nil }
    public var int: Int64? { if case .int(let n) = self { return n }; return nil }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    /// A float, or an int as a Double.
    public var double: Double? {
        switch self {
        case .float(let x): return x
        case .int(let n): return Double(n)
        default: return nil
        }
    }
    /// The items of a list or tuple.
    public var items: [PickleValue]? {
        switch self {
        case .list(let xs), .tuple(let xs): return xs
        default: return nil
        }
    }
}

/// The element type of a torch storage (`torch.FloatStorage` → `.float32`, …).
public enum TorchDType: String, Sendable, CaseIterable {
    case float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// True for float64/32/16 and bfloat16, which ``TorchTensor/value()`` gives as float32.
    public var isFloatingPoint: Bool {
        switch self {
        case .float64, .float32, .float16, .bfloat16: return true
        case .int64, .int32, .int16, .int8, .uint8, .bool: return false
        }
    }

    /// The dtype of storage class `torch.<name>`, e.g. "HalfStorage"; nil for others.
    init?(storageName name: String) {
        guard let dtype = Self.allCases.first(where: { $0.storageName == name }) else { return nil }
        self = dtype
    }

    /// The storage class name in module `torch`.
    var storageName: String {
        switch self {
        case .float64: return "DoubleStorage"
        case .float32: return "FloatStorage"
        case .float16: return "HalfStorage"
        case .bfloat16: return "BFloat16Storage"
        case .int64: return "LongStorage"
        case .int32: return "IntStorage"
        case .int16: return "ShortStorage"
        case .int8: return "CharStorage"
        case .uint8: return "ByteStorage"
        case .bool: return "BoolStorage"
        }
    }
}

/// One storage of the checkpoint: `count` elements of `dtype` at `byteOffset` in the mapped file
/// (the zip entry `<archive>/data/<key>`).
final class TorchStorage: @unchecked Sendable {
    let key: String
    let dtype: TorchDType
    let count: Int
    let byteOffset: Int
    let file: FileBytes  // keeps the map alive

    init(key: String, dtype: TorchDType, count: Int, byteOffset: Int, file: FileBytes) {
        precondition(count >= 0 && byteOffset >= 0 && byteOffset + count * dtype.byteSize <= file.count,
                     "TorchStorage: \(count) × \(dtype) at \(byteOffset) outside the \(file.count)-byte file")
        self.key = key
        self.dtype = dtype
        self.count = count
        self.byteOffset = byteOffset
        self.file = file
    }
}

/// A tensor of a checkpoint: shape, strides and offset into one storage, checked against the
/// storage's size when read; its elements are copied out (gathered, for non-contiguous strides)
/// only by ``value()`` or ``floatTensor()``. Immutable; shares the file's memory map.
public final class TorchTensor: @unchecked Sendable {
    /// The storage's element type.
    public let dtype: TorchDType
    /// Dimensions; `[]` for a 0-d tensor.
    public let shape: Shape
    /// Strides in elements, one per axis (non-negative).
    public let strides: [Int]
    /// Offset of element [0, …, 0] in the storage, in elements.
    public let storageOffset: Int
    let storage: TorchStorage

    /// `shape`, `strides` and `storageOffset` must already be checked against `storage`
    /// (``Unpickler`` does): every element index is in 0..<storage.count.
    init(storage: TorchStorage, shape: Shape, strides: [Int], storageOffset: Int) {
        self.dtype = storage.dtype
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.storageOffset = storageOffset
    }

    /// The storage's key: the zip entry is `<archive>/data/<key>`. Tensors sharing a storage share it.
    public var storageKey: String { storage.key }

    /// The elements as a graph value: float64/16 and bfloat16 converted to float32 (float64
    /// rounded to nearest), integers and bool (0/1) as int64.
    public func value() -> Value {
        if dtype.isFloatingPoint { return .float(floatTensor()) }
        var values = [Int64](repeating: 0, count: shape.elementCount)
        let base = storage.file.base + storage.byteOffset
        values.withUnsafeMutableBufferPointer { out in
            switch dtype {
            case .int64: gather { out[$0] = base.loadUnaligned(fromByteOffset: 8 * $1, as: Int64.self) }
            case .int32: gather { out[$0] = Int64(base.loadUnaligned(fromByteOffset: 4 * $1, as: Int32.self)) }
            case .int16: gather { out[$0] = Int64(base.loadUnaligned(fromByteOffset: 2 * $1, as: Int16.self)) }
            case .int8: gather { out[$0] = Int64(base.load(fromByteOffset: $1, as: Int8.self)) }
            case .uint8: gather { out[$0] = Int64(base.load(fromByteOffset: $1, as: UInt8.self)) }
            case .bool: gather { out[$0] = base.load(fromByteOffset: $1, as: UInt8.self) != 0 ? 1 : 0 }
            case .float64, .float32, .float16, .bfloat16: preconditionFailure("unreachable: \(dtype) is floating point")
            }
        }
        withExtendedLifetime(storage) {}
        return .int(IntTensor(shape: shape, values: values))
    }

    /// The elements as an owned float32 tensor, row-major: float16 and bfloat16 exactly, float64
    /// rounded to nearest, integers rounded to the nearest Float (exact up to 2^24), bool as 0/1.
    public func floatTensor() -> Tensor {
        let out = Tensor(zeros: shape)
        let dst = out.pointer
        let base = storage.file.base + storage.byteOffset
        switch dtype {
        case .float32:
            if isContiguous {
                if out.count > 0 { UnsafeMutableRawPointer(dst).copyMemory(from: base + 4 * storageOffset, byteCount: 4 * out.count) }
            } else {
                gather { dst[$0] = base.loadUnaligned(fromByteOffset: 4 * $1, as: Float.self) }
            }
        case .float16: gather { dst[$0] = floatFromHalfBits(base.loadUnaligned(fromByteOffset: 2 * $1, as: UInt16.self)) }
        case .bfloat16: gather { dst[$0] = Float(bitPattern: UInt32(base.loadUnaligned(fromByteOffset: 2 * $1, as: UInt16.self)) << 16) }
        case .float64: gather { dst[$0] = Float(base.loadUnaligned(fromByteOffset: 8 * $1, as: Double.self)) }
        case .int64: gather { dst[$0] = Float(base.loadUnaligned(fromByteOffset: 8 * $1, as: Int64.self)) }
        case .int32: gather { dst[$0] = Float(base.loadUnaligned(fromByteOffset: 4 * $1, as: Int32.self)) }
        case .int16: gather { dst[$0] = Float(base.loadUnaligned(fromByteOffset: 2 * $1, as: Int16.self)) }
        case .int8: gather { dst[$0] = Float(base.load(fromByteOffset: $1, as: Int8.self)) }
        case .uint8: gather { dst[$0] = Float(base.load(fromByteOffset: $1, as: UInt8.self)) }
        case .bool: gather { dst[$0] = base.load(fromByteOffset: $1, as: UInt8.self) != 0 ? 1 : 0 }
        }
        withExtendedLifetime(storage) {}
        return out
    }

    /// Whether the elements are row-major and dense in the storage (axes of size 1 ignored).
    public var isContiguous: Bool {
        var expected = 1
        for axis in stride(from: shape.rank - 1, through: 0, by: -1) where shape[axis] != 1 {
            if strides[axis] != expected { return false }
            expected *= shape[axis]
        }
        return true
    }

    /// Calls `body(k, element)` for the k-th element in row-major order and its storage index.
    private func gather(_ body: (_ k: Int, _ element: Int) -> Void) {
        let n = shape.elementCount
        guard n > 0 else { return }
        if isContiguous {
            for k in 0..<n { body(k, storageOffset + k) }
            return
        }
        let rank = shape.rank
        // Axes of size 1 never move, so their (possibly huge) strides are never added.
        let steps = (0..<rank).map { shape[$0] == 1 ? 0 : strides[$0] }
        var index = [Int](repeating: 0, count: rank)
        var element = storageOffset
        for k in 0..<n {
            body(k, element)
            var axis = rank - 1
            while axis >= 0 {
                index[axis] += 1
                element += steps[axis]
                if index[axis] < shape[axis] { break }
                element -= steps[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

/// "a dict", "an int", "a tensor float32 [2]": a kind with its article, for messages.
func article(_ kind: String) -> String {
    guard let first = kind.first, "aeiouAEIOU".contains(first) else { return "a " + kind }
    return "an " + kind
}

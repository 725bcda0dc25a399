// Pickle: a pickle reader that executes nothing — the binary opcodes of protocols 2–5 that
// torch.save writes for state dicts, optimizer states and training milestones, into a
// `PickleValue` tree. GLOBAL / STACK_GLOBAL resolve only names on a fixed allowlist (`PickleGlobal`);
// any other name is an error naming it, raised when the name is read, before anything uses it.
// REDUCE, NEWOBJ and BUILD apply only the allowlisted functions, each a few lines below.
//
// Limits, so that a hostile pickle can neither crash, hang nor allocate much more than its file:
// every length is checked against the bytes left; the stack holds at most `maxStack` items, open
// MARKs at most `maxMarks`, the memo `maxMemo` entries; the value tree is at most `maxDepth` deep
// and has no cycles (checked when it is built); tensors' element counts together stay within
// `tensorElementBudget` (twice the file's bytes, plus slack), each checked against its storage.
// Objects live in an arena (`objects`) addressed by index, so the stack and the memo share them
// as Python does (a dict memoized before its SETITEMS is seen filled), and the tree is built once
// at the end with shared sub-trees converted once.
//
// Not here: reading the zip and locating storages (TorchCheckpoint.swift supplies `loadStorage`).

import Tensors

/// A name GLOBAL may resolve: the whole allowlist.
enum PickleGlobal: Equatable {
    case orderedDict                       // collections.OrderedDict
    case rebuildTensorV2                   // torch._utils._rebuild_tensor_v2
    case rebuildParameter                  // torch._utils._rebuild_parameter
    case rebuildParameterWithState         // torch._utils._rebuild_parameter_with_state
    case storage(TorchDType)               // torch.FloatStorage, torch.HalfStorage, …
    case encode                            // _codecs.encode: how protocol 2 pickles bytes
    case set                               // builtins.set / frozenset (read as lists)

    /// The allowlisted meaning of `module.name`, or nil.
    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameterWithState
        case ("_codecs", "encode"): self = .encode
        case ("builtins", "set"), ("builtins", "frozenset"), ("__builtin__", "set"), ("__builtin__", "frozenset"): self = .set
        case ("torch", _):
            guard let dtype = TorchDType(storageName: name) else { return nil }
            self = .storage(dtype)
        default: return nil
        }
    }

    /// Every allowed name, for messages and docs.
    static let allowedNames = ["collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
                               "torch._utils._rebuild_parameter_with_state", "_codecs.encode", "builtins.set", "builtins.frozenset"]
        + TorchDType.allCases.map { "torch.\($0.storageName)" }
}

/// What BINPERSID received: torch's `('storage', storage_type, key, location, numel)`.
struct PersistentStorageID {
    let dtype: TorchDType
    let key: String
    let count: Int
}

/// Runs a pickle's opcodes into a `PickleValue`, executing nothing. One use per pickle.
struct Unpickler {
    static let maxStack = 1 << 20
    static let maxMarks = 1 << 12
    static let maxMemo = 1 << 24
    static let maxDepth = 100

    /// An object of the arena; containers refer to others by index.
    private enum Object {
        case none, bool(Bool), int(Int64), float(Double), string(String), bytes([UInt8])
        case tuple([Int])
        case list(ListBox)
        case dict(DictBox)
        case global(PickleGlobal, String)  // and its dotted name, for messages
        case storage(TorchStorage)
        case tensor(TorchTensor)
    }
    private final class ListBox { var items: [Int] = [] }
    private final class DictBox {
        var keys: [PickleKey] = []
        var values: [Int] = []
        var index: [PickleKey: Int] = [:]
        func set(_ key: PickleKey, _ value: Int) {
            if let k = index[key] { values[k] = value; return }
            index[key] = keys.count
            keys.append(key)
            values.append(value)
        }
    }

    private let data: UnsafeRawBufferPointer
    private let loadStorage: (PersistentStorageID) throws -> TorchStorage
    private var objects: [Object] = []
    private var stack: [Int] = []
    private var marks: [Int] = []
    private var memo: [Int: Int] = [:]
    private var position = 0      // next byte to read
    private var opcodeStart = 0   // where the current opcode began, for messages
    private var opcode: UInt8 = 0
    private var budget: Int

    /// Number of arena objects the pickle made (bounds walks over the tree's shared parts).
    var objectCount: Int { objects.count }

    /// - Parameters:
    ///   - data: the pickle's bytes; they must outlive `run()`.
    ///   - tensorElementBudget: the most tensor elements all tensors may have together.
    ///   - loadStorage: gives the storage a persistent id names (or throws).
    init(_ data: UnsafeRawBufferPointer, tensorElementBudget: Int,
         loadStorage: @escaping (PersistentStorageID) throws -> TorchStorage) {
        self.data = data
        self.budget = tensorElementBudget
        self.loadStorage = loadStorage
    }

    /// Runs the opcodes up to STOP and returns the value it leaves.
    mutating func run() throws -> PickleValue {
        while true {
            opcodeStart = position
            opcode = try byte()
            switch opcode {
            case 0x80:  // PROTO
                let version = try byte()
                guard (2...5).contains(version) else { throw fail("pickle protocol \(version) is not supported (2 to 5 are)") }
            case 0x95:  // FRAME: the length of the opcodes that follow, which are read as usual
                let frame = try length(8)
                guard frame <= data.count - position else { throw fail("a frame of \(frame) bytes, but only \(data.count - position) are left") }
            case 0x2e:  // STOP
                let result = try pop()
                guard stack.isEmpty, marks.isEmpty else {
                    throw fail("STOP leaves \(stack.count) items and \(marks.count) MARKs on the stack")
                }
                var converted = [PickleValue?](repeating: nil, count: objects.count)
                var inProgress = Set<Int>()
                return try value(result, depth: 0, &converted, &inProgress)

            // Stack and memo.
            case 0x28:  // MARK
                guard marks.count < Self.maxMarks else { throw fail("more than \(Self.maxMarks) nested MARKs") }
                marks.append(stack.count)
            case 0x30: _ = try pop()                  // POP
            case 0x31: _ = try popMark()              // POP_MARK
            case 0x32: try pushIndex(try top())       // DUP
            case 0x71: try put(Int(try byte()))       // BINPUT
            case 0x72: try put(try length(4))         // LONG_BINPUT
            case 0x94: try put(memo.count)            // MEMOIZE
            case 0x68: try get(Int(try byte()))       // BINGET
            case 0x6a: try get(try length(4))         // LONG_BINGET

            // Scalars.
            case 0x4e: try push(.none)                // NONE
            case 0x88: try push(.bool(true))          // NEWTRUE
            case 0x89: try push(.bool(false))         // NEWFALSE
            case 0x4b: try push(.int(Int64(try byte())))               // BININT1
            case 0x4d: try push(.int(Int64(try littleEndian(2))))      // BININT2
            case 0x4a: try push(.int(Int64(Int32(truncatingIfNeeded: try littleEndian(4)))))  // BININT
            case 0x8a: try push(.int(try long(count: Int(try byte()))))  // LONG1
            case 0x8b: try push(.int(try long(count: try length(4))))    // LONG4
            case 0x47:  // BINFLOAT: big-endian
                let raw = try littleEndian(8)
                try push(.float(Double(bitPattern: raw.byteSwapped)))
            case 0x58: try push(.string(try utf8(count: try length(4))))   // BINUNICODE
            case 0x8c: try push(.string(try utf8(count: Int(try byte()))))  // SHORT_BINUNICODE
            case 0x8d: try push(.string(try utf8(count: try length(8))))   // BINUNICODE8
            case 0x42: try push(.bytes(Array(try bytes(count: try length(4)))))   // BINBYTES
            case 0x43: try push(.bytes(Array(try bytes(count: Int(try byte())))))  // SHORT_BINBYTES
            case 0x8e, 0x96: try push(.bytes(Array(try bytes(count: try length(8)))))  // BINBYTES8, BYTEARRAY8

            // Containers.
            case 0x29: try push(.tuple([]))                                    // EMPTY_TUPLE
            case 0x74: try push(.tuple(try popMark()))                         // TUPLE
            case 0x85: let a = try pop(); try push(.tuple([a]))                // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); try push(.tuple([a, b]))  // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); try push(.tuple([a, b, c]))  // TUPLE3
            case 0x5d, 0x8f: try push(.list(ListBox()))                        // EMPTY_LIST, EMPTY_SET
            case 0x6c, 0x91:                                                   // LIST, FROZENSET
                let list = ListBox()
                list.items = try popMark()
                try push(.list(list))
            case 0x61:  // APPEND
                let item = try pop()
                try list(at: try top()).items.append(item)
            case 0x65, 0x90:  // APPENDS, ADDITEMS
                let items = try popMark()
                try list(at: try top()).items.append(contentsOf: items)
            case 0x7d: try push(.dict(DictBox()))  // EMPTY_DICT
            case 0x64:  // DICT
                let dict = DictBox()
                try setItems(dict, try popMark())
                try push(.dict(dict))
            case 0x73:  // SETITEM
                let v = try pop(), k = try pop()
                try dict(at: try top()).set(try key(k), v)
            case 0x75:  // SETITEMS
                let items = try popMark()
                try setItems(try dict(at: try top()), items)

            // Names and calls: the allowlist only.
            case 0x63:  // GLOBAL: "module\nname\n"
                let module = try line(), name = try line()
                try pushGlobal(module: module, name: name)
            case 0x93:  // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard case .string(let n) = objects[name], case .string(let m) = objects[module] else {
                    throw fail("STACK_GLOBAL needs two strings, got \(kind(module)) and \(kind(name))")
                }
                try pushGlobal(module: m, name: n)
            case 0x52, 0x81:  // REDUCE, NEWOBJ: callable (or class) and an argument tuple
                let args = try pop(), callable = try pop()
                guard case .tuple(let argv) = objects[args] else { throw fail("the arguments are \(article(kind(args))), not a tuple") }
                try push(try call(callable, argv))
            case 0x62:  // BUILD: sets an object's state; only the attributes of a state dict (`_metadata`), ignored
                let state = try pop()
                switch objects[try top()] {
                case .dict, .tensor: break
                default: throw fail("BUILD on \(article(kind(try top()))) (state \(kind(state))) is not supported")
                }
            case 0x51:  // BINPERSID
                try push(.storage(try storage(try pop())))

            default:
                throw fail("unsupported pickle opcode \(Self.opcodeName(opcode))")
            }
        }
    }

    // MARK: - Reading bytes

    private func fail(_ problem: String) -> CheckpointProblem {
        CheckpointProblem("opcode \(Self.opcodeName(opcode)) at byte \(opcodeStart): \(problem)")
    }

    private mutating func byte() throws -> UInt8 {
        guard position < data.count else { throw CheckpointProblem("the pickle ends at byte \(data.count) without STOP") }
        defer { position += 1 }
        return data[position]
    }

    private mutating func bytes(count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= data.count - position else {
            throw fail("\(count) bytes asked for, but only \(data.count - position) are left")
        }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: data[position..<(position + count)])
    }

    private mutating func littleEndian(_ count: Int) throws -> UInt64 {
        let raw = try bytes(count: count)
        var v: UInt64 = 0
        for (i, b) in raw.enumerated() { v |= UInt64(b) << (8 * i) }
        return v
    }

    /// An unsigned length or index of `width` bytes (at most the pickle's size, checked by the reader that uses it).
    private mutating func length(_ width: Int) throws -> Int {
        let v = try littleEndian(width)
        guard v <= UInt64(Int.max >> 1) else { throw fail("length or index \(v) is larger than any pickle") }
        return Int(v)
    }

    /// A two's-complement little-endian integer of `count` bytes that must fit in 64 bits.
    private mutating func long(count: Int) throws -> Int64 {
        guard count <= 8 else {
            _ = try bytes(count: count)
            throw fail("an integer of \(count) bytes does not fit in 64 bits")
        }
        guard count > 0 else { return 0 }
        let raw = try littleEndian(count)
        let shift = UInt64(64 - 8 * count)
        return Int64(bitPattern: raw << shift) >> Int64(shift)  // sign-extend
    }

    private mutating func utf8(count: Int) throws -> String {
        let raw = try bytes(count: count)
        guard let s = String(validating: raw, as: UTF8.self) else { throw fail("a string of \(count) bytes is not valid UTF-8") }
        return s
    }

    /// A newline-terminated ASCII line (GLOBAL's operands), without the newline.
    private mutating func line() throws -> String {
        guard let newline = data[position...].firstIndex(of: 0x0a) else { throw fail("a name runs to the end of the pickle") }
        let raw = try bytes(count: newline - position)
        position += 1
        guard raw.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else { throw fail("a name holds bytes that are not printable ASCII") }
        return String(decoding: raw, as: UTF8.self)
    }

    // MARK: - Stack, memo, arena

    private mutating func push(_ object: Object) throws {
        objects.append(object)
        try pushIndex(objects.count - 1)
    }

    private mutating func pushIndex(_ index: Int) throws {
        guard stack.count < Self.maxStack else { throw fail("the stack holds more than \(Self.maxStack) items") }
        stack.append(index)
    }

    private mutating func pop() throws -> Int {
        guard stack.count > (marks.last ?? 0) else { throw fail("the stack is empty (above the last MARK)") }
        return stack.removeLast()
    }

    private func top() throws -> Int {
        guard stack.count > (marks.last ?? 0) else { throw fail("the stack is empty (above the last MARK)") }
        return stack[stack.count - 1]
    }

    private mutating func popMark() throws -> [Int] {
        guard let mark = marks.popLast() else { throw fail("no MARK to pop to") }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    private mutating func put(_ key: Int) throws {
        let value = try top()
        guard memo.count < Self.maxMemo || memo[key] != nil else { throw fail("the memo holds more than \(Self.maxMemo) entries") }
        memo[key] = value
    }

    private mutating func get(_ key: Int) throws {
        guard let value = memo[key] else { throw fail("memo entry \(key) was never stored") }
        try pushIndex(value)
    }

    private func list(at index: Int) throws -> ListBox {
        guard case .list(let box) = objects[index] else { throw fail("expected a list or set below, found \(article(kind(index)))") }
        return box
    }

    private func dict(at index: Int) throws -> DictBox {
        guard case .dict(let box) = objects[index] else { throw fail("expected a dict below, found \(article(kind(index)))") }
        return box
    }

    private func setItems(_ dict: DictBox, _ items: [Int]) throws {
        guard items.count % 2 == 0 else { throw fail("an odd number (\(items.count)) of keys and values") }
        for k in stride(from: 0, to: items.count, by: 2) { dict.set(try key(items[k]), items[k + 1]) }
    }

    private func key(_ index: Int) throws -> PickleKey {
        switch objects[index] {
        case .string(let s): return .string(s)
        case .int(let n): return .int(n)
        default: throw fail("a dict key is \(article(kind(index))); only str and int keys are supported")
        }
    }

    private func kind(_ index: Int) -> String {
        switch objects[index] {
        case .none: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global(_, let name): return "global \(name)"
        case .storage(let s): return "storage '\(s.key)'"
        case .tensor: return "tensor"
        }
    }

    // MARK: - The allowlist

    private mutating func pushGlobal(module: String, name: String) throws {
        guard let global = PickleGlobal(module: module, name: name) else {
            if module == "torch" && name.hasSuffix("Storage") {
                throw fail("storage type torch.\(name) is not supported (\(TorchDType.allCases.map { "torch.\($0.storageName)" }.joined(separator: ", ")))")
            }
            throw fail("global '\(module).\(name)' is not allowed: a checkpoint may name only \(PickleGlobal.allowedNames.prefix(7).joined(separator: ", ")) and torch storage types; nothing in it is executed")
        }
        try push(.global(global, "\(module).\(name)"))
    }

    /// REDUCE / NEWOBJ of an allowlisted global on `args`.
    private mutating func call(_ callable: Int, _ args: [Int]) throws -> Object {
        guard case .global(let global, let name) = objects[callable] else { throw fail("calling \(article(kind(callable))), which is not callable") }
        func arity(_ counts: Int...) throws {
            guard counts.contains(args.count) else { throw fail("\(name) takes \(counts.map(String.init).joined(separator: " or ")) arguments, got \(args.count)") }
        }
        switch global {
        case .orderedDict:
            try arity(0)
            return .dict(DictBox())
        case .set:
            let set = ListBox()
            if !args.isEmpty {
                try arity(1)
                switch objects[args[0]] {
                case .list(let items): set.items = items.items
                case .tuple(let items): set.items = items
                default: throw fail("\(name) of \(article(kind(args[0]))) is not supported")
                }
            }
            return .list(set)
        case .encode:  // _codecs.encode(text, 'latin1'): bytes pickled by protocol 2
            try arity(1, 2)
            guard case .string(let text) = objects[args[0]] else { throw fail("\(name) of \(article(kind(args[0])))") }
            if args.count == 2 {
                guard case .string(let encoding) = objects[args[1]], ["latin1", "latin-1", "iso-8859-1"].contains(encoding.lowercased()) else {
                    throw fail("\(name) with an encoding other than latin1")
                }
            }
            var out: [UInt8] = []
            for scalar in text.unicodeScalars {
                guard scalar.value < 256 else { throw fail("\(name): U+\(String(scalar.value, radix: 16)) is not latin1") }
                out.append(UInt8(scalar.value))
            }
            return .bytes(out)
        case .rebuildParameter, .rebuildParameterWithState:  // (data, requires_grad, backward_hooks[, state])
            try arity(global == .rebuildParameter ? 3 : 4)
            guard case .tensor = objects[args[0]] else { throw fail("\(name) of \(article(kind(args[0]))), not a tensor") }
            return objects[args[0]]
        case .rebuildTensorV2:
            try arity(6, 7)
            return .tensor(try rebuildTensor(args))
        case .storage(let dtype):
            throw fail("torch.\(dtype.storageName) is only a storage type in a persistent id, not callable")
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`.
    private mutating func rebuildTensor(_ args: [Int]) throws -> TorchTensor {
        guard case .storage(let storage) = objects[args[0]] else { throw fail("_rebuild_tensor_v2 of \(article(kind(args[0]))), not a storage") }
        guard case .int(let offset64) = objects[args[1]] else { throw fail("the storage offset is \(article(kind(args[1]))), not an int") }
        let dims = try ints(args[2], "size"), strides = try ints(args[3], "stride")
        let what = "tensor of size \(dims), stride \(strides), offset \(offset64) on storage '\(storage.key)' (\(storage.count) × \(storage.dtype.rawValue))"
        guard dims.count <= Shape.maxRank else { throw fail("\(what): more than \(Shape.maxRank) axes are not supported") }
        guard dims.count == strides.count else { throw fail("\(what): size and stride differ in length") }
        guard offset64 >= 0, dims.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
            throw fail("\(what): negative sizes, strides or offset")
        }
        guard offset64 <= Int64(storage.count) else { throw fail("\(what): the offset is past the storage's end") }
        let offset = Int(offset64)
        var elements = 1, last = offset
        for (d, s) in zip(dims, strides) {
            let (n, o1) = elements.multipliedReportingOverflow(by: d)
            guard !o1 else { throw fail("\(what): the element count overflows") }
            elements = n
            if d > 1 {
                let (reach, o2) = (d - 1).multipliedReportingOverflow(by: s)
                let (sum, o3) = last.addingReportingOverflow(reach)
                guard !o2, !o3 else { throw fail("\(what): the elements reach past the storage's end") }
                last = sum
            }
        }
        guard elements == 0 || last < storage.count else { throw fail("\(what): the elements reach past the storage's end") }
        guard elements <= budget else {
            throw fail("\(what): the tensors' elements exceed what the file can hold (at most twice its bytes in all)")
        }
        budget -= elements
        return TorchTensor(storage: storage, shape: Shape(dims), strides: strides, storageOffset: offset)
    }

    private func ints(_ index: Int, _ what: String) throws -> [Int] {
        guard case .tuple(let items) = objects[index] else { throw fail("the tensor \(what) is \(article(kind(index))), not a tuple") }
        return try items.map { item in
            guard case .int(let n) = objects[item] else { throw fail("the tensor \(what) holds \(article(kind(item))), not an int") }
            return Int(n)
        }
    }

    /// BINPERSID: `('storage', torch.XStorage, key, location, numel)`.
    private func storage(_ id: Int) throws -> TorchStorage {
        guard case .tuple(let parts) = objects[id], parts.count == 5, case .string("storage") = objects[parts[0]] else {
            throw fail("a persistent id that is not ('storage', type, key, location, numel): \(article(kind(id)))")
        }
        guard case .global(.storage(let dtype), _) = objects[parts[1]] else { throw fail("the storage type is \(article(kind(parts[1])))") }
        guard case .string(let key) = objects[parts[2]] else { throw fail("the storage key is \(article(kind(parts[2])))") }
        guard case .string = objects[parts[3]] else { throw fail("the storage location is \(article(kind(parts[3])))") }
        guard case .int(let count) = objects[parts[4]], count >= 0 else { throw fail("the storage size is not a non-negative int") }
        do {
            return try loadStorage(PersistentStorageID(dtype: dtype, key: key, count: Int(count)))
        } catch let problem as CheckpointProblem {
            throw fail(problem.message)
        }
    }

    // MARK: - The tree

    /// The value of arena object `index`; shared objects are converted once, cycles and depth refused.
    private func value(_ index: Int, depth: Int, _ converted: inout [PickleValue?], _ inProgress: inout Set<Int>) throws -> PickleValue {
        if let done = converted[index] { return done }
        guard depth < Self.maxDepth else { throw CheckpointProblem("the pickled value nests more than \(Self.maxDepth) levels deep") }
        guard inProgress.insert(index).inserted else { throw CheckpointProblem("the pickled value contains itself (a reference cycle)") }
        func children(_ items: [Int]) throws -> [PickleValue] {
            try items.map { try value($0, depth: depth + 1, &converted, &inProgress) }
        }
        let result: PickleValue
        switch objects[index] {
        case .none: result = .null
        case .bool(let b): result = .bool(b)
        case .int(let n): result = .int(n)
        case .float(let x): result = .float(x)
        case .string(let s): result = .string(s)
        case .bytes(let b): result = .bytes(b)
        case .tuple(let items): result = .tuple(try children(items))
        case .list(let box): result = .list(try children(box.items))
        case .dict(let box):
            var d = PickleDict()
            for (k, v) in zip(box.keys, box.values) { d.set(k, try value(v, depth: depth + 1, &converted, &inProgress)) }
            result = .dict(d)
        case .tensor(let t): result = .tensor(t)
        case .global(_, let name): throw CheckpointProblem("the pickled value holds the global '\(name)' itself, which is not read")
        case .storage(let s): throw CheckpointProblem("the pickled value holds storage '\(s.key)' itself (not in a tensor), which is not read")
        }
        inProgress.remove(index)
        converted[index] = result
        return result
    }

    /// `0x8c SHORT_BINUNICODE`-style names of the opcodes, for messages.
    static func opcodeName(_ op: UInt8) -> String {
        let names: [UInt8: String] = [
            0x80: "PROTO", 0x95: "FRAME", 0x2e: "STOP", 0x28: "MARK", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP",
            0x71: "BINPUT", 0x72: "LONG_BINPUT", 0x94: "MEMOIZE", 0x68: "BINGET", 0x6a: "LONG_BINGET",
            0x4e: "NONE", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x4b: "BININT1", 0x4d: "BININT2", 0x4a: "BININT",
            0x8a: "LONG1", 0x8b: "LONG4", 0x47: "BINFLOAT", 0x58: "BINUNICODE", 0x8c: "SHORT_BINUNICODE",
            0x8d: "BINUNICODE8", 0x42: "BINBYTES", 0x43: "SHORT_BINBYTES", 0x8e: "BINBYTES8", 0x96: "BYTEARRAY8",
            0x29: "EMPTY_TUPLE", 0x74: "TUPLE", 0x85: "TUPLE1", 0x86: "TUPLE2", 0x87: "TUPLE3",
            0x5d: "EMPTY_LIST", 0x6c: "LIST", 0x61: "APPEND", 0x65: "APPENDS", 0x7d: "EMPTY_DICT", 0x64: "DICT",
            0x73: "SETITEM", 0x75: "SETITEMS", 0x8f: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET",
            0x63: "GLOBAL", 0x93: "STACK_GLOBAL", 0x52: "REDUCE", 0x81: "NEWOBJ", 0x62: "BUILD", 0x51: "BINPERSID",
            // Known but not read: the text opcodes of protocols 0–1, instance creation, extensions, out-of-band buffers.
            0x49: "INT", 0x4c: "LONG", 0x46: "FLOAT", 0x53: "STRING", 0x54: "BINSTRING", 0x55: "SHORT_BINSTRING",
            0x56: "UNICODE", 0x70: "PUT", 0x67: "GET", 0x50: "PERSID", 0x69: "INST", 0x6f: "OBJ", 0x92: "NEWOBJ_EX",
            0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
        ]
        let hex = "0x" + String(op, radix: 16)
        return names[op].map { "\($0) (\(hex))" } ?? hex
    }
}

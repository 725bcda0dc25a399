// TorchCheckpoint: reads what `torch.save` writes (PyTorch ≥ 1.6, the zip format) without
// executing anything: a state dict, an optimizer state, a training milestone such as
// denoising-diffusion-pytorch's `model-N.pt` — any tree of dicts, lists, tuples, numbers, strings
// and tensors (PickleValue.swift). The file is mapped once; tensors stay descriptors into the map
// until their elements are asked for.
//
// Layout (torch/csrc/jit/serialization): a zip (ZipArchive.swift) whose entries sit in one top
// folder named after the file (`archive/` for in-memory saves): `data.pkl` the pickled object
// (Pickle.swift), `data/<key>` each storage's raw little-endian bytes, `byteorder` ("little"),
// `version`, `.format_version`, `.storage_alignment`, `.data/serialization_id`.
// `data.pkl`'s CRC-32 is checked; storages are not (as torch's own mmap loading does not).
//
// Refused, by name: the legacy format (before PyTorch 1.6: pickles back to back, or a tar),
// TorchScript archives (torch.jit.save), big-endian files, compressed entries, any global off the
// allowlist (`PickleGlobal`), storage types other than `TorchDType`'s.
//
//     let checkpoint = try TorchCheckpoint.read("model-10.pt")
//     let step = checkpoint.root["step"]?.int
//     let ema = try checkpoint.stateDict(at: ["ema"])   // ["ema_model.model.init_conv.weight": Tensor, …]

import Foundation
import Tensors

/// A PyTorch checkpoint (a `torch.save` file) read into a value tree.
public struct TorchCheckpoint: Sendable {
    /// The file's path (or the name given to an in-memory read); errors start with it.
    public let path: String
    /// The object that was saved.
    public let root: PickleValue
    /// Arena objects the pickle made: bounds walks over shared sub-trees (a hostile "billion laughs").
    private let objectCount: Int

    /// Reads the checkpoint at `path`, mapping the file read-only.
    /// Throws `ModelFileError` naming the file and the problem (with the byte offset or the
    /// pickle opcode and its position where one is to blame).
    public static func read(_ path: String) throws -> TorchCheckpoint {
        let file: FileBytes
        do { file = try FileBytes(mapping: path) } catch let e as SafeTensorsError {
            throw ModelFileError(path: path, problem: e.problem)
        }
        return try parse(file, path: path)
    }

    /// Reads checkpoint bytes held in memory (copied); `name` stands for the path in errors.
    public static func read(bytes: Data, name: String) throws -> TorchCheckpoint {
        try parse(FileBytes(copying: bytes), path: name)
    }

    /// The value under `keys`, walking dicts (a key matches a str key, or an int key written in
    /// decimal) and lists or tuples (a decimal index); `[]` is the root.
    public func value(at keys: [String]) throws -> PickleValue {
        var v = root
        for (depth, key) in keys.enumerated() {
            let here = Self.describe(keys.prefix(depth))
            switch v {
            case .dict(let d):
                guard let next = d[key] ?? Int64(key).flatMap({ d[.int($0)] }) else {
                    let known = d.keys.prefix(8).map { "'\($0)'" }.joined(separator: ", ")
                    throw ModelFileError(path: path, problem: "no key '\(key)' in \(here) (its \(d.count) keys: \(known)\(d.count > 8 ? ", …" : ""))")
                }
                v = next
            case .list(let xs), .tuple(let xs):
                guard let i = Int(key), xs.indices.contains(i) else {
                    throw ModelFileError(path: path, problem: "no index '\(key)' in \(here), \(article(v.kind)) of \(xs.count) items")
                }
                v = xs[i]
            default:
                throw ModelFileError(path: path, problem: "\(here) is \(article(v.kind)), which has no key '\(key)'")
            }
        }
        return v
    }

    /// The tensors of the state dict under `keys`, in file order, nested dicts flattened with
    /// dot-joined keys (`{"a": {"b": t}}` → `"a.b"`). Every leaf must be a tensor; an empty dict
    /// contributes nothing.
    public func tensors(at keys: [String] = []) throws -> [(name: String, tensor: TorchTensor)] {
        let start = try value(at: keys)
        let here = Self.describe(keys[...])
        guard case .dict(let top) = start else {
            throw ModelFileError(path: path, problem: "\(here) is \(article(start.kind)), not a dict of tensors")
        }
        var out: [(name: String, tensor: TorchTensor)] = []
        var seen = Set<String>()
        var visits = 0
        let maxVisits = 2 * objectCount + 1024
        func walk(_ d: PickleDict, _ prefix: String) throws {
            for (k, v) in zip(d.keys, d.values) {
                visits += 1
                guard visits <= maxVisits else {
                    throw ModelFileError(path: path, problem: "\(here) repeats shared dicts more often than its \(objectCount) pickled objects allow")
                }
                let name = prefix.isEmpty ? k.description : prefix + "." + k.description
                switch v {
                case .tensor(let t):
                    guard seen.insert(name).inserted else { throw ModelFileError(path: path, problem: "\(here) has two tensors named '\(name)'") }
                    out.append((name, t))
                case .dict(let inner):
                    try walk(inner, name)
                default:
                    throw ModelFileError(path: path, problem: "'\(name)' in \(here) is \(article(v.kind)), not a tensor or dict")
                }
            }
        }
        try walk(top, "")
        return out
    }

    /// The state dict under `keys` as float32 tensors (``tensors(at:)`` converted by
    /// ``TorchTensor/floatTensor()``); a tensor under several names is copied once and shared.
    public func stateDict(at keys: [String] = []) throws -> [String: Tensor] {
        var copies: [ObjectIdentifier: Tensor] = [:]
        var out: [String: Tensor] = [:]
        for (name, t) in try tensors(at: keys) {
            if let done = copies[ObjectIdentifier(t)] { out[name] = done; continue }
            let copy = t.floatTensor()
            copies[ObjectIdentifier(t)] = copy
            out[name] = copy
        }
        return out
    }

    /// `['ema']['step']`, or "the top level".
    private static func describe(_ keys: ArraySlice<String>) -> String {
        keys.isEmpty ? "the top level" : keys.map { "['\($0)']" }.joined()
    }

    // MARK: - Reading

    static func parse(_ file: FileBytes, path: String) throws -> TorchCheckpoint {
        do {
            let (root, objects) = try readArchive(file)
            return TorchCheckpoint(path: path, root: root, objectCount: objects)
        } catch let problem as CheckpointProblem {
            throw ModelFileError(path: path, problem: problem.message)
        }
    }

    /// The saved object and the number of objects its pickle made.
    private static func readArchive(_ file: FileBytes) throws -> (PickleValue, Int) {
        let bytes = file.buffer
        let magic = Array(bytes.prefix(4))
        guard magic == [0x50, 0x4b, 0x03, 0x04] || magic == [0x50, 0x4b, 0x05, 0x06] else {
            // The legacy format opens with a pickled magic number (LONG1 0x1950a86a20f9469cfc6c), or is a tar.
            let legacyMagic: [UInt8] = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]
            let isTar = bytes.count >= 262 && Array(bytes[257..<262]) == Array("ustar".utf8)
            if isTar || (bytes.count >= 14 && bytes[0] == 0x80 && Array(bytes[2..<14]) == legacyMagic) {
                throw CheckpointProblem("legacy torch.save format (before PyTorch 1.6); re-save with a newer PyTorch")
            }
            if magic.first == 0x80 {
                throw CheckpointProblem("a bare pickle, not a torch.save file (a zip archive holding data.pkl); save it with torch.save")
            }
            throw CheckpointProblem("not a PyTorch checkpoint: neither a zip archive (torch.save since PyTorch 1.6) nor the legacy format")
        }
        let zip = try ZipArchive(bytes)
        let pickles = zip.entries.filter { $0.name.hasSuffix("/data.pkl") && $0.name.split(separator: "/", omittingEmptySubsequences: false).count == 2 }
        guard pickles.count == 1, let pickle = pickles.first else {
            throw CheckpointProblem(pickles.isEmpty
                ? "the zip archive has no <folder>/data.pkl, so it is not a torch.save file"
                : "the zip archive has \(pickles.count) <folder>/data.pkl entries (\(pickles.map(\.name).joined(separator: ", ")))")
        }
        let folder = String(pickle.name.dropLast("data.pkl".count))  // "archive/"
        if zip.entry(folder + "constants.pkl") != nil || zip.entries.contains(where: { $0.name.hasPrefix(folder + "code/") }) {
            throw CheckpointProblem("a TorchScript archive (torch.jit.save), not a torch.save checkpoint; save the model's state_dict() with torch.save")
        }
        if let order = zip.entry(folder + "byteorder") {
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[order.dataOffset..<(order.dataOffset + order.size)]), as: UTF8.self)
            guard text == "little" else { throw CheckpointProblem("\(order.name) says '\(text.prefix(16))'; only little-endian checkpoints are read") }
        }
        let pickleBytes = UnsafeRawBufferPointer(rebasing: bytes[pickle.dataOffset..<(pickle.dataOffset + pickle.size)])
        let crc = crc32(pickleBytes)
        guard crc == pickle.crc32 else {
            throw CheckpointProblem("\(pickle.name) is corrupt: its CRC-32 is \(hex(crc)) but the zip directory records \(hex(pickle.crc32))")
        }

        // Storages, one per key, checked against their entries.
        var storages: [String: TorchStorage] = [:]
        var unpickler = Unpickler(pickleBytes, tensorElementBudget: 2 * bytes.count + 65536) { id in
            let entryName = folder + "data/" + id.key
            if let s = storages[id.key] {
                guard s.dtype == id.dtype, s.count == id.count else {
                    throw CheckpointProblem("storage '\(id.key)' is named as \(id.count) × \(id.dtype.rawValue) and as \(s.count) × \(s.dtype.rawValue)")
                }
                return s
            }
            guard let entry = zip.entry(entryName) else { throw CheckpointProblem("storage '\(id.key)' has no zip entry '\(entryName)'") }
            let (needed, overflow) = id.count.multipliedReportingOverflow(by: id.dtype.byteSize)
            guard !overflow, needed == entry.size else {
                throw CheckpointProblem("storage '\(id.key)' of \(id.count) × \(id.dtype.rawValue) needs \(overflow ? "too many" : String(needed)) bytes but '\(entryName)' holds \(entry.size)")
            }
            let s = TorchStorage(key: id.key, dtype: id.dtype, count: id.count, byteOffset: entry.dataOffset, file: file)
            storages[id.key] = s
            return s
        }
        let root: PickleValue
        do { root = try unpickler.run() } catch let problem as CheckpointProblem {
            throw CheckpointProblem("\(pickle.name): \(problem.message)")
        }
        return (root, unpickler.objectCount)
    }
}

private func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

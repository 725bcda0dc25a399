// TorchCheckpoint on hostile and damaged input: hand-made archives (ZIP64 records and extras,
// compression, TorchScript, byte order, CRC, storages that do not fit), hand-made pickles (every
// limit: lengths, integer width, memo, cycles, depth, shared-dict blow-up, tensor bounds and the
// element budget), and seeded sweeps — truncation and thousands of single-byte corruptions of
// data.pkl (CRC fixed up, so the pickle reader sees them) and of the zip directory. Each input
// must give a thrown ModelFileError or a valid result whose tensors all read; a crash or hang
// fails the run.

import Foundation
import Testing
import TestSupport
@testable import ModelIO
import Tensors


private func le(_ v: UInt64, _ bytes: Int) -> [UInt8] { (0..<bytes).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

/// A zip of stored entries, as torch.save lays it out; `zip64` also moves every size and offset
/// of the central directory into ZIP64 extra fields.
private func zip(_ entries: [(String, [UInt8])], method: UInt16 = 0, zip64: Bool = false) -> [UInt8] {
    var out: [UInt8] = [], directory: [UInt8] = []
    for (name, data) in entries {
        let offset = out.count, crc = data.withUnsafeBytes { crc32($0) }, n = Array(name.utf8)
        out += le(0x0403_4b50, 4) + le(20, 2) + le(0, 2) + le(UInt64(method), 2) + le(0, 4) + le(UInt64(crc), 4)
        out += le(UInt64(data.count), 4) + le(UInt64(data.count), 4) + le(UInt64(n.count), 2) + le(0, 2) + n + data
        let size32: UInt64 = zip64 ? 0xffff_ffff : UInt64(data.count), offset32: UInt64 = zip64 ? 0xffff_ffff : UInt64(offset)
        let extra = zip64 ? le(1, 2) + le(24, 2) + le(UInt64(data.count), 8) + le(UInt64(data.count), 8) + le(UInt64(offset), 8) : []
        directory += le(0x0201_4b50, 4) + le(45, 2) + le(45, 2) + le(0, 2) + le(UInt64(method), 2) + le(0, 4) + le(UInt64(crc), 4)
        directory += le(size32, 4) + le(size32, 4) + le(UInt64(n.count), 2) + le(UInt64(extra.count), 2) + le(0, 2) + le(0, 2)
        directory += le(0, 2) + le(0, 4) + le(offset32, 4) + n + extra
    }
    let cdOffset = UInt64(out.count), cdSize = UInt64(directory.count), count = UInt64(entries.count)
    out += directory
    let record = UInt64(out.count)
    out += le(0x0606_4b50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4) + le(count, 8) + le(count, 8) + le(cdSize, 8) + le(cdOffset, 8)
    out += le(0x0706_4b50, 4) + le(0, 4) + le(record, 8) + le(1, 4)
    out += le(0x0605_4b50, 4) + le(0, 2) + le(0, 2) + le(0xffff, 2) + le(0xffff, 2) + le(0xffff_ffff, 4) + le(0xffff_ffff, 4) + le(0, 2)
    return out
}

/// Pickle opcode bytes.
private enum P {
    static func str(_ s: String) -> [UInt8] { [0x58] + le(UInt64(s.utf8.count), 4) + Array(s.utf8) }
    static func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
    static func int(_ n: UInt8) -> [UInt8] { [0x4b, n] }
    static func ints(_ ns: [Int]) -> [UInt8] { [0x28] + ns.flatMap { [0x4a] + le(UInt64(bitPattern: Int64($0)), 4) } + [0x74] }
    /// `_rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel), offset, size, stride, False, OrderedDict())`.
    static func tensor(key: String = "0", numel: Int, offset: Int = 0, size: [Int], stride: [Int], storage: String = "FloatStorage") -> [UInt8] {
        global("torch._utils", "_rebuild_tensor_v2") + [0x28, 0x28] + str("storage") + global("torch", storage) + str(key) + str("cpu")
            + [0x4a] + le(UInt64(numel), 4) + [0x74, 0x51] + [0x4a] + le(UInt64(offset), 4) + ints(size) + ints(stride)
            + [0x89] + global("collections", "OrderedDict") + [0x29, 0x52, 0x74, 0x52]
    }
    static let start: [UInt8] = [0x80, 0x02]
    static let stop: [UInt8] = [0x2e]
}

/// A checkpoint: `archive/data.pkl`, `archive/byteorder` and float32 storages `archive/data/<key>` holding 0, 1, 2, ….
private func checkpoint(_ pickle: [UInt8], storages: [String: Int] = ["0": 4], extra: [(String, [UInt8])] = [],
                        byteorder: String = "little", method: UInt16 = 0, zip64: Bool = false) -> Data {
    var entries = [("archive/data.pkl", pickle), ("archive/byteorder", Array(byteorder.utf8))]
    for (key, count) in storages.sorted(by: { $0.key < $1.key }) {
        entries.append(("archive/data/\(key)", (0..<count).flatMap { withUnsafeBytes(of: Float($0)) { Array($0) } }))
    }
    return Data(zip(entries + extra, method: method, zip64: zip64))
}

/// Reads `bytes`; on success reads every tensor of the tree. Returns the error's text, or nil.
@discardableResult
private func readAll(_ bytes: Data) -> String? {
    do {
        let c = try TorchCheckpoint.read(bytes: bytes, name: "t.pt")
        var pending = [c.root], visited = 0
        while let v = pending.popLast(), visited < 100_000 {
            visited += 1
            switch v {
            case .tensor(let t): _ = t.floatTensor(); _ = t.value()
            case .list(let xs), .tuple(let xs): pending += xs
            case .dict(let d): pending += d.values
            default: break
            }
        }
        _ = try? c.stateDict()
        return nil
    } catch let e as ModelFileError {
        return e.problem
    } catch {
        return "unexpected error type: \(error)"
    }
}

private func expectError(_ bytes: Data, _ words: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let message = readAll(bytes)
    #expect(message?.contains(words) == true, "expected an error with '\(words)', got \(message ?? "success")", sourceLocation: sourceLocation)
}

@Suite struct TorchCheckpointRobustnessTests {
    static let dictOfOne = P.start + [0x7d, 0x28] + P.str("w") + P.tensor(numel: 4, size: [2, 2], stride: [2, 1]) + [0x75] + P.stop

    @Test func handMadeArchivesRead() throws {
        for zip64 in [false, true] {
            let c = try TorchCheckpoint.read(bytes: checkpoint(Self.dictOfOne, zip64: zip64), name: "t.pt")
            #expect(try c.stateDict()["w"]?.scalars == [0, 1, 2, 3], "zip64 \(zip64)")
        }
        // A tensor under two names is copied once.
        let twice = P.start + [0x7d, 0x28] + P.str("a") + P.tensor(numel: 4, size: [4], stride: [1]) + [0x71, 0x00] + P.str("b") + [0x68, 0x00, 0x75] + P.stop
        let sd = try TorchCheckpoint.read(bytes: checkpoint(twice), name: "t.pt").stateDict()
        #expect(sd["a"]?.storage === sd["b"]?.storage && sd["a"]?.scalars == [0, 1, 2, 3])
    }

    @Test func archiveProblemsAreNamed() {
        expectError(checkpoint(Self.dictOfOne, method: 8), "zip entry 'archive/data.pkl': is compressed with deflate (method 8)")
        expectError(checkpoint(Self.dictOfOne, extra: [("archive/constants.pkl", [0x80, 0x02, 0x4e, 0x2e])]), "TorchScript archive")
        expectError(checkpoint(Self.dictOfOne, byteorder: "big"), "archive/byteorder says 'big'; only little-endian")
        expectError(checkpoint(Self.dictOfOne, storages: [:]), "storage '0' has no zip entry 'archive/data/0'")
        expectError(checkpoint(Self.dictOfOne, storages: ["0": 3]), "storage '0' of 4 × float32 needs 16 bytes but 'archive/data/0' holds 12")
        expectError(Data(zip([("a.txt", [1, 2, 3])])), "no <folder>/data.pkl")
        var badCRC = checkpoint(Self.dictOfOne)
        badCRC[50] ^= 0x01  // a byte of data.pkl (after its 30 + 16-byte local header)
        expectError(badCRC, "archive/data.pkl is corrupt: its CRC-32 is")
        expectError(Data(), "not a PyTorch checkpoint")
        expectError(Data([0x50, 0x4b, 0x03, 0x04] + [UInt8](repeating: 0, count: 40)), "no end-of-central-directory record")
    }

    @Test func pickleLimitsAreNamed() {
        func pickle(_ body: [UInt8]) -> Data { checkpoint(P.start + body + P.stop) }
        expectError(pickle(P.global("posix", "system")), "global 'posix.system' is not allowed")
        expectError(pickle(P.str("builtins") + P.str("eval") + [0x93]), "opcode STACK_GLOBAL (0x93) at byte 24: global 'builtins.eval' is not allowed")
        expectError(pickle(P.global("torch", "ComplexFloatStorage")), "storage type torch.ComplexFloatStorage is not supported")
        expectError(pickle([0x58] + le(0xffff_ffff, 4)), "opcode BINUNICODE (0x58) at byte 2: 4294967295 bytes asked for")
        expectError(pickle([0x8d] + le(UInt64.max, 8)), "larger than any pickle")
        expectError(pickle([0x95] + le(100, 8)), "a frame of 100 bytes, but only 1 are left")
        expectError(pickle([0x8a, 9] + [UInt8](repeating: 0, count: 9)), "an integer of 9 bytes does not fit in 64 bits")
        expectError(pickle([0x68, 7]), "memo entry 7 was never stored")
        expectError(pickle([0x49] + Array("1\n".utf8)), "unsupported pickle opcode INT (0x49)")
        expectError(pickle([0xff]), "unsupported pickle opcode 0xff")
        expectError(pickle([0x4e, 0x4e]), "STOP leaves 1 items")
        expectError(pickle([0x30]), "the stack is empty")
        expectError(pickle([0x4e, 0x28, 0x30]), "the stack is empty (above the last MARK)")
        expectError(checkpoint(P.start + [0x4e]), "the pickle ends at byte 3 without STOP")
        expectError(checkpoint([0x80, 0x01, 0x4e, 0x2e]), "pickle protocol 1 is not supported")
        expectError(pickle([0x7d, 0x29, 0x4e, 0x73]), "a dict key is a tuple; only str and int keys are supported")
        expectError(pickle([0x5d, 0x71, 0x00, 0x68, 0x00, 0x61]), "contains itself (a reference cycle)")
        expectError(pickle([UInt8](repeating: 0x5d, count: 150) + [UInt8](repeating: 0x61, count: 149)), "nests more than 100 levels deep")
        expectError(pickle([UInt8](repeating: 0x28, count: 5000)), "more than 4096 nested MARKs")
        expectError(pickle(P.global("collections", "OrderedDict") + [0x4b, 1, 0x85, 0x52]), "collections.OrderedDict takes 0 arguments, got 1")
        expectError(pickle(P.global("collections", "OrderedDict") + [0x29, 0x52, 0x4e, 0x62, 0x4e, 0x4e, 0x62]), "BUILD on a None")
        expectError(pickle(P.str("x") + [0x29, 0x52]), "calling a str, which is not callable")
        expectError(pickle([0x28, 0x4e, 0x74, 0x51]), "a persistent id that is not ('storage', type, key, location, numel)")
        expectError(pickle(P.global("torch", "FloatStorage")), "holds the global 'torch.FloatStorage' itself")
    }

    @Test func tensorBoundsAreChecked() {
        func one(_ t: [UInt8], storages: [String: Int] = ["0": 4]) -> Data { checkpoint(P.start + t + P.stop, storages: storages) }
        #expect(readAll(one(P.tensor(numel: 4, size: [2, 2], stride: [1, 2]))) == nil)
        #expect(readAll(one(P.tensor(numel: 4, offset: 4, size: [0], stride: [1]))) == nil)
        expectError(one(P.tensor(numel: 4, size: [5], stride: [1])), "the elements reach past the storage's end")
        expectError(one(P.tensor(numel: 4, offset: 2, size: [2, 2], stride: [1, 1])), "the elements reach past the storage's end")
        expectError(one(P.tensor(numel: 4, offset: 5, size: [0], stride: [1])), "the offset is past the storage's end")
        expectError(one(P.tensor(numel: 4, size: [2], stride: [-1])), "negative sizes, strides or offset")
        expectError(one(P.tensor(numel: 4, size: [3], stride: [Int(Int32.max)])), "reach past the storage's end")
        expectError(one(P.tensor(numel: 4, size: [1, 1, 1, 1, 1, 1, 1], stride: [1, 1, 1, 1, 1, 1, 1])), "more than 6 axes")
        expectError(one(P.tensor(numel: 4, size: [2], stride: [1, 1])), "size and stride differ in length")
        // Stride 0 makes many elements from one: allowed within twice the file's bytes, no more.
        expectError(one(P.tensor(numel: 4, size: [Int(Int32.max), 2], stride: [0, 0])), "exceed what the file can hold")
        expectError(one(P.tensor(numel: 4, size: [65536, 65536], stride: [0, 0])), "exceed what the file can hold")
        expectError(one(P.tensor(numel: 2, size: [2], stride: [1])), "storage '0' of 2 × float32 needs 8 bytes but 'archive/data/0' holds 16")
        expectError(one(P.tensor(numel: 4, size: [2], stride: [1], storage: "HalfStorage")), "storage '0' of 4 × float16 needs 8 bytes")
        // Size 1 axes may carry any stride.
        #expect(readAll(one(P.tensor(numel: 4, offset: 3, size: [1, 1], stride: [Int(Int32.max), 7]))) == nil)
    }

    /// Dicts that share sub-dicts 2^40 times over: the tree is built once, and flattening stops.
    @Test func sharedDictBlowUpStops() throws {
        var body: [UInt8] = [0x7d, 0x28] + P.str("w") + P.tensor(numel: 4, size: [4], stride: [1]) + [0x75, 0x71, 0x00, 0x30]
        for level in 1...40 {  // {"a": memo[level - 1], "b": memo[level - 1]}, memoized as `level`
            body += [0x7d, 0x28] + P.str("a") + [0x68, UInt8(level - 1)] + P.str("b") + [0x68, UInt8(level - 1), 0x75, 0x71, UInt8(level)]
            if level < 40 { body.append(0x30) }  // POP: only the last stays for STOP
        }
        let c = try TorchCheckpoint.read(bytes: checkpoint(P.start + body + P.stop), name: "laughs.pt")
        do { _ = try c.tensors(); Issue.record("no error") } catch {
            #expect("\(error)".contains("repeats shared dicts more often than its"), "\(error)")
        }
    }

    // MARK: - Sweeps

    /// The fixture's bytes, where its data.pkl lies, and where its central directory records data.pkl's CRC.
    private static func fixtureLayout() throws -> (bytes: Data, pickle: Range<Int>, crcField: Int, directory: Int) {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: try pytorchFixture("state_dict")))
        let archive = try bytes.withUnsafeBytes { try ZipArchive($0) }
        let entry = try #require(archive.entry("state_dict/data.pkl"))
        let name = Array("state_dict/data.pkl".utf8), raw = [UInt8](bytes)
        func isDirectoryEntry(_ i: Int) -> Bool { raw[i] == 0x50 && raw[i + 1] == 0x4b && raw[i + 2] == 0x01 && raw[i + 3] == 0x02 }
        let directory = try #require((0..<(raw.count - 46)).first(where: isDirectoryEntry))
        let record = try #require((directory..<(raw.count - 46 - name.count)).first { i in
            isDirectoryEntry(i) && Array(raw[(i + 46)..<(i + 46 + name.count)]) == name
        })
        let crcField = record + 16
        return (bytes, entry.dataOffset..<(entry.dataOffset + entry.size), crcField, directory)
    }

    /// `bytes` with data.pkl's directory CRC recomputed.
    private static func fixCRC(_ bytes: inout Data, _ pickle: Range<Int>, _ crcField: Int) {
        let crc = bytes.withUnsafeBytes { crc32(UnsafeRawBufferPointer(rebasing: $0[pickle])) }
        bytes.replaceSubrange(crcField..<(crcField + 4), with: le(UInt64(crc), 4))
    }

    @Test func truncationAnywhereIsAnError() throws {
        let (bytes, pickle, crcField, _) = try Self.fixtureLayout()
        #expect(readAll(bytes) == nil)
        for length in stride(from: 0, to: bytes.count, by: 3) {
            #expect(readAll(bytes.prefix(length)) != nil, "prefix of \(length) bytes")
        }
        // data.pkl cut short at every byte (the rest padded with STOP bytes, CRC fixed): the pickle reader sees it.
        for cut in pickle.dropLast() {
            var b = bytes
            b.replaceSubrange(cut..<pickle.upperBound, with: [UInt8](repeating: 0x2e, count: pickle.upperBound - cut))
            Self.fixCRC(&b, pickle, crcField)
            _ = readAll(b)
        }
    }

    @Test func corruptPickleNeverCrashes() throws {
        let (bytes, pickle, crcField, _) = try Self.fixtureLayout()
        var mix = TestRNG(state: 1337)
        var errors = 0
        for _ in 0..<3000 {
            var b = bytes
            for _ in 0..<(1 + mix.below(2)) { b[pickle.lowerBound + mix.below(pickle.count)] = UInt8(truncatingIfNeeded: mix.next()) }
            Self.fixCRC(&b, pickle, crcField)
            if readAll(b) != nil { errors += 1 }
        }
        #expect(errors > 1000, "most corruptions of data.pkl should be errors; \(errors) of 3000 were")
    }

    @Test func corruptDirectoryNeverCrashes() throws {
        let (bytes, _, _, directory) = try Self.fixtureLayout()
        var mix = TestRNG(state: 4242)
        for _ in 0..<3000 {
            var b = bytes
            // Mostly the central directory and end records; sometimes a local header (the first 128 bytes).
            let at = mix.below(4) == 0 ? mix.below(128) : directory + mix.below(bytes.count - directory)
            b[at] = UInt8(truncatingIfNeeded: mix.next())
            readAll(b)
        }
    }
}

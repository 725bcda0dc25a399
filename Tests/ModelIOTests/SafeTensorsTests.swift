// safetensors reader and writer, and AtomicFile: exact values from files Python's `safetensors`
// wrote (Fixtures/safetensors, made by `/work/venv/bin/python scripts/make_fixtures.py safetensors`),
// byte-identical output to Python's writer, round trips, one test per validation rule with the
// message it must give, and a corruption sweep that must never crash.

import Foundation
import Testing
import TestSupport
@testable import ModelIO
import Tensors

private let regenerate = "regenerate with `/work/venv/bin/python scripts/make_fixtures.py safetensors`"

private func fixture(_ name: String) throws -> URL {
    try #require(Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures/safetensors"),
                 "missing fixture \(name).safetensors; \(regenerate)")
}

/// A fresh empty folder under the system temporary directory.
private func scratchFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A safetensors byte image from a raw header string and `dataBytes` bytes of data (value = index).
private func image(_ header: String, dataBytes: Int, lengthPrefix: UInt64? = nil) -> Data {
    let h = Array(header.utf8)
    var d = Data()
    withUnsafeBytes(of: (lengthPrefix ?? UInt64(h.count)).littleEndian) { d.append(contentsOf: $0) }
    d.append(contentsOf: h)
    d.append(contentsOf: (0..<dataBytes).map { UInt8(truncatingIfNeeded: $0) })
    return d
}


@Suite struct SafeTensorsTests {
    @Test func readsPythonReferenceFile() throws {
        let url = try fixture("reference")
        let file = try SafeTensors.read(contentsOf: url)
        #expect(file.metadata == ["format": "pt", "source": "scripts/make_fixtures.py"], "\(regenerate)")
        #expect(file.names == ["bfloat", "conv.weight", "double", "empty", "half", "ints", "matrix", "scalar", "steps", "vector"])

        let scalar = try file.tensor("scalar")
        #expect(scalar.shape == [] && scalar.scalars == [3.25])
        #expect(try file.tensor("vector").scalars == (0..<5).map { Float($0) * 0.5 - 1 })
        let matrix = try file.tensor("matrix")
        #expect(matrix.shape == [3, 4] && matrix.scalars == (0..<12).map { Float($0) / 8 })
        let conv = try file.tensor("conv.weight")
        #expect(conv.shape == [2, 3, 2, 2] && conv.scalars == (0..<24).map { Float($0) - 12 })
        let empty = try file.tensor("empty")
        #expect(empty.shape == [2, 0] && empty.count == 0)

        #expect(file.entry("half")?.dtype == .f16)
        let half = try file.tensor("half").scalars
        let halfExpected: [Float] = [0, -0.0, 1, -2.5, 65504, 0x1p-24, 0x1p-14, .infinity, -.infinity, 0.0999755859375]
        #expect(half == halfExpected)
        #expect(half[1].sign == .minus)

        #expect(file.entry("bfloat")?.dtype == .bf16)
        let bf16Expected: [Float] = [0, 1, -3.5, 0x1p-133, 3.00405527047391e+38, .infinity, 0.10009765625,
                                     -0.00099945068359375]
        #expect(try file.tensor("bfloat").scalars == bf16Expected)

        #expect(try file.tensor("double").scalars == [Float(1.0 / 3.0), Float(-1.0e-40), .infinity, 2.5])

        #expect(file.entry("steps")?.dtype == .i64 && file.entry("steps")?.shape == [2, 3])
        #expect(try file.integers("steps") == [-2000, -1000, 0, 1000, 2000, 3000])
        #expect(try file.tensor("steps").scalars == [-2000, -1000, 0, 1000, 2000, 3000])
        #expect(try file.integers("ints") == [-7, 0, 2_147_483_647])
        #expect(try file.tensor("ints").scalars == [-7, 0, 2_147_483_648])  // nearest Float

        #expect(try file.tensors().count == 10)
    }

    @Test func lookupErrorsNameFileAndTensor() throws {
        let file = try SafeTensors.read(contentsOf: try fixture("reference"))
        do { _ = try file.tensor("nope"); Issue.record("no error") } catch {
            #expect("\(error)".contains("reference.safetensors: no tensor named 'nope'"), "\(error)")
        }
        do { _ = try file.integers("half"); Issue.record("no error") } catch {
            #expect("\(error)".contains("tensor 'half' has dtype F16, not an integer type"), "\(error)")
        }
    }

    /// Python's writer on the same tensors (see make_fixtures.py) gives exactly these bytes.
    @Test func writerMatchesPythonBytes() throws {
        let tensors: [String: Tensor] = [
            "b.weight": Tensor(shape: [2, 3], scalars: (0..<6).map { Float($0) - 2.5 }),
            "a.bias": Tensor(shape: [3], scalars: [0.125, -1, 1e-7]),
            "scalar": Tensor(scalar: -0.0),
            "empty": Tensor(zeros: [0]),
            "z": Tensor(shape: [1, 1, 1, 2], repeating: 1),
        ]
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("swift_written.safetensors")
        try SafeTensors.write(tensors, metadata: ["format": "pt"], to: out)
        let ours = try Data(contentsOf: out)
        let python = try Data(contentsOf: try fixture("python_written"))
        #expect(ours == python, "Swift writer differs from Python's bytes (\(ours.count) vs \(python.count)); \(regenerate)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["swift_written.safetensors"])
    }

    @Test func roundTrip() throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("weights.safetensors")
        var mix = TestRNG(state: 7)
        var tensors: [String: Tensor] = [:]
        let shapes: [Shape] = [[], [1], [7], [3, 5], [2, 3, 4], [2, 0, 3], [1, 2, 3, 4, 5, 2], [17, 33]]
        for (k, s) in shapes.enumerated() {
            tensors["layer\(k).w/é \"q\"\n"] = Tensor(shape: s, scalars: (0..<s.elementCount).map { _ in
                Float(bitPattern: UInt32(truncatingIfNeeded: mix.next()) & 0xbfff_ffff)  // finite or NaN payload kept
            })
        }
        let metadata = ["format": "pt", "quote\"back\\slash": "tab\tnl\nctl\u{01}", "ünï": "😀", "z": ""]
        try SafeTensors.write(tensors, metadata: metadata, to: url)
        try SafeTensors.write(tensors, metadata: metadata, to: url)  // overwrite in place
        let file = try SafeTensors.read(contentsOf: url)
        #expect(file.metadata == metadata)
        #expect(Set(file.names) == Set(tensors.keys))
        for (name, t) in tensors {
            let back = try file.tensor(name)
            #expect(back.shape == t.shape, "\(name)")
            #expect(back.scalars.map(\.bitPattern) == t.scalars.map(\.bitPattern), "\(name)")
            #expect(file.entry(name)?.dtype == .f32)
        }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int)
        let headerLength = try Data(contentsOf: url).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(headerLength % 8 == 0, "header padded to 8 bytes")
        #expect(size == 8 + Int(headerLength) + tensors.values.reduce(0) { $0 + $1.count * 4 })
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["weights.safetensors"])

        do { try SafeTensors.write(["__metadata__": Tensor(zeros: [1])], to: url); Issue.record("no error") } catch {
            #expect("\(error)".contains("__metadata__"))
        }
    }

    /// Each malformed file gives an error naming the file and the problem.
    @Test(arguments: [
        ("", 0, nil, "header length 0 is too short for a JSON object"),
        ("{}", 0, UInt64(1) << 62, "header length 4611686018427387904 is over the 100000000-byte limit"),
        ("{}", 0, 50, "header length 50 is more than the 2 bytes after the length prefix"),
        (" {}", 0, nil, "header does not start with '{'"),
        ("{\"a\":", 0, nil, "header is not valid JSON: unexpected end of text at byte 5"),
        ("{\"a\":{}} x", 0, nil, "header is not valid JSON: unexpected 'x' after the value"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, nil, "tensor name 'a' appears twice"),
        ("{\"conv.weight\":{\"dtype\":\"F32\",\"shape\":[3,3],\"data_offsets\":[0,100]}}", 100, nil,
         "tensor 'conv.weight' data_offsets [0, 100] hold 100 bytes but shape [3, 3] of F32 needs 36"),
        ("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, nil, "tensor 'a' has unknown dtype 'F33'"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, nil,
         "tensor 'a' has 7 axes; at most 6 are supported"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, nil, "not a non-negative integer"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, nil, "not a non-negative integer"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, nil, "too many elements"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, nil, "are not two integers 0 <= begin <= end"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, nil, "tensor 'a' has no 'data_offsets'"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, nil,
         "tensor 'a' data_offsets [4, 8] leaves a hole: the data region starts at 0"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, nil, "tensor 'b' data_offsets [4, 8] overlaps: tensor 'a' ends at 8"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12, nil,
         "tensors cover 4 bytes but the data region after the header holds 12"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, nil, "run past the 4-byte data region"),
        ("{\"__metadata__\":{\"k\":1}}", 0, nil, "'__metadata__' key 'k' is a number, not a string"),
        ("{\"__metadata__\":[]}", 0, nil, "'__metadata__' is an array"),
        ("{\"a\":\"\\ud800\"}", 0, nil, "unpaired surrogate"),
        ("{\"a\":\"\u{01}\"}", 0, nil, "control byte 0x1 inside a string"),
        ("[1]", 0, nil, "header does not start with '{'"),
        ("{\"a\":" + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}", 0, nil, "nesting deeper than 64"),
    ] as [(String, Int, UInt64?, String)])
    func rejectsMalformedFiles(header: String, dataBytes: Int, prefix: UInt64?, message: String) throws {
        let bytes = image(header, dataBytes: dataBytes, lengthPrefix: prefix)
        do {
            _ = try SafeTensors.read(bytes: bytes, name: "weights.safetensors")
            Issue.record("accepted: \(header)")
        } catch let error as SafeTensorsError {
            #expect(error.description.hasPrefix("weights.safetensors: "), "\(error)")
            #expect(error.description.contains(message), "\(error)")
        }
    }

    @Test func rejectsBadFilesOnDisk() throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let short = folder.appendingPathComponent("short.safetensors")
        try Data([1, 2, 3]).write(to: short)
        do { _ = try SafeTensors.read(contentsOf: short); Issue.record("no error") } catch {
            #expect("\(error)" == "\(short.path): file is 3 bytes, shorter than the 8-byte header length prefix")
        }
        let missing = folder.appendingPathComponent("missing.safetensors")
        do { _ = try SafeTensors.read(contentsOf: missing); Issue.record("no error") } catch {
            #expect("\(error)".hasPrefix("\(missing.path): cannot open"), "\(error)")
        }
        do { _ = try SafeTensors.read(contentsOf: folder); Issue.record("no error") } catch {
            #expect("\(error)".contains(folder.path), "\(error)")
        }
    }

    /// Hundreds of damaged copies of the reference file: each is rejected with a SafeTensorsError, or
    /// (damage confined to tensor data, which is legal) parsed; never a crash or a hang.
    @Test func survivesCorruption() throws {
        let original = try Data(contentsOf: try fixture("reference"))
        let headerLength = Int(original.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var mix = TestRNG(state: 2024)
        var variants: [(Data, String)] = []
        for n in 0..<24 { variants.append((original.prefix(n), "truncated to \(n)")) }
        for _ in 0..<100 {
            let n = mix.below(original.count)
            variants.append((original.prefix(n), "truncated to \(n)"))
        }
        for _ in 0..<200 {
            var d = original
            for _ in 0..<(1 + mix.below(3)) { d[8 + mix.below(headerLength)] = UInt8(truncatingIfNeeded: mix.next()) }
            variants.append((d, "header bytes changed"))
        }
        for _ in 0..<50 {
            var d = original
            d[mix.below(8)] ^= UInt8(1 << mix.below(8))
            variants.append((d, "length prefix bit flipped"))
        }
        for huge: UInt64 in [.max, 1 << 63, 100_000_001, UInt64(original.count - 7), UInt64(headerLength + 1), UInt64(headerLength - 1), 0] {
            var d = original
            withUnsafeBytes(of: huge.littleEndian) { d.replaceSubrange(0..<8, with: $0) }
            variants.append((d, "header length \(huge)"))
        }
        var rejected = 0, accepted = 0
        for (bytes, what) in variants {
            do {
                let file = try SafeTensors.read(bytes: bytes, name: "fuzz.safetensors")
                accepted += 1
                for e in file.entries where e.dtype != .f8e4m3 && e.dtype != .f8e5m2 {
                    let t = try file.tensor(e.name)
                    #expect(t.shape == e.shape)
                }
            } catch let error as SafeTensorsError {
                rejected += 1
                #expect(error.description.hasPrefix("fuzz.safetensors: "), "\(what): \(error)")
            } catch {
                Issue.record("\(what): unexpected error type \(error)")
            }
        }
        #expect(rejected > 250 && rejected + accepted == variants.count, "rejected \(rejected), accepted \(accepted)")

        // Damage inside tensor data is not detectable (the format has no checksum) and must parse.
        for _ in 0..<50 {
            var d = original
            d[8 + headerLength + mix.below(original.count - 8 - headerLength)] ^= 0xff
            let file = try SafeTensors.read(bytes: d, name: "data.safetensors")
            #expect(try file.tensors().count == 10)
        }
    }

    @Test func atomicFileReplacesWholeOrNothing() throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("image.png")
        try AtomicFile.write(Data("old".utf8), to: url)
        #expect(try Data(contentsOf: url) == Data("old".utf8))

        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try AtomicFile.write(to: url) { writer in
                try writer.write("partial new contents")
                throw Stop()
            }
        }
        #expect(try Data(contentsOf: url) == Data("old".utf8), "a failed write leaves the old file")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["image.png"], "no temporary left")

        // Streaming more than the 1 MiB buffer, in odd-sized pieces.
        let big = Data((0..<3_000_001).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try AtomicFile.write(to: url) { writer in
            var at = 0
            for piece in [1, 7, 1 << 20, 3, 2 << 20, 100_000] where at < big.count {
                let end = min(big.count, at + piece)
                try writer.write(big[at..<end])
                at = end
            }
            try writer.write(big[at...])
            #expect(writer.byteCount == big.count)
        }
        #expect(try Data(contentsOf: url) == big)

        let nowhere = folder.appendingPathComponent("no/such/dir/file.bin")
        do { try AtomicFile.write(Data([1]), to: nowhere); Issue.record("no error") } catch {
            #expect("\(error)".hasPrefix(nowhere.path) && "\(error)".contains("cannot create temporary file"), "\(error)")
        }
    }
}

// ZipArchive: the subset of zip that torch.save writes (PyTorch ≥ 1.6): stored (uncompressed)
// entries, a central directory, the end record and the ZIP64 end records and extra fields that
// torch writes for large files. Reads the central directory and each entry's local header (for the
// data offset; torch pads local headers with an extra field to align data to 64 bytes and writes
// sizes in a data descriptor, so local sizes are not used). Every offset and size is checked
// against the file: an entry's data lies before the central directory, which lies before the end
// records. Compressed, encrypted and multi-disk archives are refused by name.
//
// Not here: what the entries mean (TorchCheckpoint.swift); CRC checks (the caller checks the
// entries it parses, see `crc32`).

/// A problem with a checkpoint's bytes; TorchCheckpoint turns it into a `ModelFileError` naming the file.
struct CheckpointProblem: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// The entries of a zip archive held in memory (a mapped file).
struct ZipArchive {
    struct Entry {
        let name: String
        /// Offset of the entry's first data byte in the file.
        let dataOffset: Int
        let size: Int
        let crc32: UInt32
    }

    /// Entries in central-directory order.
    let entries: [Entry]
    private let index: [String: Int]

    func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    /// Reads the archive's directory. `bytes` must stay valid while the entries are used.
    init(_ bytes: UnsafeRawBufferPointer) throws {
        let size = bytes.count
        func u16(_ at: Int) throws -> Int {
            guard at >= 0, at <= size - 2 else { throw CheckpointProblem("zip: a 2-byte field at byte \(at) is outside the \(size)-byte file") }
            return Int(bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self))  // little-endian host
        }
        func u32(_ at: Int) throws -> Int {
            guard at >= 0, at <= size - 4 else { throw CheckpointProblem("zip: a 4-byte field at byte \(at) is outside the \(size)-byte file") }
            return Int(bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self))
        }
        /// A 64-bit size or offset, which must be at most the file size to be meaningful.
        func u64(_ at: Int, _ what: String) throws -> Int {
            guard at >= 0, at <= size - 8 else { throw CheckpointProblem("zip: an 8-byte field at byte \(at) is outside the \(size)-byte file") }
            let v = bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)
            guard v <= UInt64(size) else { throw CheckpointProblem("zip: \(what) \(v) (at byte \(at)) is beyond the \(size)-byte file") }
            return Int(v)
        }

        // End of central directory record: 22 bytes + a comment of up to 65535 bytes, ending the file.
        guard size >= 22 else { throw CheckpointProblem("zip: the file is \(size) bytes, too short for a zip archive") }
        var eocd = -1
        var p = size - 22
        while p >= max(0, size - 22 - 0xffff) {
            if try u32(p) == 0x0605_4b50, try p + 22 + u16(p + 20) == size { eocd = p; break }
            p -= 1
        }
        guard eocd >= 0 else {
            throw CheckpointProblem("zip: no end-of-central-directory record (the file is truncated or not a zip archive)")
        }
        let disk16 = try u16(eocd + 4), cdDisk16 = try u16(eocd + 6)
        let onDisk16 = try u16(eocd + 8), count16 = try u16(eocd + 10)
        let cdSize32 = try u32(eocd + 12), cdOffset32 = try u32(eocd + 16)
        var count = count16, cdSize = cdSize32, cdOffset = cdOffset32
        var cdLimit = eocd  // the central directory ends at or before this
        let needsZip64 = onDisk16 == 0xffff || count16 == 0xffff || cdSize32 == 0xffff_ffff || cdOffset32 == 0xffff_ffff
        if eocd >= 20, try u32(eocd - 20) == 0x0706_4b50 {
            // ZIP64 end locator (20 bytes) right before the end record, pointing at the ZIP64 end record (56+ bytes).
            let locator = eocd - 20
            guard try u32(locator + 4) == 0, try u32(locator + 16) <= 1 else {
                throw CheckpointProblem("zip: multi-disk archives are not supported")
            }
            let record = try u64(locator + 8, "ZIP64 end record offset")
            guard record <= locator - 56, try u32(record) == 0x0606_4b50 else {
                throw CheckpointProblem("zip: no ZIP64 end-of-central-directory record at byte \(record), where the locator at byte \(locator) points")
            }
            guard try u32(record + 16) == 0, try u32(record + 20) == 0 else {
                throw CheckpointProblem("zip: multi-disk archives are not supported")
            }
            let onDisk = try u64(record + 24, "ZIP64 entry count"), total = try u64(record + 32, "ZIP64 entry count")
            guard onDisk == total else { throw CheckpointProblem("zip: ZIP64 end record counts \(onDisk) entries on this disk but \(total) in all") }
            count = total
            cdSize = try u64(record + 40, "central directory size")
            cdOffset = try u64(record + 48, "central directory offset")
            cdLimit = record
        } else if needsZip64 {
            throw CheckpointProblem("zip: the end record at byte \(eocd) defers to a ZIP64 record, but there is no ZIP64 locator")
        } else {
            guard disk16 == 0, cdDisk16 == 0, onDisk16 == count16 else { throw CheckpointProblem("zip: multi-disk archives are not supported") }
        }
        guard cdOffset <= cdLimit, cdSize <= cdLimit - cdOffset else {
            throw CheckpointProblem("zip: the central directory (\(cdSize) bytes at byte \(cdOffset)) runs past the end records at byte \(cdLimit)")
        }
        guard count <= cdSize / 46 else {
            throw CheckpointProblem("zip: the end record counts \(count) entries, more than the \(cdSize)-byte central directory can hold")
        }

        // Central directory: `count` records of 46 bytes + name + extra + comment.
        var entries: [Entry] = []
        var index: [String: Int] = [:]
        entries.reserveCapacity(count)
        let cdEnd = cdOffset + cdSize
        p = cdOffset
        for k in 0..<count {
            guard p <= cdEnd - 46, try u32(p) == 0x0201_4b50 else {
                throw CheckpointProblem("zip: central directory entry \(k) at byte \(p) is missing or has a bad signature")
            }
            let flags = try u16(p + 8), method = try u16(p + 10)
            let crc = UInt32(try u32(p + 16))
            var compressed = try u32(p + 20), uncompressed = try u32(p + 24)
            let nameLength = try u16(p + 28), extraLength = try u16(p + 30), commentLength = try u16(p + 32)
            var disk = try u16(p + 34)
            var localOffset = try u32(p + 42)
            let nameStart = p + 46, extraStart = nameStart + nameLength, next = extraStart + extraLength + commentLength
            guard next <= cdEnd else {
                throw CheckpointProblem("zip: central directory entry \(k) at byte \(p) runs past the directory's end at byte \(cdEnd)")
            }
            let nameBytes = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<extraStart])
            guard let name = String(validating: nameBytes, as: UTF8.self) else {
                throw CheckpointProblem("zip: the name of central directory entry \(k) at byte \(p) is not UTF-8")
            }
            func fail(_ problem: String) -> CheckpointProblem { CheckpointProblem("zip entry '\(name)': \(problem)") }

            // ZIP64 extra field (id 1): the 8-byte values of the fields set to all ones, in this order.
            if uncompressed == 0xffff_ffff || compressed == 0xffff_ffff || localOffset == 0xffff_ffff || disk == 0xffff {
                var q = extraStart, found = false
                while q + 4 <= extraStart + extraLength {
                    let id = try u16(q), length = try u16(q + 2)
                    guard q + 4 + length <= extraStart + extraLength else { throw fail("an extra field at byte \(q) runs past the entry") }
                    if id == 1 {
                        var r = q + 4
                        func take(_ what: String) throws -> Int {
                            guard r + 8 <= q + 4 + length else { throw fail("the ZIP64 extra field lacks the \(what)") }
                            defer { r += 8 }
                            return try u64(r, "ZIP64 \(what)")
                        }
                        if uncompressed == 0xffff_ffff { uncompressed = try take("size") }
                        if compressed == 0xffff_ffff { compressed = try take("compressed size") }
                        if localOffset == 0xffff_ffff { localOffset = try take("local header offset") }
                        if disk == 0xffff {
                            guard r + 4 <= q + 4 + length else { throw fail("the ZIP64 extra field lacks the disk number") }
                            disk = try u32(r)
                        }
                        found = true
                        break
                    }
                    q += 4 + length
                }
                guard found else { throw fail("sizes or offset defer to a ZIP64 extra field, which is missing") }
            }
            guard flags & 1 == 0 else { throw fail("is encrypted, which is not supported") }
            guard method == 0 else {
                throw fail("is compressed with \(Self.methodName(method)); torch.save stores entries uncompressed (method 0), so re-save it with torch.save")
            }
            guard disk == 0 else { throw CheckpointProblem("zip: multi-disk archives are not supported") }
            guard compressed == uncompressed else { throw fail("is stored but its compressed size \(compressed) differs from its size \(uncompressed)") }

            // Local header: 30 bytes + name + extra, then the data.
            guard localOffset <= cdOffset - 30, try u32(localOffset) == 0x0403_4b50 else {
                throw fail("no local header at byte \(localOffset)")
            }
            let localNameLength = try u16(localOffset + 26), localExtraLength = try u16(localOffset + 28)
            guard try u16(localOffset + 8) == 0 else { throw fail("the local header at byte \(localOffset) names another compression method") }
            let dataOffset = localOffset + 30 + localNameLength + localExtraLength
            guard dataOffset <= cdOffset, uncompressed <= cdOffset - dataOffset else {
                throw fail("its \(uncompressed) bytes of data at byte \(dataOffset) run past the central directory at byte \(cdOffset)")
            }
            guard localNameLength == nameLength,
                  memcmpEqual(bytes, localOffset + 30, nameStart, nameLength)
            else { throw fail("the local header at byte \(localOffset) names another entry") }
            guard index.updateValue(entries.count, forKey: name) == nil else { throw fail("appears twice") }
            entries.append(Entry(name: name, dataOffset: dataOffset, size: uncompressed, crc32: crc))
            p = next
        }
        self.entries = entries
        self.index = index
    }

    /// Names of the compression methods a zip may declare.
    static func methodName(_ method: Int) -> String {
        switch method {
        case 8: return "deflate (method 8)"
        case 9: return "deflate64 (method 9)"
        case 12: return "bzip2 (method 12)"
        case 14: return "LZMA (method 14)"
        case 93: return "zstd (method 93)"
        case 95: return "xz (method 95)"
        case 98: return "PPMd (method 98)"
        case 99: return "AES encryption (method 99)"
        default: return "method \(method)"
        }
    }
}

/// Whether `count` bytes at `a` and at `b` of `bytes` are equal (both ranges already in bounds).
private func memcmpEqual(_ bytes: UnsafeRawBufferPointer, _ a: Int, _ b: Int, _ count: Int) -> Bool {
    for i in 0..<count where bytes[a + i] != bytes[b + i] { return false }
    return true
}

/// The CRC-32 (IEEE 802.3, as zip uses) of `bytes`.
func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    var crc: UInt32 = 0xffff_ffff
    for b in bytes { crc = crc32Table[Int((crc ^ UInt32(b)) & 0xff)] ^ (crc >> 8) }
    return crc ^ 0xffff_ffff
}

private let crc32Table: [UInt32] = (0..<256).map { n -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

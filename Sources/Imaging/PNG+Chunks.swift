// PNG+Chunks: a check of a PNG's chunk layout before libpng reads it, so that sizes the file
// declares never make libpng (or our pixel buffer) allocate more than its bytes can hold. libpng
// allocates a chunk's declared length (up to 2 GB) before finding the data missing, and
// PNG.decode allocates width × height pixels before libpng inflates them — so a 100-byte file
// (an uploaded init image) could cost gigabytes. Here every chunk must fit in the bytes that
// follow it, there is one IHDR (the size libpng uses is the first one's), and the image data
// (IDAT) must be large enough to inflate to the declared pixels: deflate expands at most 1032:1.
// Found by fuzzing (scripts/fuzz.sh, fuzz/regressions/png/).
// Not a PNG validator: CRCs, chunk order and everything else are libpng's to check.

extension PNG {
    /// The most a deflate stream expands: 258 bytes per 2-bit length/distance pair.
    static let maxInflateRatio = 1032.0

    /// Throws when a chunk declares more bytes than follow it, or the declared image needs more
    /// data than the file's IDAT chunks can inflate to. Data without the PNG signature is left
    /// to libpng's own error.
    static func checkChunkSizes(_ bytes: UnsafeRawBufferPointer, path: String) throws {
        let signature: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
        guard bytes.count >= 8, bytes.prefix(8).elementsEqual(signature) else { return }
        func u32(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
        var at = 8, imageData = 0
        var header: (width: Int, height: Int, bitsPerPixel: Int)?
        var sawHeader = false
        while at + 8 <= bytes.count {
            let length = u32(at)
            let type = String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self)
            guard length <= bytes.count - at - 12 else {
                throw PNGError(path: path, problem: "chunk '\(type)' at byte \(at) declares \(length) bytes but only \(max(0, bytes.count - at - 12)) follow (truncated or corrupted)")
            }
            if type == "IHDR" {
                // libpng sizes the image by the first IHDR; a later one must not vouch for it.
                guard !sawHeader else {
                    throw PNGError(path: path, problem: "a second IHDR chunk at byte \(at) (a PNG has exactly one)")
                }
                sawHeader = true
                if length == 13 {
                    let channels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][Int(bytes[at + 17])] ?? 4
                    header = (u32(at + 8), u32(at + 12), channels * Int(bytes[at + 16]))
                }
            }
            if type == "IDAT" { imageData += length }
            if type == "IEND" { break }
            at += 12 + length
        }
        if let header {
            // At least width·height·bits/8 bytes inflate from the IDAT data (more with row filter bytes).
            let needed = Double(header.width) * Double(header.height) * Double(header.bitsPerPixel) / 8
            guard needed <= Double(imageData) * maxInflateRatio else {
                throw PNGError(path: path, problem: "declares \(header.width)x\(header.height) pixels of \(header.bitsPerPixel) bits, "
                               + "more than its \(imageData) bytes of compressed data can hold (truncated or corrupted)")
            }
        }
    }
}

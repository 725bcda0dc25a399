// PNG: 8-bit grayscale and RGB images through libpng's simplified API (png_image_*), which
// reports errors in the struct instead of longjmp — safe to call from Swift. Text metadata
// (generation parameters) is added as standard tEXt chunks inserted before IEND, so every image
// says how to make it again. Encoding gives bytes; files are written by ModelIO's AtomicFile, the
// one atomic writer.

import CPNG
import Foundation

/// An 8-bit image: `channels` 1 (gray) or 3 (RGB), row-major interleaved pixels.
public struct Image8: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(channels == 1 || channels == 3, "Image8: channels must be 1 or 3")
        precondition(pixels.count == width * height * channels, "Image8: \(pixels.count) bytes for \(width)x\(height)x\(channels)")
        (self.width, self.height, self.channels, self.pixels) = (width, height, channels, pixels)
    }
}

/// A PNG that could not be encoded, decoded or written; names the file and the problem.
public struct PNGError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String
    public var description: String { "\(path): \(problem)" }
}

public enum PNG {
    /// PNG bytes of `image`, with `text` as tEXt chunks (keys 1–79 Latin-1 characters).
    public static func encode(_ image: Image8, text: [(String, String)] = []) throws -> Data {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = image.channels == 3 ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0
        var size: png_alloc_size_t = 0
        let ok = image.pixels.withUnsafeBytes { raw -> Bool in
            guard png_image_write_to_memory(&png, nil, &size, 0, raw.baseAddress, 0, nil) != 0 else { return false }
            return true
        }
        guard ok, size > 0 else { throw PNGError(path: "(memory)", problem: "libpng could not size the image: \(message(png))") }
        var data = Data(count: Int(size))
        let written = data.withUnsafeMutableBytes { out in
            image.pixels.withUnsafeBytes { raw in png_image_write_to_memory(&png, out.baseAddress, &size, 0, raw.baseAddress, 0, nil) }
        }
        png_image_free(&png)
        guard written != 0 else { throw PNGError(path: "(memory)", problem: "libpng could not encode the image: \(message(png))") }
        data.count = Int(size)
        return insertText(text, into: data)
    }

    /// Decodes PNG bytes (any bit depth and color type) to 8-bit gray or RGB.
    public static func decode(_ data: Data, path: String) throws -> Image8 {
        try data.withUnsafeBytes { try checkChunkSizes($0, path: path) }
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        let begun = data.withUnsafeBytes { png_image_begin_read_from_memory(&png, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw PNGError(path: path, problem: "not a readable PNG: \(message(png))") }
        let color = (png.format & UInt32(PNG_FORMAT_FLAG_COLOR)) != 0
        png.format = color ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0
        let (w, h, c) = (Int(png.width), Int(png.height), color ? 3 : 1)
        guard w > 0, h > 0, w * h <= 1 << 28 else { png_image_free(&png); throw PNGError(path: path, problem: "unsupported size \(w)x\(h)") }
        var pixels = [UInt8](repeating: 0, count: w * h * c)
        let finished = pixels.withUnsafeMutableBytes { png_image_finish_read(&png, nil, $0.baseAddress, 0, nil) }
        guard finished != 0 else { throw PNGError(path: path, problem: "corrupted PNG data: \(message(png))") }
        return Image8(width: w, height: h, channels: c, pixels: pixels)
    }

    /// The tEXt chunks of PNG bytes, in file order.
    public static func text(of data: Data) -> [(String, String)] {
        var result: [(String, String)] = [], i = 8
        let bytes = [UInt8](data)
        while i + 8 <= bytes.count {
            let length = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            let type = String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self)
            guard i + 12 + length <= bytes.count else { break }
            if type == "tEXt", let zero = bytes[(i + 8)..<(i + 8 + length)].firstIndex(of: 0) {
                let key = String(decoding: bytes[(i + 8)..<zero], as: UTF8.self)
                let value = String(decoding: bytes[(zero + 1)..<(i + 8 + length)], as: UTF8.self)
                result.append((key, value))
            }
            i += 12 + length
        }
        return result
    }


    private static func message(_ png: png_image) -> String {
        var m = png.message
        return withUnsafeBytes(of: &m) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Inserts tEXt chunks before the IEND chunk (the last 12 bytes of a PNG libpng wrote).
    static func insertText(_ text: [(String, String)], into png: Data) -> Data {
        guard !text.isEmpty, png.count >= 12 else { return png }
        var out = png.prefix(png.count - 12)
        for (key, value) in text {
            let body = Array(key.utf8.prefix(79)) + [0] + Array(value.utf8)
            out.append(contentsOf: bigEndian(UInt32(body.count)))
            let typed = Array("tEXt".utf8) + body
            out.append(contentsOf: typed)
            out.append(contentsOf: bigEndian(crc32(typed)))
        }
        out.append(png.suffix(12))
        return out
    }

    private static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }

    /// CRC-32 (ISO-HDLC, the one PNG uses).
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
        }
        return ~crc
    }
}

extension Image8 {
    /// `images` (same size and channels) tiled row-major in `columns` columns with `padding`
    /// pixels of black between and around them.
    public static func grid(_ images: [Image8], columns: Int, padding: Int = 2) -> Image8 {
        precondition(!images.isEmpty && columns >= 1, "Image8.grid: no images or columns")
        let (w, h, c) = (images[0].width, images[0].height, images[0].channels)
        let rows = (images.count + columns - 1) / columns
        let gw = columns * (w + padding) + padding, gh = rows * (h + padding) + padding
        var pixels = [UInt8](repeating: 0, count: gw * gh * c)
        for (k, image) in images.enumerated() {
            let x0 = padding + (k % columns) * (w + padding), y0 = padding + (k / columns) * (h + padding)
            for y in 0..<h {
                let src = y * w * c, dst = ((y0 + y) * gw + x0) * c
                pixels.replaceSubrange(dst..<(dst + w * c), with: image.pixels[src..<(src + w * c)])
            }
        }
        return Image8(width: gw, height: gh, channels: c, pixels: pixels)
    }
}

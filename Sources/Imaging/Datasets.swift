// Datasets: training images from disk, as 8-bit images of one size and channel count.
//   IDX     the MNIST / Fashion-MNIST format (gzipped or raw): magic 0x00000803 images [N, H, W],
//           0x00000801 labels [N]; Debian's dataset-fashion-mnist ships them under
//           /usr/share/datasets/fashion-mnist.
//   folder  every PNG in a folder (sorted by name), converted to the requested channels (gray ↔
//           RGB), center-cropped to a square and resized (area averaging when shrinking, bilinear
//           when growing; Image8+Resize.swift). An unreadable or corrupt file is reported by name and skipped.
//   labelled  (class-conditional training) Fashion-MNIST with its label file and the ten class
//           names; an IDX image file with the IDX label file beside it (…-labels-idx1-ubyte…);
//           a folder of one sub-folder of PNGs per class, the classes its sorted sub-folder names.
// Every malformed input names the file and the problem; nothing here crashes on bad bytes.

import CZlib
import Foundation

/// A stack of equally sized 8-bit images.
public struct ImageStack: Sendable {
    public let width: Int, height: Int, channels: Int
    /// `count · height · width · channels` bytes, image after image, rows interleaved.
    public let pixels: [UInt8]
    /// A class label per image (labelled data for class-conditional training), else nil.
    public let labels: [Int]?
    public var count: Int { pixels.count / max(width * height * channels, 1) }

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8], labels: [Int]? = nil) {
        precondition(pixels.count % max(width * height * channels, 1) == 0, "ImageStack: partial image")
        (self.width, self.height, self.channels, self.pixels, self.labels) = (width, height, channels, pixels, labels)
        precondition(labels.map { $0.count == count } ?? true, "ImageStack: \(labels?.count ?? 0) labels for \(count) images")
    }

    /// Image `i`.
    public func image(_ i: Int) -> Image8 {
        let n = width * height * channels
        return Image8(width: width, height: height, channels: channels, pixels: Array(pixels[(i * n)..<((i + 1) * n)]))
    }
}

/// A dataset file or folder that cannot be read; names the path and the problem.
public struct DatasetError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String
    public var description: String { "\(path): \(problem)" }
}

public enum IDX {
    /// The bytes of `path`, gunzipped when it is a gzip file.
    static func contents(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DatasetError(path: path, problem: "cannot read the file")
        }
        return try gunzipped([UInt8](data), path: path)
    }

    /// `bytes` inflated when they are gzip data (magic 1f 8b), else as they are; errors name `path`.
    static func gunzipped(_ bytes: [UInt8], path: String) throws -> [UInt8] {
        guard bytes.count >= 2, bytes[0] == 0x1f, bytes[1] == 0x8b else { return bytes }
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DatasetError(path: path, problem: "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 1 << 20)
        var status: Int32 = Z_OK
        var input = bytes
        try input.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = uInt(inBuf.count)
            repeat {
                try chunk.withUnsafeMutableBufferPointer { outBuf in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = uInt(outBuf.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END else {
                        throw DatasetError(path: path, problem: "corrupted gzip data (zlib status \(status))")
                    }
                    out.append(contentsOf: outBuf.prefix(outBuf.count - Int(stream.avail_out)))
                }
                guard out.count <= 1 << 31 else { throw DatasetError(path: path, problem: "decompresses to more than 2 GiB") }
                if status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0 {
                    throw DatasetError(path: path, problem: "truncated gzip data")
                }
            } while status != Z_STREAM_END
        }
        return out
    }

    /// Big-endian u32 at `offset`.
    static func u32(_ b: [UInt8], _ offset: Int) -> Int {
        Int(b[offset]) << 24 | Int(b[offset + 1]) << 16 | Int(b[offset + 2]) << 8 | Int(b[offset + 3])
    }

    /// Images of an IDX3 file (`0x00000803`, unsigned bytes, [N, H, W]) as a gray stack.
    public static func images(_ path: String) throws -> ImageStack {
        try images(bytes: contents(path), path: path)
    }

    /// Images of IDX3 bytes (gzipped or raw), as ``images(_:)`` reads a file; errors name `path`.
    public static func images(bytes: [UInt8], path: String) throws -> ImageStack {
        let b = try gunzipped(bytes, path: path)
        guard b.count >= 16, u32(b, 0) == 0x0803 else {
            throw DatasetError(path: path, problem: "not an IDX image file (magic \(b.count >= 4 ? String(u32(b, 0), radix: 16) : "missing"), expected 803)")
        }
        let (n, h, w) = (u32(b, 4), u32(b, 8), u32(b, 12))
        // Each size is below 2^32, so h·w and n·h·w can overflow Int: multiply with checks.
        let (hw, overflowHW) = h.multipliedReportingOverflow(by: w)
        let (pixels, overflowNHW) = n.multipliedReportingOverflow(by: hw)
        let bytes = overflowHW || overflowNHW ? "more than 2^63" : "\(16 + pixels)"
        guard h >= 1, w >= 1, !overflowHW, !overflowNHW, b.count - 16 == pixels else {
            throw DatasetError(path: path, problem: "header says \(n) images of \(h)x\(w) (\(bytes) bytes) but the file holds \(b.count)")
        }
        return ImageStack(width: w, height: h, channels: 1, pixels: Array(b[16...]))
    }

    /// Labels of an IDX1 file (`0x00000801`, unsigned bytes, [N]).
    public static func labels(_ path: String) throws -> [UInt8] {
        try labels(bytes: contents(path), path: path)
    }

    /// Labels of IDX1 bytes (gzipped or raw), as ``labels(_:)`` reads a file; errors name `path`.
    public static func labels(bytes: [UInt8], path: String) throws -> [UInt8] {
        let b = try gunzipped(bytes, path: path)
        guard b.count >= 8, u32(b, 0) == 0x0801, b.count == 8 + u32(b, 4) else {
            throw DatasetError(path: path, problem: "not an IDX label file of the size its header states")
        }
        return Array(b[8...])
    }
}

public enum ImageFolder {
    /// Every `.png` in `folder` (sorted by name), as `channels` (1 or 3) channels at `size`x`size`.
    /// Unreadable or corrupt files are skipped and listed in `skipped` with the reason.
    public static func load(_ folder: String, channels: Int, size: Int) throws -> (images: ImageStack, skipped: [DatasetError]) {
        precondition(channels == 1 || channels == 3, "ImageFolder: channels must be 1 or 3")
        precondition(size >= 1, "ImageFolder: size must be ≥ 1")
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.lowercased().hasSuffix(".png") }.sorted() } catch {
            throw DatasetError(path: folder, problem: "cannot list the folder")
        }
        var pixels: [UInt8] = [], skipped: [DatasetError] = []
        for name in names {
            let path = folder + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else {
                skipped.append(DatasetError(path: path, problem: "cannot read the file")); continue
            }
            do {
                let image = try PNG.decode(data, path: path)
                pixels += image.converted(channels: channels).centerCropped(width: size, height: size).resized(width: size, height: size).pixels
            } catch {
                skipped.append(DatasetError(path: path, problem: "\(error)"))
            }
        }
        guard !pixels.isEmpty else { throw DatasetError(path: folder, problem: "no readable PNG images (\(skipped.count) skipped)") }
        return (ImageStack(width: size, height: size, channels: channels, pixels: pixels), skipped)
    }
}

/// A training set as a user names it: a known dataset (`fashion-mnist`, Debian's
/// dataset-fashion-mnist), an IDX image file, or a folder of PNGs.
public enum TrainingData {
    /// Known datasets: name → IDX image file under ``datasetRoot``.
    public static let named = ["fashion-mnist": "fashion-mnist/train-images-idx3-ubyte.gz"]
    /// Known datasets' labels: name → (IDX label file under ``datasetRoot``, class names).
    public static let namedLabels = ["fashion-mnist": ("fashion-mnist/train-labels-idx1-ubyte.gz",
        ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"])]

    /// Where the named datasets are installed: `$DENOISE_DATASETS`, else Debian's /usr/share/datasets.
    public static var datasetRoot: String {
        ProcessInfo.processInfo.environment["DENOISE_DATASETS"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/share/datasets"
    }

    /// The images `spec` names: IDX images as stored; a folder's PNGs converted to `channels` and
    /// `size`x`size` (unreadable files skipped and listed).
    public static func load(_ spec: String, channels: Int, size: Int) throws -> (images: ImageStack, skipped: [DatasetError]) {
        if let file = named[spec] { return (try IDX.images(datasetRoot + "/" + file), []) }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: spec, isDirectory: &isFolder) else {
            throw DatasetError(path: spec, problem: "no such file or folder (expected \(named.keys.sorted().joined(separator: ", ")), an IDX image file or a folder of PNGs)")
        }
        return isFolder.boolValue ? try ImageFolder.load(spec, channels: channels, size: size) : (try IDX.images(spec), [])
    }

    /// The images `spec` names with a class label each, and the class names (label k is
    /// `classNames[k]`): Fashion-MNIST with its labels; an IDX image file with the IDX label file
    /// whose name replaces `images-idx3` by `labels-idx1` (classes named by their digits); a folder
    /// with one sub-folder of PNGs per class (the classes its sub-folder names, sorted).
    public static func loadLabelled(_ spec: String, channels: Int, size: Int) throws
        -> (images: ImageStack, classNames: [String], skipped: [DatasetError]) {
        if let file = named[spec], let (labelFile, names) = namedLabels[spec] {
            let images = try IDX.images(datasetRoot + "/" + file)
            return (try labelled(images, try IDX.labels(datasetRoot + "/" + labelFile), path: datasetRoot + "/" + labelFile, classes: names.count), names, [])
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: spec, isDirectory: &isFolder) else {
            throw DatasetError(path: spec, problem: "no such file or folder (expected \(named.keys.sorted().joined(separator: ", ")), an IDX image file or a folder of class folders)")
        }
        if !isFolder.boolValue {
            let labelPath = spec.replacingOccurrences(of: "images-idx3", with: "labels-idx1")
            guard labelPath != spec else {
                throw DatasetError(path: spec, problem: "class labels need the IDX label file beside it, named like it with labels-idx1 for images-idx3")
            }
            let raw = try IDX.labels(labelPath)
            let classes = (raw.max().map(Int.init) ?? 0) + 1
            return (try labelled(try IDX.images(spec), raw, path: labelPath, classes: classes), (0..<classes).map(String.init), [])
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: spec)) ?? []
        let names = entries.filter { name in
            var sub: ObjCBool = false
            return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: spec + "/" + name, isDirectory: &sub) && sub.boolValue
        }.sorted()
        guard !names.isEmpty else { throw DatasetError(path: spec, problem: "no class folders: class labels need one sub-folder of PNGs per class") }
        var pixels: [UInt8] = [], labels: [Int] = [], skipped: [DatasetError] = []
        for (k, name) in names.enumerated() {
            let (images, bad) = try ImageFolder.load(spec + "/" + name, channels: channels, size: size)
            pixels += images.pixels
            labels += Array(repeating: k, count: images.count)
            skipped += bad
        }
        return (ImageStack(width: size, height: size, channels: channels, pixels: pixels, labels: labels), names, skipped)
    }

    /// `images` with `raw` labels (one per image, each below `classes`); errors name `path`.
    static func labelled(_ images: ImageStack, _ raw: [UInt8], path: String, classes: Int) throws -> ImageStack {
        guard raw.count == images.count else { throw DatasetError(path: path, problem: "\(raw.count) labels for \(images.count) images") }
        if let bad = raw.first(where: { Int($0) >= classes }) { throw DatasetError(path: path, problem: "label \(bad) is not one of the \(classes) classes") }
        return ImageStack(width: images.width, height: images.height, channels: images.channels, pixels: images.pixels, labels: raw.map(Int.init))
    }
}

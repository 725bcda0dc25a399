// PNG through libpng (round trips, tEXt chunks), Fashion-MNIST IDX files from Debian's
// dataset-fashion-mnist (values pinned against numpy's reading of the same files), PNG folders
// (conversion, crop, resize) and bad files named, never crashing.

import Foundation
import Testing
import TestSupport
@testable import Imaging

private let fashion = "/usr/share/datasets/fashion-mnist"


@Suite struct ImagingTests {
    @Test func pngRoundTripsWithText() throws {
        for channels in [1, 3] {
            let pixels = (0..<(5 * 7 * channels)).map { UInt8(($0 * 37) % 256) }
            let image = Image8(width: 5, height: 7, channels: channels, pixels: pixels)
            let data = try PNG.encode(image, text: [("parameters", "seed=3 steps=50"), ("Software", "denoise")])
            #expect(try PNG.decode(data, path: "mem") == image)  // libpng verifies every chunk's CRC on the way
            #expect(PNG.text(of: data).map { "\($0.0)=\($0.1)" } == ["parameters=seed=3 steps=50", "Software=denoise"])
        }
        #expect(PNG.crc32(Array("IEND".utf8)) == 0xAE42_6082)
        #expect(throws: PNGError.self) { try PNG.decode(Data("not a png".utf8), path: "x.png") }
    }

    @Test func fashionMNISTMatchesNumpy() throws {
        let images = try IDX.images(fashion + "/train-images-idx3-ubyte.gz")
        #expect(images.count == 60000 && images.width == 28 && images.height == 28 && images.channels == 1)
        #expect(images.image(0).pixels.reduce(0) { $0 + Int($1) } == 76247)
        #expect(images.image(59999).pixels.reduce(0) { $0 + Int($1) } == 16684)
        #expect(Array(images.image(0).pixels[(14 * 28)..<(14 * 28 + 8)]) == [0, 0, 1, 4, 6, 7, 2, 0])
        #expect(Array(try IDX.labels(fashion + "/train-labels-idx1-ubyte.gz").prefix(10)) == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
    }

    @Test func badIDXFilesAreNamed() throws {
        let dir = try temporaryFolder()
        let gz = try Data(contentsOf: URL(fileURLWithPath: fashion + "/t10k-labels-idx1-ubyte.gz"))
        try gz.prefix(gz.count / 2).write(to: URL(fileURLWithPath: dir + "/half.gz"))
        try Data([0, 0, 8, 3, 0, 0, 0, 9, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2]).write(to: URL(fileURLWithPath: dir + "/short.idx"))
        try Data([0, 0, 9, 9, 0, 0, 0, 0]).write(to: URL(fileURLWithPath: dir + "/magic.idx"))
        for (file, words) in [("half.gz", "truncated"), ("short.idx", "header says 9 images"), ("magic.idx", "not an IDX")] {
            do { _ = file == "half.gz" ? try IDX.labels(dir + "/" + file).count : try IDX.images(dir + "/" + file).count; Issue.record("\(file): no error") } catch {
                #expect("\(error)".contains(file) && "\(error)".contains(words), "\(error)")
            }
        }
    }

    @Test func foldersConvertCropResizeAndSkipBadFiles() throws {
        let dir = try temporaryFolder()
        let red = Image8(width: 40, height: 30, channels: 3, pixels: (0..<(40 * 30)).flatMap { _ in [UInt8(255), 0, 0] })
        let gray = Image8(width: 20, height: 20, channels: 1, pixels: [UInt8](repeating: 200, count: 400))
        var checker = [UInt8](repeating: 0, count: 32 * 32)
        for y in 0..<32 { for x in 0..<32 where (x + y) % 2 == 0 { checker[y * 32 + x] = 255 } }
        try PNG.encode(red).write(to: URL(fileURLWithPath: dir + "/a.png"))
        try PNG.encode(gray).write(to: URL(fileURLWithPath: dir + "/b.png"))
        try PNG.encode(Image8(width: 32, height: 32, channels: 1, pixels: checker)).write(to: URL(fileURLWithPath: dir + "/c.png"))
        try Data("broken".utf8).write(to: URL(fileURLWithPath: dir + "/d.png"))
        let (stack, skipped) = try ImageFolder.load(dir, channels: 1, size: 16)
        #expect(stack.count == 3 && stack.width == 16 && stack.channels == 1)
        #expect(stack.image(0).pixels.allSatisfy { $0 == 76 })   // pure red → 0.299 · 255
        #expect(stack.image(1).pixels.allSatisfy { $0 == 200 })  // upscaled constant stays constant
        #expect(stack.image(2).pixels.allSatisfy { $0 == 128 })  // 2x2 averages of a checkerboard
        #expect(skipped.count == 1 && "\(skipped[0])".contains("d.png"))
        let rgb = try ImageFolder.load(dir, channels: 3, size: 8).images
        #expect(Array(rgb.image(1).pixels.prefix(3)) == [200, 200, 200])
        #expect(throws: DatasetError.self) { try ImageFolder.load(dir + "/missing", channels: 1, size: 8) }
    }

    /// `--data` names: a known dataset, an IDX file, a PNG folder; anything else names the path.
    @Test func trainingDataByName() throws {
        let named = try TrainingData.load("fashion-mnist", channels: 1, size: 28).images
        let direct = try IDX.images(fashion + "/train-images-idx3-ubyte.gz")
        #expect(named.count == 60000 && named.width == 28 && named.pixels[0..<784] == direct.pixels[0..<784])
        let file = try TrainingData.load(fashion + "/t10k-images-idx3-ubyte.gz", channels: 1, size: 28).images
        #expect(file.count == 10000)
        #expect { try TrainingData.load("/no/such/data", channels: 1, size: 28) } throws: {
            "\($0)".contains("/no/such/data") && "\($0)".contains("fashion-mnist, an IDX image file or a folder of PNGs")
        }
    }

    /// Non-square crops and resizes (init images for a model's H×W): the centered region of the
    /// target's aspect ratio, area averaging when shrinking both axes, bilinear otherwise.
    @Test func centerCropAndResizeToAnyAspect() {
        let image = Image8(width: 6, height: 4, channels: 1, pixels: (0..<24).map { UInt8($0) })
        let square = image.centerCropped(width: 1, height: 1)
        #expect(square.width == 4 && square.height == 4 && Array(square.pixels.prefix(4)) == [1, 2, 3, 4])
        let tall = image.centerCropped(width: 1, height: 2)
        #expect(tall.width == 2 && tall.height == 4 && Array(tall.pixels.prefix(2)) == [2, 3])
        #expect(image.centerCropped(width: 3, height: 2) == image)
        let shrunk = image.resized(width: 3, height: 2)  // 2×2 block means, (0+1+6+7)/4 = 3.5 → 4 (halves away from zero)
        #expect(shrunk.pixels == [4, 6, 8, 16, 18, 20])
        let grown = Image8(width: 2, height: 1, channels: 1, pixels: [0, 100]).resized(width: 4, height: 2)
        #expect(grown.pixels == [0, 25, 75, 100, 0, 25, 75, 100])
    }
}

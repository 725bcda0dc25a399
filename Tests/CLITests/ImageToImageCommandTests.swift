// End-to-end tests of `denoise generate --init-image/--strength/--mask/--jumps/--resize` with real
// PNG files on the committed ONNX U-Net (16×16 RGB, random weights): kept pixels come back as the
// init image's bytes, the PNG parameters say what was done, and bad files are refused by name.

import Foundation
import Imaging
import Testing
import TestSupport

private let unet = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../GraphTests/Fixtures/onnx/diffusers_unet_small/diffusers_unet_small.ts.onnx").standardizedFileURL.path

@Suite struct ImageToImageCommandTests {
    /// Writes a random `width`×`height` image with `channels` channels to `path`.
    @discardableResult
    func writeImage(_ path: String, width: Int = 16, height: Int = 16, channels: Int = 3, seed: UInt64 = 1) throws -> Image8 {
        var rng = TestRNG(seed: seed)
        let image = Image8(width: width, height: height, channels: channels, pixels: (0..<(width * height * channels)).map { _ in UInt8(rng.below(256)) })
        try PNG.encode(image).write(to: URL(fileURLWithPath: path))
        return image
    }

    func parameters(_ path: String) throws -> String {
        PNG.text(of: try Data(contentsOf: URL(fileURLWithPath: path))).first { $0.0 == "parameters" }?.1 ?? ""
    }

    @Test func inpaintingKeepsTheUnmaskedPixels() throws {
        let dir = try temporaryFolder("denoise-inpaint")
        let image = try writeImage(dir + "/init.png")
        // Left half black (keep), right half white (regenerate).
        try PNG.encode(Image8(width: 16, height: 16, channels: 1, pixels: (0..<256).map { $0 % 16 < 8 ? 0 : 255 }))
            .write(to: URL(fileURLWithPath: dir + "/mask.png"))
        let r = try runDenoise(["generate", unet, "--n", "2", "--steps", "5", "--seed", "3", "--init-image", dir + "/init.png",
                                "--mask", dir + "/mask.png", "--jumps", "1", "--out", dir + "/out"])
        #expect(r.status == 0 && r.stdout.contains("inpainting at strength 1.0"), "\(r.stdout)\(r.stderr)")
        for k in 0..<2 {
            let path = dir + String(format: "/out/%06d.png", k)
            let out = try PNG.decode(try Data(contentsOf: URL(fileURLWithPath: path)), path: path)
            let left = (0..<768).filter { ($0 / 3) % 16 < 8 }, right = (0..<768).filter { ($0 / 3) % 16 >= 8 }
            #expect(left.allSatisfy { out.pixels[$0] == image.pixels[$0] }, "sample \(k): a kept pixel changed")
            #expect(right.contains { out.pixels[$0] != image.pixels[$0] }, "sample \(k): nothing was regenerated")
            let text = try parameters(path)
            #expect(text.hasSuffix("strength=1.0 inpaint=1 jumps=1") && text.contains("sample=\(k)"), "\(text)")
        }
    }

    @Test func imageToImageIsReproducibleAndRecorded() throws {
        let dir = try temporaryFolder("denoise-img2img")
        try writeImage(dir + "/init.png")
        for (run, batch) in [("a", 2), ("b", 1)] {
            let r = try runDenoise(["generate", unet, "--n", "2", "--steps", "10", "--sampler", "ddpm", "--seed", "5", "--batch-size", "\(batch)",
                                    "--init-image", dir + "/init.png", "--strength", "0.6", "--out", dir + "/" + run])
            #expect(r.status == 0 && r.stdout.contains("image-to-image at strength 0.6"), "\(r.stdout)\(r.stderr)")
        }
        for k in 0..<2 {
            let name = String(format: "/%06d.png", k)
            let a = FileManager.default.contents(atPath: dir + "/a" + name)
            #expect(a != nil && a == FileManager.default.contents(atPath: dir + "/b" + name), "sample \(k)")
            let text = try parameters(dir + "/a" + name)
            #expect(text.hasSuffix("strength=0.6") && !text.contains("inpaint"), "\(text)")
        }
        // Plain generation records neither.
        let plain = try runDenoise(["generate", unet, "--n", "1", "--steps", "2", "--out", dir + "/plain"])
        #expect(plain.status == 0)
        let text = try parameters(dir + "/plain/000000.png")
        #expect(!text.contains("strength") && !text.contains("inpaint"), "\(text)")
    }

    @Test func badInputsAreRefusedByName() throws {
        let dir = try temporaryFolder("denoise-img2img-bad")
        try writeImage(dir + "/gray.png", width: 20, height: 24, channels: 1)
        let wrong = try runDenoise(["generate", unet, "--n", "1", "--steps", "4", "--init-image", dir + "/gray.png", "--npy", dir + "/x.npy"])
        #expect(wrong.status != 0 && wrong.stderr.contains("the model takes [C, H, W] = [3, 16, 16]") && wrong.stderr.contains("gray.png"), "\(wrong.stderr)")
        let resized = try runDenoise(["generate", unet, "--n", "1", "--steps", "4", "--init-image", dir + "/gray.png", "--mask", dir + "/gray.png",
                                      "--resize", "--npy", dir + "/x.npy"])
        #expect(resized.status == 0, "\(resized.stderr)")
        let noImage = try runDenoise(["generate", unet, "--n", "1", "--mask", dir + "/gray.png", "--npy", dir + "/x.npy"])
        #expect(noImage.status != 0 && noImage.stderr.contains("--mask needs --init-image"), "\(noImage.stderr)")
        let strength = try runDenoise(["generate", unet, "--n", "1", "--init-image", dir + "/gray.png", "--strength", "1.5", "--npy", dir + "/x.npy"])
        #expect(strength.status != 0 && strength.stderr.contains("--strength must be in (0, 1], got 1.5"), "\(strength.stderr)")
        let missing = try runDenoise(["generate", unet, "--n", "1", "--init-image", dir + "/none.png", "--npy", dir + "/x.npy"])
        #expect(missing.status != 0 && missing.stderr.contains("none.png: cannot read the file"), "\(missing.stderr)")
    }
}

// Image-to-image and inpainting over HTTP: `init_image` (base64 PNG), `strength`, `mask`, `jumps`
// and `resize` in POST /v1/generate give the bytes the library gives `denoise generate
// --init-image … --strength … --mask …` (same options, same record), kept pixels stay the
// picture's, and every mistake is a 400 naming the key — never a generation slot.

import Foundation
import Testing
@testable import DenoiseServer
import Diffusion
import Imaging
import ModelIO
import Tensors

@Suite(.serialized) struct ImageToImageRequestTests {
    /// An 8x8 gray picture: a bright square on black.
    static let picture = Image8(width: 8, height: 8, channels: 1, pixels: (0..<64).map { ($0 / 8 >= 2 && $0 / 8 < 6 && $0 % 8 >= 2 && $0 % 8 < 6) ? 230 : 10 })
    /// White (regenerate) on the right half.
    static let rightHalf = Image8(width: 8, height: 8, channels: 1, pixels: (0..<64).map { $0 % 8 >= 4 ? 255 : 0 })

    /// What the library gives for `configure`d options (the CLI's path), one PNG per sample.
    func expected(_ s: TestServer, n: Int, seed: UInt64, steps: Int, configure: (inout GenerationOptions) throws -> Void) throws -> [Data] {
        let generator = try ImageGenerator(model: s.model, cpu: CPU(threads: 1))
        var o = GenerationOptions(count: n, seed: seed, sampler: generator.defaultSamplerOptions(steps: steps))
        o.batchSize = 1
        try configure(&o)
        let samples = try generator.generate(o)
        let record = GenerationRecord(model: "tiny", request: o, jobs: try generator.stepper.jobs(o, samples: 0..<n))
        return try (0..<n).map { try record.png(try SampleImages.image(samples, index: $0), sample: $0) }
    }

    @Test func imageToImageAndInpaintingMatchTheLibrary() throws {
        let s = try TestServer()
        let png = try PNG.encode(Self.picture).base64EncodedString(), mask = try PNG.encode(Self.rightHalf).base64EncodedString()
        let shape = s.model.imageShape
        let sdedit = try request(s.port, "/v1/generate", method: "POST", body: json(["steps": 10, "seed": 4, "n": 2, "init_image": png, "strength": 0.5]))
        #expect(sdedit.status == 200, "\(sdedit.error)")
        let got = (sdedit.json?["images"] as? [String])?.compactMap { Data(base64Encoded: $0) }
        #expect(got == (try expected(s, n: 2, seed: 4, steps: 10) {
            $0.initImage = try ImageConversion.tensor(from: Self.picture, shape: shape, resize: false); $0.strength = 0.5
        }))
        #expect(got.map { PNG.text(of: $0[0]).contains { $0.1.contains("strength=0.5") } } == true)

        let inpaint = try request(s.port, "/v1/generate", method: "POST", body: json(["steps": 6, "seed": 4, "init_image": png, "mask": mask, "jumps": 1]))
        #expect(inpaint.status == 200, "\(inpaint.error)")
        let image = try #require((inpaint.json?["images"] as? [String])?.first.flatMap { Data(base64Encoded: $0) })
        #expect(image == (try expected(s, n: 1, seed: 4, steps: 6) {
            $0.initImage = try ImageConversion.tensor(from: Self.picture, shape: shape, resize: false)
            $0.mask = try ImageConversion.mask(from: Self.rightHalf, height: 8, width: 8, resize: false)
            $0.strength = 1; $0.jumps = 1
        })[0])
        let decoded = try PNG.decode(image, path: "inpainted")
        for i in 0..<64 where i % 8 < 4 { #expect(decoded.pixels[i] == Self.picture.pixels[i], "kept pixel \(i) changed") }
        // The stream counts model evaluations: 6 steps, each but the last redone once.
        let stream = try request(s.port, "/v1/generate", method: "POST", headers: ["Accept": "text/event-stream"],
                                 body: json(["steps": 6, "seed": 4, "init_image": png, "mask": mask, "jumps": 1]))
        let progress = events(stream.body).filter { $0.name == "progress" }
        #expect(progress.count == 11, "\(progress.count) progress events")
    }

    @Test func mistakesNameTheKey() throws {
        let s = try TestServer()
        let png = try PNG.encode(Self.picture).base64EncodedString()
        let rgb = try PNG.encode(Image8(width: 4, height: 4, channels: 3, pixels: [UInt8](repeating: 9, count: 48))).base64EncodedString()
        let cases: [([String: Any], String)] = [
            (["init_image": "not base64 ***"], "init_image is not base64"),
            (["init_image": Data("hello".utf8).base64EncodedString()], "init_image is not a PNG"),
            (["init_image": rgb], "init_image: "),
            (["init_image": png, "strength": 0], "strength must be a number in (0, 1]"),
            (["init_image": png, "jumps": 2], "jumps needs a mask"),
            (["strength": 0.5], "strength needs init_image"),
            (["mask": png], "mask needs init_image"),
            (["init_image": 5], "init_image must be a string"),
        ]
        for (body, message) in cases {
            let r = try request(s.port, "/v1/generate", method: "POST", body: json(body.merging(["steps": 2]) { a, _ in a }))
            #expect(r.status == 400 && r.error.contains(message), "\(body.keys.sorted()): \(r.status) \(r.error)")
        }
        // The wrong size names the expected shape; resize converts it.
        let wrong = try request(s.port, "/v1/generate", method: "POST", body: json(["steps": 2, "init_image": rgb]))
        #expect(wrong.error.contains("[1, 8, 8]"), "\(wrong.error)")
        let resized = try request(s.port, "/v1/generate", method: "POST", body: json(["steps": 2, "init_image": rgb, "resize": true]))
        #expect(resized.status == 200, "\(resized.error)")
    }

    /// A `multipart/form-data` body: fields as text, files as bytes.
    static func form(_ fields: [(String, String)], files: [(String, Data)], boundary: String = "dn-boundary-42") -> Data {
        var body = Data()
        for (name, value) in fields {
            body += Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        for (name, bytes) in files {
            body += Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(name).png\"\r\nContent-Type: image/png\r\n\r\n".utf8)
            body += bytes + Data("\r\n".utf8)
        }
        return body + Data("--\(boundary)--\r\n".utf8)
    }

    /// `curl -F init_image=@picture.png -F strength=0.5 …`: the same images as the base64 JSON form.
    @Test func multipartUploadEqualsTheJSONForm() throws {
        let s = try TestServer()
        let png = try PNG.encode(Self.picture), mask = try PNG.encode(Self.rightHalf)
        let headers = ["Content-Type": "multipart/form-data; boundary=dn-boundary-42"]
        let upload = try request(s.port, "/v1/generate", method: "POST", headers: headers,
                                 body: Self.form([("steps", "6"), ("seed", "4"), ("strength", "0.5")], files: [("init_image", png), ("mask", mask)]))
        #expect(upload.status == 200, "\(upload.error)")
        let viaJSON = try request(s.port, "/v1/generate", method: "POST",
                                  body: json(["steps": 6, "seed": 4, "strength": 0.5, "init_image": png.base64EncodedString(), "mask": mask.base64EncodedString()]))
        #expect(upload.json?["images"] as? [String] == viaJSON.json?["images"] as? [String] && viaJSON.status == 200)
        for (body, message) in [
            (Self.form([("steps", "2")], files: [("seed", png)]), "seed was uploaded as a file"),
            (Self.form([("steps", "two")], files: []), "steps must be an integer, got 'two'"),
            (Self.form([], files: [("init_image", Data("not a png".utf8))]), "init_image is not a PNG"),
            (Data("--dn-boundary-42\r\nContent-Disposition: form-data; name=\"steps\"\r\n\r\n2".utf8), "not closed by the boundary"),
            (Data("no boundary here".utf8), "without its boundary"),
        ] {
            let r = try request(s.port, "/v1/generate", method: "POST", headers: headers, body: body)
            #expect(r.status == 400 && r.error.contains(message), "\(r.status) \(r.error)")
        }
    }
}

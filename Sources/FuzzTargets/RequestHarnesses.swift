// RequestHarnesses: generation requests as the server receives them — a GET /generate query
// string (split and percent-decoded as libmicrohttpd does, `QueryString`), a POST /v1/generate
// JSON body, and a POST body behind its Content-Type line (multipart form or JSON, as the route
// dispatches) — validated by `GenerateRequest` against two served models built once per process
// from committed fixtures: "classes" (the default: 8x8 gray, class-conditional with names and a
// null label, so `class` and `guidance_scale` validate) and "rgb" (16x16 RGB, unconditional).
// Validation only: nothing is queued or generated.

import DenoiseServer
import Foundation
import ModelIO
import Tensors

enum RequestHarnesses {
    static let options = ServerOptions()

    /// The served models, loaded on first use; a missing fixture stops the process with its path.
    static let models: [ServedModel] = {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Tests/GraphTests/Fixtures/onnx").standardizedFileURL.path
        let cpu = CPU(threads: 1)
        do {
            var classes = try ModelLoader.open(fixtures + "/diffusers_class_cond/diffusers_class_cond.ts.onnx")
            classes.classes = ClassLabels(count: 3, names: ["t-shirt", "trouser", "pullover"], nullLabel: 3)
            let rgb = try ModelLoader.open(fixtures + "/diffusers_unet_small/diffusers_unet_small.ts.onnx")
            return [try ServedModel(name: "classes", model: classes, cpu: cpu), try ServedModel(name: "rgb", model: rgb, cpu: cpu)]
        } catch {
            fatalError("request harnesses: cannot load the served models from \(fixtures): \(error)")
        }
    }()

    /// A query string (the bytes after '?').
    static func query(_ bytes: [UInt8]) throws {
        _ = try GenerateRequest(query: QueryString.items(bytes), models: models, options: options)
    }

    /// A JSON body.
    static func json(_ bytes: [UInt8]) throws {
        _ = try GenerateRequest(json: bytes, models: models, options: options)
    }

    /// The Content-Type header's value, CRLF (or LF), then the body.
    static func form(_ bytes: [UInt8]) throws {
        let lineEnd = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
        let contentType = String(decoding: bytes[..<lineEnd], as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
        let body = Array(bytes[min(lineEnd + 1, bytes.count)...])
        _ = try GenerateRequest(body: body, contentType: contentType, models: models, options: options)
    }
}

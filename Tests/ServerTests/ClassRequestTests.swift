// GET /generate on a class-conditional model (a diffusers UNet2DModel with num_class_embeds 4,
// exported to ONNX): `class` picks each sample's class and the PNG equals `denoise generate`'s
// path with the same labels; /v1/models says the model takes 4 classes; bad classes are 400s
// naming the parameter; an unconditional model refuses a class.

import Foundation
import Testing
@testable import DenoiseServer
import Diffusion
import ModelIO
import Tensors

private let classModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../GraphTests/Fixtures/onnx/diffusers_class_cond/diffusers_class_cond.ts.onnx").standardizedFileURL.path

@Suite(.serialized) struct ClassRequestTests {
    @Test func classParameterSteersAndMatchesTheCLIPath() throws {
        let server = try TestServer(model: ModelLoader.open(classModel))
        let one = try request(server.port, "/generate?steps=4&seed=5&class=2")
        #expect(one.status == 200 && one.headers["x-classes"] == "2")
        #expect(one.body == (try server.expectedPNG(steps: 4, seed: 5, n: 1, classLabels: [2])))
        let other = try request(server.port, "/generate?steps=4&seed=5&class=3")
        #expect(other.status == 200 && other.body != one.body, "the class must change the image")
        let grid = try request(server.port, "/generate?steps=4&seed=5&n=3&class=0,1,3")
        #expect(grid.status == 200 && grid.headers["x-classes"] == "0,1,3")
        #expect(grid.body == (try server.expectedPNG(steps: 4, seed: 5, n: 3, classLabels: [0, 1, 3])))
        // No class: one drawn per sample from the seed, reported, and the same as the CLI's draw.
        let drawn = try request(server.port, "/generate?steps=4&seed=5&n=3")
        let labels = try #require(drawn.headers["x-classes"]).split(separator: ",").map { Int($0)! }
        #expect(drawn.status == 200 && labels.count == 3 && labels.allSatisfy { (0..<4).contains($0) })
        #expect(drawn.body == (try server.expectedPNG(steps: 4, seed: 5, n: 3)))

        let models = try request(server.port, "/v1/models").json?["models"] as? [[String: Any]]
        #expect(models?.first?["class_conditional"] as? Bool == true && models?.first?["num_classes"] as? Int == 4)

        for (query, message) in [("class=4", "class: class '4' is not a class of this model (0…3)"),
                                 ("class=dog", "class 'dog' is not a class"),
                                 ("n=3&class=1,2", "class: 2 labels for n=3 samples"),
                                 ("class=-1", "class '-1' is not a class")] {
            let r = try request(server.port, "/generate?steps=2&" + query)
            #expect(r.status == 400 && r.error.contains(message), "\(query): \(r.status) \(r.error)")
        }
    }

    @Test func unconditionalModelRefusesAClass() throws {
        let server = try TestServer()
        let r = try request(server.port, "/generate?steps=2&class=1")
        #expect(r.status == 400 && r.error.contains("class: model 'tiny' is not class-conditional"), "\(r.error)")
        let models = try request(server.port, "/v1/models").json?["models"] as? [[String: Any]]
        #expect(models?.first?["class_conditional"] as? Bool == false && models?.first?["num_classes"] is NSNull)
    }

    /// guidance_scale (GET and JSON) on a model with a null label equals the library's guided
    /// samples and is recorded; without a class, or on a model without a null label, a 400 naming it.
    @Test func guidanceScaleParameter() throws {
        var model = try ModelLoader.open(classModel)
        model.classes = ClassLabels(count: 3, nullLabel: 3)
        let server = try TestServer(model: model)
        let get = try request(server.port, "/generate?steps=4&seed=5&n=2&class=1&guidance_scale=3")
        #expect(get.status == 200)
        #expect(get.body == (try server.expectedPNG(steps: 4, seed: 5, n: 2, classLabels: [1], guidance: 3)))
        let json = try request(server.port, "/v1/generate", method: "POST", headers: ["Content-Type": "application/json"],
                               body: Data(#"{"steps": 4, "seed": 5, "n": 1, "class": "1", "guidance_scale": 3}"#.utf8))
        #expect(json.status == 200, "\(json.error)")
        let unconditional = try request(server.port, "/generate?steps=4&seed=5")
        #expect(unconditional.status == 200 && unconditional.headers["x-classes"] == "3")
        let noClass = try request(server.port, "/generate?steps=2&guidance_scale=3")
        #expect(noClass.status == 400 && noClass.error.contains("guidance_scale needs class"), "\(noClass.error)")
        let plain = try TestServer(model: ModelLoader.open(classModel))
        let noNull = try request(plain.port, "/generate?steps=2&class=1&guidance_scale=3")
        #expect(noNull.status == 400 && noNull.error.contains("has no null label"), "\(noNull.error)")
    }
}

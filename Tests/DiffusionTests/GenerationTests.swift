// The generator's randomness is per sample: x_T of sample k is Philox stream k under the seed,
// whatever thread count; and a whole generation gives the same bits whatever the batch size.

import Foundation
import Testing
@testable import Diffusion
import ModelIO
import Tensors

@Suite struct GenerationTests {
    static let unet = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../GraphTests/Fixtures/onnx/diffusers_unet_small/diffusers_unet_small.ts.onnx").standardizedFileURL.path

    @Test func startingNoiseIsPerSample() throws {
        let model = try ModelLoader.open(Self.unet)
        let sampler = Sampler(SamplerOptions(), schedule: try BatchStepper(model: model, cpu: CPU(threads: 1)).schedule)
        func start(_ k: Int, seed: UInt64, threads: Int) throws -> [Float] {
            try SampleJob(sampler: sampler, imageShape: model.imageShape, seed: seed, stream: UInt64(k), cpu: CPU(threads: threads)).x.scalars
        }
        for k in 0..<3 { #expect(try start(k, seed: 9, threads: 2) == start(k, seed: 9, threads: 1), "sample \(k)") }
        #expect(try start(0, seed: 9, threads: 1) != start(1, seed: 9, threads: 1))
        #expect(try start(0, seed: 9, threads: 1) != start(0, seed: 10, threads: 1))
    }

    @Test func batchSizeDoesNotChangeTheSamples() throws {
        let generator = try ImageGenerator(model: try ModelLoader.open(Self.unet), cpu: CPU(threads: 2))
        var o = GenerationOptions()
        (o.count, o.seed) = (5, 4)
        o.sampler = generator.defaultSamplerOptions(steps: 4)
        o.sampler.kind = .ddpm  // adds noise every step
        o.batchSize = 5
        let together = try generator.generate(o)
        o.batchSize = 2
        #expect(try generator.generate(o).scalars == together.scalars)
    }
}

// The generator's randomness is per sample: x_T of sample k does not depend on the chunk it is
// generated in or the thread count.

import Foundation
import Testing
@testable import Diffusion
import ModelIO
import Tensors

@Suite struct GenerationTests {
    @Test func startingNoiseIsPerSample() throws {
        let unet = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../GraphTests/Fixtures/onnx/diffusers_unet_small/diffusers_unet_small.ts.onnx").standardizedFileURL.path
        let model = try ModelLoader.open(unet)
        let whole = Tensor(zeros: [5, 3, 16, 16])
        try ImageGenerator(model: model, cpu: CPU(threads: 2)).startingNoise(into: whole, samples: 0..<5, seed: 9)
        let generator = try ImageGenerator(model: model, cpu: CPU(threads: 1))
        for k in 0..<5 {
            let single = Tensor(zeros: [1, 3, 16, 16])
            try generator.startingNoise(into: single, samples: k..<(k + 1), seed: 9)
            #expect(single.scalars == whole.rows(k..<(k + 1)).scalars, "sample \(k)")
        }
        let other = Tensor(zeros: [1, 3, 16, 16])
        try generator.startingNoise(into: other, samples: 0..<1, seed: 10)
        #expect(other.scalars != whole.rows(0..<1).scalars)
    }
}

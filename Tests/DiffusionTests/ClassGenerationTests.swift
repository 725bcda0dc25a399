// Class-conditional generation through the BatchStepper: a sample's bits depend on its own class
// and seed only (alone or batched with samples of other classes), the labels a request does not
// give are drawn per sample from its seed, and labels a model cannot take are refused by name.

import Foundation
import Testing
@testable import Diffusion
import ModelIO
import Tensors

private let classModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../GraphTests/Fixtures/onnx/diffusers_class_cond/diffusers_class_cond.ts.onnx").standardizedFileURL.path

@Suite struct ClassGenerationTests {
    func options(_ n: Int, labels: [Int]?, batch: Int) -> GenerationOptions {
        var o = GenerationOptions(count: n, seed: 11, sampler: SamplerOptions(for: ScheduleConfig(), steps: 6))
        (o.classLabels, o.batchSize) = (labels, batch)
        return o
    }

    @Test func samplesDependOnTheirOwnClassOnly() throws {
        let generator = try ImageGenerator(model: ModelLoader.open(classModel), cpu: CPU(threads: 2))
        let together = try generator.generate(options(4, labels: [0, 1, 2, 3], batch: 4))
        let alone = try generator.generate(options(4, labels: [0, 1, 2, 3], batch: 1))
        #expect(together.scalars == alone.scalars, "a sample's bits changed with the batch it ran in")
        let count = together.count / 4
        // Sample 2 of class 2 equals sample 2 of a request where every sample is class 2.
        let allTwo = try generator.generate(options(4, labels: [2], batch: 4))
        #expect(Array(allTwo.scalars[(2 * count)..<(3 * count)]) == Array(together.scalars[(2 * count)..<(3 * count)]))
        #expect(Array(allTwo.scalars[0..<count]) != Array(together.scalars[0..<count]), "the class must change the sample")
    }

    @Test func unlabelledSamplesDrawTheirClassFromTheSeed() throws {
        let stepper = try BatchStepper(model: ModelLoader.open(classModel), cpu: CPU(threads: 1))
        let drawn = try stepper.classLabels(options(16, labels: nil, batch: 16), samples: 0..<16).map { $0! }
        #expect(drawn == (try stepper.classLabels(options(16, labels: nil, batch: 16), samples: 0..<16).map { $0! }))
        #expect(drawn.allSatisfy { (0..<4).contains($0) } && Set(drawn).count > 1, "\(drawn)")
        #expect(Array(drawn[5..<9]) == (try stepper.classLabels(options(16, labels: nil, batch: 16), samples: 5..<9).map { $0! }))
        let jobs = try stepper.jobs(options(3, labels: nil, batch: 3), samples: 0..<3)
        #expect(jobs.map(\.classLabel) == Array(drawn.prefix(3)))
    }

    @Test func labelsAModelCannotTakeAreRefused() throws {
        let stepper = try BatchStepper(model: ModelLoader.open(classModel), cpu: CPU(threads: 1))
        #expect { try stepper.jobs(options(2, labels: [4], batch: 2), samples: 0..<2) } throws: { "\($0)".contains("class 4 is not a class of this model (0…3)") }
        #expect { try stepper.jobs(options(3, labels: [1, 2], batch: 3), samples: 0..<3) } throws: { "\($0)".contains("2 class labels for 3 samples") }
        var c = UNet2DConfig()
        c.sampleSize = 8; c.inChannels = 1; c.outChannels = 1; c.blockOutChannels = [8, 16]; c.layersPerBlock = 1; c.normNumGroups = 4
        c.downBlockTypes = ["DownBlock2D", "DownBlock2D"]; c.upBlockTypes = ["UpBlock2D", "UpBlock2D"]; c.addAttention = false
        let plain = try BatchStepper(model: DiffusionModel(graph: UNet2DBuilder.initialized(c, seed: 1, cpu: CPU(threads: 1)), schedule: ScheduleConfig(),
                                                           imageShape: [1, 8, 8]), cpu: CPU(threads: 1))
        #expect { try plain.jobs(options(1, labels: [0], batch: 1), samples: 0..<1) } throws: { "\($0)".contains("not class-conditional") }
    }

    /// diffusers' class_embed_type "identity" takes embeddings [batch, E], not labels: refused by name.
    @Test func classEmbeddingInputsAreRefusedByName() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/diffusers/class_identity").path
        #expect { try BatchStepper(model: ModelLoader.open(folder), cpu: CPU(threads: 1)) } throws: {
            "\($0)".contains("class input 'class_labels' takes [\"batch\", \"12\"]") && "\($0)".contains("not one class label per sample")
        }
    }

    /// A diverged sample (NaN) is an error naming it, never a crash in the 8-bit conversion.
    @Test func nanSamplesAreAnError() throws {
        let samples = Tensor(shape: [2, 1, 2, 2], scalars: [0, 0, 0, 0, 0, .nan, 0, 0])
        #expect(try SampleImages.image(samples, index: 0).pixels == [128, 128, 128, 128])
        #expect { try SampleImages.image(samples, index: 1) } throws: { "\($0)".contains("sample 1 is not a number at channel 0, row 0, column 1") }
    }
}

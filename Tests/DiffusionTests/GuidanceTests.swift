// Classifier-free guidance and the null label through the BatchStepper: a model with a null label
// generates unconditionally with it when asked for no class; a guided sample runs its null-label
// copy in the same forward and gives the same bits alone or in any batch; scale 0 is exactly the
// unconditional sample; guidance without a null label or without a class is refused by name.

import Foundation
import Testing
@testable import Diffusion
import ModelIO
import Tensors

private let classModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../GraphTests/Fixtures/onnx/diffusers_class_cond/diffusers_class_cond.ts.onnx").standardizedFileURL.path

@Suite struct GuidanceTests {
    /// The 4-row class-conditional fixture read as 3 classes and the null label 3.
    func nullLabelModel() throws -> DiffusionModel {
        var model = try ModelLoader.open(classModel)
        model.classes = ClassLabels(count: 3, names: ["a", "b", "c"], nullLabel: 3)
        return model
    }

    func options(_ n: Int, labels: [Int]?, guidance: Double?, batch: Int) -> GenerationOptions {
        var o = GenerationOptions(count: n, seed: 5, sampler: SamplerOptions(for: ScheduleConfig(), steps: 5))
        (o.classLabels, o.guidanceScale, o.batchSize) = (labels, guidance, batch)
        return o
    }

    @Test func guidedSamplesAreBatchInvariant() throws {
        let generator = try ImageGenerator(model: nullLabelModel(), cpu: CPU(threads: 2))
        let together = try generator.generate(options(3, labels: [0, 1, 2], guidance: 3, batch: 3))
        let alone = try generator.generate(options(3, labels: [0, 1, 2], guidance: 3, batch: 1))
        #expect(together.scalars == alone.scalars, "a guided sample's bits changed with the batch it ran in")
        // Guided and unguided samples in one forward, with padding rows: each as when alone.
        let stepper = generator.stepper
        let guided = try stepper.jobs(options(2, labels: [1], guidance: 3, batch: 2), samples: 0..<2)
        let plain = try stepper.jobs(options(2, labels: [2], guidance: nil, batch: 2), samples: 0..<2)
        let mixed = [plain[0], guided[0], plain[1], guided[1]]
        #expect(BatchStepper.rows(mixed) == 6)
        while !mixed[0].isDone { try stepper.step(mixed, paddedTo: 8) }
        let count = together.count / 3
        #expect(Array(guided[1].x.scalars) == Array(together.scalars[count..<(2 * count)]))
        let plainAlone = try generator.generate(options(2, labels: [2], guidance: nil, batch: 1))
        #expect(Array(plain[1].x.scalars) == Array(plainAlone.scalars[count..<(2 * count)]))
        let unguided = try generator.generate(options(3, labels: [0, 1, 2], guidance: nil, batch: 3))
        #expect(unguided.scalars != together.scalars, "guidance must change the samples")
    }

    @Test func scaleZeroIsTheUnconditionalSample() throws {
        let generator = try ImageGenerator(model: nullLabelModel(), cpu: CPU(threads: 2))
        let unconditional = try generator.generate(options(2, labels: nil, guidance: nil, batch: 2))
        #expect(try generator.stepper.classLabels(options(2, labels: nil, guidance: nil, batch: 2), samples: 0..<2) == [3, 3])
        let zero = try generator.generate(options(2, labels: [1], guidance: 0, batch: 2))
        #expect(zero.scalars == unconditional.scalars, "ε_null + 0·(ε_class − ε_null) must be ε_null")
        // Scale 1 is the conditional sample, up to rounding.
        let one = try generator.generate(options(2, labels: [1], guidance: 1, batch: 2))
        let conditional = try generator.generate(options(2, labels: [1], guidance: nil, batch: 2))
        let diff = zip(one.scalars, conditional.scalars).map { abs($0 - $1) }.max()!
        #expect(diff < 1e-5, "\(diff)")
    }

    @Test func guidanceNeedsANullLabelAndAClass() throws {
        let stepper = try BatchStepper(model: nullLabelModel(), cpu: CPU(threads: 1))
        #expect { try stepper.jobs(options(1, labels: nil, guidance: 2, batch: 1), samples: 0..<1) } throws: {
            "\($0)".contains("guidance scale 2.0 needs a class to guide towards")
        }
        #expect { try stepper.jobs(options(1, labels: [0], guidance: .nan, batch: 1), samples: 0..<1) } throws: { "\($0)".contains("finite") }
        let noNull = try BatchStepper(model: ModelLoader.open(classModel), cpu: CPU(threads: 1))
        #expect { try noNull.jobs(options(1, labels: [0], guidance: 2, batch: 1), samples: 0..<1) } throws: {
            "\($0)".contains("this model has no null label")
        }
        let record = GenerationRecord(model: "m", request: options(1, labels: [0], guidance: 2.5, batch: 1), jobs: [])
        #expect(record.parameters(sample: nil).hasSuffix(" guidance=2.5"))
        let plainRecord = GenerationRecord(model: "m", request: options(1, labels: [0], guidance: nil, batch: 1), jobs: [])
        #expect(!plainRecord.parameters(sample: nil).contains("guidance"))
    }
}

// Class-conditional training: a tiny U-Net with a class embedding (2 classes + the null row) on
// labelled stripes (horizontal = class 0, vertical = class 1): the loss falls, label dropout
// replaces labels by the null label at its rate (deterministically), resume is exact, and
// unlabelled data or dropout without a null label is refused by name.

import Foundation
import Testing
@testable import Diffusion
import Graphs
import Imaging
import ModelIO
import Tensors

@Suite struct ClassTrainingTests {
    static var labelled: ImageStack {
        let s = TrainerTests.stripes
        return ImageStack(width: 8, height: 8, channels: 1, pixels: s.pixels, labels: (0..<s.count).map { $0 % 2 })
    }

    func model(nullLabel: Int? = 2, cpu: CPU) throws -> DiffusionModel {
        var c = TrainerTests.config
        c.numClassEmbeds = 3
        return DiffusionModel(graph: try UNet2DBuilder.initialized(c, seed: 1, cpu: cpu), schedule: ScheduleConfig(), imageShape: [1, 8, 8],
                              classes: ClassLabels(count: 2, names: ["horizontal", "vertical"], nullLabel: nullLabel))
    }

    func trainer(data: ImageStack = Self.labelled, configure: (inout TrainingOptions) -> Void = { _ in }) throws -> Trainer {
        let cpu = CPU(threads: 2)
        var o = TrainingOptions()
        (o.batchSize, o.learningRate, o.warmupSteps, o.seed) = (16, 3e-3, 5, 1)
        configure(&o)
        return try Trainer(model: model(cpu: cpu), data: data, options: o, cpu: cpu)
    }

    @Test func lossFallsWithLabels() throws {
        let t = try trainer()
        let losses = try (0..<60).map { _ in try t.trainStep() }
        let first = losses.prefix(10).reduce(0, +) / 10, last = losses.suffix(10).reduce(0, +) / 10
        #expect(losses.allSatisfy { $0.isFinite })
        #expect(last < 0.7 * first, "loss from \(first) to \(last)")
    }

    @Test func labelDropoutHonoursItsRate() throws {
        let t = try trainer { $0.labelDropout = 0.1 }
        let indices = (0..<256).map { $0 % 64 }
        var nulls = 0, total = 0
        for stream in 0..<40 {
            let labels = try t.labels(of: indices, stream: UInt64(stream))
            #expect(labels == (try t.labels(of: indices, stream: UInt64(stream))), "label draws must be deterministic")
            for (label, index) in zip(labels, indices) {
                if label == 2 { nulls += 1 } else { #expect(label == index % 2) }
            }
            total += labels.count
        }
        let rate = Double(nulls) / Double(total)  // 10240 draws: σ ≈ 0.003
        #expect(abs(rate - 0.1) < 0.015, "null-label rate \(rate)")
        let none = try trainer { $0.labelDropout = 0 }
        #expect(try none.labels(of: indices, stream: 3) == indices.map { $0 % 2 })
    }

    @Test func resumeContinuesExactly() throws {
        let a = try trainer()
        let la = try (0..<5).map { _ in try a.trainStep() }
        let folder = NSTemporaryDirectory() + "denoise-classtrain-\(UUID().uuidString)"
        let c = try trainer()
        for _ in 0..<4 { try c.trainStep() }
        try c.save(to: folder)
        let resumed = try trainer()
        try resumed.resume(from: folder)
        #expect(try resumed.trainStep() == la[4], "the resumed step-5 loss differs from the uninterrupted run's")
        #expect(try ModelLoader.open(folder).classes == ClassLabels(count: 2, names: ["horizontal", "vertical"], nullLabel: 2))
    }

    @Test func unlabelledDataAndMissingNullLabelAreRefused() throws {
        #expect { try trainer(data: TrainerTests.stripes) } throws: { "\($0)".contains("needs a class label per image") }
        let cpu = CPU(threads: 1)
        #expect { try Trainer(model: model(nullLabel: nil, cpu: cpu), data: Self.labelled, options: TrainingOptions(), cpu: cpu) } throws: {
            "\($0)".contains("label dropout 0.1 needs a model with a null label")
        }
        let bad = ImageStack(width: 8, height: 8, channels: 1, pixels: TrainerTests.stripes.pixels, labels: Array(repeating: 5, count: 64))
        #expect { try trainer(data: bad) } throws: { "\($0)".contains("class label 5") }
    }
}

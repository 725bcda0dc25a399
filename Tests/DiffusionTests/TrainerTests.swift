// The trainer on a tiny U-Net and synthetic images: the loss falls, a seed fixes every loss, and
// save + resume continues exactly where an uninterrupted run would be.

import Foundation
import Testing
@testable import Diffusion
import Graphs
import Imaging
import ModelIO
import Tensors

@Suite struct TrainerTests {
    /// A 2-level 8x8 gray U-Net with attention.
    static var config: UNet2DConfig {
        var c = UNet2DConfig()
        c.sampleSize = 8; c.inChannels = 1; c.outChannels = 1; c.blockOutChannels = [8, 16]; c.layersPerBlock = 1
        c.normNumGroups = 4; c.attentionHeadDim = 8
        c.downBlockTypes = ["DownBlock2D", "AttnDownBlock2D"]; c.upBlockTypes = ["AttnUpBlock2D", "UpBlock2D"]
        return c
    }

    /// 64 images of horizontal or vertical stripes.
    static var stripes: ImageStack {
        var pixels: [UInt8] = []
        for k in 0..<64 { for y in 0..<8 { for x in 0..<8 { pixels.append(((k % 2 == 0 ? x : y) + k / 2) % 2 == 0 ? 255 : 0) } } }
        return ImageStack(width: 8, height: 8, channels: 1, pixels: pixels)
    }

    func trainer(seed: UInt64 = 1, configure: (inout TrainingOptions) -> Void = { _ in }) throws -> Trainer {
        let cpu = CPU(threads: 2)
        let model = DiffusionModel(graph: try UNet2DBuilder.initialized(Self.config, seed: seed, cpu: cpu), schedule: ScheduleConfig(), imageShape: [1, 8, 8])
        var o = TrainingOptions()
        (o.batchSize, o.learningRate, o.warmupSteps, o.seed) = (16, 3e-3, 5, seed)
        configure(&o)
        return try Trainer(model: model, data: Self.stripes, options: o, cpu: cpu)
    }

    @Test func lossFalls() throws {
        let t = try trainer()
        let losses = try (0..<60).map { _ in try t.trainStep() }
        let first = losses.prefix(10).reduce(0, +) / 10, last = losses.suffix(10).reduce(0, +) / 10
        #expect(last < 0.7 * first, "loss from \(first) to \(last)")
        #expect(losses.allSatisfy { $0.isFinite })
    }

    @Test func seedFixesTheRunAndResumeContinuesExactly() throws {
        let a = try trainer(), b = try trainer()
        let la = try (0..<5).map { _ in try a.trainStep() }, lb = try (0..<5).map { _ in try b.trainStep() }
        #expect(la == lb)
        let folder = NSTemporaryDirectory() + "denoise-train-\(UUID().uuidString)"
        let c = try trainer()
        for _ in 0..<4 { try c.trainStep() }
        try c.save(to: folder)
        let resumed = try trainer()
        try resumed.resume(from: folder)
        #expect(resumed.step == 4)
        #expect(try resumed.trainStep() == la[4], "the resumed step-5 loss differs from the uninterrupted run's")
        let saved = try ModelLoader.open(folder)  // the EMA model loads for sampling, with the EMA weights
        #expect(saved.imageShape == [1, 8, 8])
        var byName: [String: Tensor] = [:]
        for (id, value) in saved.graph.constants { if case .float(let t) = value { byName[saved.graph[id].name] = t } }
        for name in c.parameters.names {
            #expect(byName[name]?.scalars == c.ema.shadow[name]?.scalars, "\(name) is not the EMA weight")
        }
    }

    /// Frozen parameters keep their values; the others move. Globs match whole names.
    @Test func freezeAndTrainOnlySelectParameters() throws {
        #expect(globMatch("conv_in.*", "conv_in.weight") && globMatch("*.bias", "up_blocks.0.resnets.0.conv1.bias"))
        #expect(!globMatch("conv_in.*", "xconv_in.weight") && globMatch("down_blocks.?.*", "down_blocks.1.attentions.0.to_q.weight"))
        let all = try trainer()
        let frozen = try trainer { $0.freeze = ["down_blocks.*", "*.bias"] }
        let only = try trainer { $0.trainOnly = ["conv_out.*"] }
        #expect(Set(only.parameters.names) == ["conv_out.bias", "conv_out.weight"])
        #expect(!frozen.parameters.names.contains { $0.hasPrefix("down_blocks.") || $0.hasSuffix(".bias") })
        #expect(frozen.parameters.count > 0 && frozen.parameters.count < all.parameters.count)
        let before = frozen.model.graph.constants.filter { frozen.model.graph[$0.key].name.hasPrefix("down_blocks.") }
        for _ in 0..<3 { try frozen.trainStep() }
        let saved = frozen.emaModel()
        for (id, value) in before {
            if case .float(let t) = value, case .float(let u)? = saved.graph.constants[id] { #expect(t.scalars == u.scalars, "\(saved.graph[id].name) moved") }
        }
    }

    /// Two accumulated micro-batches give the mean of their losses, and the run stays reproducible.
    @Test func gradientAccumulation() throws {
        let a = try trainer { $0.gradientAccumulation = 2 }, b = try trainer { $0.gradientAccumulation = 2 }
        let la = try (0..<3).map { _ in try a.trainStep() }
        #expect(la == (try (0..<3).map { _ in try b.trainStep() }))
        let single = try trainer()
        let (l0, _) = try single.microBatch(stream: 0), (l1, _) = try single.microBatch(stream: 1)
        #expect(abs(la[0] - (l0 / 2 + l1 / 2)) <= 1e-6 * abs(la[0]), "\(la[0]) vs \(l0), \(l1)")
    }
}

extension TrainerTests {
    /// The training cadence: the losses of `train(until:)` are the step-by-step losses, the CSV
    /// log holds one line per step after its header, checkpoints land every `saveEvery` steps and
    /// at the end, and sample grids carry their real generation parameters.
    @Test func trainingRunKeepsItsCadence() throws {
        let folder = NSTemporaryDirectory() + "denoise-run-\(UUID().uuidString)"
        let reference = try trainer()
        let expected = try (0..<5).map { _ in try reference.trainStep() }
        let t = try trainer()
        var cadence = TrainingCadence()
        (cadence.saveEvery, cadence.sampleEvery, cadence.sampleCount, cadence.sampleSteps) = (2, 4, 4, 3)
        cadence.lossLog = folder + "/loss.csv"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var seen: [(Int, Float)] = []
        try t.train(until: 5, folder: folder, cadence: cadence) { seen.append(($0, $1)) }
        #expect(seen.map(\.0) == [1, 2, 3, 4, 5] && seen.map(\.1) == expected)
        let log = try String(contentsOfFile: folder + "/loss.csv", encoding: .utf8).split(separator: "\n")
        #expect(log.first == "step,loss,lr,grad_norm" && log.count == 6 && log[5].hasPrefix("5,\(expected[4]),"))
        let last = log[5].split(separator: ",").compactMap { Float($0) }
        #expect(last.count == 4 && last[2] == t.lastLearningRate && last[3] == t.lastGradientNorm && last[3] > 0)
        let state = try SafeTensors.read(contentsOf: URL(fileURLWithPath: folder + "/training.safetensors"))
        #expect(state.metadata["step"] == "5")
        let grid = try Data(contentsOf: URL(fileURLWithPath: folder + "/samples/step_000004.png"))
        #expect(PNG.text(of: grid).contains { $0.0 == "parameters" && $0.1.contains("steps=3 sampler=ddim") && $0.1.contains("seed=0") })
        #expect(try PNG.decode(grid, path: "grid").width == 2 * (8 + 2) + 2)  // 2x2 grid of 8x8 images, 2-pixel gaps
        // A bad cadence is refused before any step.
        var bad = TrainingCadence()
        bad.saveEvery = 0
        #expect(throws: DiffusionError.self) { try t.train(until: 9, folder: folder, cadence: bad) }
        #expect(t.step == 5)
    }

    /// The data pipeline hands out exactly the batches drawn in place: the prefetched next one, and
    /// one asked for out of order (after which it prefetches from there).
    @Test func pipelineGivesTheBatchesDrawnInPlace() throws {
        let t = try trainer()
        let inPlace = try t.pipeline.source.batch(stream: 3), later = try t.pipeline.source.batch(stream: 8)
        let first = try t.pipeline.take(2), prefetched = try t.pipeline.take(3), outOfOrder = try t.pipeline.take(8)
        #expect(prefetched.xt.scalars == inPlace.xt.scalars && prefetched.target.scalars == inPlace.target.scalars
                && prefetched.timesteps == inPlace.timesteps)
        #expect(outOfOrder.xt.scalars == later.xt.scalars && outOfOrder.timesteps == later.timesteps)
        #expect(first.xt.scalars != prefetched.xt.scalars, "different streams must draw different batches")
    }
}

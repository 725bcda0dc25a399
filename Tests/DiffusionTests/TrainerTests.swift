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
        let model = NativeModel(graph: try UNet2DBuilder.initialized(Self.config, seed: seed, cpu: cpu), schedule: ScheduleConfig(), imageShape: [1, 8, 8])
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

// Image-to-image (SDEdit) and inpainting through the BatchStepper: the timestep cut follows
// diffusers' img2img arithmetic, the start is the init image noised with the sample's own x_T
// noise, strength 1 and an all-1 mask reduce to plain generation bit for bit, the kept region
// decodes to the init image's bytes exactly, samples keep their bits alone or batched, and bad
// requests are refused by name. Models: tiny random U-Nets (the images are noise; the bits are
// what is checked) and the committed class-conditional ONNX U-Net.

import Foundation
import Imaging
import Testing
@testable import Diffusion
import ModelIO
import Tensors
import TestSupport

private let classModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../GraphTests/Fixtures/onnx/diffusers_class_cond/diffusers_class_cond.ts.onnx").standardizedFileURL.path

@Suite struct ImageToImageTests {
    /// A random-weight 8×8 U-Net with `channels` channels.
    static func tinyModel(channels: Int = 1) throws -> DiffusionModel {
        var c = UNet2DConfig()
        c.sampleSize = 8; c.inChannels = channels; c.outChannels = channels; c.blockOutChannels = [8, 16]; c.layersPerBlock = 1
        c.normNumGroups = 4; c.downBlockTypes = ["DownBlock2D", "DownBlock2D"]; c.upBlockTypes = ["UpBlock2D", "UpBlock2D"]; c.addAttention = false
        return DiffusionModel(graph: try UNet2DBuilder.initialized(c, seed: 1, cpu: CPU(threads: 1)), schedule: ScheduleConfig(),
                              imageShape: [channels, 8, 8])
    }

    /// A random 8-bit image of `shape` `[C, H, W]` and its model-space tensor.
    static func initImage(_ shape: [Int], seed: UInt64) throws -> (Image8, Tensor) {
        var rng = TestRNG(seed: seed)
        let image = Image8(width: shape[2], height: shape[1], channels: shape[0], pixels: (0..<shape.reduce(1, *)).map { _ in UInt8(rng.below(256)) })
        return (image, try ImageConversion.tensor(from: image, shape: shape, resize: false))
    }

    static func options(steps: Int = 6, kind: SamplerKind = .ddim, count: Int = 1, batch: Int = 16) -> GenerationOptions {
        var o = GenerationOptions(count: count, seed: 7, sampler: SamplerOptions(for: ScheduleConfig(), steps: steps))
        o.sampler.kind = kind
        o.batchSize = batch
        return o
    }

    /// diffusers' StableDiffusionImg2ImgPipeline.get_timesteps: init_timestep = min(int(steps ·
    /// strength), steps), t_start = max(steps − init_timestep, 0), timesteps[t_start:]. The first
    /// timesteps are worked out by hand from DDIMScheduler's leading spacing (T // steps · i).
    @Test(arguments: [(50, 0.6, 580, 30), (50, 0.75, 720, 37), (10, 0.3, 200, 3), (7, 0.5, 284, 3), (20, 1.0, 950, 20), (4, 0.25, 0, 1)])
    func timestepCutFollowsDiffusers(_ steps: Int, _ strength: Double, _ first: Int, _ kept: Int) {
        let schedule = NoiseSchedule(ScheduleConfig())
        let options = SamplerOptions(for: ScheduleConfig(), steps: steps)
        let full = Sampler(options, schedule: schedule), cut = Sampler(options, schedule: schedule, strength: strength)
        let initTimestep = min(Int(Double(steps) * strength), steps), tStart = max(steps - initTimestep, 0)
        #expect(cut.timesteps == Array(full.timesteps[tStart...]) && cut.plan.previous == Array(full.plan.previous[tStart...]))
        #expect(cut.timesteps.first == first && cut.timesteps.count == kept, "\(cut.timesteps)")
        #expect(Sampler.keptSteps(steps: steps, strength: strength) == kept)
    }

    /// DDPM over all T steps and DPM-Solver++ (its σ table cut with its timesteps).
    @Test func everySamplerIsCut() {
        let schedule = NoiseSchedule(ScheduleConfig())
        var options = SamplerOptions(for: ScheduleConfig(), steps: 1000)
        #expect(Sampler(options, schedule: schedule, strength: 0.25).timesteps == Array((0..<250).reversed()))
        options = SamplerOptions(for: ScheduleConfig(), steps: 10)
        options.kind = .dpmSolverPlusPlus
        let full = Sampler(options, schedule: schedule), cut = Sampler(options, schedule: schedule, strength: 0.5)
        #expect(cut.timesteps == Array(full.timesteps.suffix(5)) && cut.sigmas == Array(full.sigmas.suffix(6)))
    }

    /// x_start = √ᾱ_t0·x0 + √(1−ᾱ_t0)·ε (diffusers' add_noise in float32), ε the sample's plain x_T.
    @Test func startIsTheInitImageNoisedWithTheSamplesOwnNoise() throws {
        let stepper = try BatchStepper(model: Self.tinyModel(), cpu: CPU(threads: 1))
        var o = Self.options(steps: 50, count: 3)
        let plain = try stepper.jobs(o, samples: 0..<3)
        let (_, x0) = try Self.initImage([1, 8, 8], seed: 1)
        (o.initImage, o.strength) = (x0, 0.6)
        let jobs = try stepper.jobs(o, samples: 0..<3)
        let a = Float(stepper.schedule.alphasCumprod[580])
        for k in 0..<3 {
            #expect(jobs[k].timestep == 580 && jobs[k].stepCount == 30)
            let expected = (0..<64).map { a.squareRoot() * x0.scalars[$0] + (1 - a).squareRoot() * plain[k].x.scalars[$0] }
            #expect(jobs[k].x.scalars == expected, "sample \(k)")
        }
    }

    /// Strength 1 starts from pure noise: with an init image (and with an all-1 mask) it is plain
    /// generation bit for bit; an all-1 mask at strength 0.5 is SDEdit at 0.5.
    @Test(arguments: [SamplerKind.ddim, .ddpm, .dpmSolverPlusPlus])
    func strengthOneAndAllOnesMaskAreExact(_ kind: SamplerKind) throws {
        let generator = try ImageGenerator(model: Self.tinyModel(), cpu: CPU(threads: 2))
        var o = Self.options(kind: kind, count: 2)
        let plain = try generator.generate(o)
        (o.initImage, o.strength) = (try Self.initImage([1, 8, 8], seed: 2).1, 1)
        #expect(try generator.generate(o).scalars == plain.scalars)
        o.mask = Tensor(shape: [1, 8, 8], repeating: 1)
        #expect(try generator.generate(o).scalars == plain.scalars)
        o.strength = 0.5
        let inpainted = try generator.generate(o)
        o.mask = nil
        let sdedit = try generator.generate(o)
        #expect(inpainted.scalars == sdedit.scalars && sdedit.scalars != plain.scalars)
    }

    /// The mask's 0 pixels decode to the init image's bytes exactly (the last step writes x0);
    /// an all-0 mask gives the init image back. RGB model, per-channel and broadcast masks, jumps.
    @Test(arguments: [(0, SamplerKind.ddim, 1.0), (2, .ddpm, 1.0), (1, .ddim, 0.7), (0, .dpmSolverPlusPlus, 1.0)])
    func keptPixelsEqualTheInitImage(_ jumps: Int, _ kind: SamplerKind, _ strength: Double) throws {
        let generator = try ImageGenerator(model: Self.tinyModel(channels: 3), cpu: CPU(threads: 2))
        let (image, x0) = try Self.initImage([3, 8, 8], seed: 3)
        var o = Self.options(kind: kind, count: 2)
        (o.initImage, o.strength, o.jumps) = (x0, strength, jumps)
        o.mask = Tensor(zeros: [1, 8, 8])
        let all = try generator.generate(o)
        for k in 0..<2 { #expect(try SampleImages.image(all, index: k) == image, "sample \(k)") }
        // Left half kept (0), right half regenerated (1).
        o.mask = Tensor(shape: [1, 8, 8], scalars: (0..<64).map { $0 % 8 < 4 ? 0 : 1 })
        let half = try generator.generate(o)
        for k in 0..<2 {
            let out = try SampleImages.image(half, index: k)
            let left = (0..<192).filter { ($0 / 3) % 8 < 4 }, right = (0..<192).filter { ($0 / 3) % 8 >= 4 }
            #expect(left.allSatisfy { out.pixels[$0] == image.pixels[$0] }, "sample \(k)")
            #expect(right.contains { out.pixels[$0] != image.pixels[$0] }, "sample \(k): the masked half was not regenerated")
        }
        // A [C, H, W] mask keeping only channel 0.
        o.mask = Tensor(shape: [3, 8, 8], scalars: (0..<192).map { $0 < 64 ? 0 : 1 })
        let channel = try SampleImages.image(try generator.generate(o), index: 0)
        #expect((0..<64).allSatisfy { channel.pixels[3 * $0] == image.pixels[3 * $0] })
    }

    /// RePaint: every step but the last runs jumps + 1 times; the count is what generate steps.
    @Test func jumpsRepeatEveryStepButTheLast() throws {
        let stepper = try BatchStepper(model: Self.tinyModel(), cpu: CPU(threads: 1))
        var o = Self.options(steps: 6)
        (o.initImage, o.mask, o.jumps) = (try Self.initImage([1, 8, 8], seed: 4).1, Tensor(shape: [1, 8, 8], repeating: 0.5), 2)
        let job = try stepper.jobs(o, samples: 0..<1)[0]
        var visited: [Int] = []
        while !job.isDone { visited.append(job.timestep); try stepper.step([job]) }
        #expect(job.evaluationCount == 16 && job.evaluations == 16)
        #expect(visited == [830, 830, 830, 664, 664, 664, 498, 498, 498, 332, 332, 332, 166, 166, 166, 0], "\(visited)")
    }

    /// A sample's bits do not depend on its batch: generate chunks, and the server's mixing of
    /// jobs from different requests at different timesteps (SDEdit next to inpainting next to plain).
    @Test func samplesAreBatchInvariant() throws {
        let model = try Self.tinyModel()
        let generator = try ImageGenerator(model: model, cpu: CPU(threads: 2))
        let images = Tensor(shape: [3, 1, 8, 8], scalars: try (0..<3).flatMap { try Self.initImage([1, 8, 8], seed: UInt64(10 + $0)).1.scalars })
        var o = Self.options(kind: .ddpm, count: 3, batch: 3)
        (o.initImage, o.strength, o.mask, o.jumps) = (images, 0.8, Tensor(shape: [1, 8, 8], scalars: (0..<64).map { Float($0 % 3) / 2 }), 1)
        let together = try generator.generate(o)
        o.batchSize = 1
        #expect(try generator.generate(o).scalars == together.scalars)
        // Per-sample images: sample 1 with image 1 equals a one-sample request of image 1 at stream 1.
        var single = o
        single.initImage = Tensor(shape: [1, 8, 8], scalars: Array(images.scalars[64..<128]))
        let stepper = generator.stepper
        let alone = try stepper.jobs(single, samples: 1..<2)[0]
        while !alone.isDone { try stepper.step([alone]) }
        #expect(alone.x.scalars == Array(together.scalars[64..<128]))
        // Server-style: three requests' jobs in one batch, each at its own timestep.
        var sdedit = Self.options(kind: .ddpm, count: 1)
        (sdedit.initImage, sdedit.strength) = (Tensor(shape: [1, 8, 8], scalars: Array(images.scalars[0..<64])), 0.5)
        let plain = Self.options(kind: .ddpm, count: 1)
        func run(_ requests: [GenerationOptions], batched: Bool) throws -> [[Float]] {
            let jobs = try requests.map { try stepper.jobs($0, samples: 0..<1)[0] }
            if batched {
                while jobs.contains(where: { !$0.isDone }) { try stepper.step(jobs.filter { !$0.isDone }, paddedTo: 4) }
            } else {
                for job in jobs { while !job.isDone { try stepper.step([job]) } }
            }
            return jobs.map(\.x.scalars)
        }
        #expect(try run([sdedit, single, plain], batched: true) == run([sdedit, single, plain], batched: false))
    }

    /// Class-conditional models inpaint like unconditional ones.
    @Test func classConditionalInpainting() throws {
        let model = try ModelLoader.open(classModel)
        let generator = try ImageGenerator(model: model, cpu: CPU(threads: 2))
        let (image, x0) = try Self.initImage(model.imageShape, seed: 5)
        var o = Self.options(count: 2)
        (o.initImage, o.mask, o.classLabels) = (x0, Tensor(zeros: Shape([1] + Array(model.imageShape.dropFirst()))), [1, 2])
        let out = try generator.generate(o)
        #expect(try SampleImages.image(out, index: 1) == image)
        o.mask = nil; o.strength = 0.5
        let a = try generator.generate(o)
        o.classLabels = [1, 3]
        let b = try generator.generate(o)
        let n = x0.count
        #expect(Array(a.scalars[0..<n]) == Array(b.scalars[0..<n]) && Array(a.scalars[n...]) != Array(b.scalars[n...]))
    }

    @Test func badRequestsAreRefusedByName() throws {
        let stepper = try BatchStepper(model: Self.tinyModel(), cpu: CPU(threads: 1))
        let x0 = try Self.initImage([1, 8, 8], seed: 6).1
        func refusal(_ change: (inout GenerationOptions) -> Void) -> String {
            var o = Self.options(count: 2)
            change(&o)
            do { _ = try stepper.jobs(o, samples: 0..<2); return "accepted" } catch { return "\(error)" }
        }
        #expect(refusal { $0.initImage = Tensor(zeros: [3, 8, 8]) }.contains("expected [C, H, W] = [1, 8, 8] (one for every sample) or [N, C, H, W] = [2, 1, 8, 8]"))
        #expect(refusal { $0.initImage = Tensor(zeros: [1, 16, 16]) }.contains("the init image has shape [1, 16, 16]"))
        #expect(refusal { $0.initImage = x0; $0.mask = Tensor(zeros: [1, 4, 8]) }.contains("expected [1, H, W] = [1, 8, 8] or [C, H, W] = [1, 8, 8]"))
        #expect(refusal { $0.initImage = x0; $0.mask = Tensor(shape: [1, 8, 8], repeating: 2) }.contains("values must be in [0, 1]"))
        for bad in [0, -0.5, 1.5, .nan] { #expect(refusal { $0.initImage = x0; $0.strength = bad }.contains("strength must be in (0, 1]")) }
        #expect(refusal { $0.mask = Tensor(zeros: [1, 8, 8]) }.contains("a mask needs an init image"))
        #expect(refusal { $0.strength = 0.5 }.contains("needs an init image"))
        #expect(refusal { $0.initImage = x0; $0.strength = 0.1 }.contains("strength 0.1 with 6 steps leaves no denoising step"))
        #expect(refusal { $0.initImage = x0; $0.jumps = 1 }.contains("jumps (RePaint resampling) need a mask"))
        #expect(refusal { $0.initImage = x0; $0.mask = Tensor(zeros: [1, 8, 8]); $0.jumps = 1; $0.sampler.kind = .dpmSolverPlusPlus }.contains("not dpm-solver++"))
        #expect(refusal { $0.initImage = Tensor(shape: [1, 8, 8], repeating: .infinity) }.contains("must be finite"))
    }

    /// 8-bit → model space → 8-bit gives the same bytes for every value; sizes are checked or resized.
    @Test func conversionRoundTripsAndChecksShapes() throws {
        for c in [1, 3] {
            let image = Image8(width: 16, height: 16, channels: c, pixels: (0..<(256 * c)).map { UInt8($0 % 256) })
            let x = try ImageConversion.tensor(from: image, shape: [c, 16, 16], resize: false)
            #expect(try SampleImages.image(x.reshaped([1, c, 16, 16]), index: 0) == image)
        }
        let rgb = Image8(width: 12, height: 10, channels: 3, pixels: [UInt8](repeating: 200, count: 360))
        #expect { try ImageConversion.tensor(from: rgb, shape: [1, 8, 8], resize: false) } throws: {
            "\($0)".contains("[C, H, W] = [3, 10, 12]") && "\($0)".contains("the model takes [C, H, W] = [1, 8, 8]")
        }
        let resized = try ImageConversion.tensor(from: rgb, shape: [1, 8, 8], resize: true)
        #expect(resized.shape == [1, 8, 8] && resized.scalars.allSatisfy { $0 == Float(200) / 255 * 2 - 1 })
        let maskImage = Image8(width: 2, height: 1, channels: 3, pixels: [255, 255, 255, 0, 0, 0])
        #expect(try ImageConversion.mask(from: maskImage, height: 1, width: 2, resize: false).scalars == [1, 0])
        #expect { try ImageConversion.mask(from: maskImage, height: 8, width: 8, resize: false) } throws: { "\($0)".contains("[1, H, W] = [1, 8, 8]") }
        #expect(try ImageConversion.mask(from: maskImage, height: 4, width: 8, resize: true).shape == [1, 4, 8])
    }

    /// The PNG parameters add strength/inpaint/jumps only for requests with an init image.
    @Test func recordsSayWhatWasDone() throws {
        let stepper = try BatchStepper(model: Self.tinyModel(), cpu: CPU(threads: 1))
        var o = Self.options(count: 1)
        let plain = GenerationRecord(model: "m", request: o, jobs: try stepper.jobs(o, samples: 0..<1))
        #expect(plain.parameters(sample: 0) == GenerationRecord(model: "m", seed: 7, sampler: o.sampler).parameters(sample: 0))
        (o.initImage, o.strength) = (try Self.initImage([1, 8, 8], seed: 8).1, 0.5)
        #expect(GenerationRecord(model: "m", request: o, jobs: []).parameters(sample: 0).hasSuffix(" strength=0.5"))
        (o.mask, o.jumps) = (Tensor(zeros: [1, 8, 8]), 2)
        #expect(GenerationRecord(model: "m", request: o, jobs: []).parameters(sample: nil).hasSuffix(" strength=0.5 inpaint=1 jumps=2"))
    }
}

// ImageGenerator: `denoise generate`'s loop. Samples go in chunks of `batchSize`, each chunk moving
// in lockstep through the BatchStepper; sample k of a request is Philox stream k under the
// request's seed, so its bits do not depend on the chunk it lands in or the thread count.

import Foundation
import Graphs
import ModelIO
import Tensors

/// What to generate: one request, from the CLI or the server.
public struct GenerationOptions: Sendable {
    /// Number of samples.
    public var count = 16
    public var seed: UInt64 = 0
    /// Samples per forward.
    public var batchSize = 16
    public var sampler = SamplerOptions()
    /// Starting noise x_T `[count, C, H, W]` instead of Philox noise.
    public var initialNoise: Tensor?
    /// Class labels of a class-conditional model: one for every sample, or one per sample; nil
    /// generates unconditionally with the model's null label when it has one, else draws a class
    /// per sample from the seed.
    public var classLabels: [Int]?
    /// Classifier-free guidance scale s (needs `classLabels` and a model with a null label): each
    /// step runs the model with the class and with the null label, ε = ε_null + s·(ε_class − ε_null).
    public var guidanceScale: Double?
    /// Image-to-image / inpainting: the init image in model space ([-1, 1], see
    /// ``ImageConversion``), `[C, H, W]` for every sample or `[count, C, H, W]` one per sample.
    public var initImage: Tensor?
    /// How much of the init image is regenerated, in (0, 1]: the sampler runs the last
    /// int(steps · strength) of its steps, starting from the init image noised to the first of
    /// them (diffusers' img2img). 1 starts from pure noise (as plain generation, or diffusers'
    /// inpainting at strength 1). Below 1 needs `initImage`.
    public var strength = 1.0
    /// Inpainting: `[1, H, W]` or `[C, H, W]` in [0, 1], 1 = regenerate, 0 = keep the init
    /// image (exactly, in the final sample); fractional values mix. Needs `initImage`.
    public var mask: Tensor?
    /// RePaint resampling (inpainting only; ddpm or ddim): after every step but the last, the
    /// sample is noised back to the step's timestep and the step redone, `jumps` times (RePaint's
    /// Algorithm 1 with U = jumps + 1, i.e. jump length 1). 0: none.
    public var jumps = 0

    public init() {}

    /// The strength an init image gets when the request names none, as diffusers' pipelines
    /// default: 0.8 for image-to-image, 1 for inpainting.
    public static func defaultStrength(inpainting: Bool) -> Double { inpainting ? 1 : 0.8 }

    public init(count: Int, seed: UInt64, sampler: SamplerOptions) {
        (self.count, self.seed, self.sampler) = (count, seed, sampler)
    }

    /// The samples of shard `index` (0-based) of `shards` over `count` samples: a contiguous
    /// range, the shards in order covering 0..<count exactly once (sizes differing by at most one;
    /// empty when there are more shards than samples). A sample's bits depend only on the
    /// request and its index, so shards generated apart equal the same samples of one run.
    public static func shard(_ index: Int, of shards: Int, count: Int) -> Range<Int> {
        precondition(shards >= 1 && (0..<shards).contains(index) && count >= 0, "shard \(index) of \(shards)")
        return count * index / shards..<count * (index + 1) / shards
    }
}

/// Generates images from a diffusion model.
public final class ImageGenerator {
    public let stepper: BatchStepper
    public var model: DiffusionModel { stepper.model }
    public var schedule: NoiseSchedule { stepper.schedule }
    public var cpu: CPU { stepper.cpu }

    public init(model: DiffusionModel, cpu: CPU) throws {
        stepper = try BatchStepper(model: model, cpu: cpu)
    }

    /// See ``BatchStepper/defaultSamplerOptions(steps:)``.
    public func defaultSamplerOptions(steps: Int) -> SamplerOptions { stepper.defaultSamplerOptions(steps: steps) }

    /// Generates samples `samples` (default: all `options.count`) of the request, `[samples.count,
    /// C, H, W]` in the model's space (nominally [-1, 1]); sample k is the same whichever range
    /// asks for it. `progress(stepsDone, stepsTotal)` is called after every step of every chunk.
    public func generate(_ options: GenerationOptions, samples: Range<Int>? = nil, progress: (Int, Int) -> Void = { _, _ in }) throws -> Tensor {
        guard options.count >= 1, options.batchSize >= 1 else { throw DiffusionError("count and batch size must be at least 1") }
        let samples = samples ?? 0..<options.count
        guard samples.lowerBound >= 0, samples.upperBound <= options.count else {
            throw DiffusionError("samples \(samples) are not within the request's \(options.count)")
        }
        let result = Tensor(uninitialized: Shape([samples.count] + model.imageShape))
        let count = model.imageShape.reduce(1, *)
        let chunks = stride(from: samples.lowerBound, to: samples.upperBound, by: options.batchSize).map {
            $0..<min(samples.upperBound, $0 + options.batchSize)
        }
        var done = 0
        for chunk in chunks {
            let jobs = try stepper.jobs(options, samples: chunk)
            let steps = jobs[0].evaluationCount
            while !jobs[0].isDone {
                try stepper.step(jobs)
                done += 1
                progress(done, steps * chunks.count)
            }
            for (j, job) in jobs.enumerated() {
                (result.pointer + (chunk.lowerBound - samples.lowerBound + j) * count).update(from: job.x.pointer, count: count)
            }
        }
        return result
    }
}

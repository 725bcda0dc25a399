// ImageGenerator: sampling loops over a compiled model. For each chunk of `batchSize` samples it
// runs the inference plan once per step and advances every sample with the sampler. Randomness is
// per sample: sample k of a request draws x_T and each step's noise from Philox stream k under the
// request's seed (x_T at element offset 0, step i's noise at (i+1)·count), so a sample's noise does
// not depend on the chunk it lands in or the thread count. Plans are compiled once per batch size
// and kept. Not the server's step-level scheduler (samples here move in lockstep per chunk).

import Foundation
import Graphs
import ModelIO
import Tensors

/// What to generate.
public struct GenerationOptions: Sendable {
    /// Number of samples.
    public var count = 16
    public var seed: UInt64 = 0
    /// Samples per forward.
    public var batchSize = 16
    public var sampler = SamplerOptions()
    /// Starting noise x_T `[count, C, H, W]` instead of Philox noise.
    public var initialNoise: Tensor?

    public init() {}
}

/// Generates images from a diffusion model.
public final class ImageGenerator {
    public let model: NativeModel
    public let schedule: NoiseSchedule
    public let cpu: CPU
    let image: ValueID, time: ValueID?
    private var plans: [Int: InferencePlan] = [:]

    public init(model: NativeModel, cpu: CPU) throws {
        self.model = model
        self.cpu = cpu
        let config = model.schedule
        guard let kind = BetaSchedule(rawValue: config.betaSchedule) else {
            throw GraphError.invalid("beta schedule '\(config.betaSchedule)' is not one of \(BetaSchedule.allCases.map(\.rawValue))")
        }
        schedule = NoiseSchedule(kind, timesteps: config.numTrainTimesteps, betaStart: config.betaStart, betaEnd: config.betaEnd)
        (image, time) = try ModelLoader.imageAndTimeInputs(model.graph)
    }

    /// Sampler options for `steps` steps with the model's prediction type and clipping, and the
    /// default sampler: DDPM when `steps` equals the training timesteps, DDIM otherwise.
    public func defaultSamplerOptions(steps: Int) -> SamplerOptions {
        var o = SamplerOptions()
        o.kind = steps == schedule.trainingTimesteps ? .ddpm : .ddim
        o.steps = steps
        o.prediction = PredictionType(rawValue: model.schedule.predictionType) ?? .epsilon
        o.clipSample = model.schedule.clipSample
        o.clipRange = model.schedule.clipSampleRange
        return o
    }

    /// x_T of samples `samples` into `x` `[samples.count, C, H, W]`: sample k is Philox stream k
    /// from element 0, whatever chunk it is generated in.
    public func startingNoise(into x: Tensor, samples: Range<Int>, seed: UInt64) throws {
        for (j, k) in samples.enumerated() { try cpu.fillNormal(x.rows(j..<(j + 1)), seed: seed, stream: UInt64(k)) }
    }

    func plan(batch: Int) throws -> InferencePlan {
        if let p = plans[batch] { return p }
        var shapes = try ModelLoader.inputShapes(model.graph, batch: batch)
        shapes[image] = Shape([batch] + model.imageShape)
        let p = try InferencePlan(model.graph, inputShapes: shapes, cpu: cpu,
                                  options: PlanOptions(timeTable: schedule.trainingTimesteps))
        plans[batch] = p
        return p
    }

    /// Generates `options.count` samples `[N, C, H, W]` in the model's space (nominally [-1, 1]).
    /// `progress(stepsDone, stepsTotal)` is called after every step of every chunk.
    public func generate(_ options: GenerationOptions, progress: (Int, Int) -> Void = { _, _ in }) throws -> Tensor {
        let sampler = Sampler(options.sampler, schedule: schedule)
        let shape = Shape([options.count] + model.imageShape)
        guard options.count >= 1, options.batchSize >= 1 else { throw GraphError.badInput("count and batch size must be at least 1") }
        if let noise = options.initialNoise, noise.shape != shape {
            throw GraphError.badInput("initial noise has shape \(noise.shape); expected \(shape)")
        }
        let result = Tensor(uninitialized: shape)
        let count = model.imageShape.reduce(1, *), steps = sampler.timesteps.count
        let chunks = stride(from: 0, to: options.count, by: options.batchSize).map { $0..<min(options.count, $0 + options.batchSize) }
        var done = 0
        for chunk in chunks {
            let b = chunk.count, plan = try plan(batch: b)
            let x = result.rows(chunk)
            if let noise = options.initialNoise { x.assign(noise.rows(chunk)) }
            else { try startingNoise(into: x, samples: chunk, seed: options.seed) }
            let noise = Tensor(uninitialized: x.shape), predicted = Tensor(uninitialized: x.shape)
            var histories = [SamplerHistory](repeating: SamplerHistory(), count: b)
            let timeShape = time.flatMap { plan.compiled.shapes[$0] } ?? [b]
            for i in 0..<steps {
                var inputs: [ValueID: Value] = [image: .float(x)]
                if let time {
                    let t = sampler.timesteps[i]
                    inputs[time] = model.graph[time].type == .int64
                        ? .int(IntTensor(shape: timeShape, values: Array(repeating: Int64(t), count: timeShape.elementCount)))
                        : .float(Tensor(shape: timeShape, repeating: Float(t)))
                }
                guard case .float(let output) = try plan.run(inputs)[0], output.count == x.count else {
                    throw GraphError.invalid("the model's output does not have the image's shape \(x.shape)")
                }
                if sampler.addsNoise {
                    for (j, k) in chunk.enumerated() {
                        try cpu.fillNormal(noise.rows(j..<(j + 1)), seed: options.seed, stream: UInt64(k), offset: UInt64((i + 1) * count))
                    }
                }
                for j in 0..<b {
                    sampler.step(i, modelOutput: output.pointer + j * count, sample: x.pointer + j * count,
                                 noise: sampler.addsNoise ? UnsafePointer(noise.pointer + j * count) : nil,
                                 predictedX0: predicted.pointer + j * count, count: count, history: &histories[j])
                }
                done += 1
                progress(done, steps * chunks.count)
            }
        }
        return result
    }
}

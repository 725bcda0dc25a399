// BatchStepper: advances any set of samples by one denoising step in one U-Net forward, each at
// its own timestep, with its own sampler and its own noise. The one sampling mechanism behind
// `denoise generate` (chunks moving in lockstep) and the server (requests joining and leaving
// the batch at every step). A sample's result depends only on its own settings: noise comes from
// Philox stream `stream` under `seed` (x_T at element offset 0, step i's noise at (i+1)·count),
// and the compiled plan's outputs do not depend on the batch (see Tensors' GEMM), so a sample
// gives the same bits alone, in any batch, at any position, on any thread count. Image-to-image
// and inpainting (an init image, strength, mask) are per-sample state too (ImageToImage.swift).
// Classifier-free guidance (a model with a null label) is per sample as well: a guided sample's
// null-label copy runs as an extra row of the same forward, ε = ε_null + s·(ε_class − ε_null)
// before the sampler step, so a guided sample too gives the same bits alone or in any batch.

import Foundation
import Graphs
import ModelIO
import Tensors

/// One sample being denoised and its state between steps.
public final class SampleJob: @unchecked Sendable {
    public let sampler: Sampler
    public let seed: UInt64
    /// The Philox stream of this sample's noise (its index within its request).
    public let stream: UInt64
    /// The class this sample is conditioned on (class-conditional models only; the model's null
    /// label for an unconditional sample of a model that has one).
    public let classLabel: Int?
    /// Classifier-free guidance: the scale s and the null label of the unconditional forward.
    public let guidance: (scale: Float, nullLabel: Int)?
    /// The current sample x_t, `[C, H, W]`; x_0 once `isDone`.
    public let x: Tensor
    /// Image-to-image / inpainting: the init image and mask (nil: plain generation).
    public let source: SourceImage?
    /// The index into the sampler's timesteps of the next step.
    public private(set) var step = 0
    /// Model evaluations so far (more than `step` when RePaint resamples).
    public private(set) var evaluations = 0
    /// Resamplings done at the current step.
    private var resamplings = 0
    var history = SamplerHistory()

    /// Starts from `initialNoise` (`[C, H, W]` elements) or from Philox noise of `seed`/`stream`
    /// (element 0 on); with a `source` that starts from its image (strength < 1), from the image
    /// noised with that noise to the first timestep.
    public init(sampler: Sampler, imageShape: [Int], seed: UInt64, stream: UInt64, classLabel: Int? = nil,
                guidance: (scale: Float, nullLabel: Int)? = nil,
                initialNoise: UnsafePointer<Float>? = nil, source: SourceImage? = nil, cpu: CPU) throws {
        self.sampler = sampler
        self.seed = seed
        self.stream = stream
        self.classLabel = classLabel
        self.guidance = guidance
        self.source = source
        x = Tensor(uninitialized: Shape([1] + imageShape))
        if let initialNoise { x.pointer.update(from: initialNoise, count: x.count) }
        else { try cpu.fillNormal(x, seed: seed, stream: stream) }
        if let source, source.startsFromImage {
            precondition(source.x0.count == x.count, "SampleJob: init image of \(source.x0.count) values for \(x.count)")
            SourceImage.noised(source.x0, alphaBar: sampler.schedule.alphasCumprod[sampler.timesteps[0]], noise: x.pointer, into: x.pointer)
        }
    }

    /// Steps of the sampler's plan (fewer than its `steps` for image-to-image).
    public var stepCount: Int { sampler.timesteps.count }
    /// Model evaluations the whole sample takes: every step but the last is redone `jumps` times
    /// when inpainting with RePaint resampling.
    public var evaluationCount: Int { stepCount + (source.map { $0.mask != nil ? (stepCount - 1) * $0.jumps : 0 } ?? 0) }
    public var isDone: Bool { step >= stepCount }
    /// The timestep the next step denoises.
    public var timestep: Int { sampler.timesteps[step] }

    func advance(modelOutput: UnsafePointer<Float>, noise: Tensor, predicted: Tensor, cpu: CPU) throws {
        let count = x.count, e = UInt64(evaluations)
        if sampler.addsNoise { try cpu.fillNormal(noise, seed: seed, stream: stream, offset: (e + 1) * UInt64(count)) }
        sampler.step(step, modelOutput: modelOutput, sample: x.pointer, noise: sampler.addsNoise ? UnsafePointer(noise.pointer) : nil,
                     predictedX0: predicted.pointer, count: count, history: &history)
        evaluations += 1
        if let source, source.mask != nil {
            let previous = sampler.plan.previous[step], last = step + 1 == stepCount
            if !last {
                try cpu.fillNormal(noise, seed: seed, stream: stream, offset: SourceImage.knownNoiseOffset + e * UInt64(count))
            }
            source.merge(into: x.pointer, alphaBar: last || previous < 0 ? 1 : sampler.alphaBar(previous), noise: noise.pointer,
                         exact: last || previous < 0)
            if !last, resamplings < source.jumps {
                try cpu.fillNormal(noise, seed: seed, stream: stream, offset: SourceImage.renoiseOffset + e * UInt64(count))
                SourceImage.renoise(x.pointer, count: count, from: sampler.alphaBar(previous), to: sampler.alphaBar(timestep), noise: noise.pointer)
                resamplings += 1
                return
            }
        }
        resamplings = 0
        step += 1
    }
}

/// Runs one forward over a batch of jobs and steps each; plans are compiled per batch size and kept.
public final class BatchStepper: @unchecked Sendable {
    public let model: DiffusionModel
    public let schedule: NoiseSchedule
    public let cpu: CPU
    let image: ValueID, time: ValueID?, classLabels: ValueID?
    private var plans: [Int: InferencePlan] = [:]
    /// Per-sample scratch of `step`: the step's noise, the sampler's x0 prediction and a guided
    /// sample's combined model output.
    private let noise: Tensor, predicted: Tensor, guided: Tensor

    public init(model: DiffusionModel, cpu: CPU) throws {
        self.model = model
        self.cpu = cpu
        schedule = NoiseSchedule(model.schedule)
        let roles = try model.graph.diffusionInputRoles()
        (image, time, classLabels) = (roles.image, roles.time, roles.classLabels)
        if let labels = classLabels, let dims = model.graph[labels].dims, dims.count != 1 {
            throw DiffusionError("the model's class input '\(model.graph[labels].name)' takes \(dims.map(\.description)) "
                                 + "(class embeddings, e.g. diffusers' class_embed_type \"identity\"), not one class label per sample: generation cannot feed it")
        }
        noise = Tensor(uninitialized: Shape([1] + model.imageShape))
        predicted = Tensor(uninitialized: noise.shape)
        guided = Tensor(uninitialized: noise.shape)
    }

    /// Sampler options for `steps` steps with the model's prediction type and clipping, and the
    /// default sampler: DDPM when `steps` equals the training timesteps, DDIM otherwise.
    public func defaultSamplerOptions(steps: Int) -> SamplerOptions { SamplerOptions(for: model.schedule, steps: steps) }

    /// The jobs of samples `samples` of `request` (indices into its `count`): the one place a
    /// request becomes sample jobs, for `denoise generate` and the server alike. Sample k starts
    /// from row k of the request's initial noise, else from Philox stream k under its seed; with
    /// an init image and strength < 1, from the image noised with that noise at the first of the
    /// sampler's last int(steps·strength) timesteps (SDEdit); with a mask, every step keeps the
    /// mask's 0 region from the init image (inpainting, see ImageToImage.swift).
    public func jobs(_ request: GenerationOptions, samples: Range<Int>) throws -> [SampleJob] {
        let t = schedule.trainingTimesteps
        guard request.count >= 1 else { throw DiffusionError("the number of samples must be at least 1, got \(request.count)") }
        guard samples.lowerBound >= 0, samples.upperBound <= request.count else {
            throw DiffusionError("samples \(samples) are not within the request's \(request.count)")
        }
        guard request.sampler.steps >= 1, request.sampler.steps <= t else {
            throw DiffusionError("steps must be 1…\(t) (the model's training timesteps), got \(request.sampler.steps)")
        }
        let shape = Shape([request.count] + model.imageShape), count = model.imageShape.reduce(1, *)
        if let noise = request.initialNoise, noise.shape != shape {
            throw DiffusionError("initial noise has shape \(noise.shape); expected \(shape)")
        }
        let labels = try classLabels(request, samples: samples)
        let guidance = try self.guidance(request)
        let sources = try sourceImages(request, samples: samples)
        let sampler = Sampler(request.sampler, schedule: schedule, strength: request.initImage == nil ? 1 : request.strength)
        return try zip(samples, zip(labels, sources)).map { k, setting in
            try withExtendedLifetime(request.initialNoise) {
                try SampleJob(sampler: sampler, imageShape: model.imageShape, seed: request.seed, stream: UInt64(k), classLabel: setting.0,
                              guidance: guidance,
                              initialNoise: request.initialNoise.map { UnsafePointer($0.pointer + k * count) }, source: setting.1, cpu: cpu)
            }
        }
    }

    /// The class label of each of `samples`: the request's (one for all samples, or one per
    /// sample), or for a class-conditional model asked for none, its null label (unconditional
    /// generation) when it has one, else a class drawn per sample from Philox under the request's
    /// seed (stream k, a key apart from the noise's). Nil labels for an unconditional model; a
    /// label it cannot take is an error naming it and the accepted ones.
    public func classLabels(_ request: GenerationOptions, samples: Range<Int>) throws -> [Int?] {
        guard let classes = model.classes else {
            if request.classLabels != nil { throw DiffusionError("this model is not class-conditional: it takes no class") }
            return samples.map { _ in nil }
        }
        guard let given = request.classLabels else {
            if let null = classes.nullLabel { return samples.map { _ in null } }
            let count = classes.count ?? 1
            return try samples.map { k in
                let u = Tensor(uninitialized: [1])
                try cpu.fillUniform(u, seed: request.seed ^ 0xC1A5_5E5_0000, stream: UInt64(k))
                return min(Int(u.pointer[0] * Float(count)), count - 1)
            }
        }
        guard given.count == 1 || given.count == request.count else {
            throw DiffusionError("\(given.count) class labels for \(request.count) samples: give one for all, or one per sample")
        }
        for label in given where label < 0 || classes.count.map({ label >= $0 }) ?? false {
            throw DiffusionError("class \(label) is not a class of this model (\(classes.accepted))")
        }
        return samples.map { given.count == 1 ? given[0] : given[$0] }
    }

    /// The request's classifier-free guidance (nil without `guidanceScale`). Guidance needs a
    /// model with a null label and a class for every sample; errors name what is missing.
    public func guidance(_ request: GenerationOptions) throws -> (scale: Float, nullLabel: Int)? {
        guard let scale = request.guidanceScale else { return nil }
        guard scale.isFinite else { throw DiffusionError("the guidance scale must be a finite number, got \(scale)") }
        guard let classes = model.classes else {
            throw DiffusionError("guidance scale \(scale): this model is not class-conditional (classifier-free guidance needs classes and a null label)")
        }
        guard let null = classes.nullLabel else {
            throw DiffusionError("guidance scale \(scale): this model has no null label (classifier-free guidance needs a model trained with label dropout, "
                                 + "its classes' null_label set)")
        }
        guard request.classLabels != nil else {
            throw DiffusionError("guidance scale \(scale) needs a class to guide towards (\(classes.accepted)); without one the samples are unconditional")
        }
        return (Float(scale), null)
    }

    /// Rows one forward over `jobs` takes: one per job, plus one per guided job (its null-label copy).
    public static func rows(_ jobs: [SampleJob]) -> Int { jobs.count + jobs.lazy.filter { $0.guidance != nil }.count }

    /// The plan for `batch` samples per forward (compiled on first use).
    public func plan(batch: Int) throws -> InferencePlan {
        if let p = plans[batch] { return p }
        let p = try InferencePlan(model.graph, inputShapes: Self.inputShapes(of: model, batch: batch), cpu: cpu,
                                  options: Self.planOptions(for: model))
        plans[batch] = p
        return p
    }

    /// How generation and serving compile `model`: Winograd on, the time branch tabulated over
    /// the model's training timesteps. `denoise inspect` reports on the same options.
    public static func planOptions(for model: DiffusionModel) -> PlanOptions {
        PlanOptions(winograd: true, timeTable: model.schedule.numTrainTimesteps)
    }

    /// The input shapes generation and serving compile `model` for at `batch` samples per
    /// forward: the declared shapes with the batch set, the image input `[batch, C, H, W]`.
    public static func inputShapes(of model: DiffusionModel, batch: Int) throws -> [ValueID: Shape] {
        var shapes = try ModelLoader.inputShapes(model.graph, batch: batch)
        shapes[try model.graph.diffusionInputs().image] = Shape([batch] + model.imageShape)
        return shapes
    }

    /// Denoises every job (none done) by one step, in one forward of batch `max(rows(jobs),
    /// paddedTo)`: a row per job, then a null-label row per guided job, then padding rows that
    /// repeat the first job's sample and are discarded. Extra rows cannot change the real
    /// samples' bits (the plan is batch-invariant), so a server can run any number of samples on
    /// a few compiled batch sizes, and a guided sample gives the same bits alone or batched.
    public func step(_ jobs: [SampleJob], paddedTo size: Int = 0) throws {
        guard let first = jobs.first else { return }
        // Row r runs rowJobs[r]; its label is the job's own, or the null label for a guided copy.
        let copies = jobs.enumerated().compactMap { j, job in job.guidance.map { (job: j, nullLabel: $0.nullLabel) } }
        let real = jobs.count + copies.count, b = max(real, size)
        let rowJobs = jobs + copies.map { jobs[$0.job] } + Array(repeating: first, count: b - real)
        let plan = try plan(batch: b)
        let count = model.imageShape.reduce(1, *)
        let x = Tensor(uninitialized: Shape([b] + model.imageShape))
        for (j, job) in rowJobs.enumerated() {
            precondition(!job.isDone, "BatchStepper.step: job already done")
            (x.pointer + j * count).update(from: job.x.pointer, count: count)
        }
        var inputs: [ValueID: Value] = [image: .float(x)]
        if let time {
            let shape = plan.compiled.shapes[time] ?? [b]
            var steps = rowJobs.map(\.timestep)
            // A model with one timestep for the whole batch can only step samples in lockstep.
            if shape.elementCount == 1, Set(steps).count == 1 { steps = [steps[0]] }
            guard shape.elementCount == steps.count else {
                throw DiffusionError("the model's timestep input has shape \(shape); samples at different timesteps need one per sample [\(b)]")
            }
            inputs[time] = model.graph[time].type == .int64
                ? .int(IntTensor(shape: shape, values: steps.map(Int64.init)))
                : .float(Tensor(shape: shape, scalars: steps.map(Float.init)))
        }
        if let classLabels {
            let labels = try rowJobs.enumerated().map { j, job -> Int in
                if j >= jobs.count, j < real { return copies[j - jobs.count].nullLabel }
                guard let label = job.classLabel else {
                    throw DiffusionError("the model is class-conditional; a sample without a class label cannot run")
                }
                return label
            }
            let shape = plan.compiled.shapes[classLabels] ?? [b]
            guard shape == [b] else { throw DiffusionError("the model's class-label input has shape \(shape); one label per sample [\(b)] is supported") }
            inputs[classLabels] = model.graph[classLabels].type == .int64
                ? .int(IntTensor(shape: shape, values: labels.map(Int64.init)))
                : .float(Tensor(shape: shape, scalars: labels.map(Float.init)))
        }
        guard case .float(let output) = try plan.run(inputs)[0], output.count == x.count else {
            throw DiffusionError("the model's output does not have the image's shape \(x.shape)")
        }
        var copy = jobs.count
        for (j, job) in jobs.enumerated() {
            var modelOutput = UnsafePointer(output.pointer + j * count)
            if let g = job.guidance {
                // ε = ε_null + s·(ε_class − ε_null), whatever the model predicts (as diffusers).
                let conditional = output.pointer + j * count, unconditional = output.pointer + copy * count, s = g.scale
                for i in 0..<count { guided.pointer[i] = unconditional[i] + s * (conditional[i] - unconditional[i]) }
                modelOutput = UnsafePointer(guided.pointer)
                copy += 1
            }
            try job.advance(modelOutput: modelOutput, noise: noise, predicted: predicted, cpu: cpu)
        }
        withExtendedLifetime(output) {}
    }
}

// Trainer: teaches a model's graph to denoise — the noise-prediction objective of DDPM on the same
// graph IR that generation runs. Each step draws a batch (images, timesteps, noise) from Philox
// keyed by (seed, step), so a run is reproducible and resumes exactly — drawn one micro-batch
// ahead on another thread (TrainingBatches.swift's BatchPipeline), so a step never waits; noises it
// (x_t = √ᾱ x0 + √(1−ᾱ) ε), runs the graph on the autograd tape (TapeExecutor), regresses the
// model's prediction type (ε, x0 or v = √ᾱ ε − √(1−ᾱ) x0) with MSE or L1, clips the gradient norm
// and steps AdamW with warmup (then a constant rate or a cosine decay); an EMA of the weights is what sampling and saving use. Parameters
// are the graph's trainable constants (`Graph.trainableConstants`), updated in place.
// A class-conditional model trains on labelled images: each sample's label comes with its image and
// is replaced by the model's null label with probability `labelDropout` (Philox under the seed, its
// own key), which teaches the unconditional model classifier-free guidance needs.

import Foundation
import Graphs
import Imaging
import ModelIO
import Tensors

/// Training hyper-parameters.
public struct TrainingOptions: Sendable {
    public var batchSize = 32
    public var learningRate: Float = 2e-4
    public var warmupSteps = 100
    /// When set, the rate decays along a half cosine from its peak (after warmup) to
    /// `minimumLearningRate` at this step; when nil it stays at the peak.
    public var cosineDecaySteps: Int? = nil
    public var minimumLearningRate: Float = 0
    public var emaDecay: Float = 0.999
    public var weightDecay: Float = 0
    public var clipNorm: Float? = 1
    /// Micro-batches of `batchSize` whose gradients are averaged into one optimizer step.
    public var gradientAccumulation = 1
    /// Parameters whose names match any of these globs (`*`, `?`) stay fixed.
    public var freeze: [String] = []
    /// When not empty, only parameters matching one of these globs are trained.
    public var trainOnly: [String] = []
    public var l1Loss = false
    public var horizontalFlip = true
    public var seed: UInt64 = 0
    /// Class-conditional models: the probability a sample's label is replaced by the null label.
    public var labelDropout = 0.1

    public init() {}
}

/// Trains a diffusion model's graph on a stack of images.
public final class Trainer {
    public private(set) var model: DiffusionModel
    public let options: TrainingOptions
    public let schedule: NoiseSchedule
    let data: ImageStack
    let cpu: CPU
    let compiled: Graph
    let image: ValueID, time: ValueID?, classLabels: ValueID?
    let parameterIDs: [ValueID]
    public let parameters: ParameterSet
    let optimizer: AdamW
    /// Non-parameter state the forward updates (BatchNorm running statistics), by name.
    let buffers: [String: Tensor]
    public let ema: ExponentialMovingAverage
    let rate: LearningRateSchedule
    /// Draws each micro-batch's data, the next one on another thread while a step runs.
    let pipeline: BatchPipeline
    /// Optimization steps taken.
    public private(set) var step = 0
    /// The last step's learning rate and gradient L2 norm (before clipping), for logs.
    public private(set) var lastLearningRate: Float = 0, lastGradientNorm: Float = 0

    public init(model: DiffusionModel, data: ImageStack, options: TrainingOptions, cpu: CPU) throws {
        guard data.channels == model.imageShape[0], data.height == model.imageShape[1], data.width == model.imageShape[2] else {
            throw DiffusionError("training images are \(data.channels)x\(data.height)x\(data.width); the model takes \(model.imageShape)")
        }
        self.model = model
        self.options = options
        self.data = data
        self.cpu = cpu
        schedule = NoiseSchedule(model.schedule)
        let roles = try model.graph.diffusionInputRoles()
        (image, time) = (roles.image, roles.time)
        classLabels = model.classes == nil ? nil : roles.classLabels
        if let classes = model.classes {
            guard let labels = data.labels else {
                throw DiffusionError("the model is class-conditional: training needs a class label per image (labelled data, e.g. one sub-folder per class)")
            }
            if let bad = labels.first(where: { label in label < 0 || classes.count.map { label >= $0 } ?? false }) {
                throw DiffusionError("the data has class label \(bad); the model takes \(classes.accepted)")
            }
            guard options.labelDropout >= 0, options.labelDropout <= 1 else {
                throw DiffusionError("label dropout must be in [0, 1], got \(options.labelDropout)")
            }
            if options.labelDropout > 0, classes.nullLabel == nil {
                throw DiffusionError("label dropout \(options.labelDropout) needs a model with a null label (its classes' null_label); pass label dropout 0 to train without one")
            }
        }
        let g = model.graph
        parameterIDs = g.trainableConstants(imageInputs: [image]).filter { id in
            let n = g[id].name
            if options.freeze.contains(where: { globMatch($0, n) }) { return false }
            return options.trainOnly.isEmpty || options.trainOnly.contains { globMatch($0, n) }
        }.sorted()
        parameters = ParameterSet()
        for id in parameterIDs { if case .float(let t)? = g.constants[id] { try parameters.add(g[id].name, t) } }
        guard parameters.count > 0 else {
            throw DiffusionError("no parameters to train"
                                     + (options.freeze.isEmpty && options.trainOnly.isEmpty ? "" : " left after --freeze / --train-only"))
        }
        guard options.gradientAccumulation >= 1 else { throw DiffusionError("gradient accumulation must be at least 1") }
        var shapes = try ModelLoader.inputShapes(g, batch: options.batchSize)
        shapes[image] = Shape([options.batchSize] + model.imageShape)
        compiled = try g.specialized(inputShapes: shapes, cpu: cpu, trainable: Set(parameterIDs)).graph
        // BatchNorm running statistics: updated in place by training-mode forwards, saved with the state.
        var buffers: [String: Tensor] = [:]
        for node in compiled.nodes {
            guard case .batchNorm = node.op else { continue }
            for p in [3, 4] where p < node.inputs.count {
                if let id = node.inputs[p], case .float(let t)? = compiled.constants[id] { buffers[compiled[id].name] = t }
            }
        }
        self.buffers = buffers
        optimizer = AdamW(parameters, weightDecay: options.weightDecay, cpu: cpu)
        ema = try ExponentialMovingAverage(parameters, decay: options.emaDecay)
        rate = LearningRateSchedule(base: options.learningRate, warmupSteps: options.warmupSteps,
                                    cosineDecayTo: options.cosineDecaySteps, minimum: options.minimumLearningRate)
        pipeline = BatchPipeline(TrainingBatches(data: data, imageShape: model.imageShape, schedule: schedule,
                                                 prediction: model.schedule.predictionType, options: options,
                                                 classes: classLabels == nil ? nil : model.classes, cpu: cpu))
    }

    /// One optimization step over `gradientAccumulation` micro-batches; returns their mean loss.
    @discardableResult
    public func trainStep() throws -> Float {
        let k = options.gradientAccumulation
        var total: [Tensor]? = nil, loss: Float = 0
        for i in 0..<k {
            let (l, gradients) = try microBatch(stream: UInt64(step * k + i))
            loss += l / Float(k)
            if let total { for (t, g) in zip(total, gradients) { _ = try cpu.add(t, g, into: t) } } else { total = gradients }
        }
        let gradients = total!
        if k > 1 { for g in gradients { _ = cpu.affine(g, scale: 1 / Float(k), into: g) } }
        // Without clipping the bound is infinite: the norm is measured, nothing is scaled.
        lastGradientNorm = clipGradientNorm(gradients, maxNorm: options.clipNorm ?? .infinity)
        lastLearningRate = rate.rate(at: step)
        optimizer.step(gradients, lr: lastLearningRate)
        ema.update(from: parameters, step: step)
        step += 1
        return loss
    }

    /// Loss and parameter gradients of micro-batch `stream` (images, flips, timesteps and noise
    /// all drawn from Philox under the seed and this stream).
    func microBatch(stream: UInt64) throws -> (Float, [Tensor]) {
        let batch = try pipeline.take(stream)
        let (b, xt, target, timesteps) = (options.batchSize, batch.xt, batch.target, batch.timesteps)
        let tape = Tape(cpu: cpu)
        var vars: [ValueID: Var] = [:]
        for (k, id) in parameterIDs.enumerated() { vars[id] = tape.parameter(parameters.tensors[k]) }
        var inputs: [ValueID: Value] = [image: .float(xt)]
        if let time { inputs[time] = model.graph[time].type == .int64 ? .int(IntTensor(timesteps)) : .float(Tensor(shape: [b], scalars: timesteps.map(Float.init))) }
        if let classLabels, let labels = batch.labels?.map(Int64.init) {
            inputs[classLabels] = model.graph[classLabels].type == .int64 ? .int(IntTensor(labels)) : .float(Tensor(shape: [b], scalars: labels.map(Float.init)))
        }
        let y = try TapeExecutor(tape: tape).run(compiled, inputs: inputs, parameters: vars)[0]
        let targetVar = tape.constant(target)
        let loss = options.l1Loss ? try tape.l1Loss(y, targetVar) : try tape.mseLoss(y, targetVar)
        let grads = try tape.backward(from: loss)
        // A parameter the loss does not reach gets a zero gradient.
        return (tape[loss].scalar, parameterIDs.enumerated().map { k, id in grads[vars[id]!] ?? Tensor(zeros: parameters.tensors[k].shape) })
    }

    /// The class labels of images `indices` in micro-batch `stream` (see ``TrainingBatches``).
    func labels(of indices: [Int], stream: UInt64) throws -> [Int] { try pipeline.source.labels(of: indices, stream: stream) }

    /// The model with the EMA weights (what sampling and checkpoints use).
    public func emaModel() -> DiffusionModel {
        var m = model
        for id in parameterIDs { if let t = ema.shadow[m.graph[id].name] { m.graph.constants[id] = .float(t) } }
        for (id, value) in m.graph.constants {
            if case .float = value, let t = buffers[m.graph[id].name] { m.graph.constants[id] = .float(t.copy()) }
        }
        return m
    }

    /// Writes a checkpoint: first `training.safetensors` — raw and EMA weights, optimizer state,
    /// buffers and step, everything `resume` needs, in one atomically replaced file — then the
    /// EMA model as a native folder (`model.json` + `weights.safetensors`, each atomic, paired by a
    /// write id) for generate and serve. A crash at any moment leaves the last complete state.
    public func save(to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var state = optimizer.stateTensors()
        for (name, t) in zip(parameters.names, parameters.tensors) {
            state["raw." + name] = t
            if let e = ema.shadow[name] { state["ema." + name] = e }
        }
        for (name, t) in buffers { state["buffer." + name] = t }
        try SafeTensors.write(state, metadata: ["step": "\(step)", "seed": "\(options.seed)"],
                              to: URL(fileURLWithPath: folder + "/training.safetensors"))
        try emaModel().write(to: folder)
    }

    /// Continues from a folder written by ``save(to:)``: raw and EMA weights, optimizer, buffers, step.
    public func resume(from folder: String) throws {
        let path = folder + "/training.safetensors"
        let file = try SafeTensors.read(contentsOf: URL(fileURLWithPath: path))
        guard let text = file.metadata["step"], let saved = Int(text) else { throw ModelFileError(path: path, problem: "no step in the metadata") }
        func restore(_ key: String, into t: Tensor) throws {
            guard file.entry(key) != nil else { throw ModelFileError(path: path, problem: "no tensor '\(key)' (was it written for another model or --freeze?)") }
            let saved = try file.tensor(key)
            guard saved.shape == t.shape else { throw ModelFileError(path: path, problem: "'\(key)' is \(saved.shape), the model has \(t.shape)") }
            t.assign(saved)
        }
        for (name, t) in zip(parameters.names, parameters.tensors) {
            try restore("raw." + name, into: t)
            if let e = ema.shadow[name] { try restore("ema." + name, into: e) }
        }
        for (name, t) in buffers { try restore("buffer." + name, into: t) }
        var optimizerState: [String: Tensor] = [:]
        for name in file.names where !name.hasPrefix("raw.") && !name.hasPrefix("ema.") && !name.hasPrefix("buffer.") {
            optimizerState[name] = try file.tensor(name)
        }
        try optimizer.loadState(optimizerState)
        step = saved
    }
}

/// Whether `name` matches the glob `pattern` (`*` any run of characters, `?` one character).
func globMatch(_ pattern: String, _ name: String) -> Bool {
    let p = Array(pattern), n = Array(name)
    var (i, j, star, mark) = (0, 0, -1, 0)
    while j < n.count {
        if i < p.count && (p[i] == "?" || p[i] == n[j]) { i += 1; j += 1 }
        else if i < p.count && p[i] == "*" { star = i; mark = j; i += 1 }
        else if star >= 0 { i = star + 1; mark += 1; j = mark }
        else { return false }
    }
    while i < p.count && p[i] == "*" { i += 1 }
    return i == p.count
}

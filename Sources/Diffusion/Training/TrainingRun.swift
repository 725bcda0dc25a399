// TrainingRun: the cadence around training steps — run a Trainer to a step count, writing a
// checkpoint every `saveEvery` steps and at the end, a grid of EMA samples every `sampleEvery`
// steps (the same noise every time, so grids compare across steps), and one `step,loss,lr,grad_norm` line per
// step to a CSV log. The CLI's `train` and `finetune` only parse flags and draw progress; this is
// the loop they run. Checkpoints and grids are atomic files; the CSV log is append-only.

import Foundation
import Imaging
import ModelIO
import Tensors

/// When a training run writes what.
public struct TrainingCadence: Sendable {
    /// Write a checkpoint (training state + EMA model) every this many steps, and at the end.
    public var saveEvery = 500
    /// Write a grid of EMA samples to `OUT/samples/step_NNNNNN.png` every this many steps.
    public var sampleEvery: Int?
    /// Samples in a grid, and how they are drawn: `sampleSteps` steps of the default sampler (DDIM,
    /// or DDPM when that is every training timestep), seed `sampleSeed`.
    public var sampleCount = 16
    public var sampleSteps = 50
    public var sampleSeed: UInt64 = 0
    /// Append `step,loss,lr,grad_norm` per step to this CSV file (a header line when it is created;
    /// the gradient norm is the global L2 norm before clipping).
    public var lossLog: String?

    public init() {}
}

extension Trainer {
    /// Trains until `step == steps`, writing checkpoints and sample grids into `folder` as
    /// `cadence` says. `progress(step, loss)` is called after every step.
    public func train(until steps: Int, folder: String, cadence: TrainingCadence,
                      progress: (_ step: Int, _ loss: Float) -> Void = { _, _ in }) throws {
        guard cadence.saveEvery >= 1 else { throw DiffusionError("checkpoints every \(cadence.saveEvery) steps: must be at least 1") }
        if let every = cadence.sampleEvery, every < 1 { throw DiffusionError("sample grids every \(every) steps: must be at least 1") }
        let log = try cadence.lossLog.map(LossLog.init)
        defer { try? log?.handle.close() }
        while step < steps {
            let loss = try trainStep()
            try log?.append(step: step, loss: loss, learningRate: lastLearningRate, gradientNorm: lastGradientNorm)
            progress(step, loss)
            if step % cadence.saveEvery == 0 || step == steps { try save(to: folder) }
            if let every = cadence.sampleEvery, step % every == 0 { try writeSampleGrid(into: folder, cadence: cadence) }
        }
    }

    /// Writes a grid of the EMA model's samples to `folder/samples/step_NNNNNN.png`; returns its path.
    @discardableResult
    public func writeSampleGrid(into folder: String, cadence: TrainingCadence = TrainingCadence()) throws -> String {
        let generator = try ImageGenerator(model: emaModel(), cpu: cpu)
        let steps = min(cadence.sampleSteps, schedule.trainingTimesteps)
        var options = GenerationOptions(count: cadence.sampleCount, seed: cadence.sampleSeed, sampler: generator.defaultSamplerOptions(steps: steps))
        options.batchSize = cadence.sampleCount
        let samples = try generator.generate(options)
        let images = try (0..<cadence.sampleCount).map { try SampleImages.image(samples, index: $0) }
        // Named like the model the folder holds, at this step: `model=OUT@1200`.
        let record = GenerationRecord(model: GenerationRecord.modelName(path: folder) + "@\(step)", seed: options.seed, sampler: options.sampler)
        try FileManager.default.createDirectory(atPath: folder + "/samples", withIntermediateDirectories: true)
        let path = folder + String(format: "/samples/step_%06d.png", step)
        try AtomicFile.write(try record.gridPNG(images), to: URL(fileURLWithPath: path))
        return path
    }
}

/// An append-only `step,loss,lr,grad_norm` CSV file.
struct LossLog {
    let handle: FileHandle

    init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: Data("step,loss,lr,grad_norm\n".utf8)) else {
                throw DiffusionError("cannot create the loss log \(path)")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw DiffusionError("cannot open the loss log \(path) for writing") }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    func append(step: Int, loss: Float, learningRate: Float, gradientNorm: Float) throws {
        try handle.write(contentsOf: Data("\(step),\(loss),\(learningRate),\(gradientNorm)\n".utf8))
    }
}

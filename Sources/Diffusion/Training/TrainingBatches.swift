// TrainingBatches: the data of each micro-batch as a pure function of its stream number — image
// indices, flips and timesteps (uniform draws), noise (normal draws) and class labels with dropout,
// all from Philox under the run's seed, each kind under a key of its own — noised into the
// network's input x_t = √ᾱ x0 + √(1−ᾱ) ε and the regression target (ε, x0 or v). Because a batch
// depends on its stream alone, `BatchPipeline` prepares the next micro-batch on another thread
// while a step runs, and a run gives the same bits whichever thread drew its batches.

import Dispatch
import Foundation
import Imaging
import ModelIO
import Tensors

/// One micro-batch, ready for the forward.
struct TrainingBatch: @unchecked Sendable {
    /// The noised images x_t `[B, C, H, W]` and the target the network regresses.
    let xt: Tensor, target: Tensor
    /// Each sample's timestep.
    let timesteps: [Int64]
    /// Each sample's class label (the null label where dropped); nil for an unconditional model.
    let labels: [Int]?
}

/// Draws micro-batches from a stack of images. Immutable; safe to use from any thread.
struct TrainingBatches: @unchecked Sendable {
    let data: ImageStack
    let imageShape: [Int]
    let schedule: NoiseSchedule
    let prediction: PredictionType
    let options: TrainingOptions
    /// The model's classes when it is trained on labels, else nil.
    let classes: ClassLabels?
    let cpu: CPU

    /// Micro-batch `stream`.
    func batch(stream: UInt64) throws -> TrainingBatch {
        let b = options.batchSize, count = imageShape.reduce(1, *)
        let (c, h, w) = (data.channels, data.height, data.width)
        // Image index, flip, timestep per sample; then noise.
        let picks = Tensor(uninitialized: [b, 3])
        try cpu.fillUniform(picks, seed: options.seed, stream: stream, offset: 0)
        let x0 = Tensor(uninitialized: Shape([b] + imageShape)), noise = Tensor(uninitialized: x0.shape)
        try cpu.fillNormal(noise, seed: options.seed ^ 0x5eed_0000_0000, stream: stream)
        var timesteps = [Int64](repeating: 0, count: b), indices = [Int](repeating: 0, count: b)
        let t = schedule.trainingTimesteps
        for j in 0..<b {
            let index = min(Int(picks.pointer[3 * j] * Float(data.count)), data.count - 1)
            indices[j] = index
            let flip = options.horizontalFlip && picks.pointer[3 * j + 1] < 0.5
            timesteps[j] = Int64(min(Int(picks.pointer[3 * j + 2] * Float(t)), t - 1))
            let src = index * c * h * w, dst = x0.pointer + j * count
            for y in 0..<h {
                for x in 0..<w {
                    let sx = flip ? w - 1 - x : x
                    for ch in 0..<c { dst[(ch * h + y) * w + x] = Float(data.pixels[src + (y * w + sx) * c + ch]) / 127.5 - 1 }
                }
            }
        }
        let xt = Tensor(uninitialized: x0.shape), target = Tensor(uninitialized: x0.shape)
        for j in 0..<b {
            let a = schedule.alphasCumprod[Int(timesteps[j])]
            let (sa, sb) = (Float(a.squareRoot()), Float((1 - a).squareRoot()))
            for k in (j * count)..<((j + 1) * count) {
                let (x, e) = (x0.pointer[k], noise.pointer[k])
                xt.pointer[k] = sa * x + sb * e
                switch prediction {
                case .epsilon: target.pointer[k] = e
                case .sample: target.pointer[k] = x
                case .vPrediction: target.pointer[k] = sa * e - sb * x
                }
            }
        }
        withExtendedLifetime((picks, x0, noise)) {}
        return TrainingBatch(xt: xt, target: target, timesteps: timesteps, labels: classes == nil ? nil : try labels(of: indices, stream: stream))
    }

    /// The class labels of images `indices` in micro-batch `stream`: each image's label, replaced by
    /// the null label with probability `labelDropout` (Philox under the seed, a key of its own).
    func labels(of indices: [Int], stream: UInt64) throws -> [Int] {
        guard let labels = data.labels, let classes else { throw DiffusionError("no class labels to draw") }
        let u = Tensor(uninitialized: [max(indices.count, 1)])
        try cpu.fillUniform(u, seed: options.seed ^ 0xd809_0000_0000, stream: stream)
        return indices.enumerated().map { j, index in
            if let null = classes.nullLabel, Double(u.pointer[j]) < options.labelDropout { return null }
            return labels[index]
        }
    }
}

/// The data pipeline: while micro-batch s is used, s + 1 is drawn on a background queue, so a step
/// never waits for its data (unless micro-batches are taken out of order, e.g. after `resume`:
/// then the asked-for one is drawn at once and the pipeline restarts from it).
final class BatchPipeline: @unchecked Sendable {
    let source: TrainingBatches
    private let queue = DispatchQueue(label: "denoise.training-batches")
    /// Guards `ahead`. The prefetched stream, its result once drawn, and the signal that it is.
    private let lock = NSLock()
    private var ahead: (stream: UInt64, ready: DispatchSemaphore, box: ResultBox)?

    /// Where a background draw leaves its result (written before `ready` is signalled, read after).
    private final class ResultBox: @unchecked Sendable { var result: Result<TrainingBatch, Error>? }

    init(_ source: TrainingBatches) { self.source = source }

    /// Micro-batch `stream` (prefetched when it was next), and starts drawing `stream + 1`.
    func take(_ stream: UInt64) throws -> TrainingBatch {
        let pending = lock.withLock { ahead }
        var batch: TrainingBatch?
        if let pending, pending.stream == stream {
            pending.ready.wait()
            batch = try pending.box.result!.get()
        }
        let result = try batch ?? source.batch(stream: stream)
        prefetch(stream + 1)
        return result
    }

    private func prefetch(_ stream: UInt64) {
        let ready = DispatchSemaphore(value: 0), box = ResultBox(), source = self.source
        lock.withLock { ahead = (stream, ready, box) }
        queue.async {
            box.result = Result { try source.batch(stream: stream) }
            ready.signal()
        }
    }
}

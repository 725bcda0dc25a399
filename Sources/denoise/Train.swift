// denoise train / denoise finetune: train a U-Net from scratch (a diffusers UNet2DModel config, or
// the built-in small default) or continue training any model (ONNX, native, diffusers), on
// Fashion-MNIST, an IDX file or a folder of PNGs. Both share TrainingFlags; the loop and its
// cadence (checkpoints, sample grids, loss log) are Diffusion's `Trainer.train(until:…)`.
// Class-conditional: `train --class-conditional` builds the U-Net with a class embedding of
// classes + 1 rows (the last the null label) and records the data's class names; a class-
// conditional model trains on labelled data (TrainingData.loadLabelled) with --label-dropout.

import ArgumentParser
import Diffusion
import Foundation
import Graphs
import Imaging
import ModelIO
import Tensors

/// The flags of every training command.
struct TrainingFlags: ParsableArguments {
    @Option(help: "Training data: 'fashion-mnist' (Debian's dataset-fashion-mnist; $DENOISE_DATASETS overrides /usr/share/datasets), an IDX image file, or a folder of PNG images.")
    var data = "fashion-mnist"

    @Option(help: "Output folder: the EMA model (model.json + weights.safetensors) and training state.")
    var out: String

    @Option(help: "Optimization steps (in total, counting steps before --resume).")
    var steps = 1000

    @Option(help: "Images per micro-batch.")
    var batchSize = 32

    @Option(help: "Micro-batches averaged into one optimizer step.")
    var gradAccum = 1

    @Option(help: "Peak learning rate (AdamW).")
    var lr: Float = 2e-4

    @Option(help: "Linear warmup steps.")
    var warmup = 100

    @Option(help: "Learning rate after warmup: constant (the peak), or cosine (a half cosine from the peak down to --min-lr at --steps; resume with the same --steps).")
    var lrSchedule = "constant"

    @Option(help: "The rate the cosine schedule ends at.")
    var minLr: Float = 0

    @Option(help: "AdamW decoupled weight decay.")
    var weightDecay: Float = 0

    @Option(name: [.customLong("ema-decay"), .customLong("ema")], help: "EMA decay of the weights that are saved.")
    var emaDecay: Float = 0.999

    @Option(help: "Clip the gradient's global L2 norm to this (0: no clipping).")
    var gradClip: Float = 1

    @Option(help: "Loss: mse or l1.")
    var loss = "mse"

    @Option(help: "Random seed (initialization, batches, noise).")
    var seed: UInt64 = 0

    @Option(name: [.customLong("save-every"), .customLong("checkpoint-every")], help: "Write a checkpoint every this many steps (and at the end).")
    var saveEvery = 500

    @Option(help: "Append step,loss,lr,grad_norm (the gradient L2 norm before clipping) per step to this CSV file.")
    var log: String?

    @Option(help: "Every this many steps, write a grid of 16 EMA samples (50 steps of the default sampler, seed 0) to OUT/samples/.")
    var sampleEvery: Int?

    @Option(help: "Keep parameters whose names match this glob fixed (* and ?; comma-separated for several).")
    var freeze: String?

    @Option(help: "Train only parameters whose names match this glob (* and ?; comma-separated for several).")
    var trainOnly: String?

    @Option(help: "Class-conditional models: the probability a sample's label is replaced by the null label (classifier-free guidance).")
    var labelDropout = 0.1

    @Flag(help: "Continue from the checkpoint in --out.")
    var resume = false

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
        if batchSize < 1 || batchSize > 1024 { throw ValidationError("--batch-size must be 1…1024, got \(batchSize)") }
        if gradAccum < 1 || gradAccum > 1024 { throw ValidationError("--grad-accum must be 1…1024, got \(gradAccum)") }
        if !(lr > 0 && lr < 1) { throw ValidationError("--lr must be in (0, 1), got \(lr)") }
        if warmup < 0 { throw ValidationError("--warmup must be at least 0, got \(warmup)") }
        if lrSchedule != "constant" && lrSchedule != "cosine" { throw ValidationError("--lr-schedule must be constant or cosine, got '\(lrSchedule)'") }
        if !(minLr >= 0 && minLr <= lr) { throw ValidationError("--min-lr must be in [0, --lr], got \(minLr)") }
        if !(weightDecay >= 0 && weightDecay < 1) { throw ValidationError("--weight-decay must be in [0, 1), got \(weightDecay)") }
        if !(emaDecay >= 0 && emaDecay < 1) { throw ValidationError("--ema-decay must be in [0, 1), got \(emaDecay)") }
        if !(gradClip >= 0) { throw ValidationError("--grad-clip must be at least 0, got \(gradClip)") }
        if loss != "mse" && loss != "l1" { throw ValidationError("--loss must be mse or l1, got '\(loss)'") }
        if saveEvery < 1 { throw ValidationError("--save-every must be at least 1, got \(saveEvery)") }
        if let sampleEvery, sampleEvery < 1 { throw ValidationError("--sample-every must be at least 1, got \(sampleEvery)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if !(labelDropout >= 0 && labelDropout <= 1) { throw ValidationError("--label-dropout must be in [0, 1], got \(labelDropout)") }
    }

    var options: TrainingOptions {
        var o = TrainingOptions()
        (o.batchSize, o.gradientAccumulation, o.learningRate, o.warmupSteps) = (batchSize, gradAccum, lr, warmup)
        (o.weightDecay, o.emaDecay, o.clipNorm, o.l1Loss, o.seed) = (weightDecay, emaDecay, gradClip > 0 ? gradClip : nil, loss == "l1", seed)
        o.freeze = freeze.map { $0.split(separator: ",").map(String.init) } ?? []
        o.trainOnly = trainOnly.map { $0.split(separator: ",").map(String.init) } ?? []
        o.labelDropout = labelDropout
        if lrSchedule == "cosine" { (o.cosineDecaySteps, o.minimumLearningRate) = (steps, minLr) }
        return o
    }

    var cadence: TrainingCadence {
        var c = TrainingCadence()
        (c.saveEvery, c.sampleEvery, c.lossLog) = (saveEvery, sampleEvery, log)
        return c
    }

    /// The training data for `model`: labelled (with class names) when it is class-conditional.
    func load(for model: DiffusionModel) throws -> (images: ImageStack, classNames: [String]?, skipped: [DatasetError]) {
        let (c, size) = (model.imageShape[0], model.imageShape[1])
        if model.classes != nil {
            let d = try TrainingData.loadLabelled(data, channels: c, size: size)
            return (d.images, d.classNames, d.skipped)
        }
        let d = try TrainingData.load(data, channels: c, size: size)
        return (d.images, nil, d.skipped)
    }

    /// Trains `model` to `steps` (the loop and its cadence live in Diffusion's TrainingRun); this
    /// checks the output folder, loads the data (unless given) and draws progress.
    func run(_ model: DiffusionModel, cpu: CPU, data loaded: (images: ImageStack, classNames: [String]?, skipped: [DatasetError])? = nil) throws {
        do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
            throw ValidationError("--out \(out): cannot create this folder (\((error as NSError).localizedDescription))")
        }
        guard FileManager.default.isWritableFile(atPath: out) else { throw ValidationError("--out \(out): the folder is not writable") }
        let (images, _, skipped) = try loaded ?? load(for: model)
        for s in skipped { FileHandle.standardError.write(Data("skipped \(s)\n".utf8)) }
        guard images.count > 0 else { throw ValidationError("\(data): no training images") }
        let trainer = try Trainer(model: model, data: images, options: options, cpu: cpu)
        if resume { try trainer.resume(from: out) }
        print("training \(trainer.parameters.scalarCount) parameters (\(trainer.parameters.count) tensors) on \(images.count) images, "
              + "batch \(batchSize)\(gradAccum > 1 ? " x \(gradAccum)" : ""), from step \(trainer.step); "
              + "\(cpu.threads) threads, ISA \(CPU.vectorISA), GEMM \(CPU.gemmKernel)")
        let start = Date(), firstStep = trainer.step, total = steps
        var recent: [Float] = []
        try trainer.train(until: steps, folder: out, cadence: cadence) { step, loss in
            recent.append(loss)
            guard step % 10 == 0 || step == total else { return }
            let rate = Double(step - firstStep) / Date().timeIntervalSince(start)
            let mean = recent.reduce(0, +) / Float(recent.count)
            let eta = rate > 0 ? Double(total - step) / rate : 0
            FileHandle.standardError.write(Data(String(format: "\rstep %d/%d  loss %.4f  %.2f it/s  ETA %d:%02d ", step, total, mean, rate,
                                                       Int(eta) / 60, Int(eta) % 60).utf8))
            recent = []
        }
        FileHandle.standardError.write(Data("\n".utf8))
        print("wrote \(out)")
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a new diffusion U-Net (a diffusers UNet2DModel config, or the small default) with the noise-prediction loss.",
        discussion: "Writes the EMA model to --out as a native folder (model.json + weights.safetensors) every --save-every steps and at the end, with the optimizer state for --resume.")

    @Option(help: "A diffusers UNet2DModel config.json (default: a small 28x28 gray U-Net).")
    var config: String?

    @Option(help: "Fine-tune this model instead (same as `denoise finetune MODEL`).")
    var model: String?

    @Flag(name: [.customLong("class-conditional"), .customLong("classes")],
          help: "A class-conditional U-Net (num_class_embeds = classes + 1, the last row the null label) trained on labelled --data: fashion-mnist with its labels, an IDX image file with its label file, or a folder of one PNG sub-folder per class.")
    var classConditional = false

    @OptionGroup(title: "Noise schedule (default: linear 1e-4…0.02, T = 1000, epsilon; or the fine-tuned model's)")
    var schedule: ScheduleFlags

    @OptionGroup var training: TrainingFlags

    func validate() throws {
        if config != nil && model != nil { throw ValidationError("pass --config (new model) or --model (fine-tune), not both") }
        if classConditional && model != nil { throw ValidationError("--class-conditional builds a new model; a fine-tuned model is class-conditional when it already is") }
    }

    func run() throws {
        let cpu = CPU(threads: training.threads)
        var diffusionModel: DiffusionModel
        var loaded: (images: ImageStack, classNames: [String]?, skipped: [DatasetError])?
        if let model { diffusionModel = try ModelLoader.open(model) } else {
            var c = UNet2DConfig.fashionMNIST
            if let config {
                guard let data = FileManager.default.contents(atPath: config) else { throw ValidationError("\(config): cannot read") }
                c = try JSONDecoder().decode(UNet2DConfig.self, from: data).validated(source: config)
            }
            var classes: ClassLabels?
            if classConditional {
                let d = try TrainingData.loadLabelled(training.data, channels: c.imageShape[0], size: c.imageShape[1])
                loaded = (d.images, d.classNames, d.skipped)
                c.numClassEmbeds = d.classNames.count + 1
                classes = ClassLabels(count: d.classNames.count, names: d.classNames, nullLabel: d.classNames.count)
            }
            diffusionModel = DiffusionModel(graph: try UNet2DBuilder.initialized(c, seed: training.seed, cpu: cpu), schedule: ScheduleConfig(),
                                 imageShape: c.imageShape, classes: classes)
        }
        diffusionModel.schedule = try schedule.applied(to: diffusionModel.schedule)
        try training.run(diffusionModel, cpu: cpu, data: loaded)
    }
}

struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue training a model (ONNX file, native or diffusers folder) on your images, through its imported graph.",
        discussion: "Writes the EMA model to --out as a native folder that generate, eval and serve load, with the optimizer state for --resume.")

    @Argument(help: "The model to fine-tune: an ONNX file, a native or a diffusers folder.")
    var model: String

    @OptionGroup(title: "Noise schedule (default: the model's)")
    var schedule: ScheduleFlags

    @OptionGroup var training: TrainingFlags

    func run() throws {
        let cpu = CPU(threads: training.threads)
        var diffusionModel = try ModelLoader.open(model)
        diffusionModel.schedule = try schedule.applied(to: diffusionModel.schedule)
        try training.run(diffusionModel, cpu: cpu)
    }
}

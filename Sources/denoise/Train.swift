// denoise train: train a U-Net from scratch (a diffusers UNet2DModel config, or the built-in small
// default) or fine-tune an existing model, on Fashion-MNIST or a folder of PNGs.

import ArgumentParser
import Diffusion
import Foundation
import Graphs
import Imaging
import ModelIO
import Tensors

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a diffusion U-Net (from a config, or fine-tune a model) with the noise-prediction loss.",
        discussion: "Writes the EMA model to --out as a native folder (model.json + weights.safetensors) every --checkpoint-every steps and at the end, with the optimizer state for --resume.")

    @Option(help: "A diffusers UNet2DModel config.json for a new model (default: a small 28x28 gray U-Net).")
    var config: String?

    @Option(help: "Fine-tune this model (ONNX, native or diffusers folder) instead of training a new one.")
    var model: String?

    @OptionGroup(title: "Noise schedule (default: linear 1e-4…0.02, T = 1000, epsilon; or the fine-tuned model's)")
    var schedule: ScheduleFlags

    @Option(help: "Training data: 'fashion-mnist' (Debian's dataset-fashion-mnist) or a folder of PNG images.")
    var data = "fashion-mnist"

    @Option(help: "Optimization steps.")
    var steps = 1000

    @Option(help: "Images per step.")
    var batchSize = 32

    @Option(help: "Peak learning rate (AdamW).")
    var lr: Float = 2e-4

    @Option(help: "Linear warmup steps.")
    var warmup = 100

    @Option(help: "EMA decay of the weights that are saved.")
    var ema: Float = 0.999

    @Flag(help: "L1 loss instead of MSE.")
    var l1 = false

    @Option(help: "Random seed (initialization, batches, noise).")
    var seed: UInt64 = 0

    @Option(help: "Output folder.")
    var out: String

    @Option(help: "Write the EMA model every this many steps.")
    var checkpointEvery = 500

    @Option(help: "Append step,loss to this CSV file.")
    var log: String?

    @Option(help: "Every this many steps, write a grid of 16 EMA samples (DDIM, 50 steps, seed 0) to OUT/samples/.")
    var sampleEvery: Int?

    @Flag(help: "Continue from the checkpoint in --out.")
    var resume = false

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
        if batchSize < 1 || batchSize > 1024 { throw ValidationError("--batch-size must be 1…1024, got \(batchSize)") }
        if !(lr > 0 && lr < 1) { throw ValidationError("--lr must be in (0, 1), got \(lr)") }
        if !(ema >= 0 && ema < 1) { throw ValidationError("--ema must be in [0, 1), got \(ema)") }
        if checkpointEvery < 1 { throw ValidationError("--checkpoint-every must be at least 1") }
        if let sampleEvery, sampleEvery < 1 { throw ValidationError("--sample-every must be at least 1") }
        if config != nil && model != nil { throw ValidationError("pass --config (new model) or --model (fine-tune), not both") }
    }

    /// A grid of 16 samples of the EMA model (the same noise every time, so grids compare across steps).
    func writeSampleGrid(_ trainer: Trainer, cpu: CPU) throws {
        let generator = try ImageGenerator(model: trainer.emaModel(), cpu: cpu)
        var options = GenerationOptions()
        (options.count, options.batchSize, options.seed) = (16, 16, 0)
        options.sampler = generator.defaultSamplerOptions(steps: min(50, generator.schedule.trainingTimesteps))
        let samples = try generator.generate(options)
        try FileManager.default.createDirectory(atPath: out + "/samples", withIntermediateDirectories: true)
        let images = try (0..<16).map { try SampleImages.image(samples, index: $0) }
        try PNG.write(Image8.grid(images, columns: 4), to: out + String(format: "/samples/step_%06d.png", trainer.step),
                      text: [("parameters", "step=\(trainer.step) sampler=ddim steps=50 seed=0"), ("Software", "denoise")])
    }

    /// The small default U-Net for 28x28 gray images (Fashion-MNIST).
    static var defaultConfig: UNet2DConfig {
        var c = UNet2DConfig()
        c.sampleSize = 28; c.inChannels = 1; c.outChannels = 1
        c.blockOutChannels = [32, 64, 64]; c.layersPerBlock = 1; c.normNumGroups = 8; c.attentionHeadDim = 16
        c.downBlockTypes = ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D"]
        c.upBlockTypes = ["UpBlock2D", "AttnUpBlock2D", "UpBlock2D"]
        return c
    }

    func run() throws {
        let cpu = CPU(threads: threads)
        var native: NativeModel
        if let model { native = try ModelLoader.open(model) } else {
            var c = Self.defaultConfig
            if let config {
                guard let data = FileManager.default.contents(atPath: config) else { throw ValidationError("\(config): cannot read") }
                c = try JSONDecoder().decode(UNet2DConfig.self, from: data).validated(source: config)
            }
            native = NativeModel(graph: try UNet2DBuilder.initialized(c, seed: seed, cpu: cpu), schedule: ScheduleConfig(),
                                 imageShape: [c.inChannels, c.sampleSize, c.sampleSize])
        }
        native.schedule = try schedule.applied(to: native.schedule)
        let images: ImageStack
        if data == "fashion-mnist" { images = try IDX.images("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") } else {
            let (stack, skipped) = try ImageFolder.load(data, channels: native.imageShape[0], size: native.imageShape[1])
            for s in skipped { FileHandle.standardError.write(Data("skipped \(s)\n".utf8)) }
            images = stack
        }
        var options = TrainingOptions()
        (options.batchSize, options.learningRate, options.warmupSteps, options.emaDecay, options.l1Loss, options.seed) = (batchSize, lr, warmup, ema, l1, seed)
        let trainer = try Trainer(model: native, data: images, options: options, cpu: cpu)
        if resume { try trainer.resume(from: out) }
        print("training \(trainer.parameters.scalarCount) parameters on \(images.count) images, batch \(batchSize), from step \(trainer.step)")
        let start = Date(), firstStep = trainer.step
        var recent: [Float] = []
        while trainer.step < steps {
            let loss = try trainer.trainStep()
            recent.append(loss)
            if let log {
                let line = "\(trainer.step),\(loss)\n"
                if let handle = FileHandle(forWritingAtPath: log) { handle.seekToEndOfFile(); handle.write(Data(line.utf8)); try? handle.close() }
                else { try Data(("step,loss\n" + line).utf8).write(to: URL(fileURLWithPath: log)) }
            }
            if trainer.step % 10 == 0 || trainer.step == steps {
                let rate = Double(trainer.step - firstStep) / Date().timeIntervalSince(start)
                let mean = recent.reduce(0, +) / Float(recent.count)
                FileHandle.standardError.write(Data(String(format: "\rstep %d/%d  loss %.4f  %.2f it/s", trainer.step, steps, mean, rate).utf8))
                recent = []
            }
            if trainer.step % checkpointEvery == 0 || trainer.step == steps { try trainer.save(to: out) }
            if let sampleEvery, trainer.step % sampleEvery == 0 { try writeSampleGrid(trainer, cpu: cpu) }
        }
        FileHandle.standardError.write(Data("\n".utf8))
        print("wrote \(out)")
    }
}

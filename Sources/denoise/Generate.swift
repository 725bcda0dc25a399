// denoise generate: sample images from a model and write PNGs (one per sample, a grid) and/or .npy;
// from an init image (image-to-image) and a mask (inpainting) when given. Parsing only: the library's
// ImageConversion and BatchStepper do the work.

import ArgumentParser
import Diffusion
import Foundation
import Graphs
import Imaging
import ModelIO
import Tensors

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate images with a diffusion model (ONNX file, native or diffusers folder).",
        discussion: "The same --seed gives the same samples whatever --batch-size. Every PNG carries its generation parameters in a tEXt chunk.")

    @Argument(help: "The model: an ONNX file, a native or a diffusers folder (default: the shipped \(DefaultModel.name) model).")
    var model: String?

    @Option(name: .customLong("n"), help: "Number of images.")
    var count = 16

    @Option(help: "Denoising steps (default: the training timesteps with DDPM).")
    var steps: Int?

    @Option(help: "Sampler: ddpm, ddim or dpm-solver++ (default: DDPM when steps equal the training timesteps, else DDIM).")
    var sampler: String?

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    @Option(help: "Samples per forward.")
    var batchSize = 16

    @OptionGroup(title: "Noise schedule (overrides the model's)")
    var schedule: ScheduleFlags

    @Option(name: .customLong("class"), help: "Class-conditional models: the class of every sample, or one per sample (comma-separated), by index or name (default: a class per sample drawn from the seed).")
    var classes: String?

    @Option(help: "Classifier-free guidance scale s, with --class, for a model with a null label (trained with label dropout): ε = ε_null + s·(ε_class − ε_null).")
    var guidanceScale: Double?

    @OptionGroup(title: "Sampler defaults (override the model's)")
    var sampling: SamplingFlags

    @Option(help: "Start from this x_T (.npy, float32 [N, C, H, W]).")
    var noise: String?

    @Option(help: "Image-to-image: start from this PNG (the model's size and channels, or --resize).")
    var initImage: String?

    @Option(help: "With --init-image: how much to regenerate, in (0, 1]: the last int(steps × strength) steps run from the image noised to their first timestep; 1 starts from pure noise (default: 0.8, with --mask 1, as diffusers' pipelines).")
    var strength: Double?

    @Option(help: "Inpainting, with --init-image: a PNG mask, white = regenerate, black = keep the init image (gray or RGB).")
    var mask: String?

    @Option(help: "With --mask: RePaint resampling, each step but the last redone this many times after re-noising (ddpm or ddim).")
    var jumps = 0

    @Flag(help: "Convert --init-image and --mask to the model's channels and size (center crop, area/bilinear resize).")
    var resize = false

    @Option(help: "Folder for one PNG per sample.")
    var out: String?

    @Option(help: "Write a grid of all samples to this PNG.")
    var grid: String?

    @Option(help: "Write the final samples (float32 [N, C, H, W] in [-1, 1]) to this .npy.")
    var npy: String?

    @Option(help: "Generate only shard I of N (0 ≤ I < N): a contiguous range of the --n sample indices, written under the same names and with the same bytes as in one unsharded run, so N machines split a job with no coordination (e.g. a Kubernetes Indexed Job: --shard $JOB_COMPLETION_INDEX/N).")
    var shard: String?

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    /// --shard's I and N.
    var shardIndex: (index: Int, of: Int)? {
        get throws {
            guard let shard else { return nil }
            let parts = shard.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 0, i < n else {
                throw ValidationError("--shard must be I/N with 0 ≤ I < N (e.g. 0/4), got '\(shard)'")
            }
            return (i, n)
        }
    }

    func validate() throws {
        if count < 1 || count > 100_000 { throw ValidationError("--n must be 1…100000, got \(count)") }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
        if batchSize < 1 || batchSize > 1024 { throw ValidationError("--batch-size must be 1…1024, got \(batchSize)") }
        if let sampler, SamplerKind(rawValue: sampler) == nil { throw ValidationError("--sampler must be ddpm, ddim or dpm-solver++, got '\(sampler)'") }
        if out == nil && grid == nil && npy == nil { throw ValidationError("nothing to write: pass --out DIR, --grid FILE.png and/or --npy FILE.npy") }
        if let guidanceScale {
            if !guidanceScale.isFinite { throw ValidationError("--guidance-scale must be a finite number, got \(guidanceScale)") }
            if classes == nil { throw ValidationError("--guidance-scale needs --class (the class to guide towards)") }
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        _ = try shardIndex
        if initImage == nil {
            for (flag, given) in [("--strength", strength != nil), ("--mask", mask != nil), ("--jumps", jumps != 0), ("--resize", resize)] where given {
                throw ValidationError("\(flag) needs --init-image")
            }
        }
        if let strength, !(strength > 0 && strength <= 1) { throw ValidationError("--strength must be in (0, 1], got \(strength)") }
        if jumps < 0 || jumps > BatchStepper.maxJumps { throw ValidationError("--jumps must be 0…\(BatchStepper.maxJumps), got \(jumps)") }
        if jumps > 0 && mask == nil { throw ValidationError("--jumps needs --mask (RePaint resampling is for inpainting)") }
    }

    /// The PNG at `path`, decoded; errors name the flag and the file.
    func image(_ path: String, flag: String) throws -> Image8 {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(flag) \(path): cannot read the file") }
        do { return try PNG.decode(data, path: path) } catch { throw ValidationError("\(flag) \(error)") }
    }

    func run() throws {
        let model = try self.model ?? DefaultModel.path()
        var diffusionModel = try ModelLoader.open(model)
        diffusionModel.schedule = sampling.applied(to: try schedule.applied(to: diffusionModel.schedule))
        let generator = try ImageGenerator(model: diffusionModel, cpu: CPU(threads: threads))
        let t = generator.schedule.trainingTimesteps
        let stepCount = steps ?? t
        guard stepCount <= t else { throw ValidationError("--steps \(stepCount) exceeds the model's \(t) training timesteps") }
        var options = GenerationOptions()
        options.count = count
        options.seed = seed
        options.batchSize = batchSize
        options.sampler = generator.defaultSamplerOptions(steps: stepCount)
        if let sampler { options.sampler.kind = SamplerKind(rawValue: sampler)! }
        if let noise {
            guard case .float(let x) = try NumPy.read(noise) else { throw ValidationError("\(noise): x_T must be float32") }
            options.initialNoise = x
        }
        if let classes {
            guard let known = diffusionModel.classes else { throw ValidationError("--class: this model is not class-conditional (it takes no class)") }
            options.classLabels = try classes.split(separator: ",", omittingEmptySubsequences: false).map {
                do { return try known.label(String($0).trimmingCharacters(in: .whitespaces)) } catch { throw ValidationError("--class: \(error)") }
            }
        }
        options.guidanceScale = guidanceScale
        do { _ = try generator.stepper.guidance(options) } catch { throw ValidationError("--guidance-scale: \(error)") }
        if let initImage {
            let shape = diffusionModel.imageShape
            do { options.initImage = try ImageConversion.tensor(from: try image(initImage, flag: "--init-image"), shape: shape, resize: resize) }
            catch let error as DiffusionError { throw ValidationError("--init-image \(initImage): \(error)") }
            if let mask {
                do { options.mask = try ImageConversion.mask(from: try image(mask, flag: "--mask"), height: shape[1], width: shape[2], resize: resize) }
                catch let error as DiffusionError { throw ValidationError("--mask \(mask): \(error)") }
            }
            options.strength = strength ?? GenerationOptions.defaultStrength(inpainting: mask != nil)
            options.jumps = jumps
        }
        let labels = try generator.stepper.classLabels(options, samples: 0..<count).compactMap { $0 }
        let range = try shardIndex.map { GenerationOptions.shard($0.index, of: $0.of, count: count) } ?? 0..<count
        if range.isEmpty {
            print("shard \(shard ?? ""): no samples (\(count) samples over more shards)")
            return
        }
        let progress = ProgressBar(label: "generating")
        let samples = try generator.generate(options, samples: range) { done, total in progress.update(done, total) }
        progress.finish()
        let record = GenerationRecord(model: GenerationRecord.modelName(path: model), seed: seed, sampler: options.sampler, classLabels: labels,
                                      strength: initImage == nil ? nil : options.strength, inpaint: mask != nil, jumps: jumps,
                                      guidance: guidanceScale)
        let images = try range.map { try SampleImages.image(samples, index: $0 - range.lowerBound) }
        if let out {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            for (k, image) in zip(range, images) {
                try AtomicFile.write(try record.png(image, sample: k), to: URL(fileURLWithPath: out + String(format: "/%06d.png", k)))
            }
        }
        if let grid { try AtomicFile.write(try record.gridPNG(images), to: URL(fileURLWithPath: grid)) }
        if let npy { try NumPy.write(.float(samples), to: npy) }
        let kind = (initImage == nil ? "" : (mask == nil ? ", image-to-image" : ", inpainting") + " at strength \(options.strength)")
            + (guidanceScale.map { ", guidance \($0)" } ?? "")
        let which = range.count == count ? "\(count) samples" : "samples \(range.lowerBound)…\(range.upperBound - 1) of \(count) (shard \(shard ?? ""))"
        let shown = labels.count == count ? Array(labels[range]) : labels
        print("generated \(which) (\(options.sampler.kind.rawValue), \(stepCount) steps\(kind), seed \(seed)"
              + (shown.isEmpty ? ")" : ", classes \(shown.map(String.init).joined(separator: ",")))"))
    }
}

/// A one-line progress bar on standard error (rewritten in place on a terminal).
final class ProgressBar {
    let label: String
    let start = Date()
    let terminal = isatty(2) != 0
    var last = -1

    init(label: String) { self.label = label }

    func update(_ done: Int, _ total: Int) {
        let percent = total > 0 ? done * 100 / total : 100
        guard percent != last else { return }
        last = percent
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let bar = String(repeating: "#", count: percent / 5) + String(repeating: ".", count: 20 - percent / 5)
        let line = String(format: "%@ [%@] %3d%% %d/%d steps, %.1f it/s", label, bar, percent, done, total, rate)
        if terminal { FileHandle.standardError.write(Data(("\r" + line).utf8)) }
        else if percent % 25 == 0 { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    func finish() { if terminal { FileHandle.standardError.write(Data("\n".utf8)) } }
}

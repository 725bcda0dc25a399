// Samplers step by step against diffusers' DDPM / DDIM / DPM-Solver++ schedulers and
// denoising-diffusion-pytorch's ddim_sample: each step is fed the library's own input sample,
// model output and noise, and must give its next sample and x0 prediction.

import Foundation
import Testing
@testable import Diffusion
import Graphs
import ModelIO
import Tensors

/// One recorded sampling run of a reference library.
struct SamplerFixture: CustomStringConvertible, Sendable {
    let folder: URL
    var description: String { folder.lastPathComponent }

    static var all: [SamplerFixture] {
        let root = schedulerFixtures.appendingPathComponent("steps")
        let folders = (try? FileManager.default.contentsOfDirectory(at: root, includingPropertiesForKeys: nil)) ?? []
        return folders.filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("case.json").path) }
            .sorted { $0.path < $1.path }.map { SamplerFixture(folder: $0) }
    }

    func array(_ name: String) throws -> Tensor {
        guard case .float(let t) = try NumPy.read(folder.appendingPathComponent(name).path) else { throw GraphError.invalid("\(name) is not float") }
        return t
    }

    func config() throws -> [String: Any] {
        let data = try Data(contentsOf: folder.appendingPathComponent("case.json"))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }
}

/// Sampler options and schedule from a fixture's case.json.
func samplerFrom(_ c: [String: Any]) throws -> Sampler {
    var o = SamplerOptions()
    let library = c["sampler"] as? String ?? ""
    o.kind = library == "ddpm" ? .ddpm : (library == "dpmsolver++" ? .dpmSolverPlusPlus : .ddim)
    o.steps = c["steps"] as? Int ?? 0
    o.prediction = PredictionType(rawValue: c["prediction_type"] as? String ?? "epsilon")
        ?? (c["prediction_type"] as? String == "pred_v" ? .vPrediction : .epsilon)
    o.eta = c["eta"] as? Double ?? 0
    o.clipSample = c["clip_sample"] as? Bool ?? false
    o.clipRange = c["clip_sample_range"] as? Double ?? 1
    o.setAlphaToOne = c["set_alpha_to_one"] as? Bool ?? true
    o.variance = DDPMVariance(rawValue: c["variance_type"] as? String ?? "fixed_small") ?? .fixedSmall
    o.stepsOffset = c["steps_offset"] as? Int ?? 0
    o.spacing = TimestepSpacing(rawValue: c["timestep_spacing"] as? String ?? "leading") ?? .leading
    var scheduleName = c["beta_schedule"] as? String ?? "linear"
    if library == "lucidrains" {
        o.spacing = .lucidrains
        o.setAlphaToOne = true
        o.clipSample = true
        o.rederiveNoise = true
        if !scheduleName.hasPrefix("lucidrains_") { scheduleName = "lucidrains_" + scheduleName }
    }
    guard let kind = BetaSchedule(rawValue: scheduleName) else { throw GraphError.invalid("unknown beta schedule \(scheduleName)") }
    let schedule = NoiseSchedule(kind, timesteps: c["num_train_timesteps"] as? Int ?? 1000,
                                 betaStart: c["beta_start"] as? Double ?? 0.0001, betaEnd: c["beta_end"] as? Double ?? 0.02)
    return Sampler(o, schedule: schedule)
}

/// max|a − b| / max(max|b|, 1).
func scaledError(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var worst: Float = 0, scale: Float = 1
    for i in 0..<n { worst = max(worst, abs(a[i] - b[i])); scale = max(scale, abs(b[i])) }
    return worst / scale
}

@Suite struct SamplerTests {
    @Test func fixturesArePresent() {
        #expect(SamplerFixture.all.count >= 9, "found \(SamplerFixture.all.count) sampler fixtures")
    }

    @Test(arguments: SamplerFixture.all) func stepsMatchTheLibrary(_ fixture: SamplerFixture) throws {
        let c = try fixture.config()
        let sampler = try samplerFrom(c)
        #expect(sampler.timesteps == (c["timesteps"] as? [Int] ?? []), "\(fixture): timesteps \(sampler.timesteps)")
        let outputs = try fixture.array("model_outputs.npy"), noises = try fixture.array("noises.npy")
        let samples = try fixture.array("samples.npy"), predicted = try fixture.array("pred_x0.npy")
        let steps = sampler.timesteps.count, n = samples.count / (steps + 1)
        var history = SamplerHistory()
        let x = [Float](repeating: 0, count: n), x0 = [Float](repeating: 0, count: n)
        var worstSample: Float = 0, worstX0: Float = 0
        var xs = x, x0s = x0
        for i in 0..<steps {
            xs.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: samples.pointer + i * n, count: n) }
            xs.withUnsafeMutableBufferPointer { xp in
                x0s.withUnsafeMutableBufferPointer { pp in
                    sampler.step(i, modelOutput: outputs.pointer + i * n, sample: xp.baseAddress!,
                                 noise: sampler.addsNoise ? UnsafePointer(noises.pointer + i * n) : nil,
                                 predictedX0: pp.baseAddress!, count: n, history: &history)
                }
            }
            worstSample = max(worstSample, xs.withUnsafeBufferPointer { scaledError($0.baseAddress!, samples.pointer + (i + 1) * n, n) })
            worstX0 = max(worstX0, x0s.withUnsafeBufferPointer { scaledError($0.baseAddress!, predicted.pointer + i * n, n) })
        }
        #expect(worstSample <= 1e-5, "\(fixture): next sample off by \(worstSample) of scale")
        #expect(worstX0 <= 1e-5, "\(fixture): x0 prediction off by \(worstX0) of scale")
    }
}

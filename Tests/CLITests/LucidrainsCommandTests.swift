// `denoise import` of denoising-diffusion-pytorch checkpoints and `denoise generate` on them against
// the library's own samplers (fixtures from scripts/make_lucidrains_fixtures.py): ddim_sample of a
// model trained on Fashion-MNIST from a given x_T (eta 0) and with denoise's Philox noise (eta 1),
// p_sample_loop (DDPM over all T) with Philox noise, and the same model exported to ONNX and
// sampled with a scheduler config instead of the native folder's schedule. The brief's bound is
// 2e-3 on [0, 1] images; the runs agree to ~1e-6, so the tests hold them to 1e-4.

import Foundation
import ModelIO
import Testing
import Tensors

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../DiffusionTests/Fixtures/lucidrains").standardizedFileURL.path
private let trained = fixtures + "/trained_fashion16"
private let regenerate = "regenerate with /work/venv/bin/python scripts/make_lucidrains_fixtures.py"

/// max |(ours + 1) / 2 − library| over two .npy files (ours in [−1, 1], the library's unnormalized to [0, 1]).
private func maxDifference(_ ours: String, _ library: String) throws -> Float {
    guard case .float(let a) = try NumPy.read(ours), case .float(let b) = try NumPy.read(library) else { throw CocoaError(.fileReadCorruptFile) }
    guard a.shape == b.shape else { return .infinity }
    return zip(a.scalars, b.scalars).map { abs(($0 + 1) / 2 - $1) }.max() ?? .infinity
}

private func imported(_ checkpoint: String, _ extra: [String] = []) throws -> String {
    let dir = NSTemporaryDirectory() + "denoise-lucidrains-\(UUID().uuidString)"
    let r = try runDenoise(["import", checkpoint, "--image-size", "16", "--out", dir] + extra)
    #expect(r.status == 0, "\(r.stderr)")
    return dir
}

@Suite struct LucidrainsCommandTests {
    /// The hard requirement: `generate --steps 50 --sampler ddim --eta 0 --noise x_T` is the library's ddim_sample.
    @Test func ddimIsTheLibrarysDDIMSample() throws {
        let model = try imported(trained + "/checkpoint.safetensors")
        let out = model + "/ddim50.npy"
        let r = try runDenoise(["generate", model, "--steps", "50", "--sampler", "ddim", "--eta", "0", "--noise", trained + "/x_T.npy",
                                "--n", "4", "--npy", out])
        #expect(r.status == 0, "\(r.stderr)")
        let d = try maxDifference(out, trained + "/ddim50.npy")
        #expect(d <= 1e-4, "max |denoise − ddim_sample| = \(d) on [0, 1] images; \(regenerate)")
    }

    /// eta 1: the library's ddim_sample with every torch.randn replaced by the Philox noise denoise draws for the seed.
    @Test func ddimWithNoiseIsTheLibrarys() throws {
        let model = try imported(trained + "/checkpoint.safetensors")
        let out = model + "/eta1.npy"
        let r = try runDenoise(["generate", model, "--steps", "50", "--eta", "1", "--seed", "3", "--n", "4", "--batch-size", "3", "--npy", out])
        #expect(r.status == 0 && r.stdout.contains("ddim, 50 steps"), "\(r.stdout)\(r.stderr)")
        let d = try maxDifference(out, trained + "/ddim50_eta1_philox.npy")
        #expect(d <= 1e-4, "max |denoise − ddim_sample(eta 1)| = \(d); \(regenerate)")
    }

    /// Default sampling (steps = T): the library's p_sample_loop, same noise.
    @Test func ddpmIsTheLibrarysPSampleLoop() throws {
        let model = try imported(fixtures + "/full_linear_eps/checkpoint.safetensors")
        let out = model + "/ddpm.npy"
        let r = try runDenoise(["generate", model, "--seed", "5", "--n", "2", "--npy", out])
        #expect(r.status == 0 && r.stdout.contains("ddpm, 100 steps"), "\(r.stdout)\(r.stderr)")
        let d = try maxDifference(out, fixtures + "/full_linear_eps/ddpm_philox.npy")
        #expect(d <= 1e-4, "max |denoise − p_sample_loop| = \(d); \(regenerate)")
    }

    /// An ONNX file without the schedule (here: the imported model exported, its metadata replaced by
    /// --scheduler-config) samples as the library when the scheduler config carries its settings.
    @Test func onnxWithASchedulerConfigIsTheLibrarys() throws {
        let model = try imported(trained + "/checkpoint.safetensors")
        let onnx = model + ".onnx", config = model + "/scheduler_config.json", out = model + "/onnx.npy"
        #expect(try runDenoise(["export", model, "--onnx", onnx]).status == 0)
        try Data(#"{"_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "beta_schedule": "lucidrains_sigmoid", "prediction_type": "v_prediction", "clip_sample": true, "timestep_spacing": "lucidrains", "use_clipped_model_output": true}"#.utf8)
            .write(to: URL(fileURLWithPath: config))
        let r = try runDenoise(["generate", onnx, "--scheduler-config", config, "--steps", "50", "--noise", trained + "/x_T.npy", "--n", "4", "--npy", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try maxDifference(out, trained + "/ddim50.npy") <= 1e-4)
        // Without the sampler keys (diffusers' DDIM defaults: leading spacing, no re-derived noise) it is not the library's.
        let plain = model + "/plain.npy"
        let p = try runDenoise(["generate", onnx, "--scheduler-config", config, "--timestep-spacing", "leading", "--no-rederive-noise",
                                "--steps", "50", "--noise", trained + "/x_T.npy", "--n", "4", "--npy", plain])
        #expect(p.status == 0, "\(p.stderr)")
        #expect(try maxDifference(plain, trained + "/ddim50.npy") > 1e-2)
    }

    @Test func importNamesWhatIsMissing() throws {
        let checkpoint = fixtures + "/full_linear_eps/checkpoint.safetensors"
        let noSize = try runDenoise(["import", checkpoint, "--out", NSTemporaryDirectory() + "x"])
        #expect(noSize.status != 0 && noSize.stderr.contains("--image-size S is required"), "\(noSize.stderr)")
        let badWeights = try runDenoise(["import", checkpoint, "--image-size", "16", "--weights", "best", "--out", NSTemporaryDirectory() + "x"])
        #expect(badWeights.status != 0 && badWeights.stderr.contains("--weights must be ema or model"), "\(badWeights.stderr)")
        let noEMA = try runDenoise(["import", fixtures + "/cosine_v_minsnr/checkpoint.safetensors", "--image-size", "16", "--out", NSTemporaryDirectory() + "x"])
        #expect(noEMA.status != 0 && noEMA.stderr.contains("--weights model"), "\(noEMA.stderr)")
        let direct = try runDenoise(["generate", checkpoint, "--npy", NSTemporaryDirectory() + "x.npy"])
        #expect(direct.status != 0 && direct.stderr.contains("denoise import"), "\(direct.stderr)")
        let model = try imported(fixtures + "/cosine_v_minsnr/checkpoint.safetensors", ["--weights", "model"])
        let text = try String(contentsOfFile: model + "/model.json", encoding: .utf8)
        #expect(text.contains(#""format_version": 3"#) && text.contains(#""timestep_spacing": "lucidrains""#) && text.contains(#""lucidrains.min_snr_gamma": "5""#))
    }

    /// `denoise import results/model-N.pt`: the Trainer's milestone, straight from torch.save, imports
    /// and generates; a corrupted or foreign .pt is an error naming the file.
    @Test func trainerMilestoneImports() throws {
        let model = try imported(fixtures + "/full_linear_eps/model-1.pt")
        let r = try runDenoise(["generate", model, "--n", "1", "--steps", "5", "--npy", model + "/s.npy"])
        #expect(r.status == 0, "\(r.stderr)")
        let broken = NSTemporaryDirectory() + "denoise-broken-\(UUID().uuidString).pt"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/full_linear_eps/model-1.pt"))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: broken))
        let bad = try runDenoise(["import", broken, "--image-size", "16", "--out", NSTemporaryDirectory() + "x"])
        #expect(bad.status != 0 && bad.stderr.contains(broken) && !bad.stderr.contains("Fatal error"), "\(bad.stderr)")
    }
}

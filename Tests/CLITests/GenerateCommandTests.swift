// End-to-end tests of `denoise generate` on a committed ONNX U-Net (random weights: the images are
// noise, but every file, size, parameter and byte is checkable).

import Foundation
import Imaging
import ModelIO
import Testing
import Tensors

private let unet = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../GraphTests/Fixtures/onnx/diffusers_unet_small/diffusers_unet_small.ts.onnx").standardizedFileURL.path

@Suite struct GenerateCommandTests {
    @Test func writesPNGsGridAndNpyWithParameters() throws {
        let dir = NSTemporaryDirectory() + "denoise-gen-\(UUID().uuidString)"
        let r = try runDenoise(["generate", unet, "--n", "3", "--steps", "5", "--batch-size", "2", "--seed", "11",
                                "--out", dir + "/png", "--grid", dir + "/grid.png", "--npy", dir + "/x.npy"])
        #expect(r.status == 0, "\(r.stderr)")
        for k in 0..<3 {
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + String(format: "/png/%06d.png", k)))
            let image = try PNG.decode(data, path: "sample")
            #expect(image.width == 16 && image.height == 16 && image.channels == 3)
            let parameters = PNG.text(of: data).first { $0.0 == "parameters" }?.1 ?? ""
            #expect(parameters.contains("seed=11") && parameters.contains("sample=\(k)") && parameters.contains("steps=5")
                    && parameters.contains("sampler=ddim"), "\(parameters)")
        }
        let grid = try PNG.decode(try Data(contentsOf: URL(fileURLWithPath: dir + "/grid.png")), path: "grid")
        #expect(grid.width == 2 * 18 + 2 && grid.height == 2 * 18 + 2)  // 2 columns, 2 rows, 2-pixel gaps
        guard case .float(let x) = try NumPy.read(dir + "/x.npy") else { Issue.record("npy not float"); return }
        #expect(x.shape == [3, 3, 16, 16] && x.scalars.allSatisfy { $0.isFinite })
    }

    /// A lucidrains-trained model's schedule and v-prediction from flags, sampled with its own DDIM spacing.
    @Test func scheduleFromFlags() throws {
        let dir = NSTemporaryDirectory() + "denoise-gen-\(UUID().uuidString)"
        let r = try runDenoise(["generate", unet, "--n", "1", "--steps", "10", "--beta-schedule", "lucidrains_sigmoid",
                                "--num-train-timesteps", "100", "--prediction-type", "v_prediction", "--timestep-spacing", "lucidrains",
                                "--npy", dir + ".npy"])
        #expect(r.status == 0 && r.stdout.contains("ddim, 10 steps"), "\(r.stdout)\(r.stderr)")
    }

    @Test func sameSettingsGiveTheSameBytes() throws {
        let dir = NSTemporaryDirectory() + "denoise-gen-\(UUID().uuidString)"
        // The same seed gives the same bytes whatever the batch size and thread count.
        for (run, batch, threads) in [("a", 3, 2), ("b", 1, 1), ("d", 2, 2)] {
            let r = try runDenoise(["generate", unet, "--n", "3", "--steps", "4", "--sampler", "ddpm", "--seed", "3",
                                    "--batch-size", "\(batch)", "--threads", "\(threads)", "--out", dir + "/" + run])
            #expect(r.status == 0, "\(r.stderr)")
        }
        for k in 0..<3 {
            let name = String(format: "/%06d.png", k)
            let a = FileManager.default.contents(atPath: dir + "/a" + name)
            #expect(a != nil && a == FileManager.default.contents(atPath: dir + "/d" + name), "sample \(k)")
        }
        for k in 0..<3 {
            let name = String(format: "/%06d.png", k)
            #expect(FileManager.default.contents(atPath: dir + "/a" + name) == FileManager.default.contents(atPath: dir + "/b" + name))
        }
        let other = try runDenoise(["generate", unet, "--n", "2", "--steps", "4", "--sampler", "ddpm", "--seed", "4", "--out", dir + "/c"])
        #expect(other.status == 0)
        #expect(FileManager.default.contents(atPath: dir + "/a/000000.png") != FileManager.default.contents(atPath: dir + "/c/000000.png"))
    }

    /// `--shard I/N` writes exactly the samples of shard I, under the names and with the bytes of
    /// one unsharded run: the shards' PNGs are that run's files, their .npy files concatenate to its.
    @Test func shardsConcatenateToOneRun() throws {
        let dir = NSTemporaryDirectory() + "denoise-gen-\(UUID().uuidString)"
        let common = ["generate", unet, "--n", "5", "--steps", "3", "--seed", "9", "--batch-size", "2"]
        #expect(try runDenoise(common + ["--out", dir + "/one", "--npy", dir + "/one.npy"]).status == 0)
        var parts: [Float] = [], written: [[String]] = []
        for i in 0..<3 {
            let r = try runDenoise(common + ["--shard", "\(i)/3", "--out", dir + "/sharded", "--npy", dir + "/part\(i).npy"])
            #expect(r.status == 0, "\(r.stderr)")
            written.append(try FileManager.default.contentsOfDirectory(atPath: dir + "/sharded").sorted())
            guard case .float(let x) = try NumPy.read(dir + "/part\(i).npy") else { Issue.record("npy not float"); return }
            #expect(x.shape[0] == [1, 2, 2][i], "shard \(i) of 5 samples over 3 shards")
            parts += x.scalars
        }
        // Shard 0 is sample 0; shard 1 adds samples 1 and 2; shard 2 the last two.
        #expect(written == [["000000.png"], ["000000.png", "000001.png", "000002.png"], (0..<5).map { String(format: "%06d.png", $0) }])
        for k in 0..<5 {
            let name = String(format: "/%06d.png", k)
            let one = FileManager.default.contents(atPath: dir + "/one" + name)
            #expect(one != nil && one == FileManager.default.contents(atPath: dir + "/sharded" + name), "sample \(k)")
        }
        guard case .float(let whole) = try NumPy.read(dir + "/one.npy") else { Issue.record("npy not float"); return }
        #expect(parts == whole.scalars)
        // More shards than samples: an empty shard writes nothing and says so.
        let empty = try runDenoise(["generate", unet, "--n", "1", "--steps", "2", "--shard", "2/4", "--out", dir + "/empty"])
        #expect(empty.status == 0 && empty.stdout.contains("no samples") && !FileManager.default.fileExists(atPath: dir + "/empty"))
        for bad in ["3/3", "a/2", "1", "-1/2", "0/0", "1/2/3"] {
            let r = try runDenoise(["generate", unet, "--n", "2", "--shard=" + bad, "--out", dir + "/bad"])
            #expect(r.status != 0 && r.stderr.contains("--shard must be I/N"), "--shard \(bad): \(r.stderr)")
        }
    }

    /// With no MODEL, generate uses the default model ($DENOISE_MODEL first).
    @Test func defaultModelFromTheEnvironment() throws {
        let dir = NSTemporaryDirectory() + "denoise-gen-\(UUID().uuidString)"
        #expect(try runDenoise(["import", unet, "--out", dir + "/native"]).status == 0)
        let r = try runDenoise(["generate", "--n", "1", "--steps", "2", "--seed", "1", "--grid", dir + "/g.png"], environment: ["DENOISE_MODEL": dir + "/native"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(PNG.text(of: try Data(contentsOf: URL(fileURLWithPath: dir + "/g.png"))).contains { $0.1.contains("model=native") })
    }

    @Test func badFlagsAreNamed() throws {
        let dir = NSTemporaryDirectory() + "denoise-gen-\(UUID().uuidString)"
        let cases: [([String], String)] = [
            (["--n", "0", "--out", dir], "--n"), (["--sampler", "euler", "--out", dir], "--sampler"),
            (["--eta", "2", "--out", dir], "--eta"), (["--timestep-spacing", "odd", "--out", dir], "--timestep-spacing"),
            ([], "nothing to write"), (["--steps", "5000", "--out", dir], "exceeds"),
            (["--beta-schedule", "wavy", "--out", dir], "beta_schedule 'wavy'"),
            (["--prediction-type", "noise", "--out", dir], "prediction_type 'noise'"),
        ]
        for (flags, expected) in cases {
            let r = try runDenoise(["generate", unet] + flags)
            #expect(r.status != 0 && r.stderr.contains(expected), "\(flags): \(r.stderr)")
        }
        try NumPy.write(.float(Tensor(zeros: [1, 3, 8, 8])), to: NSTemporaryDirectory() + "small-noise.npy")
        let noise = try runDenoise(["generate", unet, "--n", "2", "--steps", "2", "--noise", NSTemporaryDirectory() + "small-noise.npy", "--out", dir])
        #expect(noise.status != 0 && noise.stderr.contains("[1, 3, 8, 8]"), "\(noise.stderr)")
    }
}

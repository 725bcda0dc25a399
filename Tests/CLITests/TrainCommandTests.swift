// End-to-end tests of `denoise train`: a tiny U-Net config on a folder of PNGs (one corrupt, named
// and skipped), a loss log, a checkpoint that generates, --resume, and bad flags.

import Foundation
import Imaging
import Testing

@Suite struct TrainCommandTests {
    @Test func trainsResumesAndGenerates() throws {
        let dir = NSTemporaryDirectory() + "denoise-traincli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/images", withIntermediateDirectories: true)
        for k in 0..<6 {
            let pixels = (0..<64).map { UInt8(($0 + k) % 2 == 0 ? 255 : 0) }
            try PNG.encode(Image8(width: 8, height: 8, channels: 1, pixels: pixels)).write(to: URL(fileURLWithPath: dir + "/images/\(k).png"))
        }
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: dir + "/images/bad.png"))
        let config = #"{"sample_size": 8, "in_channels": 1, "out_channels": 1, "block_out_channels": [8, 16], "layers_per_block": 1, "norm_num_groups": 4, "attention_head_dim": 8, "down_block_types": ["DownBlock2D", "AttnDownBlock2D"], "up_block_types": ["AttnUpBlock2D", "UpBlock2D"]}"#
        try Data(config.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        let common = ["train", "--config", dir + "/config.json", "--data", dir + "/images", "--batch-size", "4", "--out", dir + "/model", "--log", dir + "/loss.csv"]
        let first = try runDenoise(common + ["--steps", "3"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("bad.png"), "the corrupt image was not named: \(first.stderr)")
        let resumed = try runDenoise(common + ["--steps", "5", "--resume", "--sample-every", "5"])
        #expect(resumed.status == 0 && resumed.stdout.contains("from step 3"), "\(resumed.stdout)\(resumed.stderr)")
        let log = try String(contentsOfFile: dir + "/loss.csv", encoding: .utf8).split(separator: "\n")
        #expect(log.first == "step,loss,lr,grad_norm" && log.count == 6 && log.last?.hasPrefix("5,") == true, "\(log)")
        let grid = try PNG.decode(try Data(contentsOf: URL(fileURLWithPath: dir + "/model/samples/step_000005.png")), path: "grid")
        #expect(grid.width == 4 * 10 + 2 && grid.height == 4 * 10 + 2)
        let generated = try runDenoise(["generate", dir + "/model", "--n", "2", "--steps", "3", "--grid", dir + "/grid.png"])
        #expect(generated.status == 0, "\(generated.stderr)")
    }

    @Test func badFlagsAreNamed() throws {
        for (flags, expected) in [(["--steps", "0"], "--steps"), (["--lr", "2"], "--lr"), (["--ema", "1"], "--ema"),
                                  (["--config", "a.json", "--model", "b"], "not both"), (["--data", "/nonexistent"], "/nonexistent"),
                                  (["--loss", "huber"], "--loss"), (["--grad-accum", "0"], "--grad-accum"), (["--ema-decay", "1"], "--ema-decay"),
                                  (["--weight-decay", "-1"], "--weight-decay"), (["--train-only", "nothing.*"], "no parameters to train")] {
            let r = try runDenoise(["train", "--out", NSTemporaryDirectory() + "x"] + flags)
            #expect(r.status != 0 && r.stderr.contains(expected), "\(flags): \(r.stderr)")
        }
    }

    /// `train --class-conditional` on a folder of class folders, then guided generation by class name.
    @Test func classConditionalTrainingAndGuidedGeneration() throws {
        let dir = NSTemporaryDirectory() + "denoise-classcli-\(UUID().uuidString)"
        for (k, name) in ["bag", "sneaker"].enumerated() {
            try FileManager.default.createDirectory(atPath: dir + "/images/" + name, withIntermediateDirectories: true)
            for i in 0..<3 {
                let pixels = (0..<64).map { UInt8(((k == 0 ? $0 % 8 : $0 / 8) + i) % 2 == 0 ? 255 : 0) }
                try PNG.encode(Image8(width: 8, height: 8, channels: 1, pixels: pixels)).write(to: URL(fileURLWithPath: dir + "/images/\(name)/\(i).png"))
            }
        }
        let config = #"{"sample_size": 8, "in_channels": 1, "out_channels": 1, "block_out_channels": [8, 16], "layers_per_block": 1, "norm_num_groups": 4, "attention_head_dim": 8, "down_block_types": ["DownBlock2D", "AttnDownBlock2D"], "up_block_types": ["AttnUpBlock2D", "UpBlock2D"]}"#
        try Data(config.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        let trained = try runDenoise(["train", "--class-conditional", "--config", dir + "/config.json", "--data", dir + "/images", "--batch-size", "4",
                                      "--steps", "3", "--out", dir + "/model"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let json = try String(contentsOfFile: dir + "/model/model.json", encoding: .utf8)
        #expect(json.contains(#""names": ["bag", "sneaker"]"#) && json.contains(#""null_label": 2"#), "\(json.prefix(400))")
        let generated = try runDenoise(["generate", dir + "/model", "--n", "2", "--steps", "3", "--class", "sneaker", "--guidance-scale", "3",
                                        "--out", dir + "/out"])
        #expect(generated.status == 0, "\(generated.stderr)")
        let text = PNG.text(of: try Data(contentsOf: URL(fileURLWithPath: dir + "/out/000000.png"))).first { $0.0 == "parameters" }?.1 ?? ""
        #expect(text.contains(" class=1") && text.hasSuffix(" guidance=3.0"), "\(text)")
        let unguided = try runDenoise(["generate", dir + "/model", "--n", "1", "--steps", "3", "--guidance-scale", "3", "--grid", dir + "/g.png"])
        #expect(unguided.status != 0 && unguided.stderr.contains("--guidance-scale needs --class"), "\(unguided.stderr)")
        let unlabelled = try runDenoise(["train", "--class-conditional", "--config", dir + "/config.json", "--data", dir + "/images/bag",
                                         "--steps", "1", "--out", dir + "/m2"])
        #expect(unlabelled.status != 0 && unlabelled.stderr.contains("no class folders"), "\(unlabelled.stderr)")
    }
}

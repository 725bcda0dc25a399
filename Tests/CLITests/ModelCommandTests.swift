// End-to-end tests of the model commands on the committed ONNX fixtures: inspect, eval (ONNX and
// native), import (also of a version-1 native folder), bench MODEL — and their errors for missing,
// corrupted or mismatched input.

import Foundation
import Graphs
import ModelIO
import Testing
import TestSupport
import Tensors

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../GraphTests/Fixtures/onnx").standardizedFileURL
private let diffusers = fixtures.appendingPathComponent("diffusers_unet_small")
private let model = diffusers.appendingPathComponent("diffusers_unet_small.ts.onnx").path
/// The shipped native model (a folder).
private let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../models/fashion-mnist").standardizedFileURL.path

/// A fresh temporary folder.

/// max|a − b| / max|b| of two float .npy files.
private func relativeError(_ a: String, _ b: String) throws -> Float {
    guard case .float(let x) = try NumPy.read(a), case .float(let y) = try NumPy.read(b), x.shape == y.shape else { return .infinity }
    var worst: Float = 0, scale: Float = 1e-30
    for i in 0..<y.count { worst = max(worst, abs(x.pointer[i] - y.pointer[i])); scale = max(scale, abs(y.pointer[i])) }
    return worst / scale
}

@Suite struct ModelCommandTests {
    @Test func inspectDescribesTheModel() throws {
        let r = try runDenoise(["inspect", model, "--batch", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        for part in ["input  x: float32 [batch, 3, 16, 16]", "input  t: int64 [batch]", "parameters: 177",
                     "FLOPs per forward", "arena:", "groupNorm+silu", "instanceNorm"] {
            #expect(r.stdout.contains(part), "missing '\(part)' in:\n\(r.stdout)")
        }
    }

    /// inspect reports the plan that runs: the FLOPs, arena bytes, steps and time table of an
    /// InferencePlan compiled with default options (Winograd on, a 1000-timestep table, the models'
    /// schedule) for the same shapes; `--no-winograd` those of one compiled without Winograd.
    @Test(arguments: [model, shipped]) func inspectReportsThePlanThatRuns(_ path: String) throws {
        let native = try ModelLoader.open(path)
        #expect(native.schedule.numTrainTimesteps == 1000)
        let shapes = try ModelLoader.inputShapes(native.graph, batch: 2), cpu = CPU(threads: 1)
        for winograd in [true, false] {
            let r = try runDenoise(["inspect", path, "--batch", "2"] + (winograd ? [] : ["--no-winograd"]))
            #expect(r.status == 0, "\(r.stderr)")
            let plan = try InferencePlan(native.graph, inputShapes: shapes, cpu: cpu, options: PlanOptions(winograd: winograd))
            let lowered = plan.compiled.graph.nodes.filter { $0.op.kind == .winogradConv }.count
            for part in ["(\(plan.flops), batch 2)", "(\(plan.arenaBytes) bytes;", "steps: \(plan.stepCount) per forward",
                         "time table: 1000 timesteps", "\(plan.timeBranchStepCount) steps skipped",
                         winograd ? "winograd: on, \(lowered) convs lowered" : "winograd: off"] {
                #expect(r.stdout.contains(part), "\(path): missing '\(part)' in:\n\(r.stdout)")
            }
            #expect(plan.hasTimeTable && (!winograd || lowered > 0), "\(path): winograd \(lowered), time table \(plan.hasTimeTable)")
        }
    }

    @Test func evalMatchesOnnxRuntimeAndImportRoundTrips() throws {
        let dir = try temporaryFolder()
        let x = diffusers.appendingPathComponent("x.npy").path, t = diffusers.appendingPathComponent("t.npy").path
        let expected = diffusers.appendingPathComponent("y.ts.npy").path
        let r = try runDenoise(["eval", model, "--x", x, "--t", t, "--out", dir + "/y.npy"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try relativeError(dir + "/y.npy", expected) <= 1e-4)
        let imported = try runDenoise(["import", model, "--out", dir + "/native"])
        #expect(imported.status == 0 && imported.stdout.contains("linear 0.0001…0.02 over 1000 steps, epsilon"), "\(imported.stdout)\(imported.stderr)")
        let again = try runDenoise(["eval", dir + "/native", "--x", x, "--t", t, "--out", dir + "/y2.npy"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try relativeError(dir + "/y2.npy", dir + "/y.npy") == 0)
    }

    @Test func importTakesTheScheduleFromAConfigFile() throws {
        let dir = try temporaryFolder()
        let config = dir + "/scheduler_config.json"
        try Data(#"{"num_train_timesteps": 500, "beta_schedule": "squaredcos_cap_v2", "prediction_type": "v_prediction"}"#.utf8)
            .write(to: URL(fileURLWithPath: config))
        let r = try runDenoise(["import", model, "--out", dir + "/m", "--scheduler-config", config])
        #expect(r.status == 0 && r.stdout.contains("squaredcos_cap_v2") && r.stdout.contains("500 steps, v_prediction"), "\(r.stdout)\(r.stderr)")
        let native = try DiffusionModel.readNative(dir + "/m")
        #expect(native.schedule.numTrainTimesteps == 500 && native.imageShape == [3, 16, 16])
        try Data(#"{"beta_schedule": "exotic"}"#.utf8).write(to: URL(fileURLWithPath: config))
        let bad = try runDenoise(["import", model, "--out", dir + "/m2", "--scheduler-config", config])
        #expect(bad.status != 0 && bad.stderr.contains("exotic") && bad.stderr.contains("scheduler_config.json"), "\(bad.stderr)")
    }

    @Test func importRewritesAVersion1NativeFolder() throws {
        let v1 = fixtures.appendingPathComponent("../native/v1-small").standardizedFileURL.path, dir = try temporaryFolder()
        let r = try runDenoise(["import", v1, "--out", dir + "/v2"])
        #expect(r.status == 0 && r.stdout.contains("native format version 1") && r.stdout.contains("format version 2"), "\(r.stdout)\(r.stderr)")
        #expect(try DiffusionModel.storedFormatVersion(dir + "/v2") == 2)
        #expect(FileManager.default.contents(atPath: dir + "/v2/weights.safetensors") == FileManager.default.contents(atPath: v1 + "/weights.safetensors"))
        let old = try DiffusionModel.readNative(v1), new = try DiffusionModel.readNative(dir + "/v2")
        #expect(new.graph.nodes.map { "\($0.op)" } == old.graph.nodes.map { "\($0.op)" } && new.schedule == old.schedule)
    }

    @Test func benchModelPrintsJSON() throws {
        let r = try runDenoise(["bench", model, "--batch", "1,2", "--threads", "1,2", "--json", "--min-seconds", "0"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(rows.map { $0["batch"] as? Int } == [1, 2, 1, 2])
        #expect(rows.map { $0["threads"] as? Int } == [1, 1, 2, 2])
        let profile = try runDenoise(["bench", model, "--batch", "1", "--profile", "--top", "2", "--min-seconds", "0"])
        #expect(profile.status == 0 && profile.stdout.contains("ms in steps per forward") && profile.stdout.contains("slowest steps"),
                "\(profile.stdout)\(profile.stderr)")
        let listed = profile.stdout.components(separatedBy: "slowest steps").last?.split(separator: "\n").dropFirst() ?? []
        #expect(listed.count == 2, "--top 2 listed \(listed.count) steps")
        let profileJSON = try runDenoise(["bench", model, "--profile", "--json"])
        #expect(profileJSON.status != 0 && profileJSON.stderr.contains("--profile"), "\(profileJSON.stderr)")
        let badThreads = try runDenoise(["bench", model, "--threads", "2,x"])
        #expect(badThreads.status != 0 && badThreads.stderr.contains("--threads"), "\(badThreads.stderr)")
        #expect(rows.allSatisfy { ($0["ms_median"] as? Double ?? 0) > 0 && ($0["gflops"] as? Double ?? 0) > 0 })
    }

    @Test func badInputGivesClearErrors() throws {
        let dir = try temporaryFolder()
        let x = diffusers.appendingPathComponent("x.npy").path, t = diffusers.appendingPathComponent("t.npy").path
        let missing = try runDenoise(["eval", dir + "/nope.onnx", "--x", x, "--t", t, "--out", dir + "/y.npy"])
        #expect(missing.status != 0 && missing.stderr.contains("nope.onnx"), "\(missing.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: model))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: dir + "/half.onnx"))
        let truncated = try runDenoise(["inspect", dir + "/half.onnx"])
        #expect(truncated.status != 0 && truncated.stderr.contains("half.onnx") && truncated.stderr.contains("truncated"), "\(truncated.stderr)")
        try Data("not numpy".utf8).write(to: URL(fileURLWithPath: dir + "/bad.npy"))
        let badNpy = try runDenoise(["eval", model, "--x", dir + "/bad.npy", "--t", t, "--out", dir + "/y.npy"])
        #expect(badNpy.status != 0 && badNpy.stderr.contains("bad.npy"), "\(badNpy.stderr)")
        let noTime = try runDenoise(["eval", model, "--x", x, "--out", dir + "/y.npy"])
        #expect(noTime.status != 0 && noTime.stderr.contains("--t"), "\(noTime.stderr)")
        try NumPy.write(.float(Tensor(zeros: [2, 3, 8, 8])), to: dir + "/small.npy")
        let wrongShape = try runDenoise(["eval", model, "--x", dir + "/small.npy", "--t", t, "--out", dir + "/y.npy"])
        #expect(wrongShape.status != 0 && wrongShape.stderr.contains("[2, 3, 8, 8]"), "\(wrongShape.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/y.npy"), "a failed eval left an output file")
        // A native folder whose weights file holds a tensor of the wrong shape (same write id).
        #expect(try runDenoise(["import", model, "--out", dir + "/native"]).status == 0)
        let weights = URL(fileURLWithPath: dir + "/native/weights.safetensors")
        let file = try SafeTensors.read(contentsOf: weights)
        var tensors = try Dictionary(uniqueKeysWithValues: file.names.map { ($0, try file.tensor($0)) })
        let victim = file.names.sorted()[0], expected = tensors[victim]!.shape
        tensors[victim] = Tensor(zeros: [7, 7])
        try SafeTensors.write(tensors, metadata: file.metadata, to: weights)
        let mismatched = try runDenoise(["generate", dir + "/native", "--steps", "2", "--grid", dir + "/g.png"])
        #expect(mismatched.status != 0 && mismatched.stderr.contains(victim) && mismatched.stderr.contains("[7, 7]")
                && mismatched.stderr.contains("\(expected.map { $0 })"), "\(mismatched.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/g.png"))
    }
}

// denoising-diffusion-pytorch checkpoints (fixtures from scripts/make_lucidrains_fixtures.py):
// the Unet rebuilt from a state dict's shapes matches the library's forward (interpreted and
// compiled, 1e-4 of the scale); schedule and objective come from the buffers; sampling defaults are
// the library's; what cannot be imported is refused with a message naming why. Sampling against
// the library end to end: Tests/CLITests/LucidrainsCommandTests.swift.

import Foundation
import Testing
@testable import Diffusion
import Graphs
import ModelIO
import Tensors
import TestSupport

let lucidrainsFixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/lucidrains")
private let regenerate = "regenerate with /work/venv/bin/python scripts/make_lucidrains_fixtures.py"

/// One fixture folder's files.
struct LucidrainsFixture {
    let name: String
    var folder: URL { lucidrainsFixtures.appendingPathComponent(name) }
    var checkpoint: String { folder.appendingPathComponent("checkpoint.safetensors").path }

    func array(_ file: String) throws -> Value { try NumPy.read(folder.appendingPathComponent(file).path) }
    func stateDict() throws -> [String: Tensor] { try SafeTensors.read(contentsOf: URL(fileURLWithPath: checkpoint)).tensors() }
    func model(weights: LucidrainsCheckpoint.Weights, unetConfig: String? = nil) throws -> DiffusionModel {
        try LucidrainsCheckpoint.load(checkpoint, imageSize: 16, weights: weights, unetConfig: try unetConfig.map(LucidrainsUNetOverrides.read) ?? .init())
    }
}

/// max|y − expected| / max(max|expected|, 1e-30) of the graph's output on the fixture's x, t:
/// interpreted and through the compiled plan.
func lucidrainsForwardErrors(_ graph: Graph, _ fixture: LucidrainsFixture, expected file: String) throws -> [(String, Float)] {
    let inputs: [ValueID: Value] = [graph.inputs[0]: try fixture.array("x.npy"), graph.inputs[1]: try fixture.array("t.npy")]
    guard case .float(let expected) = try fixture.array(file) else { throw GraphError.invalid("\(file) is not float32") }
    let cpu = CPU(threads: 2)
    let plan = try InferencePlan(graph, inputShapes: inputs.mapValues(\.shape), cpu: cpu, options: PlanOptions(winograd: true, timeTable: 100))
    return try [("interpreted", try Interpreter(cpu: cpu).run(graph, inputs: inputs)[0]), ("compiled", try plan.run(inputs)[0])].map { how, output in
        guard case .float(let y) = output, y.shape == expected.shape else { throw GraphError.invalid("\(fixture.name) \(how): output shape \(output.shape)") }
        var worst: Float = 0, scale: Float = 1e-30
        for i in 0..<y.count { worst = max(worst, abs(y.pointer[i] - expected.pointer[i])); scale = max(scale, abs(expected.pointer[i])) }
        return (how, worst / scale)
    }
}

@Suite struct LucidrainsTests {
    /// (fixture, weights, --unet-config, expected output file)
    static let forwards: [(String, LucidrainsCheckpoint.Weights, String?, String)] = [
        ("full_linear_eps", .ema, nil, "y.npy"), ("full_linear_eps", .model, nil, "y_model.npy"),
        ("cosine_v_minsnr", .model, nil, "y.npy"),
        ("sigmoid_custom_x0", .model, #"{"sinusoidal_pos_emb_theta": 1000}"#, "y.npy"),
    ]

    @Test(arguments: forwards.indices) func forwardMatchesTheLibrary(_ k: Int) throws {
        let (name, weights, config, expected) = Self.forwards[k]
        let fixture = LucidrainsFixture(name: name)
        let model = try fixture.model(weights: weights, unetConfig: config)
        #expect(model.imageShape == [name == "full_linear_eps" ? 3 : 1, 16, 16])
        for (how, error) in try lucidrainsForwardErrors(model.graph, fixture, expected: expected) {
            #expect(error <= 1e-4, "\(name) \(weights) \(how): error \(error) of the scale; \(regenerate)")
        }
    }

    /// The Trainer's own milestone file (`model-1.pt`, torch.save: step, model, opt, ema, scaler,
    /// version) read without Python: its EMA and online weights give the library's forwards, the
    /// same graphs as the safetensors copy of the same state dicts.
    @Test func trainerMilestoneLoadsWithoutPython() throws {
        let fixture = LucidrainsFixture(name: "full_linear_eps")
        let milestone = fixture.folder.appendingPathComponent("model-1.pt").path
        for (weights, expected) in [(LucidrainsCheckpoint.Weights.ema, "y.npy"), (.model, "y_model.npy")] {
            let model = try LucidrainsCheckpoint.load(milestone, imageSize: 16, weights: weights)
            for (how, error) in try lucidrainsForwardErrors(model.graph, fixture, expected: expected) {
                #expect(error <= 1e-4, "model-1.pt \(weights) \(how): error \(error) of the scale; \(regenerate)")
            }
            let copy = try fixture.model(weights: weights)
            #expect(model.schedule == copy.schedule && model.imageShape == copy.imageShape)
            var a: [String: [Float]] = [:], b: [String: [Float]] = [:]
            for (id, v) in model.graph.constants { if case .float(let t) = v { a[model.graph[id].name] = t.scalars } }
            for (id, v) in copy.graph.constants { if case .float(let t) = v { b[copy.graph[id].name] = t.scalars } }
            #expect(a == b, "model-1.pt's \(weights) weights differ from checkpoint.safetensors'")
        }
    }

    /// θ is invisible in the shapes: the library's default gives a different network, the override the right one.
    @Test func sinusoidalThetaComesFromTheUnetConfig() throws {
        let fixture = LucidrainsFixture(name: "sigmoid_custom_x0")
        let errors = try lucidrainsForwardErrors(try fixture.model(weights: .model).graph, fixture, expected: "y.npy")
        #expect(errors.allSatisfy { $0.1 > 1e-3 }, "θ = 10000 should not reproduce a θ = 1000 Unet: \(errors)")
    }

    /// A bare Unet with learned sinusoidal time features (GaussianDiffusion refuses those) through the builder.
    @Test func learnedSinusoidalUnet() throws {
        let fixture = LucidrainsFixture(name: "learned_sinusoidal")
        let stateDict = try fixture.stateDict()
        let config = try LucidrainsUNetConfig.inferred(from: stateDict.mapValues(\.shape), source: fixture.checkpoint)
        #expect(config.learnedSinusoidalDim == 8 && config.fourierDim == 9 && config.dimMults == [1, 2] && config.channels == 1)
        let graph = try LucidrainsUNetBuilder.build(config, imageSize: 16, stateDict: stateDict, source: fixture.checkpoint)
        for (how, error) in try lucidrainsForwardErrors(graph, fixture, expected: "y.npy") {
            #expect(error <= 1e-4, "learned_sinusoidal \(how): error \(error) of the scale; \(regenerate)")
        }
    }

    @Test func architectureFromShapes() throws {
        let full = try LucidrainsFixture(name: "full_linear_eps").model(weights: .ema)
        let cosine = try LucidrainsFixture(name: "cosine_v_minsnr").model(weights: .model)
        let sigmoid = try LucidrainsFixture(name: "sigmoid_custom_x0").model(weights: .model, unetConfig: #"{"sinusoidal_pos_emb_theta": 1000}"#)
        #expect(full.graph.metadata["lucidrains.unet"] == #"{ "dim": 4, "init_dim": 4, "dim_mults": [1, 2], "channels": 3, "sinusoidal_pos_emb_theta": 10000.0, "attn_dim_head": [4, 4], "attn_heads": [2, 2], "full_attn": [true, true] }"#)
        #expect(cosine.graph.metadata["lucidrains.unet"]?.contains(#""dim_mults": [1, 1, 2]"#) == true)
        #expect(cosine.graph.metadata["lucidrains.unet"]?.contains(#""full_attn": [false, false, true]"#) == true)
        #expect(sigmoid.graph.metadata["lucidrains.unet"]?.contains(#""attn_dim_head": [4, 8], "attn_heads": [2, 1]"#) == true)
        #expect(sigmoid.graph.metadata["lucidrains.unet"]?.contains(#""sinusoidal_pos_emb_theta": 1000.0"#) == true)
    }

    @Test func scheduleAndObjectiveFromTheBuffers() throws {
        for (name, weights, kind, prediction, gamma) in [("full_linear_eps", LucidrainsCheckpoint.Weights.ema, BetaSchedule?.some(.lucidrainsLinear), PredictionType.epsilon, String?.none),
                                                         ("cosine_v_minsnr", .model, .lucidrainsCosine, .vPrediction, "5"),
                                                         ("sigmoid_custom_x0", .model, nil, .sample, nil)] {
            let fixture = LucidrainsFixture(name: name)
            let model = try fixture.model(weights: weights)
            let s = model.schedule
            #expect(s.numTrainTimesteps == 100 && s.predictionType == prediction, "\(name): \(s)")
            #expect(model.graph.metadata["lucidrains.min_snr_gamma"] == gamma, "\(name)")
            if let kind { #expect(s.betaSchedule == kind && s.trainedBetas == nil, "\(name)") } else { #expect(s.trainedBetas?.count == 100, "\(name)") }
            // ᾱ as the sampler will use it, against the library's buffer.
            let prefix = weights == .ema ? "ema.ema_model." : ""
            let buffer = try #require(try fixture.stateDict()[prefix + "alphas_cumprod"]).scalars
            let ours = NoiseSchedule(s).alphasCumprod
            let worst = zip(ours, buffer).map { abs($0 - Double($1)) / Double($1) }.max() ?? 1
            #expect(worst <= (kind == nil ? 2e-5 : 1e-7), "\(name): ᾱ relative error \(worst)")
        }
    }

    /// The library's sampling: lucidrains pairs, clipped x0, re-derived noise; DDPM over all T by default.
    @Test func samplingDefaultsAreTheLibrarys() throws {
        let s = try LucidrainsFixture(name: "full_linear_eps").model(weights: .ema).schedule
        #expect(s.timestepSpacing == .lucidrains && s.clipSample && s.clipSampleRange == 1 && s.useClippedModelOutput && s.setAlphaToOne && s.stepsOffset == 0)
        let ddim = SamplerOptions(for: s, steps: 10)
        #expect(ddim.kind == .ddim && ddim.spacing == .lucidrains && ddim.rederiveNoise && ddim.clipSample && ddim.eta == 0)
        #expect(Sampler(ddim, schedule: NoiseSchedule(s)).timesteps == [99, 89, 79, 69, 59, 49, 39, 29, 19, 9])
        #expect(SamplerOptions(for: s, steps: 100).kind == .ddpm)
    }

    @Test func nativeRoundTripKeepsTheSchedule() throws {
        let model = try LucidrainsFixture(name: "sigmoid_custom_x0").model(weights: .model, unetConfig: #"{"sinusoidal_pos_emb_theta": 1000}"#)
        let dir = try temporaryFolder("denoise-lucidrains")
        try model.write(to: dir)
        #expect(try DiffusionModel.storedFormatVersion(dir) == 3)
        let back = try DiffusionModel.readNative(dir)
        #expect(back.schedule == model.schedule && back.imageShape == model.imageShape)
        #expect(back.graph.metadata["lucidrains.objective"] == "pred_x0")
        for (how, error) in try lucidrainsForwardErrors(back.graph, LucidrainsFixture(name: "sigmoid_custom_x0"), expected: "y.npy") {
            #expect(error <= 1e-4, "native round trip \(how): \(error)")
        }
    }

    @Test func refusalsNameTheReason() throws {
        let full = LucidrainsFixture(name: "full_linear_eps"), sigmoid = LucidrainsFixture(name: "sigmoid_custom_x0")
        let sd = try full.stateDict(), plain = try sigmoid.stateDict()
        func message(_ stateDict: [String: Tensor], weights: LucidrainsCheckpoint.Weights = .model, config: String? = nil, size: Int = 16) -> String {
            do {
                _ = try LucidrainsCheckpoint.model(stateDict: stateDict, imageSize: size, weights: weights,
                                                   unetConfig: try config.map(LucidrainsUNetOverrides.read) ?? .init(), source: "ckpt")
                return "no error"
            } catch { return "\(error)" }
        }
        var selfCond = plain
        selfCond["model.init_conv.weight"] = Tensor(zeros: [8, 2, 7, 7])
        var variance = plain
        variance["model.final_conv.weight"] = Tensor(zeros: [2, 8, 1, 1])
        variance["model.final_conv.bias"] = Tensor(zeros: [2])
        var extra = plain
        extra["model.extra.weight"] = Tensor(zeros: [3])
        var missing = plain
        missing["model.downs.0.1.block2.norm.g"] = nil
        var weights = plain
        weights["loss_weight"] = Tensor(shape: [100], scalars: (0..<100).map { 0.5 + Float($0) })
        let unet = Dictionary(uniqueKeysWithValues: plain.filter { $0.key.hasPrefix("model.") }.map { (String($0.key.dropFirst(6)), $0.value) })
        let cases: [(String, [String])] = [
            (message(selfCond), ["self-conditioned", "refused"]),
            (message(variance), ["learned variance"]),
            (message(extra), ["extra.weight", "not part of the Unet"]),
            (message(missing), ["downs.0.1.block2.norm.g", "missing"]),
            (message(weights), ["loss_weight matches none of pred_noise, pred_x0, pred_v"]),
            (message(plain, weights: .ema), ["no EMA weights", "--weights model"]),
            (message(unet), ["bare Unet state dict"]),
            (message(["step": Tensor(scalar: 3)]), ["not a denoising-diffusion-pytorch GaussianDiffusion"]),
            (message(sd, weights: .ema, size: 15), ["image size 15", "multiple of 2"]),
            (message(plain, config: #"{"attn_heads": 4}"#), ["attn_heads", "[4, 4]", "[2, 1]"]),
            (message(plain, config: #"{"full_attn": true}"#), ["full_attn", "[true, true]", "[false, true]"]),
            (message(plain, config: #"{"learned_sinusoidal_cond": true}"#), ["learned_sinusoidal_cond", "has no time_mlp.0.weights"]),
            (message(plain, config: #"{"dim_mults": [1, 2], "attn_dim_head": [4, 8], "full_attn": null, "dropout": 0.1, "flash_attn": true}"#), ["no error"]),
            (message(plain, config: #"{"channels": 3}"#), ["channels", "is 3", "say 1"]),
            (message(plain, config: #"{"width": 3}"#), ["unknown Unet kwarg 'width'"]),
            (message(plain, config: "/nonexistent/unet.json"), ["/nonexistent/unet.json", "cannot read the Unet config"]),
        ]
        for (text, words) in cases {
            for w in words { #expect(text.contains(w), "'\(w)' missing from: \(text)") }
        }
        #expect { try LucidrainsUNetOverrides(json: Data("[1]".utf8), source: "u.json") } throws: { "\($0)".contains("u.json: must be a JSON object of Unet kwargs") }
    }
}

// Noise schedules and timestep lists against diffusers and denoising-diffusion-pytorch
// (fixtures from scripts/make_scheduler_fixtures.py).

import Foundation
import Testing
@testable import Diffusion
import ModelIO
import TestSupport

let schedulerFixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/schedulers")

/// The `cases` array of a fixture JSON file.
func fixtureCases(_ name: String) throws -> [[String: Any]] {
    let data = try Data(contentsOf: schedulerFixtures.appendingPathComponent(name))
    return (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["cases"] as? [[String: Any]] ?? []
}

@Suite struct ScheduleTests {
    @Test func pinnedValuesOfTheSeedSchedule() {
        let s = NoiseSchedule(.linear, timesteps: 1000)
        #expect(s.betas.first == Double(Float(0.0001)) && s.betas.last == Double(Float(0.02)))
        #expect(abs(s.alphasCumprod.last! - 4.035e-5) < 1e-7)
    }
}

extension ScheduleTests {
    /// Every schedule of both libraries, β and ᾱ, to float32 precision.
    @Test func schedulesMatchTheLibraries() throws {
        let cases = try fixtureCases("schedules.json")
        #expect(cases.count >= 14)
        for c in cases {
            let name = c["name"] as? String ?? "?"
            guard let kind = BetaSchedule(rawValue: c["kind"] as? String ?? ""), let t = c["num_train_timesteps"] as? Int,
                  let expected = c["alphas_cumprod"] as? [Double], let betas = c["betas"] as? [Double] else {
                Issue.record("\(name): unreadable case"); continue
            }
            let s = NoiseSchedule(kind, timesteps: t, betaStart: c["beta_start"] as? Double ?? 0.0001, betaEnd: c["beta_end"] as? Double ?? 0.02)
            #expect(s.alphasCumprod.count == expected.count, "\(name)")
            let worstA = zip(s.alphasCumprod, expected).map { abs($0 - $1) / max(abs($1), 1e-12) }.max() ?? 0
            let worstB = zip(s.betas, betas).map { abs($0 - $1) / max(abs($1), 1e-12) }.max() ?? 0
            #expect(worstA <= 2e-6 && worstB <= 2e-6, "\(name): relative error ᾱ \(worstA), β \(worstB)")
        }
    }

    /// DDIM / DDPM / DPM-Solver++ timestep lists (every spacing and offset) and lucidrains' time pairs.
    @Test func timestepsMatchTheLibraries() throws {
        let cases = try fixtureCases("timesteps.json")
        #expect(cases.count >= 20)
        for c in cases {
            let sampler = c["sampler"] as? String ?? "", t = c["num_train_timesteps"] as? Int ?? 0, s = c["steps"] as? Int ?? 0
            let spacing = TimestepSpacing(rawValue: c["timestep_spacing"] as? String ?? "leading") ?? .leading
            let offset = c["steps_offset"] as? Int ?? 0
            let what = "\(sampler) T=\(t) S=\(s) \(spacing) offset \(offset)"
            switch sampler {
            case "lucidrains":
                let plan = TimestepPlan.ddim(trainingTimesteps: t, steps: s, spacing: .lucidrains)
                let pairs = (c["pairs"] as? [[Int]]) ?? []
                #expect(zip(plan.timesteps, plan.previous).map { [$0, $1] } == pairs, "\(what)")
            case "dpmsolver++":
                #expect(TimestepPlan.dpmSolver(trainingTimesteps: t, steps: s, spacing: spacing, stepsOffset: offset).timesteps
                        == (c["timesteps"] as? [Int] ?? []), "\(what)")
            default:
                var o = SamplerOptions()
                o.kind = sampler == "ddpm" ? .ddpm : .ddim
                (o.steps, o.spacing, o.stepsOffset) = (s, spacing, offset)
                let plan = Sampler(o, schedule: NoiseSchedule(.linear, timesteps: t)).plan
                #expect(plan.timesteps == (c["timesteps"] as? [Int] ?? []), "\(what)")
            }
        }
    }
}

extension ScheduleTests {
    /// A config's names become typed values once; an unknown name is an error naming it and the
    /// accepted names (never a silent fallback to epsilon or linear).
    @Test func scheduleVocabularyIsTypedAndStrict() throws {
        let good = #"{"beta_schedule": "squaredcos_cap_v2", "prediction_type": "v_prediction", "num_train_timesteps": 50}"#
        let config = try JSONDecoder().decode(ScheduleConfig.self, from: Data(good.utf8))
        #expect(config.betaSchedule == .cosine && config.predictionType == .vPrediction)
        #expect(NoiseSchedule(config) == NoiseSchedule(.cosine, timesteps: 50))
        let o = SamplerOptions(for: config, steps: 50)
        #expect(o.kind == .ddpm && o.prediction == .vPrediction && SamplerOptions(for: config, steps: 10).kind == .ddim)
        // Written back with the same strings.
        let encoded = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        #expect(encoded.contains(#""prediction_type":"v_prediction""#) && encoded.contains(#""beta_schedule":"squaredcos_cap_v2""#))

        let folder = try temporaryFolder()
        let path = folder + "/scheduler_config.json"
        try Data(#"{"prediction_type": "eps"}"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            try ScheduleConfig.read(path)
        } throws: { "\($0)".contains("prediction_type 'eps' is not one of epsilon, sample, v_prediction") && "\($0)".contains(path) }
        #expect {
            try ScheduleConfig.from(metadata: ["denoise.beta_schedule": "cosine"], source: "m.onnx")
        } throws: { "\($0)".contains("beta_schedule 'cosine' is not one of linear, scaled_linear, squaredcos_cap_v2") }
        #expect(throws: VocabularyError(key: "prediction_type", value: "x", accepted: PredictionType.names)) { try PredictionType.parse("x") }
    }
}

extension ScheduleTests {
    /// The sampler-default keys of a scheduler config (diffusers' names) become SamplerOptions'
    /// defaults; ONNX metadata carries them too; absent keys keep diffusers' DDIM defaults.
    @Test func samplerDefaultsFromSchedulerConfigKeys() throws {
        let text = #"{"_class_name": "DDIMScheduler", "num_train_timesteps": 100, "timestep_spacing": "lucidrains", "clip_sample": true, "clip_sample_range": 2.0, "set_alpha_to_one": false, "steps_offset": 1, "use_clipped_model_output": true, "trained_betas": null}"#
        let config = try JSONDecoder().decode(ScheduleConfig.self, from: Data(text.utf8)).validated(source: "t")
        let o = SamplerOptions(for: config, steps: 10)
        #expect(o.spacing == .lucidrains && o.clipSample && o.clipRange == 2 && !o.setAlphaToOne && o.stepsOffset == 1 && o.rederiveNoise)
        let defaults = SamplerOptions(for: ScheduleConfig(), steps: 10)
        #expect(defaults.spacing == .leading && defaults.setAlphaToOne && defaults.stepsOffset == 0 && !defaults.rederiveNoise)
        #expect(ScheduleConfig().laterKeys.isEmpty)
        #expect(Set(config.laterKeys) == ["timestep_spacing", "steps_offset", "set_alpha_to_one", "use_clipped_model_output"])
        #expect(try ScheduleConfig.from(metadata: config.metadata, source: "m.onnx") == config)
        #expect(try JSONDecoder().decode(ScheduleConfig.self, from: JSONEncoder().encode(config)) == config)
        #expect {
            try ScheduleConfig.from(metadata: ["denoise.timestep_spacing": "uniform"], source: "m.onnx")
        } throws: { "\($0)".contains("timestep_spacing 'uniform' is not one of leading, trailing, linspace, lucidrains") }
        #expect {
            try ScheduleConfig.from(metadata: ["denoise.use_clipped_model_output": "yes"], source: "m.onnx")
        } throws: { "\($0)".contains("denoise.use_clipped_model_output = 'yes' is not true or false") }
    }

    /// trained_betas: the schedule is those betas (ᾱ a float64 product stored float32); the count must be T.
    @Test func trainedBetasAreTheSchedule() throws {
        var config = ScheduleConfig()
        config.numTrainTimesteps = 1000
        config.trainedBetas = NoiseSchedule(.lucidrainsSigmoid, timesteps: 1000).betas
        #expect(NoiseSchedule(config).alphasCumprod == NoiseSchedule(.lucidrainsSigmoid, timesteps: 1000).alphasCumprod)
        #expect(NoiseSchedule(config).kind == nil)
        #expect(try ScheduleConfig.from(metadata: config.metadata, source: "m.onnx") == config)
        config.numTrainTimesteps = 999
        #expect { try config.validated(source: "s.json") } throws: { "\($0)".contains("trained_betas has 1000 values; num_train_timesteps is 999") }
        config.numTrainTimesteps = 1000
        config.trainedBetas![3] = 1
        #expect { try config.validated(source: "s.json") } throws: { "\($0)".contains("trained_betas[3] = 1.0 must lie in [0, 1)") }
    }
}

extension ScheduleTests {
    /// A model's default DDIM η: read from its schedule, the sampler's default, written only when
    /// not 0 (as a version-3 key), carried through ONNX metadata, and refused outside [0, 1].
    @Test func etaIsASamplerDefaultOfTheModel() throws {
        let config = try JSONDecoder().decode(ScheduleConfig.self, from: Data(#"{"eta": 1}"#.utf8))
        #expect(config.eta == 1 && config.laterKeys == ["eta"] && SamplerOptions(for: config, steps: 50).eta == 1)
        #expect(SamplerOptions(for: ScheduleConfig(), steps: 50).eta == 0 && ScheduleConfig().laterKeys.isEmpty)
        #expect(try ScheduleConfig.from(metadata: config.metadata, source: "m.onnx") == config)
        let folder = try temporaryFolder()
        try Data(#"{"eta": 2}"#.utf8).write(to: URL(fileURLWithPath: folder + "/s.json"))
        #expect { try ScheduleConfig.read(folder + "/s.json") } throws: { "\($0)".contains("eta 2.0 must lie in [0, 1]") }
    }
}

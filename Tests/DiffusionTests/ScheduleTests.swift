// Noise schedules and timestep lists against diffusers and denoising-diffusion-pytorch
// (fixtures from scripts/make_scheduler_fixtures.py).

import Foundation
import Testing
@testable import Diffusion

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

// The noise-schedule flags shared by generate, train and import: a diffusers
// scheduler_config.json and single-key overrides on top of it.

import ArgumentParser
import ModelIO

struct ScheduleFlags: ParsableArguments {
    @Option(help: "A diffusers scheduler_config.json giving the noise schedule.")
    var schedulerConfig: String?

    @Option(help: "Beta schedule (\(BetaSchedule.names.joined(separator: ", "))).", transform: { try BetaSchedule.parse($0) })
    var betaSchedule: BetaSchedule?

    @Option(help: "Number of training timesteps T.")
    var numTrainTimesteps: Int?

    @Option(help: "Prediction type (\(PredictionType.names.joined(separator: ", "))).", transform: { try PredictionType.parse($0) })
    var predictionType: PredictionType?

    /// `base` with the scheduler config file (if any) replacing it, then each flag given.
    func applied(to base: ScheduleConfig) throws -> ScheduleConfig {
        var s = try schedulerConfig.map(ScheduleConfig.read) ?? base
        if let betaSchedule { s.betaSchedule = betaSchedule }
        if let numTrainTimesteps { s.numTrainTimesteps = numTrainTimesteps }
        if let predictionType { s.predictionType = predictionType }
        return try s.validated(source: "the schedule flags")
    }
}

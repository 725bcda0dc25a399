// denoise import: converts an ONNX file to the native model folder.

import ArgumentParser
import Foundation
import ModelIO

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert an ONNX model into a native model folder (model.json + weights.safetensors).",
        discussion: """
            The schedule comes from --scheduler-config (a diffusers scheduler_config.json) and the schedule flags, else from the ONNX \
            metadata_props keys \(ScheduleConfig.metadataKeys.joined(separator: ", ")), else the defaults \
            (linear betas 1e-4…0.02, 1000 timesteps, epsilon prediction).
            """)

    @Argument(help: "The ONNX file.")
    var model: String

    @Option(help: "Output folder (created; its model.json and weights.safetensors are replaced).")
    var out: String

    @OptionGroup(title: "Noise schedule")
    var schedule: ScheduleFlags

    func run() throws {
        var native = try ModelLoader.open(model)
        native.schedule = try schedule.applied(to: native.schedule)
        try native.write(to: out)
        let s = native.schedule
        print("wrote \(out): \(native.graph.nodes.count) nodes, \(native.graph.parameterCount) parameters, image \(native.imageShape), "
              + "schedule \(s.betaSchedule.rawValue) \(s.betaStart)…\(s.betaEnd) over \(s.numTrainTimesteps) steps, \(s.predictionType.rawValue)")
    }
}

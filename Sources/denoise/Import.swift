// denoise import: converts a model (ONNX file, diffusers folder, or a native folder of an older
// format version) to a native model folder in the current format version.

import ArgumentParser
import Foundation
import ModelIO

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert a model (ONNX file, diffusers or native folder) into a native model folder (model.json + weights.safetensors).",
        discussion: """
            A native folder (e.g. one of an older format version) is rewritten in the current format version \
            (\(NativeFormat.version)): a new model.json, weights.safetensors copied byte for byte. \
            The schedule comes from --scheduler-config (a diffusers scheduler_config.json) and the schedule flags, else from the \
            model (a native or diffusers folder's own, or the ONNX metadata_props keys \(ScheduleConfig.metadataKeys.joined(separator: ", "))), \
            else the defaults (linear betas 1e-4…0.02, 1000 timesteps, epsilon prediction).
            """)

    @Argument(help: "The model: an ONNX file, a diffusers folder, or a native folder (any format version denoise reads).")
    var model: String

    @Option(help: "Output folder (created; its model.json and weights.safetensors are replaced).")
    var out: String

    @OptionGroup(title: "Noise schedule")
    var schedule: ScheduleFlags

    func run() throws {
        let diffusionModel: DiffusionModel
        if let version = try DiffusionModel.storedFormatVersion(model) {
            diffusionModel = try DiffusionModel.rewrite(model, to: out) { try schedule.applied(to: $0) }
            print("\(model): native format version \(version) → \(out): format version \(NativeFormat.version) "
                  + "(model.json rewritten; weights.safetensors unchanged)")
        } else {
            var opened = try ModelLoader.open(model)
            opened.schedule = try schedule.applied(to: opened.schedule)
            try opened.write(to: out)
            diffusionModel = opened
        }
        let s = diffusionModel.schedule
        print("wrote \(out): \(diffusionModel.graph.nodes.count) nodes, \(diffusionModel.graph.parameterCount) parameters, image \(diffusionModel.imageShape), "
              + "schedule \(s.betaSchedule.rawValue) \(s.betaStart)…\(s.betaEnd) over \(s.numTrainTimesteps) steps, \(s.predictionType.rawValue)")
    }
}

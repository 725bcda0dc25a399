// denoise eval: one forward of a model on tensors from .npy files, written to a .npy file.

import ArgumentParser
import Foundation
import Graphs
import ModelIO
import Tensors

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one forward of a model on .npy inputs and write the output as .npy.",
        discussion: "Inputs are matched to the model's inputs by name: --x feeds the image input, --t the timestep input.")

    @Argument(help: "The model: an ONNX file, a native or a diffusers folder.")
    var model: String

    @Option(help: "The noisy image batch, [N, C, H, W] float32 .npy.")
    var x: String

    @Option(help: "The timesteps, [N] int64 or float32 .npy.")
    var t: String?

    @Option(help: "Class labels of a class-conditional model, [N] int64 (or float32) .npy.")
    var classLabels: String?

    @Option(help: "Where to write the output .npy.")
    var out: String

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        let graph = try ModelLoader.load(model)
        var feed: [ValueID: Value] = [:]
        let roles = try graph.diffusionInputRoles()
        feed[roles.image] = try NumPy.read(x)
        if let time = roles.time {
            guard let t else { throw ValidationError("the model takes a timestep input '\(graph[time].name)': pass --t T.npy") }
            feed[time] = try NumPy.read(t)
        }
        if let labels = roles.classLabels {
            guard let classLabels else { throw ValidationError("the model is class-conditional (input '\(graph[labels].name)'): pass --class-labels C.npy") }
            feed[labels] = try NumPy.read(classLabels)
        } else if classLabels != nil {
            throw ValidationError("--class-labels: this model is not class-conditional (it takes no class labels)")
        }
        // Compiled for the given shapes: specialization checks them against the declared dims.
        let plan = try InferencePlan(graph, inputShapes: feed.mapValues(\.shape), cpu: CPU(threads: threads))
        let outputs = try plan.run(feed)
        try NumPy.write(outputs[0], to: out)
        print("wrote \(out): \(outputs[0].elementType) \(outputs[0].shape)")
    }
}

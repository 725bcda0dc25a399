// denoise inspect: what a model is and what compiling it does — inputs and outputs, parameters,
// op histogram before and after the passes, FLOPs per forward, arena bytes, the time table. It
// builds the plan `serve` and `generate` build (same options, same input shapes), so the numbers
// are those of what runs; `--no-winograd` compiles as `bench --no-winograd` does.

import ArgumentParser
import Diffusion
import Foundation
import Graphs
import ModelIO
import Tensors

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe a model: inputs, parameters, ops before and after the passes, FLOPs, memory.")

    @Argument(help: "The model: an ONNX file, a native or a diffusers folder.")
    var model: String

    @Option(help: "Batch size to compile for.")
    var batch = 1

    @Flag(help: "Compile without Winograd convolutions (as bench --no-winograd).")
    var noWinograd = false

    func validate() throws {
        if batch < 1 { throw ValidationError("--batch must be at least 1, got \(batch)") }
    }

    func run() throws {
        let diffusionModel = try ModelLoader.open(model)
        let graph = diffusionModel.graph
        print("model: \(model)")
        if let producer = graph.metadata["onnx.producer"] { print("producer: \(producer), opset \(graph.metadata["onnx.opset"] ?? "?")") }
        for id in graph.inputs { print("input  \(graph[id].name): \(graph[id].type) [\((graph[id].dims ?? []).map(\.description).joined(separator: ", "))]") }
        for id in graph.outputs { print("output \(graph[id].name): \(graph[id].type) [\((graph[id].dims ?? []).map(\.description).joined(separator: ", "))]") }
        print("parameters: \(graph.parameterCount)")
        if let classes = diffusionModel.classes { print("class-conditional: classes \(classes.accepted)") }
        var options = BatchStepper.planOptions(for: diffusionModel)
        options.winograd = !noWinograd
        let plan = try InferencePlan(graph, inputShapes: BatchStepper.inputShapes(of: diffusionModel, batch: batch), cpu: CPU(), options: options)
        let compiled = plan.compiled
        print("nodes: \(graph.nodes.count) imported, \(compiled.graph.nodes.count) after the passes (batch \(batch)); "
              + "\(compiled.timeOnly.count) values in the time branch")
        print("steps: \(plan.stepCount) per forward (view ops run none)")
        print("winograd: " + (options.winograd ? "on, \(compiled.graph.nodes.filter { $0.op.kind == .winogradConv }.count) convs lowered" : "off"))
        if let size = plan.timeTableSize {
            print("time table: \(size) timesteps, \(plan.compilation.timeTableFrontier?.values.count ?? 0) values filled per forward; "
                  + "\(plan.timeBranchStepCount) steps skipped when every timestep is an integer below \(size)")
        } else if (options.timeTable ?? 0) == 0 {
            print("time table: off")
        } else {
            print("time table: none (" + (plan.compilation.timeTableFrontier == nil ? "no separable integer time branch" : "the branch's rows could not be tabulated") + ")")
        }
        print(String(format: "FLOPs per forward: %.3f GFLOP", Double(plan.flops) / 1e9) + " (\(plan.flops), batch \(batch))")
        print(String(format: "arena: %.2f MB", Double(plan.arenaBytes) / 1e6) + " (\(plan.arenaBytes) bytes; "
              + String(format: "%.2f MB if every intermediate had its own buffer)", Double(plan.memory.unsharedSize * 4) / 1e6))
        let before = graph.opHistogram, after = compiled.graph.opHistogram
        let names = Set(before.keys).union(after.keys).sorted(by: { (before[$0] ?? 0, $0) > (before[$1] ?? 0, $1) })
        let width = max(14, (names.map(\.count).max() ?? 0) + 1)
        print("ops".padding(toLength: width, withPad: " ", startingAt: 0) + "imported  compiled")
        for name in names {
            print(name.padding(toLength: width, withPad: " ", startingAt: 0)
                  + String(format: "%8d  %8d", before[name] ?? 0, after[name] ?? 0))
        }
    }
}

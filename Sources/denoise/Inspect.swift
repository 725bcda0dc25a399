// denoise inspect: what a model is and what compiling it does — inputs and outputs, parameters,
// op histogram before and after the passes, FLOPs per forward and arena bytes.

import ArgumentParser
import Foundation
import Graphs
import ModelIO
import Tensors

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe a model: inputs, parameters, ops before and after the passes, FLOPs, memory.")

    @Argument(help: "The model: an ONNX file.")
    var model: String

    @Option(help: "Batch size to compile for.")
    var batch = 1

    func validate() throws {
        if batch < 1 { throw ValidationError("--batch must be at least 1, got \(batch)") }
    }

    func run() throws {
        let graph = try ModelLoader.load(model)
        print("model: \(model)")
        if let producer = graph.metadata["onnx.producer"] { print("producer: \(producer), opset \(graph.metadata["onnx.opset"] ?? "?")") }
        for id in graph.inputs { print("input  \(graph[id].name): \(graph[id].type) [\((graph[id].dims ?? []).map(\.description).joined(separator: ", "))]") }
        for id in graph.outputs { print("output \(graph[id].name): \(graph[id].type) [\((graph[id].dims ?? []).map(\.description).joined(separator: ", "))]") }
        print("parameters: \(graph.parameterCount)")
        let compiled = try graph.specialized(inputShapes: ModelLoader.inputShapes(graph, batch: batch), cpu: CPU()).fused()
        let memory = compiled.planMemory()
        print("nodes: \(graph.nodes.count) imported, \(compiled.graph.nodes.count) after the passes (batch \(batch)); \(compiled.timeOnly.count) values in the time branch")
        print(String(format: "FLOPs per forward: %.3f GFLOP (batch %d)", Double(compiled.flops) / 1e9, batch))
        print(String(format: "arena: %.2f MB (%.2f MB if every intermediate had its own buffer)",
                     Double(memory.size * 4) / 1e6, Double(memory.unsharedSize * 4) / 1e6))
        let before = graph.opHistogram, after = compiled.graph.opHistogram
        print("ops          imported  compiled")
        for name in Set(before.keys).union(after.keys).sorted(by: { (before[$0] ?? 0, $0) > (before[$1] ?? 0, $1) }) {
            print(name.padding(toLength: 14, withPad: " ", startingAt: 0)
                  + String(format: "%8d  %8d", before[name] ?? 0, after[name] ?? 0))
        }
    }
}

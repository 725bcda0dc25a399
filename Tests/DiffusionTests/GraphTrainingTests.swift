// Training through the graph IR: the built-in U-Net (diffusers fixtures) run on the autograd tape
// gives the interpreter's forward, and its parameter gradients match central finite differences
// of the interpreted graph — for weights in every kind of layer (conv, linear, group norm,
// attention, time embedding).

import Foundation
import Testing
import Graphs
import ModelIO
import Tensors
import TestSupport

@Suite struct GraphTrainingTests {
    @Test(arguments: ["small_attention", "small_plain"]) func gradientsMatchFiniteDifferences(_ name: String) throws {
        let folder = DiffusersUNetTests.root.appendingPathComponent(name)
        let graph = try ModelLoader.open(folder.path).graph
        let cpu = CPU(threads: 2)
        let x = try NumPy.read(folder.appendingPathComponent("x.npy").path), t = try NumPy.read(folder.appendingPathComponent("t.npy").path)
        let inputs: [ValueID: Value] = [graph.inputs[0]: x, graph.inputs[1]: t]
        let parameters = graph.constants.filter { graph[$0.key].name.hasSuffix(".weight") || graph[$0.key].name.hasSuffix(".bias") }
        let specialized = try graph.specialized(inputShapes: inputs.mapValues(\.shape), cpu: cpu, trainable: Set(parameters.keys))
        let tape = Tape(cpu: cpu)
        var vars: [ValueID: Var] = [:]
        for (id, value) in parameters { if case .float(let w) = value { vars[id] = tape.parameter(w) } }
        let y = try TapeExecutor(tape: tape).run(specialized.graph, inputs: inputs, parameters: vars)[0]
        guard case .float(let reference) = try Interpreter(cpu: cpu).run(graph, inputs: inputs)[0] else { return }
        let forward = tape[y]
        var worst: Float = 0
        for i in 0..<forward.count { worst = max(worst, abs(forward.pointer[i] - reference.pointer[i])) }
        #expect(worst <= 1e-5, "\(name): tape forward differs from the interpreter by \(worst)")

        var rng = TestRNG(seed: 5)
        let projection = Tensor(shape: forward.shape, scalars: (0..<forward.count).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 })
        let grads = try tape.backward(from: y, seed: projection)
        func loss(_ g: Graph) throws -> Double {
            guard case .float(let out) = try Interpreter(cpu: cpu).run(g, inputs: inputs)[0] else { return .nan }
            return projectedSum(out, projection)
        }
        let check = GradientCheck(eps: 1e-2, rtol: 2e-2, atol: 1e-3)
        var names = ["conv_in.weight", "conv_out.bias", "time_embedding.linear_1.weight", "up_blocks.0.resnets.0.norm1.weight",
                     "down_blocks.0.resnets.0.conv1.weight", "down_blocks.0.resnets.0.time_emb_proj.weight"]
        if name == "small_attention" { names += ["mid_block.attentions.0.to_q.weight", "down_blocks.1.attentions.0.to_out.0.weight"] }
        var checked = 0, failures: [String] = []
        for param in names {
            guard let id = parameters.keys.first(where: { graph[$0].name == param }), case .float(let w)? = graph.constants[id],
                  let g = grads[vars[id]!] else { failures.append("\(param): no gradient"); continue }
            let picks = (0..<3).map { _ in Int(rng.next() % UInt64(w.count)) }
            let mismatches = try check.mismatches(g, at: w, elements: picks) { perturbed in
                var changed = graph
                changed.constants[id] = .float(perturbed)
                return try loss(changed)
            }
            failures += mismatches.map { "\(param) \($0)" }
            checked += picks.count
        }
        #expect(failures.isEmpty, "\(name): \(failures.count) of \(checked) gradient checks failed: \(failures.prefix(4))")
    }
}

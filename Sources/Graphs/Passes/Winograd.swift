// Winograd lowering for inference: every 3x3, stride-1, undilated, ungrouped conv whose weight is a
// constant and whose output and channels are large enough to feed 16 GEMMs (`CPU.winogradPays`)
// becomes `winogradConv` over weights transformed once here (`CPU.winogradWeights`), so each
// forward does 16 multiplies per tile and channel pair instead of 36. Runs last, after fusion (it
// keeps the conv's bias, residual and activation). Inference only: training keeps `conv`.

import Tensors

extension SpecializedGraph {
    /// The graph with eligible convs rewritten to Winograd convs.
    public func winogradLowered(cpu: CPU) throws -> SpecializedGraph {
        var g = self
        for i in g.graph.nodes.indices {
            let node = g.graph.nodes[i]
            guard case let .conv(o, activation) = node.op, let w = node.inputs[1], case .float(let weight)? = g.graph.constants[w],
                  CPU.winogradApplies(weight: weight.shape, o), let y = g.shapes[node.outputs[0]],
                  cpu.winogradPays(weight: weight.shape, output: y) else { continue }
            let u = try cpu.winogradWeights(weight)
            let id = g.graph.addConstant(.float(u), name: g.graph[w].name + ".winograd")
            g.shapes[id] = u.shape
            var inputs = node.inputs
            inputs[1] = id
            g.graph.nodes[i] = Node(.winogradConv(o, activation: activation), inputs: inputs, outputs: node.outputs, name: node.name)
        }
        g.graph.eliminateDeadCode()
        return g
    }
}

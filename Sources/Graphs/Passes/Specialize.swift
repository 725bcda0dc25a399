// Specialize: fixes a graph's input shapes and returns a graph whose every value has a known
// shape and whose input-independent parts are folded away. It dry-runs the graph once through
// the interpreter on placeholder inputs of the given shapes (zeros), which is shape inference for
// concrete shapes and constant folding in one: a value is static when it is a constant, the
// output of `shape` (input shapes are now fixed), or computed from static values only; static
// values become constants and their nodes disappear, so the shape arithmetic of the TorchScript
// exporter (Shape → Gather → Unsqueeze → Concat → Reshape) vanishes. Then dead code is removed.
// Cost: one forward at the given shapes. Not a fusion pass (`Fuse.swift`).

import Tensors

/// A graph with fixed input shapes: static values folded, every value's shape and type known.
public struct SpecializedGraph: Sendable {
    public var graph: Graph
    /// Shape of every value the remaining nodes read or write, and of the inputs and outputs.
    public var shapes: [ValueID: Shape]
    /// Values that depend on the timestep input but not on the image (the time branch).
    public var timeOnly: Set<ValueID> = []
}

extension Graph {
    /// Specializes the graph to `inputShapes` (every input's shape; int64 inputs get zeros).
    /// `trainable` constants are treated as inputs: nothing computed from them is folded (training).
    public func specialized(inputShapes: [ValueID: Shape], cpu: CPU, trainable: Set<ValueID> = []) throws -> SpecializedGraph {
        let interpreter = Interpreter(cpu: cpu)
        var env = constants
        var shapes: [ValueID: Shape] = [:]
        for id in inputs {
            guard let shape = inputShapes[id] else { throw GraphError.badInput("no shape given for input '\(self[id].name)'") }
            if let dims = self[id].dims {
                guard dims.count == shape.rank, zip(dims, shape).allSatisfy({ d, n in if case .fixed(let f) = d { return f == n }; return true }) else {
                    throw GraphError.badInput("input '\(self[id].name)' is declared \(dims.map(\.description)) but was given shape \(shape)")
                }
            }
            env[id] = self[id].type == .float32 ? .float(Tensor(zeros: shape)) : .int(IntTensor(shape: shape, values: Array(repeating: 0, count: shape.elementCount)))
            shapes[id] = shape
        }
        var lastUse: [ValueID: Int] = [:]
        for (i, n) in nodes.enumerated() { for case let v? in n.inputs { lastUse[v] = i } }
        var isStatic = Set(constants.keys).subtracting(trainable)
        var result = self
        result.nodes = []
        for (i, node) in nodes.enumerated() {
            let args = try node.inputs.map { id -> Value? in
                guard let id else { return nil }
                guard let v = env[id] else { throw GraphError.invalid("node '\(node.name)' reads \(self[id].name), which nothing computed") }
                return v
            }
            let outs = try interpreter.evaluate(node, args)
            let foldable: Bool
            if case .shape = node.op { foldable = true } else { foldable = node.inputs.allSatisfy { $0.map(isStatic.contains) ?? true } }
            for (id, v) in zip(node.outputs, outs) {
                env[id] = v
                shapes[id] = v.shape
                result.values[id.index].type = v.elementType
                if foldable { isStatic.insert(id); result.constants[id] = v }
            }
            if !foldable { result.nodes.append(node) }
            for case let v? in node.inputs where lastUse[v] == i && !isStatic.contains(v) && !outputs.contains(v) { env[v] = nil }
        }
        result.eliminateDeadCode()
        for (id, v) in result.constants { shapes[id] = v.shape }
        var specialized = SpecializedGraph(graph: result, shapes: shapes.filter { result.isUsed($0.key) })
        specialized.timeOnly = result.timeOnlyValues()
        return specialized
    }

    /// Whether any node reads `id` or it is an input or output.
    func isUsed(_ id: ValueID) -> Bool {
        inputs.contains(id) || outputs.contains(id) || nodes.contains { n in n.inputs.contains(id) || n.outputs.contains(id) }
    }

    /// Removes nodes whose outputs reach no graph output, and constants no node reads.
    public mutating func eliminateDeadCode() {
        var live = Set(outputs)
        var kept: [Node] = []
        for node in nodes.reversed() where node.outputs.contains(where: live.contains) {
            kept.append(node)
            for case let v? in node.inputs { live.insert(v) }
        }
        nodes = kept.reversed()
        constants = constants.filter { live.contains($0.key) }
    }

    /// Values computed from the timestep input and constants only (not from the image or the class labels).
    func timeOnlyValues() -> Set<ValueID> {
        guard let roles = try? diffusionInputRoles(), let time = roles.time else { return [] }
        // Class labels vary per sample like the image: what depends on them is not tabulated by t.
        var perSample = Set([roles.image] + (roles.classLabels.map { [$0] } ?? [])), timeDependent: Set<ValueID> = [time]
        for node in nodes {
            let ins = node.inputs.compactMap { $0 }
            if ins.contains(where: perSample.contains) { perSample.formUnion(node.outputs) }
            if ins.contains(where: timeDependent.contains) { timeDependent.formUnion(node.outputs) }
        }
        return timeDependent.subtracting(perSample)
    }
}

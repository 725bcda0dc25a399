// InferencePlan: the executor of a graph compiled for fixed input shapes (`CompiledGraph`:
// specialized, fused, Winograd-lowered, memory-planned into one arena). At compile time every
// float value gets its home: a constant (weights, folded values) or a view into the arena at its
// planned offset; view ops (reshape, squeeze, …) get a view of their source's memory and never run.
// Each remaining node becomes a step with its argument list built once; running is a loop that
// calls the interpreter's `apply(_:_:into:)` with the step's preassigned output view, so each
// kernel writes straight into the arena. Int64 values left after folding (timestep arithmetic)
// are computed on the host per run. Kernels still allocate internal scratch (im2col panels,
// normalization statistics, attention probabilities).
// A plan runs one forward at a time (`run` is not reentrant); the outputs it returns are views
// into the arena, valid until the next `run`.

import Foundation
import Tensors

/// A graph compiled for fixed input shapes, with its executor.
public final class InferencePlan: @unchecked Sendable {
    public let cpu: CPU
    /// What was compiled: graph, options, memory plan, FLOPs.
    public let compilation: CompiledGraph
    /// The graph that runs (after specialization, fusion and Winograd lowering).
    public let compiled: SpecializedGraph
    public var memory: MemoryPlan { compilation.memory }
    /// Dense FLOPs per forward.
    public var flops: Int { compilation.flops }
    let interpreter: Interpreter
    let arena: TensorStorage

    /// One node to run: its prebuilt arguments (constants and arena views; nil where a host value
    /// computed at run time goes), which argument positions are filled per run, and its output view.
    struct Step {
        let node: Node
        var args: [Value?]
        let runtimeArgs: [Int]
        let out: Tensor?
        /// Part of the time branch: skipped when the time table supplies its results.
        var inTimeBranch = false
    }

    /// Constant or arena view of every value, by value index; nil for values computed per run.
    let homes: [Value?]
    var steps: [Step]
    /// Host values of the current run (int64 values, multi-output results), by value index.
    var scratch: [Value?]
    /// The time branch tabulated for integer timesteps, when the graph has one.
    let timeTable: TimeTable?
    private let lock = NSLock()

    /// Compiles `graph` for `inputShapes` (every input's concrete shape); see ``Graph/compiled(inputShapes:cpu:options:)``.
    public convenience init(_ graph: Graph, inputShapes: [ValueID: Shape], cpu: CPU, options: PlanOptions = PlanOptions()) throws {
        try self.init(graph.compiled(inputShapes: inputShapes, cpu: cpu, options: options), cpu: cpu)
    }

    /// The executor of `compilation`: its arena allocated, its steps prepared, its time table
    /// (when it planned one) computed.
    public init(_ compilation: CompiledGraph, cpu: CPU) throws {
        self.cpu = cpu
        self.compilation = compilation
        compiled = compilation.specialized
        let memory = compilation.memory
        interpreter = Interpreter(cpu: cpu)
        arena = TensorStorage(capacity: memory.size, zeroed: true)
        let g = compiled.graph
        var homes = [Value?](repeating: nil, count: g.values.count)
        for (id, v) in g.constants { homes[id.index] = v }
        for (id, offset) in memory.offsets {
            homes[id.index] = .float(Tensor(viewing: arena, offset: offset, shape: compiled.shapes[id]!))
        }
        self.homes = homes
        let offsets = memory.offsets
        steps = g.nodes.compactMap { node in
            let outputHome: Value? = node.outputs.count == 1 ? homes[node.outputs[0].index] : nil
            // A view op whose output already has a home over its source's memory needs no work.
            if node.op.isView, outputHome != nil, let src = node.inputs.first ?? nil, offsets[src] != nil { return nil }
            var out: Tensor?
            if case .float(let t)? = outputHome { out = t }
            let args = node.inputs.map { $0.flatMap { homes[$0.index] } }
            let runtime = node.inputs.indices.filter { node.inputs[$0] != nil && args[$0] == nil }
            return Step(node: node, args: args, runtimeArgs: runtime, out: out)
        }
        scratch = [Value?](repeating: nil, count: g.values.count)
        timeTable = try TimeTable(compilation, homes: homes, cpu: cpu)
        if let table = timeTable {
            for i in steps.indices { steps[i].inTimeBranch = steps[i].node.outputs.allSatisfy(table.branch.contains) }
        }
    }

    /// Number of steps (nodes that run) in one forward.
    public var stepCount: Int { steps.count }

    /// Whether the time branch is tabulated (looked up per sample instead of computed).
    public var hasTimeTable: Bool { timeTable != nil }

    /// Timesteps tabulated (0..<n), or nil without a time table.
    public var timeTableSize: Int? { timeTable?.size }

    /// Steps skipped when the time table supplies the branch (every timestep an integer in the table).
    public var timeBranchStepCount: Int { steps.filter(\.inTimeBranch).count }

    /// Arena bytes of one forward's intermediates.
    public var arenaBytes: Int { compilation.arenaBytes }

    /// Runs one forward; `inputs` by the graph's input ids, with the compiled shapes. Returns the
    /// outputs as views into the arena (valid until the next run).
    public func run(_ inputs: [ValueID: Value]) throws -> [Value] {
        try run(inputs, stepTimes: nil)
    }

    /// The node each step runs, in order (`stepCount` of them): what `stepTimes` slots time.
    public var stepNodes: [Node] { steps.map(\.node) }

    /// ``run(_:)`` that also adds each step's wall time in seconds to `stepTimes[i]` (one slot per
    /// step, `stepCount` slots), for `denoise bench --profile`.
    public func run(_ inputs: [ValueID: Value], stepTimes: UnsafeMutablePointer<Double>?) throws -> [Value] {
        lock.lock()
        defer { lock.unlock() }
        let g = compiled.graph
        for id in g.inputs {
            guard let v = inputs[id] else { throw GraphError.badInput("missing input '\(g[id].name)'") }
            guard v.shape == compiled.shapes[id] else {
                throw GraphError.badInput("input '\(g[id].name)' has shape \(v.shape); the plan was compiled for \(compiled.shapes[id]!)")
            }
            switch (v, homes[id.index]) {
            case (.float(let t), .float(let home)?): home.assign(t)
            case (.int, _): scratch[id.index] = v
            case (.float, _): scratch[id.index] = v
            }
        }
        var skipTimeBranch = false
        if let table = timeTable, case .int(let t)? = inputs[table.input] { skipTimeBranch = table.fill(t) }
        for i in steps.indices {
            if skipTimeBranch && steps[i].inTimeBranch { continue }
            let node = steps[i].node
            let started = stepTimes == nil ? 0 : monotonicSeconds()
            defer { if let stepTimes { stepTimes[i] += monotonicSeconds() - started } }
            for p in steps[i].runtimeArgs {
                guard let v = scratch[node.inputs[p]!.index] else {
                    throw GraphError.invalid("node '\(node.name)' reads \(g[node.inputs[p]!].name), which was not computed")
                }
                steps[i].args[p] = v
            }
            do {
                if let out = steps[i].out {
                    try interpreter.apply(node.op, Arguments(values: steps[i].args), into: out)
                } else {
                    let results = try interpreter.apply(node.op, Arguments(values: steps[i].args), outputs: node.outputs.count)
                    for (id, v) in zip(node.outputs, results) {
                        if case .float(let home)? = homes[id.index], case .float(let t) = v { home.assign(t) } else { scratch[id.index] = v }
                    }
                }
            } catch let e as GraphError {
                if case .node = e { throw e }
                throw GraphError.node(name: node.name, op: node.op.name, underlying: "\(e)")
            } catch {
                throw GraphError.node(name: node.name, op: node.op.name, underlying: "\(error)")
            }
        }
        return try g.outputs.map { id in
            guard let v = homes[id.index] ?? scratch[id.index] else { throw GraphError.invalid("output \(g[id].name) was never computed") }
            return v
        }
    }
}

/// Seconds on a monotonic clock (for step timing).
@inline(__always) func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

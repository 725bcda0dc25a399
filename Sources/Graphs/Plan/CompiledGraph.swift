// CompiledGraph: the one compile path from a graph to what an inference plan runs — specialize
// (fix the input shapes, fold shape arithmetic), fuse, lower eligible 3x3 convs to Winograd, find
// the time branch's frontier a time table fills, and plan the arena with that frontier live from
// the start — with the numbers that describe the result (FLOPs, arena size). `InferencePlan`
// executes a CompiledGraph, and `denoise inspect` / `denoise bench` report on one, so what they
// print is what `serve` runs. Allocates no arena and tabulates nothing: that is the plan's job
// (the table is written into arena views).

import Tensors

/// Choices made when compiling a plan.
public struct PlanOptions: Sendable {
    /// Lower eligible 3x3 convs to Winograd F(2x2, 3x3).
    public var winograd = true
    /// Tabulate the time branch for integer timesteps 0..<timeTable (the model's training
    /// timesteps); nil or 0 computes it every forward.
    public var timeTable: Int? = 1000
    public init(winograd: Bool = true, timeTable: Int? = 1000) {
        self.winograd = winograd
        self.timeTable = timeTable
    }
}

/// A graph compiled for fixed input shapes: the graph a plan runs and its memory plan.
public struct CompiledGraph: Sendable {
    /// The options it was compiled with.
    public let options: PlanOptions
    /// The graph after specialization, fusion and (with `options.winograd`) Winograd lowering.
    public let specialized: SpecializedGraph
    /// The batch compiled for: axis 0 of the first input (1 for a rank-0 input).
    public let batch: Int
    /// The int64 timestep input and the time-branch values a time table fills before the first
    /// step, when `options.timeTable` asks for a table and the graph has a separable integer time
    /// branch; nil otherwise.
    public let timeTableFrontier: TimeTableFrontier?
    /// Arena offsets, with the frontier's buffers live from the start of a forward.
    public let memory: MemoryPlan
    /// Dense FLOPs per forward (Winograd convs counted as the direct convs they compute).
    public let flops: Int

    /// Arena bytes of one forward's intermediates.
    public var arenaBytes: Int { memory.size * 4 }
}

/// What a time table fills: the int64 timestep input and the branch values the image path reads.
public struct TimeTableFrontier: Sendable {
    public let input: ValueID
    public let values: [ValueID]
}

extension Graph {
    /// Compiles the graph for `inputShapes` (every input's concrete shape): specialized, fused,
    /// Winograd-lowered when `options.winograd`, memory-planned around the time table's frontier
    /// when `options.timeTable` is set.
    public func compiled(inputShapes: [ValueID: Shape], cpu: CPU, options: PlanOptions = PlanOptions()) throws -> CompiledGraph {
        let fused = try specialized(inputShapes: inputShapes, cpu: cpu).fused()
        let lowered = options.winograd ? try fused.winogradLowered(cpu: cpu) : fused
        let batch = inputs.first.flatMap { inputShapes[$0]?.first } ?? 1
        let frontier = (options.timeTable ?? 0) > 0 ? TimeTable.frontier(of: lowered, batch: batch) : nil
        return CompiledGraph(options: options, specialized: lowered, batch: batch, timeTableFrontier: frontier,
                             memory: lowered.planMemory(liveFromStart: Set(frontier?.values ?? [])), flops: lowered.flops)
    }
}

// TimeTable: the time branch of a diffusion U-Net, computed once for every integer timestep.
// The branch is every value that depends on the timestep input but not on the image (sinusoidal
// embedding, time MLP, each block's time projection). Its frontier — branch values the image path
// reads — is evaluated at compile time for t = 0..<T, `batch` timesteps per interpreter run of the
// branch's own subgraph, and stored as one row per timestep. At run time, when the timestep input
// is int64 and every value lies in 0..<T, the plan copies row t[i] of each frontier value into
// sample i of its arena home and skips the branch. Float or out-of-range timesteps run the branch.
// Requires every frontier value to be a float with the batch as axis 0 (one row per sample).

import Tensors

/// Precomputed frontier rows of a plan's time branch.
struct TimeTable {
    /// The int64 timestep input.
    let input: ValueID
    /// Number of timesteps tabulated (t ∈ 0..<size).
    let size: Int
    /// Each frontier value's arena home `[batch, …]` and its rows `[size, …]`.
    let entries: [(home: Tensor, rows: Tensor)]
    /// Values computed by the table (the branch), whose steps are skipped when it applies.
    let branch: Set<ValueID>

    /// The int64 timestep input and the frontier (branch values the image path reads) of a
    /// compiled graph with batch `batch`, or nil when it has no separable integer time branch.
    static func frontier(of compiled: SpecializedGraph, batch: Int) -> TimeTableFrontier? {
        let g = compiled.graph, branch = compiled.timeOnly
        guard let input = g.inputs.first(where: { branch.contains($0) && g[$0].type == .int64 }),
              compiled.shapes[input] == [batch] else { return nil }
        var readByImagePath = Set<ValueID>(g.outputs.filter(branch.contains))
        for node in g.nodes where !node.outputs.allSatisfy(branch.contains) {
            for case let v? in node.inputs where branch.contains(v) && g.constants[v] == nil { readByImagePath.insert(v) }
        }
        let values = readByImagePath.sorted()
        guard !values.isEmpty, !values.contains(input),
              values.allSatisfy({ g[$0].type == .float32 && (compiled.shapes[$0]?.first ?? 0) == batch && compiled.shapes[$0]!.rank >= 1 })
        else { return nil }
        return TimeTableFrontier(input: input, values: values)
    }

    /// Builds the table of `compilation` (its batch, `options.timeTable` timesteps), or returns nil
    /// when it planned none (no separable integer time branch, or tables off) or the branch's rows
    /// cannot be tabulated. The frontier's homes are live from the start of a forward (the
    /// compilation planned them so): the table fills them before the first step.
    init?(_ compilation: CompiledGraph, homes: [Value?], cpu: CPU) throws {
        let compiled = compilation.specialized, batch = compilation.batch, size = compilation.options.timeTable ?? 0
        let g = compiled.graph
        let branch = compiled.timeOnly
        guard size > 0, batch > 0, let planned = compilation.timeTableFrontier else { return nil }
        let (input, frontier) = (planned.input, planned.values)
        var homesOf: [Tensor] = []
        for v in frontier {
            guard case .float(let home)? = homes[v.index] else { return nil }
            homesOf.append(home)
        }
        // The branch as its own graph: timestep in, frontier out.
        var sub = Graph()
        sub.values = g.values
        sub.constants = g.constants
        sub.inputs = [input]
        sub.outputs = frontier
        sub.nodes = g.nodes.filter { $0.outputs.allSatisfy(branch.contains) }
        let interpreter = Interpreter(cpu: cpu)
        let rows = homesOf.map { Tensor(uninitialized: $0.shape.replacing(axis: 0, with: size)) }
        let rowSizes = homesOf.map { $0.count / batch }
        /// Runs the branch on timesteps start..<start+count (padded to `width`) into the rows;
        /// false when an output does not come out as `width` rows of the frontier's row size.
        func fill(_ start: Int, _ count: Int, width: Int) throws -> Bool {
            let t = (0..<width).map { Int64(start + min($0, count - 1)) }
            let values = try interpreter.run(sub, inputs: [input: .int(IntTensor(t))])
            for (k, v) in values.enumerated() {
                guard case .float(let f) = v, f.count == width * rowSizes[k] else { return false }
                (rows[k].pointer + start * rowSizes[k]).update(from: f.pointer, count: count * rowSizes[k])
            }
            return true
        }
        // Many timesteps per run when the branch's shapes follow its input (a small plan batch
        // would otherwise take `size` runs, most of the start-up time of a batch-1 plan); rows
        // do not depend on the batch they are computed in (batch-invariant kernels). A branch
        // whose shapes were specialized to the plan's batch runs at that batch; so does one whose
        // wide rows differ from a run at the plan's batch (a shape baked in that mixes rows).
        let wide = max(batch, min(size, 250))
        var filled = wide > batch
        if filled {
            for start in stride(from: 0, to: size, by: wide) where filled {
                filled = (try? fill(start, min(wide, size - start), width: wide)) ?? false
            }
        }
        if filled {
            let head = min(batch, size), saved = zip(rows, rowSizes).map { Array(UnsafeBufferPointer(start: $0.pointer, count: head * $1)) }
            filled = try fill(0, head, width: batch)
                && zip(rows, zip(rowSizes, saved)).allSatisfy { row, entry in
                    (0..<(head * entry.0)).allSatisfy { row.pointer[$0].bitPattern == entry.1[$0].bitPattern }
                }
        }
        if !filled {
            for start in stride(from: 0, to: size, by: batch) {
                guard try fill(start, min(batch, size - start), width: batch) else { return nil }
            }
        }
        self.input = input
        self.size = size
        entries = Array(zip(homesOf, rows))
        self.branch = branch
    }

    /// Fills the frontier homes for timesteps `t` and returns true, or returns false (nothing
    /// written) when some timestep is outside the table.
    func fill(_ t: IntTensor) -> Bool {
        guard t.values.allSatisfy({ $0 >= 0 && $0 < Int64(size) }) else { return false }
        for (home, rows) in entries {
            let rowSize = home.count / t.values.count
            for (i, step) in t.values.enumerated() {
                (home.pointer + i * rowSize).update(from: rows.pointer + Int(step) * rowSize, count: rowSize)
            }
        }
        return true
    }
}

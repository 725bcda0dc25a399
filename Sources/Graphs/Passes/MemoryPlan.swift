// MemoryPlan: places every float intermediate of a specialized graph in one arena. A value lives
// from the node that defines it to its last reader; view ops (reshape, flatten, squeeze,
// unsqueeze, identity) define no storage of their own and extend their source's life. Buffers are
// placed greedily, largest first, at the lowest 64-byte-aligned offset that overlaps no placed
// buffer alive at the same time (the greedy-by-size planner of TFLite / ggml-alloc). An output is
// never placed over an input of its own node. Int64 values (shape arithmetic left after folding,
// timestep math) are not planned: they are tiny and live on the host.

/// Arena offsets (in floats) of the float values of a specialized graph.
public struct MemoryPlan: Sendable {
    /// Offset of each planned value; views have their source's offset.
    public var offsets: [ValueID: Int]
    /// Arena size in floats.
    public var size: Int
    /// Sum of all planned buffers' sizes: what allocating each value separately would hold at once at worst.
    public var unsharedSize: Int
}

extension Op {
    /// Ops whose output is the input's storage with another shape.
    public var isView: Bool {
        switch self {
        case .reshape, .flatten, .squeeze, .unsqueeze, .identity: return true
        case .conv, .winogradConv, .convTranspose, .gemm, .matMul, .einsum, .attention, .attentionInterleaved,
             .binary, .unary, .parametricUnary, .clip, .compare, .not, .select, .cast,
             .softmax, .instanceNorm, .groupNorm, .batchNorm, .layerNorm, .rmsNorm, .reduce,
             .transpose, .concat, .split, .slice, .gather, .gatherND, .expand, .tile, .pad, .resize, .averagePool, .maxPool,
             .depthToSpace, .spaceToDepth,
             .shape, .constantOfShape, .range:
            return false
        }
    }
}

extension SpecializedGraph {
    /// Plans the arena for the float values of the graph (inputs, intermediates, outputs).
    /// `liveFromStart` values are written before the first node runs (the time table's frontier),
    /// so their buffers are live from the start.
    public func planMemory(liveFromStart: Set<ValueID> = []) -> MemoryPlan {
        let g = graph
        func isArenaValue(_ id: ValueID) -> Bool { g[id].type == .float32 && g.constants[id] == nil && shapes[id] != nil }
        // Storage roots: views share their source's.
        var root: [ValueID: ValueID] = [:]
        var start: [ValueID: Int] = [:], end: [ValueID: Int] = [:]
        for id in g.inputs where isArenaValue(id) { root[id] = id; start[id] = -1; end[id] = -1 }
        for (i, node) in g.nodes.enumerated() {
            for case let v? in node.inputs { if let r = root[v] { end[r] = max(end[r] ?? i, i) } }
            for out in node.outputs where isArenaValue(out) {
                if node.op.isView, let src = node.inputs.first ?? nil, let r = root[src] {
                    root[out] = r
                } else {
                    root[out] = out
                    start[out] = i
                    end[out] = i
                }
            }
        }
        for out in g.outputs { if let r = root[out] { end[r] = g.nodes.count } }
        for v in liveFromStart { if let r = root[v] { start[r] = -1 } }
        let buffers = start.keys.sorted { a, b in
            let sa = Self.padded(shapes[a]!.elementCount), sb = Self.padded(shapes[b]!.elementCount)
            return sa != sb ? sa > sb : a < b
        }
        var placed: [(id: ValueID, offset: Int, size: Int)] = []
        var offsetOf: [ValueID: Int] = [:]
        var size = 0, unshared = 0
        for b in buffers {
            let need = Self.padded(shapes[b]!.elementCount)
            unshared += need
            let live = placed.filter { start[$0.id]! <= end[b]! && start[b]! <= end[$0.id]! }.sorted { $0.offset < $1.offset }
            var offset = 0
            for p in live {
                if offset + need <= p.offset { break }
                offset = max(offset, p.offset + p.size)
            }
            placed.append((b, offset, need))
            offsetOf[b] = offset
            size = max(size, offset + need)
        }
        var offsets: [ValueID: Int] = [:]
        for (v, r) in root { offsets[v] = offsetOf[r] }
        return MemoryPlan(offsets: offsets, size: size, unsharedSize: unshared)
    }

    /// Floats rounded up to a multiple of 16 (64 bytes).
    static func padded(_ n: Int) -> Int { (max(n, 1) + 15) / 16 * 16 }

    /// Multiply-add FLOPs (2 per multiply-add) of the dense ops: conv, matmul, gemm, einsum, attention.
    public var flops: Int {
        graph.nodes.reduce(0) { $0 + flops(of: $1) }
    }

    /// FLOPs of one node (0 for non-dense ops).
    public func flops(of node: Node) -> Int {
        let ins = node.inputs.map { $0.flatMap { shapes[$0] } }
        guard let outShape = node.outputs.first.flatMap({ shapes[$0] }) else { return 0 }
        switch node.op {
        case .conv:
            guard let w = ins[1] else { return 0 }
            return 2 * outShape.elementCount * w[1] * w[2] * w[3]
        case .winogradConv:  // counted as the direct 3x3 conv it computes (effective FLOPs)
            guard let u = ins[1] else { return 0 }
            return 2 * outShape.elementCount * u[2] * 9
        case .convTranspose:
            guard let x = ins[0], let w = ins[1] else { return 0 }
            return 2 * x.elementCount * w[1] * w[2] * w[3]
        case .matMul, .gemm:
            guard let a = ins[0] else { return 0 }
            if case .gemm(let ta, _, _, _) = node.op, ta { return 2 * outShape.elementCount * a[0] }
            return 2 * outShape.elementCount * a[a.rank - 1]
        case .einsum(let spec):
            // Product of every distinct label's size, twice.
            let labels = spec.operands
            var size: [Character: Int] = [:]
            for (ls, s) in zip(labels, ins) { if let s { for (l, d) in zip(ls, s) { size[l] = d } } }
            return labels.count == 2 ? 2 * size.values.reduce(1, *) : 0
        case .attention(_, let keyTransposed):
            guard let q = ins[0], let k = ins[1] else { return 0 }
            let lk = keyTransposed ? k[k.rank - 1] : k[k.rank - 2]
            return 2 * q.elementCount * lk + 2 * outShape.elementCount * lk  // q·kᵀ, then p·v
        case .attentionInterleaved:
            guard let q = ins[0], let k = ins[1] else { return 0 }
            return 2 * q.elementCount * k[1] + 2 * outShape.elementCount * k[1]
        case .binary, .unary, .parametricUnary, .clip, .compare, .not, .select, .cast,  // not dense: counted as 0
             .softmax, .instanceNorm, .groupNorm, .batchNorm, .layerNorm, .rmsNorm, .reduce,
             .reshape, .transpose, .concat, .split, .slice, .gather, .gatherND, .unsqueeze, .squeeze, .flatten, .expand, .tile, .pad,
             .resize, .averagePool, .maxPool, .depthToSpace, .spaceToDepth, .shape, .constantOfShape, .range, .identity:
            return 0
        }
    }
}

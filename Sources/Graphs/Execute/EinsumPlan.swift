// EinsumPlan: the lowering of a parsed einsum (`EinsumSpec`) of one or two operands to sums,
// permutes, reshapes and one batched matmul — one decomposition for tensors (interpreter) and tape
// variables (training), so both compute the same bits. An operand laid out with its contracted
// axes first or last enters the matmul transposed instead of being permuted. Checks operand
// ranks and label sizes against the spec; parsing and label rules are `EinsumSpec`'s.

import Tensors

/// Einsum as sums, permutes, reshapes and one batched matmul.
enum EinsumPlan {
    /// The operations the lowering uses, over tensors or tape variables.
    struct Ops<T> {
        let shape: (T) -> Shape
        let sum: (T, [Int]) throws -> T
        let permute: (T, [Int]) throws -> T
        let reshape: (T, Shape) throws -> T
        /// Batched matmul of `[B, M, K]` (`[B, K, M]` when transposing A) and `[B, K, N]` (`[B, N, K]`).
        let matmul: (T, T, _ transposeA: Bool, _ transposeB: Bool) throws -> T
    }

    /// `spec` applied to `operands` (one per operand subscript list).
    static func run<T>(_ spec: EinsumSpec, _ operands: [T], _ op: Ops<T>) throws -> T {
        let ins = spec.operands, out = spec.output
        guard ins.count == operands.count else {
            throw GraphError.badInput("einsum '\(spec.equation)': \(ins.count) operand subscripts for \(operands.count) operands")
        }
        var size: [Character: Int] = [:]
        for (labels, t) in zip(ins, operands) {
            let shape = op.shape(t)
            guard labels.count == shape.rank else {
                throw GraphError.badInput("einsum '\(spec.equation)': subscripts \(String(labels)) do not fit shape \(shape)")
            }
            for (l, d) in zip(labels, shape) {
                if let e = size[l], e != d { throw GraphError.badInput("einsum '\(spec.equation)': '\(l)' is \(e) and \(d)") }
                size[l] = d
            }
        }
        /// Sums away labels of `t` not in `keep`, then permutes to `order`.
        func arrange(_ t: T, _ labels: [Character], keep: Set<Character>, order: [Character]) throws -> T {
            var t = t, labels = labels
            let drop = labels.indices.filter { !keep.contains(labels[$0]) }
            if !drop.isEmpty {
                t = try op.sum(t, drop)
                labels = labels.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
            }
            let perm = order.map { labels.firstIndex(of: $0)! }
            return perm == Array(0..<perm.count) ? t : try op.permute(t, perm)
        }
        if ins.count == 1 { return try arrange(operands[0], ins[0], keep: Set(out), order: out) }
        let (a, b) = (ins[0], ins[1]), outSet = Set(out)
        let batch = out.filter { a.contains($0) && b.contains($0) }
        let left = out.filter { a.contains($0) && !b.contains($0) }, right = out.filter { b.contains($0) && !a.contains($0) }
        let contracted = a.filter { b.contains($0) && !outSet.contains($0) }
        // An operand whose labels already run batch, contracted, left (or batch, right, contracted)
        // enters the matmul transposed instead of being permuted.
        let kept = { (labels: [Character]) in labels.filter { outSet.contains($0) || contracted.contains($0) } }
        let transposeA = kept(a) == batch + contracted + left && !left.isEmpty && !contracted.isEmpty
        let transposeB = kept(b) == batch + right + contracted && !right.isEmpty && !contracted.isEmpty
        let ta = try arrange(operands[0], a, keep: Set(batch + left + contracted),
                             order: transposeA ? batch + contracted + left : batch + left + contracted)
        let tb = try arrange(operands[1], b, keep: Set(batch + contracted + right),
                             order: transposeB ? batch + right + contracted : batch + contracted + right)
        let n = { (ls: [Character]) in ls.reduce(1) { $0 * size[$1]! } }
        let product = try op.matmul(op.reshape(ta, transposeA ? [n(batch), n(contracted), n(left)] : [n(batch), n(left), n(contracted)]),
                                    op.reshape(tb, transposeB ? [n(batch), n(right), n(contracted)] : [n(batch), n(contracted), n(right)]),
                                    transposeA, transposeB)
        let labels = batch + left + right
        let shaped = try op.reshape(product, Shape(labels.map { size[$0]! }))
        let perm = out.map { labels.firstIndex(of: $0)! }
        return perm == Array(0..<perm.count) ? shaped : try op.permute(shaped, perm)
    }
}

// Fuse: rewrites patterns of a specialized graph into fewer, fused nodes, until none is left:
//   Sigmoid(x) · x                                         → silu(x)
//   Tanh(Softplus(x)) · x                                  → mish(x) (the TorchScript exporter's nn.Mish)
//   (x · (Erf(x / √2) + 1)) · ½                            → gelu(x) (the TorchScript exporter's nn.GELU)
//   Reshape[N,G,K] → InstanceNorm(1, 0) → Reshape[x.shape] → Mul(γ) → Add(β)   (how both PyTorch
//     exporters write GroupNorm)                           → groupNorm(γ, β)
//   groupNorm → silu                                       → groupNorm+silu
//   conv → Add(residual of the same shape)                 → conv with residual epilogue
//   conv (+ residual) → relu / silu / gelu / sigmoid       → conv with activation epilogue
//   Transpose(p) → Transpose(q)                            → one Transpose(p∘q), or a view when
//     that is the identity (the NHWC round trips around contrib GroupNorm)
//   x / Expand(Clip(ReduceL2(x, axis), min ε))            → rmsNorm(x, .l2Scaled) (F.normalize); a following
//     Mul by a scalar or per-axis constant folds into its weight (lucidrains' RMSNorm · g · √C)
//   MatMul(q·s, kᵀ·s) or Einsum(…id,…jd→…ij) → [·/÷ scalar] → Softmax(last axis)
//     → MatMul / Einsum(…ij,…jd→…id) with v               → attention (scalars folded into its scale)
//   Transpose[0,2,1,3] of attention whose q, k, v are Transpose[0,2,1,3] (k also [0,2,3,1]) of
//     [B, L, H, D] values                                  → attentionInterleaved (no transposes)
// A pattern fires only when its inner values have no other reader and are not graph outputs, so
// the rewrite never changes what anything else sees. Every fused op's unfused meaning is the
// interpreter's, and tests compare the fused graph against the original.

import Tensors

extension SpecializedGraph {
    /// The graph with every fusion pattern applied.
    public func fused() -> SpecializedGraph {
        var g = self
        while g.fuseOnce() {}
        g.graph.eliminateDeadCode()
        return g
    }

    /// Applies the first matching rewrite at each node in one sweep; true when anything changed.
    mutating func fuseOnce() -> Bool {
        var producer: [ValueID: Int] = [:], readers: [ValueID: Int] = [:]
        for (i, n) in graph.nodes.enumerated() {
            for o in n.outputs { producer[o] = i }
            for case let v? in n.inputs { readers[v, default: 0] += 1 }
        }
        for o in graph.outputs { readers[o, default: 0] += 1 }
        var removed = Set<Int>()
        var changed = false
        /// The node defining `v` when `v` has exactly one reader and that node was not consumed yet.
        func soleProducer(_ v: ValueID?) -> (Int, Node)? {
            guard let v, readers[v] == 1, let i = producer[v], !removed.contains(i) else { return nil }
            return (i, graph.nodes[i])
        }
        func floatConstant(_ v: ValueID?) -> Tensor? {
            guard let v, case .float(let t)? = graph.constants[v] else { return nil }
            return t
        }
        for i in graph.nodes.indices where !removed.contains(i) {
            let node = graph.nodes[i]
            switch node.op {
            case .binary(.mul):
                // silu: x · sigmoid(x), either operand order.
                var fusedSiLU = false
                for (s, x) in [(node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])] {
                    if let (j, sig) = soleProducer(s), case .unary(.sigmoid) = sig.op, sig.inputs[0] == x {
                        graph.nodes[i] = Node(.unary(.silu), inputs: [x], outputs: node.outputs, name: node.name)
                        removed.insert(j)
                        changed = true
                        fusedSiLU = true
                        break
                    }
                }
                if fusedSiLU { continue }
                if let (fused, consumed) = mishOrGELU(node, soleProducer: soleProducer, floatConstant: floatConstant) {
                    graph.nodes[i] = fused
                    removed.formUnion(consumed)
                    changed = true
                    continue
                }
                // rmsNorm · constant (scalar or one value per normalized position) → folded into the weight.
                guard let (j, norm) = soleProducer(node.inputs[0]) ?? soleProducer(node.inputs[1]), case let .rmsNorm(axis, _, _) = norm.op,
                      let w = norm.inputs[1], let weight = floatConstant(w), let y = norm.outputs.first, let yShape = shapes[y] else { continue }
                let other = node.inputs[0] == y ? node.inputs[1] : node.inputs[0]
                guard let c = floatConstant(other), c.rank <= yShape.rank else { continue }
                let length = yShape[axis], offset = yShape.rank - c.rank
                let perAxis = c.count == length && (0..<c.rank).allSatisfy { c.shape[$0] == (($0 + offset) == axis ? length : 1) }
                guard c.count == 1 || perAxis else { continue }
                let combined = Tensor(shape: [length], scalars: (0..<length).map { weight.pointer[$0] * c.pointer[c.count == 1 ? 0 : $0] })
                let id = graph.addConstant(.float(combined), name: "\(norm.name)/weight")
                shapes[id] = [length]
                graph.nodes[i] = Node(norm.op, inputs: [norm.inputs[0], id], outputs: node.outputs, name: norm.name)
                removed.insert(j)
                changed = true

            case .binary(.add):
                if let m = groupNormFromDecomposition(add: node, soleProducer: soleProducer, floatConstant: floatConstant) {
                    let scale = graph.addConstant(.float(m.scale), name: "\(m.name)/gamma")
                    let bias = graph.addConstant(.float(m.bias), name: "\(m.name)/beta")
                    graph.nodes[i] = Node(.groupNorm(groups: m.groups, eps: m.eps, silu: false), inputs: [m.x, scale, bias],
                                          outputs: node.outputs, name: m.name)
                    removed.formUnion(m.consumed)
                    changed = true
                    continue
                }
                // conv + residual (same shape, no residual yet).
                for (c, r) in [(node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])] {
                    guard let c, let r, let (j, conv) = soleProducer(c), case .conv(let o, nil) = conv.op,
                          conv.inputs.count < 4, shapes[c] == shapes[r], graph.constants[r] == nil else { continue }
                    var inputs = conv.inputs
                    while inputs.count < 3 { inputs.append(nil) }
                    graph.nodes[i] = Node(.conv(o, activation: nil), inputs: inputs + [r], outputs: node.outputs, name: conv.name)
                    removed.insert(j)
                    changed = true
                    break
                }
            case .unary(let act) where [.relu, .silu, .gelu, .sigmoid].contains(act):
                guard let (j, prev) = soleProducer(node.inputs[0]) else { continue }
                switch prev.op {
                case let .groupNorm(groups, eps, false) where act == .silu:
                    graph.nodes[i] = Node(.groupNorm(groups: groups, eps: eps, silu: true), inputs: prev.inputs, outputs: node.outputs, name: prev.name)
                case .conv(let o, nil):
                    graph.nodes[i] = Node(.conv(o, activation: act), inputs: prev.inputs, outputs: node.outputs, name: prev.name)
                default: continue
                }
                removed.insert(j)
                changed = true
            case .binary(.div):
                guard let x = node.inputs[0], let xShape = shapes[x], let (iExpand, expand) = soleProducer(node.inputs[1]),
                      case .expand = expand.op, let (iClip, clip) = soleProducer(expand.inputs[0]), case .clip = clip.op,
                      let eps = floatConstant(clip.inputs.count > 1 ? clip.inputs[1] : nil), eps.count == 1,
                      clip.inputs.count < 3 || clip.inputs[2] == nil || (floatConstant(clip.inputs[2])?.scalars.first ?? 0) > 1e30,
                      let (iReduce, reduce) = soleProducer(clip.inputs[0]), case let .reduce(.l2, attrAxes, true, _) = reduce.op,
                      reduce.inputs[0] == x else { continue }
                let axes = attrAxes ?? (reduce.inputs.count > 1 ? graph.constants[reduce.inputs[1]!].map { $0.intValues.map { Int($0) } } : nil)
                guard let axes, axes.count == 1, let axis = xShape.normalizedAxis(axes[0]) else { continue }
                let length = xShape[axis]
                let weight = graph.addConstant(.float(Tensor(shape: [length], repeating: 1 / Float(length).squareRoot())), name: "\(node.name)/weight")
                shapes[weight] = [length]
                graph.nodes[i] = Node(.rmsNorm(axis: axis, eps: eps.pointer[0], kind: .l2Scaled), inputs: [x, weight], outputs: node.outputs, name: reduce.name)
                removed.formUnion([iExpand, iClip, iReduce])
                changed = true
            case .matMul, .einsum:
                guard let (fused, consumed) = attention(root: node, soleProducer: soleProducer, floatConstant: floatConstant) else { continue }
                graph.nodes[i] = fused
                removed.formUnion(consumed)
                changed = true
            case .transpose(let outer?):
                if outer == [0, 2, 1, 3], let (fused, consumed) = interleavedAttention(root: node, soleProducer: soleProducer) {
                    graph.nodes[i] = fused
                    removed.formUnion(consumed)
                    changed = true
                    continue
                }
                guard let (j, prev) = soleProducer(node.inputs[0]), case .transpose(let inner?) = prev.op,
                      inner.count == outer.count else { continue }
                let composed = outer.map { inner[$0] }
                let op: Op = composed == Array(0..<composed.count) ? .identity : .transpose(perm: composed)
                graph.nodes[i] = Node(op, inputs: prev.inputs, outputs: node.outputs, name: node.name)
                removed.insert(j)
                changed = true
            default: break
            }
        }
        graph.nodes = graph.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return changed
    }

    /// `mul` as the last node of mish (x · Tanh(Softplus(x))) or of the erf form of GELU
    /// ((x · (Erf(x / √2) + 1)) · ½, the division possibly a product by 1/√2), each product and sum
    /// in either operand order: the fused unary and the nodes it consumes.
    private func mishOrGELU(_ mul: Node, soleProducer: (ValueID?) -> (Int, Node)?,
                            floatConstant: (ValueID?) -> Tensor?) -> (Node, [Int])? {
        func scalar(_ v: ValueID?, _ value: Float) -> Bool {
            guard let t = floatConstant(v), t.count == 1 else { return false }
            return abs(t.pointer[0] - value) <= 1e-6 * abs(value)
        }
        let pairs = [(mul.inputs[0], mul.inputs[1]), (mul.inputs[1], mul.inputs[0])]
        for (t, x) in pairs {
            if let (j, tanh) = soleProducer(t), case .unary(.tanh) = tanh.op,
               let (k, softplus) = soleProducer(tanh.inputs[0]), case .unary(.softplus) = softplus.op, softplus.inputs[0] == x {
                return (Node(.unary(.mish), inputs: [x], outputs: mul.outputs, name: mul.name), [j, k])
            }
        }
        for (m, half) in pairs where scalar(half, 0.5) {
            guard let (iM, inner) = soleProducer(m), case .binary(.mul) = inner.op else { continue }
            for (sum, x) in [(inner.inputs[0], inner.inputs[1]), (inner.inputs[1], inner.inputs[0])] {
                guard let x, let (iSum, add) = soleProducer(sum), case .binary(.add) = add.op else { continue }
                for (e, one) in [(add.inputs[0], add.inputs[1]), (add.inputs[1], add.inputs[0])] where scalar(one, 1) {
                    guard let (iErf, erf) = soleProducer(e), case .unary(.erf) = erf.op,
                          let (iScale, scaled) = soleProducer(erf.inputs[0]), scaled.inputs[0] == x else { continue }
                    switch scaled.op {
                    case .binary(.div) where scalar(scaled.inputs[1], 1.41421356): break
                    case .binary(.mul) where scalar(scaled.inputs[1], 0.70710678): break
                    default: continue
                    }
                    return (Node(.unary(.gelu), inputs: [x], outputs: mul.outputs, name: mul.name), [iM, iSum, iErf, iScale])
                }
            }
        }
        return nil
    }

    /// Matches attention between head-split transposes: `root` = Transpose[0,2,1,3] of an
    /// attention whose q, k, v are Transpose[0,2,1,3] (k: [0,2,3,1] when it enters transposed) of
    /// `[B, L, H, D]` values; returns attentionInterleaved on those values and the nodes it replaces.
    private func interleavedAttention(root: Node, soleProducer: (ValueID?) -> (Int, Node)?) -> (Node, [Int])? {
        guard let (j, att) = soleProducer(root.inputs[0]), case let .attention(scale, keyTransposed) = att.op,
              att.inputs.count == 3 else { return nil }
        var operands: [ValueID] = [], consumed = [j]
        for (k, operand) in att.inputs.enumerated() {
            let wanted = k == 1 && keyTransposed ? [0, 2, 3, 1] : [0, 2, 1, 3]
            guard let (p, split) = soleProducer(operand), case .transpose(let perm?) = split.op, perm == wanted,
                  let x = split.inputs[0], shapes[x]?.rank == 4 else { return nil }
            operands.append(x)
            consumed.append(p)
        }
        return (Node(.attentionInterleaved(scale: scale), inputs: operands, outputs: root.outputs, name: att.name), consumed)
    }

    /// Matches …→ Softmax(last axis) → `root` (the product with v) back to the q·kᵀ product; returns
    /// the fused attention node and the nodes it replaces.
    private func attention(root: Node, soleProducer: (ValueID?) -> (Int, Node)?,
                           floatConstant: (ValueID?) -> Tensor?) -> (Node, [Int])? {
        guard root.inputs.count == 2, let v = root.inputs[1], let (iSoft, soft) = soleProducer(root.inputs[0]),
              case .softmax(let axis) = soft.op, let scores = soft.inputs[0], let scoreShape = shapes[scores],
              axis == -1 || axis == scoreShape.rank - 1 else { return nil }
        if case .einsum(let spec) = root.op, !Self.isAttentionEinsum(spec, scores: false) { return nil }
        var consumed = [iSoft], scale: Float = 1
        /// A one-element float constant.
        func scalar(_ id: ValueID?) -> Float? {
            guard let t = floatConstant(id), t.count == 1 else { return nil }
            return t.pointer[0]
        }
        // Optional scalar scaling of the scores.
        var product = scores
        if let (j, scaling) = soleProducer(product), case .binary(let b) = scaling.op, b == .mul || b == .div,
           let s = scalar(scaling.inputs[1]), let x = scaling.inputs[0] {
            scale *= b == .mul ? s : 1 / s
            product = x
            consumed.append(j)
        }
        guard let (iProduct, qk) = soleProducer(product), qk.inputs.count == 2 else { return nil }
        let keyTransposed: Bool
        switch qk.op {
        case .matMul: keyTransposed = true
        case .einsum(let spec) where Self.isAttentionEinsum(spec, scores: true): keyTransposed = false
        default: return nil
        }
        consumed.append(iProduct)
        // Scalars multiplied into q or kᵀ join the scale.
        var operands: [ValueID] = []
        for operand in qk.inputs {
            guard var x = operand else { return nil }
            if let (j, mul) = soleProducer(x), case .binary(.mul) = mul.op {
                if let s = scalar(mul.inputs[1]), let y = mul.inputs[0] { scale *= s; x = y; consumed.append(j) }
                else if let s = scalar(mul.inputs[0]), let y = mul.inputs[1] { scale *= s; x = y; consumed.append(j) }
            }
            operands.append(x)
        }
        let (q, k) = (operands[0], operands[1])
        guard let qs = shapes[q], let ks = shapes[k], let vs = shapes[v], qs.rank >= 2, ks.rank == qs.rank, vs.rank == qs.rank,
              qs.prefix(qs.rank - 2).elementsEqual(ks.prefix(ks.rank - 2)), qs.prefix(qs.rank - 2).elementsEqual(vs.prefix(vs.rank - 2))
        else { return nil }
        return (Node(.attention(scale: scale, keyTransposed: keyTransposed), inputs: [q, k, v], outputs: root.outputs, name: qk.name),
                consumed)
    }

    /// Whether `spec` is attention's q·kᵀ (`…id,…jd->…ij`, when `scores`) or p·v (`…ij,…jd->…id`):
    /// same leading labels everywhere, a product over the last two axes.
    static func isAttentionEinsum(_ spec: EinsumSpec, scores: Bool) -> Bool {
        let ins = spec.operands, out = spec.output
        guard ins.count == 2, ins[0].count == out.count, ins[1].count == out.count, out.count >= 2,
              Set(out).count == out.count else { return false }
        let n = out.count, lead = out.prefix(n - 2)
        guard ins[0].prefix(n - 2).elementsEqual(lead), ins[1].prefix(n - 2).elementsEqual(lead) else { return false }
        let (a, b, o) = (ins[0].suffix(2), ins[1].suffix(2), out.suffix(2))
        let (a0, a1, b0, b1, o0, o1) = (a.first!, a.last!, b.first!, b.last!, o.first!, o.last!)
        if scores { return a0 == o0 && b0 == o1 && a1 == b1 && !out.contains(a1) && a0 != b0 }
        return a0 == o0 && a1 == b0 && b1 == o1 && !out.contains(a1) && a0 != b1
    }

    /// What a decomposed group norm was: input, groups, eps, per-channel γ and β, and the nodes it replaces.
    struct GroupNormMatch {
        let x: ValueID, groups: Int, eps: Float, scale: Tensor, bias: Tensor, name: String, consumed: [Int]
    }

    /// Matches Reshape[N,G,K] → InstanceNorm(scale 1, bias 0) → Reshape[N,C,…] → Mul(γ) → Add(β), ending at `add`.
    private func groupNormFromDecomposition(add: Node, soleProducer: (ValueID?) -> (Int, Node)?,
                                            floatConstant: (ValueID?) -> Tensor?) -> GroupNormMatch? {
        for (m, b) in [(add.inputs[0], add.inputs[1]), (add.inputs[1], add.inputs[0])] {
            guard let beta = floatConstant(b), let (iMul, mul) = soleProducer(m), case .binary(.mul) = mul.op else { continue }
            for (r, gm) in [(mul.inputs[0], mul.inputs[1]), (mul.inputs[1], mul.inputs[0])] {
                guard let gamma = floatConstant(gm), let (iBack, back) = soleProducer(r), case .reshape = back.op,
                      let (iNorm, norm) = soleProducer(back.inputs[0]), case .instanceNorm(let eps) = norm.op,
                      let (iFwd, fwd) = soleProducer(norm.inputs[0]), case .reshape = fwd.op,
                      let x = fwd.inputs[0], let xShape = shapes[x], let r, shapes[r] == xShape, xShape.rank >= 3,
                      let grouped = norm.inputs[0].flatMap({ shapes[$0] }), grouped.rank == 3, grouped[0] == xShape[0],
                      xShape[1] % grouped[1] == 0 else { continue }
                let c = xShape[1]
                // The instance norm must be plain (scale 1, bias 0), γ and β per channel.
                let ones = floatConstant(norm.inputs.count > 1 ? norm.inputs[1] : nil)
                let zeros = floatConstant(norm.inputs.count > 2 ? norm.inputs[2] : nil)
                guard ones?.scalars.allSatisfy({ $0 == 1 }) ?? true, zeros?.scalars.allSatisfy({ $0 == 0 }) ?? true,
                      let scale = perChannel(gamma, channels: c, rank: xShape.rank),
                      let bias = perChannel(beta, channels: c, rank: xShape.rank) else { continue }
                return GroupNormMatch(x: x, groups: grouped[1], eps: eps, scale: scale, bias: bias, name: norm.name,
                                      consumed: [iMul, iBack, iNorm, iFwd])
            }
        }
        return nil
    }

    /// `t` as a `[C]` tensor when it holds one value per channel of a rank-`rank` NCHW tensor
    /// (shapes `[C, 1, 1]`, `[1, C, 1, 1]`, `[C]` after broadcasting alignment).
    private func perChannel(_ t: Tensor, channels c: Int, rank: Int) -> Tensor? {
        guard t.count == c, t.rank <= rank else { return nil }
        // Aligned to the right, the channel axis is rank − 1 − (rank − 2) from the end: all other axes are 1.
        let axis = t.rank - (rank - 1)
        guard axis >= 0, t.shape[axis] == c else { return nil }
        return Tensor(shape: [c], scalars: t.scalars)
    }
}

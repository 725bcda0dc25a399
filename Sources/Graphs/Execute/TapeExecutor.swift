// TapeExecutor: runs a graph on the autograd tape — the training counterpart of the inference plan,
// so a fine-tuned or trained model is new weights for the same graph. Give it a graph specialized
// with its trainable constants kept dynamic (`specialized(inputShapes:cpu:trainable:)`), the input
// values, and which constants are parameters. Each node whose inputs carry no gradient (timestep
// math, shape arithmetic, anything computed from data alone) is evaluated by the interpreter and
// enters the tape as a constant; every other node maps to its tape op, whose backward rule is
// checked by finite differences in the tensor core. Pure data movement (slice with any step,
// gather, gatherND, tile, space-to-depth, reduce max/min) becomes one `take` whose index map the interpreter
// computes by running the node on element indices. Nodes whose output carries no gradient
// (comparisons, casts to int, shapes) are evaluated on the host from the tape's values.
// BatchNormalization trains as PyTorch's train mode does: batch statistics, running statistics
// updated in place (momentum 0.1). Parameters carried by inputs (pads, axes, shapes, scales) are
// decoded by `OpArguments`, as in inference. Every op is listed: Winograd convs (inference-only)
// and reduce prod are refused by name.

import Tensors

/// Interprets graphs on a ``Tape``.
public struct TapeExecutor {
    public let tape: Tape
    let interpreter: Interpreter

    public init(tape: Tape) {
        self.tape = tape
        interpreter = Interpreter(cpu: tape.cpu)
    }

    /// Records `graph` on the tape. `inputs` feed the graph's inputs (as data); `parameters` are the
    /// tape variables of trainable constants (by value id). Returns the outputs' variables.
    public func run(_ graph: Graph, inputs: [ValueID: Value], parameters: [ValueID: Var]) throws -> [Var] {
        var vars: [ValueID: Var] = parameters
        var host: [ValueID: Value] = graph.constants.filter { parameters[$0.key] == nil }
        for (id, v) in inputs { host[id] = v }
        /// A host value as a tape constant (float only).
        func variable(_ id: ValueID) throws -> Var {
            if let v = vars[id] { return v }
            guard case .float(let t)? = host[id] else { throw GraphError.invalid("\(graph[id].name) is not a float value available to the tape") }
            let v = tape.constant(t)
            vars[id] = v
            return v
        }
        for node in graph.nodes {
            let needsGrad = node.inputs.contains { $0.map { vars[$0].map { tape.requiresGrad($0) } ?? false } ?? false }
            if !needsGrad || node.op.outputCarriesNoGradient {
                // Data-only: evaluate on the host (also int64 arithmetic), keep as a constant.
                let args = try node.inputs.map { id -> Value? in
                    guard let id else { return nil }
                    if let h = host[id] { return h }
                    if let v = vars[id] { return .float(tape[v]) }
                    throw GraphError.invalid("node '\(node.name)' reads \(graph[id].name), which was not computed")
                }
                for (id, v) in zip(node.outputs, try interpreter.evaluate(node, args)) { host[id] = v }
                continue
            }
            // Every input as the interpreter would see it: parameters (pads, axes, shapes, …) are
            // decoded from these by `OpArguments`, exactly as inference decodes them.
            let values = node.inputs.map { id in id.flatMap { host[$0] ?? vars[$0].map { .float(tape[$0]) } } }
            do {
                let outs = try record(node, Arguments(values: values), variable: variable, host: host)
                for (id, v) in zip(node.outputs, outs) { vars[id] = v }
            } catch let e as GraphError {
                if case .node = e { throw e }
                throw GraphError.node(name: node.name, op: node.op.name, underlying: "\(e)")
            } catch {
                throw GraphError.node(name: node.name, op: node.op.name, underlying: "\(error)")
            }
        }
        return try graph.outputs.map { try variable($0) }
    }

    /// The tape op(s) of one node whose inputs carry gradients; `a` holds its input values.
    private func record(_ node: Node, _ a: Arguments, variable: (ValueID) throws -> Var, host: [ValueID: Value]) throws -> [Var] {
        let t = tape
        func v(_ i: Int) throws -> Var {
            guard i < node.inputs.count, let id = node.inputs[i] else { throw GraphError.badInput("required input \(i) is missing") }
            return try variable(id)
        }
        func optional(_ i: Int) throws -> Var? { i < node.inputs.count && node.inputs[i] != nil ? try v(i) : nil }
        /// The node run on element indices in place of input `i`: output element k comes from input element map[k].
        func indexMap(_ i: Int = 0) throws -> (Var, [Int], Shape) {
            let x = try v(i), n = t[x].count
            var args = a.values
            if [.spaceToDepth, .depthToSpace].contains(node.op.kind) {  // float-only kernels: indices as floats, exact below 2^24
                guard n <= 1 << 24 else { throw GraphError.badInput("\(node.op.name) of \(n) elements is too large to train") }
                args[i] = .float(Tensor(shape: t[x].shape, scalars: (0..<n).map(Float.init)))
            } else {
                args[i] = .int(IntTensor(shape: t[x].shape, values: (0..<n).map(Int64.init)))
            }
            let out = try interpreter.evaluate(node, args)[0]
            switch out {
            case .int(let m): return (x, m.values.map { Int($0) }, out.shape)
            case .float(let m): return (x, m.scalars.map { Int($0) }, out.shape)
            }
        }
        switch node.op {
        case .slice, .gather, .gatherND, .tile, .spaceToDepth, .depthToSpace(_, false):
            let (x, map, shape) = try indexMap()
            return [try t.take(x, indices: map, shape: shape)]
        case .cast(.float32): return [try v(0)]
        case let .batchNorm(eps):
            guard case .float(let mean)? = node.inputs[3].flatMap({ host[$0] }), case .float(let variance)? = node.inputs[4].flatMap({ host[$0] }) else {
                throw GraphError.badInput("batchNorm's running mean and variance must be constants to train")
            }
            return [try t.batchNorm(v(0), weight: optional(1), bias: optional(2), runningMean: mean, runningVar: variance,
                                    training: true, momentum: 0.1, eps: eps)]
        case .pad(let fill):
            let x = try v(0)
            let (widths, mode) = try OpArguments.padding(t[x].shape, fill: fill, a)
            return [try t.pad(x, pads: widths, mode: mode)]
        case .select:
            // where(c, a, b) = a·c + b·(1 − c) with the condition as data.
            guard let cid = node.inputs[0], let c = host[cid] else { throw GraphError.badInput("where's condition must be data, not a trained value") }
            let mask = Tensor(shape: c.shape, scalars: c.intValues.map { $0 != 0 ? 1 : 0 })
            let inverse = Tensor(shape: c.shape, scalars: mask.scalars.map { 1 - $0 })
            return [try t.add(t.mul(v(1), t.constant(mask)), t.mul(v(2), t.constant(inverse)))]
        case let .conv(o, activation):
            var y = try t.conv2d(v(0), weight: v(1), bias: optional(2), o)
            if let r = try optional(3) { y = try t.add(y, r) }
            return [activation.map { t.unary($0, y) } ?? y]
        case let .convTranspose(o, ph, pw):
            return [try t.convTranspose2d(v(0), weight: v(1), bias: optional(2), o, outputPadding: (ph, pw))]
        case let .gemm(ta, tb, alpha, beta):
            if !ta, tb, alpha == 1, beta == 1 { return [try t.linear(v(0), weight: v(1), bias: optional(2))] }
            var y = try t.matmul(v(0), v(1), transposeA: ta, transposeB: tb)
            if alpha != 1 { y = t.affine(y, scale: alpha) }
            if let c = try optional(2), beta != 0 { y = try t.add(y, beta == 1 ? c : t.affine(c, scale: beta)) }
            return [y]
        case .matMul:  // numpy's rank-1 promotion, as the interpreter's `matMul`
            let a = try v(0), b = try v(1), ra = t[a].rank, rb = t[b].rank
            let row = ra == 1 ? try t.reshape(a, [1, t[a].count]) : a, column = rb == 1 ? try t.reshape(b, [t[b].count, 1]) : b
            var y = try t.matmul(row, column)
            if ra == 1 { y = try t.reshape(y, t[y].shape.removing(axis: t[y].rank - 2)) }
            if rb == 1 { y = try t.reshape(y, t[y].shape.removing(axis: t[y].rank - 1)) }
            return [y]
        case .einsum(let spec):
            return [try EinsumPlan.run(spec, node.inputs.indices.map { try v($0) }, EinsumPlan.Ops(
                shape: { t[$0].shape }, sum: { try t.sum($0, axes: $1) }, permute: { try t.permute($0, $1) },
                reshape: { try t.reshape($0, $1) }, matmul: { try t.matmul($0, $1, transposeA: $2, transposeB: $3) }))]
        case let .attention(scale, keyTransposed):
            var k = try v(1)
            if keyTransposed { let r = t[k].rank; k = try t.permute(k, Array(0..<(r - 2)) + [r - 1, r - 2]) }
            return [try t.scaledDotProductAttention(v(0), k, v(2), scale: scale)]
        case .attentionInterleaved(let scale):  // [B, L, H, D] ↔ [B, H, L, D] around attention
            let heads = [0, 2, 1, 3]
            let y = try t.scaledDotProductAttention(t.permute(v(0), heads), t.permute(v(1), heads), t.permute(v(2), heads), scale: scale)
            return [try t.permute(y, heads)]
        case .binary(let op): return [try t.binary(op, v(0), v(1))]
        case .unary(let op): return [t.unary(op, try v(0))]
        case .parametricUnary(let op): return [t.unary(op, try v(0))]
        case .clip:
            let (low, high) = try OpArguments.clipBounds(a)
            return [t.clamp(try v(0), min: Float(low), max: Float(high))]
        case .softmax(let axis): return [try t.softmax(v(0), axis: axis)]
        case let .groupNorm(groups, eps, silu):
            let c = try a.float(0).shape[1]
            if let w = try optional(1), t[w].count != c { throw GraphError.badInput("per-group scale (GroupNormalization-18) cannot be trained") }
            return [silu ? try t.groupNormSiLU(v(0), groups: groups, weight: optional(1), bias: optional(2), eps: eps)
                         : try t.groupNorm(v(0), groups: groups, weight: optional(1), bias: optional(2), eps: eps)]
        case .instanceNorm(let eps): return [try t.instanceNorm(v(0), weight: optional(1), bias: optional(2), eps: eps)]
        case let .layerNorm(axis, eps):
            let rank = try OpArguments.normalizedRank(a.float(0).shape, axis: axis)
            return [try t.layerNorm(v(0), normalizedRank: rank, weight: optional(1), bias: optional(2), eps: eps)]
        case let .rmsNorm(axis, eps, kind): return [try t.rmsNorm(v(0), axis: axis, weight: optional(1), eps: eps, kind: kind)]
        case let .reduce(kind, axes, keepDims, noop):
            guard let list = try OpArguments.reduceAxes(rank: a.value(0).shape.rank, axes: axes, noopWithEmptyAxes: noop, a) else {
                return [try v(0)]
            }
            switch kind {
            case .sum: return [try t.sum(v(0), axes: list, keepDims: keepDims)]
            case .mean: return [try t.mean(v(0), axes: list, keepDims: keepDims)]
            case .sumSquare: let x = try v(0); return [try t.sum(t.mul(x, x), axes: list, keepDims: keepDims)]
            case .l2: let x = try v(0); return [t.sqrt(try t.sum(t.mul(x, x), axes: list, keepDims: keepDims))]
            case .max, .min:
                // The gradient goes to the selected element: a take of each output's arg-extreme.
                let x = try v(0), values = t[x], s = values.shape
                let axesSet = Set(try list.map { try s.axis($0, op: "reduce") })
                let outShape = Shape((0..<s.rank).compactMap { axesSet.contains($0) ? (keepDims ? 1 : nil) : s[$0] })
                var best = [Int](repeating: -1, count: outShape.elementCount)
                var strides = [Int](repeating: 1, count: s.rank)
                for a in stride(from: s.rank - 2, through: 0, by: -1) { strides[a] = strides[a + 1] * s[a + 1] }
                for i in 0..<values.count {
                    var o = 0
                    for a in 0..<s.rank where !axesSet.contains(a) { o = o * s[a] + (i / strides[a]) % s[a] }
                    let b = best[o]
                    if b < 0 || (kind == .max ? values.pointer[i] > values.pointer[b] : values.pointer[i] < values.pointer[b]) { best[o] = i }
                }
                return [try t.take(x, indices: best, shape: outShape)]
            case .prod: throw GraphError.badInput("reduce prod has no backward rule")
            }
        case .reshape(let allowZero):
            let x = try v(0)
            return [try t.reshape(x, OpArguments.reshapeTarget(t[x].shape, a, allowZero: allowZero))]
        case .unsqueeze(let axes):
            let x = try v(0)
            return [try t.reshape(x, OpArguments.unsqueezedShape(t[x].shape, axes: axes, a))]
        case .squeeze(let axes):
            let x = try v(0)
            return [try t.reshape(x, OpArguments.squeezedShape(t[x].shape, axes: axes, a))]
        case .flatten(let axis):
            let x = try v(0)
            return [try t.reshape(x, OpArguments.flattenedShape(t[x].shape, axis: axis))]
        case .identity: return [try v(0)]
        case .transpose(let perm):
            let x = try v(0)
            return [try t.permute(x, OpArguments.permutation(perm, rank: t[x].rank))]
        case .concat(let axis): return [try t.concat(node.inputs.indices.map { try v($0) }, axis: axis)]
        case let .split(axis, sizes, count):
            let x = try v(0)
            let (ax, parts) = try OpArguments.splitSizes(t[x].shape, axis: axis, sizes: sizes, parts: count, outputs: node.outputs.count, a)
            return try t.split(x, axis: ax, sizes: parts)
        case .expand:
            let x = try v(0)
            return [try t.expand(x, to: OpArguments.expandTarget(t[x].shape, a))]
        case .resize(let mode):
            let x = try v(0)
            let (size, factor) = try OpArguments.resizeTarget(t[x].shape, a)
            switch mode {
            case .nearest: return [try t.upsampleNearest(x, outputSize: size, scaleFactor: factor)]
            case .nearestSampled(let sampling): return [try t.upsampleNearest(x, outputSize: size, scaleFactor: factor, sampling: sampling)]
            case .linear(let alignCorners): return [try t.upsampleBilinear(x, outputSize: size, alignCorners: alignCorners, scaleFactor: factor)]
            case .cubic(let alignCorners): return [try t.upsampleBicubic(x, outputSize: size, alignCorners: alignCorners, scaleFactor: factor)]
            }
        case let .averagePool(window, countIncludePad): return [try t.avgPool2d(v(0), window, countIncludePad: countIncludePad)]
        case .maxPool(let window): return [try t.maxPool2d(v(0), window)]
        case .depthToSpace(let b, true): return [try t.pixelShuffle(v(0), factor: b)]
        case .winogradConv:  // only inference plans lower convs to it; training keeps `conv`
            throw GraphError.badInput("\(node.op.name) cannot be trained (no backward rule): train the graph's conv before Winograd lowering")
        case .compare, .not, .cast(.int64), .shape, .constantOfShape, .range:  // `run` evaluates these on the host
            throw GraphError.invalid("\(node.op.name) carries no gradient: it is evaluated on the host, never recorded")
        }
    }
}

extension Op {
    /// Ops whose outputs carry no gradient whatever their inputs: evaluated on the host.
    var outputCarriesNoGradient: Bool {
        switch self {
        case .compare, .not, .shape, .constantOfShape, .range, .cast(.int64): return true
        case .conv, .winogradConv, .convTranspose, .gemm, .matMul, .einsum, .attention, .attentionInterleaved,
             .binary, .unary, .parametricUnary, .clip, .select, .cast(.float32),
             .softmax, .instanceNorm, .groupNorm, .batchNorm, .layerNorm, .rmsNorm, .reduce,
             .reshape, .transpose, .concat, .split, .slice, .gather, .gatherND, .unsqueeze, .squeeze, .flatten, .expand, .tile, .pad, .resize,
             .averagePool, .maxPool, .depthToSpace, .spaceToDepth, .identity:
            return false
        }
    }
}

// Interpreter: runs a graph node by node on the tensor kernels, allocating each result. It is the
// one definition of what every op means: the compiled plan is checked against it, constant
// folding and shape specialization run through it, and the time-embedding table is filled by it.
// Values are freed after their last use. Float math goes to `CPU` kernels; int64 tensors (shape
// arithmetic) use the host loops in `Interpreter+Layout.swift`. Not fast for small ops and not
// allocation-free: that is the InferencePlan's job.

import Foundation
import Tensors

/// Evaluates graph nodes on a ``CPU``.
public struct Interpreter: Sendable {
    public let cpu: CPU

    public init(cpu: CPU) { self.cpu = cpu }

    /// Runs `graph` on `inputs` (by input id) and returns its outputs in order.
    public func run(_ graph: Graph, inputs: [ValueID: Value]) throws -> [Value] {
        var env = graph.constants
        for id in graph.inputs {
            guard let v = inputs[id] else { throw GraphError.badInput("missing input '\(graph[id].name)'") }
            env[id] = v
        }
        // Free each intermediate after its last use.
        var lastUse: [ValueID: Int] = [:]
        for (i, n) in graph.nodes.enumerated() { for case let v? in n.inputs { lastUse[v] = i } }
        let keep = Set(graph.outputs).union(graph.constants.keys).union(graph.inputs)
        for (i, node) in graph.nodes.enumerated() {
            let args = try node.inputs.map { id -> Value? in
                guard let id else { return nil }
                guard let v = env[id] else { throw GraphError.invalid("node '\(node.name)' reads \(graph[id].name), which nothing computed") }
                return v
            }
            let results = try evaluate(node, args)
            for (id, v) in zip(node.outputs, results) { env[id] = v }
            for case let v? in node.inputs where lastUse[v] == i && !keep.contains(v) { env[v] = nil }
        }
        return try graph.outputs.map { id in
            guard let v = env[id] else { throw GraphError.invalid("output \(graph[id].name) was never computed") }
            return v
        }
    }

    /// Evaluates one node; errors name the node and its op.
    public func evaluate(_ node: Node, _ inputs: [Value?]) throws -> [Value] {
        do {
            let results = try apply(node.op, Arguments(values: inputs), outputs: node.outputs.count)
            guard results.count == node.outputs.count else {
                throw GraphError.invalid("op produced \(results.count) values for \(node.outputs.count) outputs")
            }
            return results
        } catch let e as GraphError {
            if case .node = e { throw e }
            throw GraphError.node(name: node.name, op: node.op.name, underlying: "\(e)")
        } catch {
            throw GraphError.node(name: node.name, op: node.op.name, underlying: "\(error)")
        }
    }

    /// Evaluates one single-output float node into `out` (a preassigned tensor of the output's
    /// shape): kernels that take an output write there directly; any other op computes and copies.
    func apply(_ op: Op, _ a: Arguments, into out: Tensor) throws {
        let result = try apply(op, a, outputs: 1, into: out)
        guard case .float(let t) = result[0] else { throw GraphError.invalid("\(op.name) produced int64 where float32 was planned") }
        if !(t.storage === out.storage && t.offset == out.offset) { out.assign(t) }
    }

    /// The op's results; `out`, when given, is where a single float result should be written.
    // swiftlint:disable:next cyclomatic_complexity
    func apply(_ op: Op, _ a: Arguments, outputs: Int, into out: Tensor? = nil) throws -> [Value] {
        switch op {
        case let .conv(o, activation):
            return [.float(try cpu.conv2d(a.float(0), weight: a.float(1), bias: a.optionalFloat(2), o,
                                          residual: a.optionalFloat(3), activation: activation, into: out))]
        case let .winogradConv(o, activation):
            return [.float(try cpu.conv2dWinograd(a.float(0), transformed: a.float(1), bias: a.optionalFloat(2), o,
                                                  residual: a.optionalFloat(3), activation: activation, into: out))]
        case let .convTranspose(o, ph, pw):
            return [.float(try cpu.convTranspose2d(a.float(0), weight: a.float(1), bias: a.optionalFloat(2), o,
                                                   outputPadding: (ph, pw), into: out))]
        case let .gemm(ta, tb, alpha, beta):
            let x = try a.float(0), w = try a.float(1)
            guard x.rank == 2, w.rank == 2 else { throw GraphError.badInput("gemm needs 2-D operands, got \(x.shape) and \(w.shape)") }
            let c = try a.optionalFloat(2)
            if !ta, tb, alpha == 1, beta == 1 || c == nil, c == nil || c!.shape == [w.shape[0]] {
                return [.float(try cpu.linear(x, weight: w, bias: c, into: out))]  // PyTorch's nn.Linear
            }
            var y = try cpu.matmul(x, w, transposeA: ta, transposeB: tb)
            if alpha != 1 { y = cpu.affine(y, scale: alpha) }
            if let c, beta != 0 { y = try cpu.add(y, beta == 1 ? c : cpu.affine(c, scale: beta)) }
            return [.float(y)]
        case .matMul:
            let x = try a.float(0), y = try a.float(1)
            if x.rank >= 2 && y.rank >= 2 { return [.float(try cpu.matmul(x, y, into: out))] }
            return [.float(try matMul(x, y))]
        case .einsum(let spec):
            return [.float(try einsum(spec, (0..<a.count).map { try a.float($0) }))]
        case let .attention(scale, keyTransposed):
            return [.float(try cpu.scaledDotProductAttention(a.float(0), a.float(1), a.float(2), scale: scale,
                                                             keyTransposed: keyTransposed, into: out))]
        case .attentionInterleaved(let scale):
            return [.float(try cpu.scaledDotProductAttentionInterleaved(a.float(0), a.float(1), a.float(2), scale: scale, into: out))]

        case .binary(let b):
            if case .int(let x) = try a.value(0), case .int(let y) = try a.value(1) { return [.int(try intBinary(b, x, y))] }
            return [.float(try cpu.binary(b, a.floatCast(0), a.floatCast(1), into: out))]
        case .unary(let u):
            if case .int(let x) = try a.value(0) {
                switch u {
                case .neg: return [.int(IntTensor(shape: x.shape, values: x.values.map { -$0 }))]
                case .abs: return [.int(IntTensor(shape: x.shape, values: x.values.map { Swift.abs($0) }))]
                case .exp, .log, .sqrt, .sin, .cos, .erf, .tanh, .sigmoid, .relu, .silu, .gelu, .geluTanh, .square, .reciprocal,
                     .softplus, .mish, .hardSwish:
                    return [.float(cpu.unary(u, try a.floatCast(0)))]
                }
            }
            return [.float(cpu.unary(u, try a.float(0), into: out))]
        case .parametricUnary(let u):
            return [.float(cpu.unary(u, try a.float(0), into: out))]
        case .clip:
            let (low, high) = try OpArguments.clipBounds(a)
            if case .int(let x) = try a.value(0) {
                return [.int(IntTensor(shape: x.shape, values: x.values.map { Int64(Swift.min(Swift.max(Double($0), low), high)) }))]
            }
            return [.float(cpu.clamp(try a.float(0), min: Float(low), max: Float(high), into: out))]
        case .compare(let c):
            return [.int(try compare(c, a.value(0), a.value(1)))]
        case .not:
            let x = try a.value(0).intValues
            return [.int(IntTensor(shape: try a.value(0).shape, values: x.map { $0 == 0 ? 1 : 0 }))]
        case .select:
            return [try select(a.value(0), a.value(1), a.value(2))]
        case .cast(let type):
            let x = try a.value(0)
            switch (type, x) {
            case (.float32, .float), (.int64, .int): return [x]
            case (.float32, .int(let t)): return [.float(Tensor(shape: t.shape, scalars: t.values.map { Float($0) }))]
            case (.int64, .float(let t)): return [.int(IntTensor(shape: t.shape, values: x.intValues))]
            }

        case .softmax(let axis):
            return [.float(try cpu.softmax(a.float(0), axis: axis, into: out))]
        case .instanceNorm(let eps):
            return [.float(try cpu.instanceNorm(a.float(0), weight: a.optionalFloat(1), bias: a.optionalFloat(2), eps: eps, into: out))]
        case let .groupNorm(groups, eps, silu):
            let x = try a.float(0)
            let scale = try perChannel(a.optionalFloat(1), x: x, groups: groups), bias = try perChannel(a.optionalFloat(2), x: x, groups: groups)
            return [.float(silu ? try cpu.groupNormSiLU(x, groups: groups, weight: scale, bias: bias, eps: eps, into: out)
                                : try cpu.groupNorm(x, groups: groups, weight: scale, bias: bias, eps: eps, into: out))]
        case .batchNorm(let eps):
            return [.float(try cpu.batchNorm(a.float(0), weight: a.optionalFloat(1), bias: a.optionalFloat(2),
                                             runningMean: a.float(3), runningVar: a.float(4), training: false, eps: eps, into: out))]
        case let .layerNorm(axis, eps):
            let x = try a.float(0)
            return [.float(try cpu.layerNorm(x, normalizedRank: OpArguments.normalizedRank(x.shape, axis: axis), weight: a.optionalFloat(1), bias: a.optionalFloat(2),
                                             eps: eps, into: out))]
        case let .rmsNorm(axis, eps, kind):
            return [.float(try cpu.rmsNorm(a.float(0), axis: axis, weight: a.optionalFloat(1), eps: eps, kind: kind, into: out))]
        case let .reduce(kind, axes, keepDims, noop):
            let x = try a.value(0)
            guard let list = try OpArguments.reduceAxes(rank: x.shape.rank, axes: axes, noopWithEmptyAxes: noop, a) else { return [x] }
            return [.float(try reduce(kind, a.floatCast(0), axes: list, keepDims: keepDims, into: out))]

        case .reshape(let allowZero):
            let x = try a.value(0)
            return [try x.reshaped(OpArguments.reshapeTarget(x.shape, a, allowZero: allowZero))]
        case .transpose(let perm):
            let x = try a.value(0)
            return [try permute(x, OpArguments.permutation(perm, rank: x.shape.rank), into: out)]
        case .concat(let axis):
            return [try concat((0..<a.count).compactMap { a.values[$0] }, axis: axis, into: out)]
        case let .split(axis, sizes, count):
            let x = try a.value(0)
            let (ax, parts) = try OpArguments.splitSizes(x.shape, axis: axis, sizes: sizes, parts: count, outputs: outputs, a)
            return try split(x, axis: ax, sizes: parts)
        case .slice:
            return [try slice(a.value(0), starts: a.ints(1), ends: a.ints(2), axes: a.optionalInts(3), steps: a.optionalInts(4), into: out)]
        case .gather(let axis):
            return [try gather(a.value(0), indices: a.value(1), axis: axis)]
        case .gatherND(let batchDims):
            return [try gatherND(a.value(0), indices: a.value(1), batchDims: batchDims)]
        case .unsqueeze(let axes):
            let x = try a.value(0)
            return [try x.reshaped(OpArguments.unsqueezedShape(x.shape, axes: axes, a))]
        case .squeeze(let axes):
            let x = try a.value(0)
            return [try x.reshaped(OpArguments.squeezedShape(x.shape, axes: axes, a))]
        case .flatten(let axis):
            let x = try a.value(0)
            return [try x.reshaped(OpArguments.flattenedShape(x.shape, axis: axis))]
        case .expand:
            let x = try a.value(0)
            return [try expand(x, to: OpArguments.expandTarget(x.shape, a), into: out)]
        case .tile:
            return [try tile(a.value(0), repeats: a.ints(1))]
        case .pad(let fill):
            let x = try a.float(0)
            let (widths, mode) = try OpArguments.padding(x.shape, fill: fill, a)
            return [.float(try cpu.pad(x, pads: widths, mode: mode, into: out))]
        case .resize(let mode):
            let x = try a.float(0)
            let (size, factor) = try OpArguments.resizeTarget(x.shape, a)
            switch mode {
            case .nearest: return [.float(try cpu.upsampleNearest(x, outputSize: size, scaleFactor: factor, into: out))]
            case .nearestSampled(let sampling):
                return [.float(try cpu.upsampleNearest(x, outputSize: size, scaleFactor: factor, sampling: sampling, into: out))]
            case .linear(let alignCorners):
                return [.float(try cpu.upsampleBilinear(x, outputSize: size, alignCorners: alignCorners,
                                                        scaleFactor: alignCorners ? nil : factor, into: out))]
            case .cubic(let alignCorners):
                return [.float(try cpu.upsampleBicubic(x, outputSize: size, alignCorners: alignCorners,
                                                       scaleFactor: alignCorners ? nil : factor, into: out))]
            }
        case let .averagePool(window, countIncludePad):
            return [.float(try cpu.avgPool2d(a.float(0), window, countIncludePad: countIncludePad, into: out))]
        case .maxPool(let window):
            return [.float(try cpu.maxPool2d(a.float(0), window, into: out))]
        case let .depthToSpace(b, crd):
            let x = try a.float(0)
            if crd { return [.float(try cpu.pixelShuffle(x, factor: b, into: out))] }
            try x.shape.requireRank(4, op: "depthToSpace")
            let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            guard c % (b * b) == 0 else { throw GraphError.badInput("depthToSpace: channels \(c) not divisible by \(b * b)") }
            let t = try cpu.permute(x.reshaped([n, b, b, c / (b * b), h, w]), [0, 3, 4, 1, 5, 2])
            return [.float(try t.reshaped([n, c / (b * b), h * b, w * b]))]
        case .spaceToDepth(let b):
            let x = try a.float(0)
            try x.shape.requireRank(4, op: "spaceToDepth")
            let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            guard h % b == 0, w % b == 0 else { throw GraphError.badInput("spaceToDepth: \(x.shape) not divisible by block \(b)") }
            let t = try cpu.permute(x.reshaped([n, c, h / b, b, w / b, b]), [0, 3, 5, 1, 2, 4])
            return [.float(try t.reshaped([n, c * b * b, h / b, w / b]))]

        case let .shape(start, end):
            let s = try a.value(0).shape
            let r = s.rank
            let lo = Swift.min(Swift.max(start < 0 ? start + r : start, 0), r)
            let hi = Swift.min(Swift.max((end ?? r) < 0 ? (end ?? r) + r : (end ?? r), 0), r)
            return [.int(IntTensor((lo..<Swift.max(lo, hi)).map { Int64(s[$0]) }))]
        case .constantOfShape(let fill):
            let shape = try OpArguments.checkedShape(a.ints(0), op: "constantOfShape")
            switch fill {
            case .float(let t): return [.float(Tensor(shape: shape, repeating: t.count > 0 ? t.pointer[0] : 0))]
            case .int(let t): return [.int(IntTensor(shape: shape, values: Array(repeating: t.values.first ?? 0, count: shape.elementCount)))]
            }
        case .range:
            return [try range(a.value(0), a.value(1), a.value(2))]
        case .identity:
            return [try a.value(0)]
        }
    }

    /// numpy matmul: rank-1 operands promoted (a to a row, b to a column) and the axis dropped after.
    func matMul(_ x: Tensor, _ y: Tensor) throws -> Tensor {
        let a = x.rank == 1 ? try x.reshaped([1, x.count]) : x
        let b = y.rank == 1 ? try y.reshaped([y.count, 1]) : y
        var out = try cpu.matmul(a, b)
        if x.rank == 1 { out = try out.reshaped(out.shape.removing(axis: out.rank - 2)) }
        if y.rank == 1 { out = try out.reshaped(out.shape.removing(axis: out.rank - 1)) }
        return out
    }

    /// GroupNormalization-18 gives scale and bias per group: repeat them per channel.
    func perChannel(_ t: Tensor?, x: Tensor, groups: Int) throws -> Tensor? {
        guard let t, x.rank >= 2 else { return t }
        let c = x.shape[1]
        if t.count == c { return try t.reshaped([c]) }
        guard t.count == groups, c % groups == 0 else {
            throw GraphError.badInput("groupNorm scale/bias \(t.shape) fits neither \(c) channels nor \(groups) groups")
        }
        let per = c / groups
        return Tensor(shape: [c], scalars: (0..<c).map { t.pointer[$0 / per] })
    }

    /// Reduction over `axes` (any kind), through the sum/mean kernels where they apply.
    func reduce(_ kind: ReduceKind, _ x: Tensor, axes: [Int], keepDims: Bool, into out: Tensor? = nil) throws -> Tensor {
        switch kind {
        case .sum: return try cpu.sum(x, axes: axes, keepDims: keepDims, into: out)
        case .mean: return try cpu.mean(x, axes: axes, keepDims: keepDims, into: out)
        case .sumSquare: return try cpu.sum(cpu.unary(.square, x), axes: axes, keepDims: keepDims)
        case .l2: return cpu.unary(.sqrt, try cpu.sum(cpu.unary(.square, x), axes: axes, keepDims: keepDims))
        case .max: return try foldRows(x, axes: axes, keepDims: keepDims, initial: -.infinity) { Swift.max($0, $1) }
        case .min: return try foldRows(x, axes: axes, keepDims: keepDims, initial: .infinity) { Swift.min($0, $1) }
        case .prod: return try foldRows(x, axes: axes, keepDims: keepDims, initial: 1) { $0 * $1 }
        }
    }

    /// A reduction without a kernel: the reduced axes moved last, each contiguous row folded in order.
    private func foldRows(_ x: Tensor, axes: [Int], keepDims: Bool, initial: Float, _ combine: (Float, Float) -> Float) throws -> Tensor {
        let reduced = Set(try axes.map { try x.shape.axis($0, op: "reduce") })
        let kept = (0..<x.rank).filter { !reduced.contains($0) }
        let moved = try cpu.permute(x, kept + reduced.sorted())
        let rowLength = reduced.reduce(1) { $0 * x.shape[$1] }, rows = x.count / Swift.max(rowLength, 1)
        var out = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            let row = moved.pointer + r * rowLength
            var acc = initial
            for i in 0..<rowLength { acc = combine(acc, row[i]) }
            out[r] = acc
        }
        withExtendedLifetime(moved) {}
        let shape = keepDims ? Shape((0..<x.rank).map { reduced.contains($0) ? 1 : x.shape[$0] }) : Shape(kept.map { x.shape[$0] })
        return Tensor(shape: shape, scalars: out)
    }
}

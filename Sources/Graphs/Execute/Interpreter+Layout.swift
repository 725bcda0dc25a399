// Interpreter+Layout: the layout, indexing and int64 ops of the interpreter. Float tensors take
// the CPU kernels where one exists (permute, concat, split, forward slices, broadcast); the rest,
// and every int64 tensor, go through one mechanism: an index map (output element i reads input
// element map[i]) applied by `take`. Int64 tensors are small (shape arithmetic), so maps cost
// nothing there; on float data they serve rare ops (negative-step slices, gathers, tiles).
// Einsum lowers to permute + reshape + batched matmul (`EinsumPlan.swift`).

import Foundation
import Tensors

extension Interpreter {
    /// `out[i] = v[map[i]]` with the given shape.
    func take(_ v: Value, _ map: [Int], shape: Shape) -> Value {
        switch v {
        case .int(let t): return .int(IntTensor(shape: shape, values: map.map { t.values[$0] }))
        case .float(let t):
            let out = Tensor(uninitialized: shape), src = t.pointer, dst = out.pointer
            for (i, s) in map.enumerated() { dst[i] = src[s] }
            withExtendedLifetime(t) {}
            return .float(out)
        }
    }

    /// Source offset of every element of a broadcast to `target`.
    func broadcastMap(from source: Shape, to target: Shape) -> [Int] {
        let index = BroadcastIndex(from: source, to: target)
        return (0..<target.elementCount).map { index.sourceOffset($0) }
    }

    /// Source offsets of a strided box: per axis a first index, a step (any sign) and a count.
    func boxMap(_ shape: Shape, starts: [Int], steps: [Int], counts: [Int]) -> [Int] {
        let strides = shape.contiguousStrides
        var map = [0]
        for axis in 0..<shape.rank {
            var next: [Int] = []
            next.reserveCapacity(map.count * counts[axis])
            for base in map { for i in 0..<counts[axis] { next.append(base + (starts[axis] + i * steps[axis]) * strides[axis]) } }
            map = next
        }
        return map
    }

    func intBinary(_ op: BinaryOp, _ x: IntTensor, _ y: IntTensor) throws -> IntTensor {
        let shape = try broadcastShapes(x.shape, y.shape, op: op.rawValue)
        let mx = broadcastMap(from: x.shape, to: shape), my = broadcastMap(from: y.shape, to: shape)
        var out = [Int64](repeating: 0, count: shape.elementCount)
        for i in out.indices {
            let a = x.values[mx[i]], b = y.values[my[i]]
            switch op {
            case .add: out[i] = a &+ b
            case .sub: out[i] = a &- b
            case .mul: out[i] = a &* b
            case .div:
                guard b != 0 else { throw GraphError.badInput("integer division by zero") }
                out[i] = a / b
            case .pow: out[i] = Int64(Foundation.pow(Double(a), Double(b)))
            case .maximum: out[i] = Swift.max(a, b)
            case .minimum: out[i] = Swift.min(a, b)
            }
        }
        return IntTensor(shape: shape, values: out)
    }

    func compare(_ c: Comparison, _ x: Value, _ y: Value) throws -> IntTensor {
        let shape = try broadcastShapes(x.shape, y.shape, op: c.rawValue)
        let mx = broadcastMap(from: x.shape, to: shape), my = broadcastMap(from: y.shape, to: shape)
        let xs = doubles(x), ys = doubles(y)
        return IntTensor(shape: shape, values: (0..<shape.elementCount).map { i in
            let a = xs[mx[i]], b = ys[my[i]]
            switch c {
            case .equal: return a == b ? 1 : 0
            case .less: return a < b ? 1 : 0
            case .greater: return a > b ? 1 : 0
            case .lessOrEqual: return a <= b ? 1 : 0
            case .greaterOrEqual: return a >= b ? 1 : 0
            }
        })
    }

    private func doubles(_ v: Value) -> [Double] {
        switch v {
        case .int(let t): return t.values.map { Double($0) }
        case .float(let t): return t.scalars.map { Double($0) }
        }
    }

    /// ONNX Where: `cond ? x : y` with three-way broadcasting; float if either branch is float.
    func select(_ cond: Value, _ x: Value, _ y: Value) throws -> Value {
        let shape = try broadcastShapes(broadcastShapes(cond.shape, x.shape, op: "where"), y.shape, op: "where")
        let mc = broadcastMap(from: cond.shape, to: shape), mx = broadcastMap(from: x.shape, to: shape)
        let my = broadcastMap(from: y.shape, to: shape), c = cond.intValues
        if case .int(let xi) = x, case .int(let yi) = y {
            return .int(IntTensor(shape: shape, values: (0..<shape.elementCount).map { c[mc[$0]] != 0 ? xi.values[mx[$0]] : yi.values[my[$0]] }))
        }
        let xs = x.floatValues, ys = y.floatValues
        return .float(Tensor(shape: shape, scalars: (0..<shape.elementCount).map { c[mc[$0]] != 0 ? xs[mx[$0]] : ys[my[$0]] }))
    }

    func permute(_ v: Value, _ perm: [Int], into out: Tensor? = nil) throws -> Value {
        let s = v.shape
        guard perm.count == s.rank, Set(perm) == Set(0..<s.rank) else { throw GraphError.badInput("transpose: permutation \(perm) for shape \(s)") }
        if case .float(let t) = v { return .float(try cpu.permute(t, perm, into: out)) }
        let target = Shape(perm.map { s[$0] }), strides = s.contiguousStrides
        // Walk the output in order; source offset = Σ coord[i]·strides[perm[i]].
        var offsets = [0]
        for i in 0..<s.rank {
            var next: [Int] = []
            next.reserveCapacity(offsets.count * target[i])
            for base in offsets { for c in 0..<target[i] { next.append(base + c * strides[perm[i]]) } }
            offsets = next
        }
        return take(v, offsets, shape: target)
    }

    func concat(_ parts: [Value], axis: Int, into out: Tensor? = nil) throws -> Value {
        guard let first = parts.first else { throw GraphError.badInput("concat of no inputs") }
        if parts.contains(where: { $0.elementType == .float32 }) {
            let floats = parts.map { v -> Tensor in
                if case .float(let t) = v { return t }
                return Tensor(shape: v.shape, scalars: v.floatValues)
            }
            return .float(try cpu.concat(floats, axis: axis, into: out))
        }
        let ax = try first.shape.axis(axis, op: "concat")
        var shape = first.shape
        shape[ax] = 0
        for p in parts {
            guard p.shape.rank == first.shape.rank, (0..<p.shape.rank).allSatisfy({ $0 == ax || p.shape[$0] == first.shape[$0] }) else {
                throw GraphError.badInput("concat: shapes \(parts.map { $0.shape }) differ off axis \(axis)")
            }
            shape[ax] += p.shape[ax]
        }
        let outer = first.shape.product(0..<ax)
        var values: [Int64] = []
        values.reserveCapacity(shape.elementCount)
        for o in 0..<outer {
            for p in parts {
                let inner = p.shape.product(ax..<p.shape.rank)
                values.append(contentsOf: p.intValues[(o * inner)..<((o + 1) * inner)])
            }
        }
        return .int(IntTensor(shape: shape, values: values))
    }

    func split(_ v: Value, axis: Int, sizes: [Int]) throws -> [Value] {
        guard sizes.reduce(0, +) == v.shape[axis], sizes.allSatisfy({ $0 >= 0 }) else {
            throw GraphError.badInput("split: sizes \(sizes) do not add up to axis \(axis) of \(v.shape)")
        }
        if case .float(let t) = v { return try cpu.split(t, axis: axis, sizes: sizes).map { .float($0) } }
        var start = 0
        return sizes.map { size in
            defer { start += size }
            var starts = Array(repeating: 0, count: v.shape.rank), counts = Array(v.shape)
            starts[axis] = start
            counts[axis] = size
            var shape = v.shape
            shape[axis] = size
            return take(v, boxMap(v.shape, starts: starts, steps: Array(repeating: 1, count: v.shape.rank), counts: counts), shape: shape)
        }
    }

    /// ONNX Slice (any step sign; bounds clamp as in numpy).
    /// ONNX Slice; a float slice along one axis writes straight into `out` when given.
    func slice(_ v: Value, starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?, into out: Tensor? = nil) throws -> Value {
        let s = v.shape
        let list = try (axes ?? Array(0..<starts.count)).map { try s.axis($0, op: "slice") }
        let stepList = steps ?? Array(repeating: 1, count: starts.count)
        guard starts.count == ends.count, list.count == starts.count, stepList.count == starts.count, !stepList.contains(0) else {
            throw GraphError.badInput("slice: starts \(starts), ends \(ends), axes \(axes ?? []), steps \(stepList) do not fit \(s)")
        }
        var first = Array(repeating: 0, count: s.rank), step = Array(repeating: 1, count: s.rank), count = Array(s)
        for (k, axis) in list.enumerated() {
            let d = s[axis], st = stepList[k]
            var lo = starts[k] < 0 ? starts[k] + d : starts[k], hi = ends[k] < 0 ? ends[k] + d : ends[k]
            if st > 0 {
                lo = Swift.min(Swift.max(lo, 0), d); hi = Swift.min(Swift.max(hi, 0), d)
                count[axis] = hi > lo ? (hi - lo + st - 1) / st : 0
            } else {
                lo = Swift.min(Swift.max(lo, -1), d - 1); hi = Swift.min(Swift.max(hi, -1), d - 1)
                count[axis] = lo > hi ? (lo - hi - st - 1) / -st : 0
            }
            first[axis] = lo
            step[axis] = st
        }
        let shape = Shape(count)
        if case .float(var t) = v, step.allSatisfy({ $0 > 0 }) {
            let sliced = (0..<s.rank).filter { count[$0] != s[$0] }
            for axis in sliced {
                t = try cpu.slice(t, axis: axis, start: first[axis], end: first[axis] + count[axis] * step[axis], step: step[axis],
                                  into: axis == sliced.last && out?.shape == shape ? out : nil)
            }
            return .float(t)
        }
        return take(v, boxMap(s, starts: first, steps: step, counts: count), shape: shape)
    }

    /// ONNX Gather along `axis` (negative indices count from the end).
    func gather(_ data: Value, indices: Value, axis: Int) throws -> Value {
        let s = data.shape, ax = try s.axis(axis, op: "gather"), d = s[ax]
        let idx = try indices.intValues.map { i -> Int in
            let j = Int(i) < 0 ? Int(i) + d : Int(i)
            guard j >= 0 && j < d else { throw GraphError.badInput("gather: index \(i) out of range for axis \(axis) of \(s)") }
            return j
        }
        let outer = s.product(0..<ax), inner = s.product((ax + 1)..<s.rank)
        var shape = Shape(s.prefix(ax))
        for x in indices.shape { shape.append(x) }
        for x in s.suffix(from: ax + 1) { shape.append(x) }
        var map: [Int] = []
        map.reserveCapacity(shape.elementCount)
        for o in 0..<outer { for j in idx { let base = (o * d + j) * inner; for i in 0..<inner { map.append(base + i) } } }
        return take(data, map, shape: shape)
    }

    /// ONNX GatherND: `indices` `[B…, M…, k]` (B the first `batchDims` axes, shared with `data`)
    /// picks, per index tuple, `data[b…, i₁, …, i_k, …]` (negative indices count from the end).
    func gatherND(_ data: Value, indices: Value, batchDims b: Int) throws -> Value {
        let s = data.shape, q = indices.shape
        guard q.rank >= 1, b >= 0, b < Swift.min(s.rank, q.rank) else {
            throw GraphError.badInput("gatherND: batch_dims \(b) for data \(s) and indices \(q)")
        }
        let k = q[q.rank - 1]
        guard k >= 1, b + k <= s.rank, (0..<b).allSatisfy({ s[$0] == q[$0] }) else {
            throw GraphError.badInput("gatherND: indices \(q) with batch_dims \(b) do not fit data \(s)")
        }
        var shape = Shape(q.prefix(q.rank - 1))
        for d in s.suffix(from: b + k) { shape.append(d) }
        _ = try OpArguments.checkedShape(Array(shape), op: "gatherND")
        let idx = indices.intValues, strides = s.contiguousStrides
        let batches = s.product(0..<b), tuples = q.product(b..<(q.rank - 1)), inner = s.product((b + k)..<s.rank)
        var map: [Int] = []
        map.reserveCapacity(shape.elementCount)
        for batch in 0..<batches {
            for t in 0..<tuples {
                var base = batch * (b > 0 ? strides[b - 1] : 0)
                for j in 0..<k {
                    let d = s[b + j], i = Int(idx[(batch * tuples + t) * k + j])
                    let index = i < 0 ? i + d : i
                    guard index >= 0 && index < d else { throw GraphError.badInput("gatherND: index \(i) out of range for axis \(b + j) of \(s)") }
                    base += index * strides[b + j]
                }
                for e in 0..<inner { map.append(base + e) }
            }
        }
        return take(data, map, shape: shape)
    }

    /// ONNX Expand to `target` (``OpArguments/expandTarget(_:_:)``: the broadcast of the value's shape and the requested one).
    func expand(_ v: Value, to target: Shape, into out: Tensor? = nil) throws -> Value {
        if case .float(let t) = v { return .float(try cpu.broadcast(t, to: target, into: out)) }
        return take(v, broadcastMap(from: v.shape, to: target), shape: target)
    }

    func tile(_ v: Value, repeats: [Int]) throws -> Value {
        let s = v.shape
        guard repeats.count == s.rank, repeats.allSatisfy({ $0 >= 0 }) else { throw GraphError.badInput("tile: repeats \(repeats) for shape \(s)") }
        let out = try OpArguments.checkedShape((0..<s.rank).map { s[$0] * repeats[$0] }, op: "tile"), strides = s.contiguousStrides
        var map = [0]
        for axis in 0..<s.rank {
            var next: [Int] = []
            for base in map { for c in 0..<out[axis] { next.append(base + (c % s[axis]) * strides[axis]) } }
            map = next
        }
        return take(v, map, shape: out)
    }

    /// ONNX Range: int64 when all operands are, else float.
    func range(_ start: Value, _ limit: Value, _ delta: Value) throws -> Value {
        if case .int(let a) = start, case .int(let b) = limit, case .int(let d) = delta {
            guard let s = a.values.first, let e = b.values.first, let st = d.values.first, st != 0 else { throw GraphError.badInput("range: zero step") }
            let n = Swift.max(0, Int(clamping: Int64((Double(e - s) / Double(st)).rounded(.up).clamped(-1e12, 1e12))))
            _ = try OpArguments.checkedShape([n], op: "range")
            return .int(IntTensor((0..<n).map { s + Int64($0) * st }))
        }
        guard let s = start.floatValues.first, let e = limit.floatValues.first, let st = delta.floatValues.first, st != 0 else {
            throw GraphError.badInput("range: needs scalar start, limit and a non-zero delta")
        }
        let n = Swift.max(0, Int(Double((e - s) / st).rounded(.up).clamped(-1e12, 1e12)))
        _ = try OpArguments.checkedShape([n], op: "range")
        return .float(Tensor(shape: [n], scalars: (0..<n).map { s + Float($0) * st }))
    }

    /// Einsum over one or two operands (see ``EinsumSpec``); lowered by ``EinsumPlan``.
    func einsum(_ spec: EinsumSpec, _ operands: [Tensor]) throws -> Tensor {
        let c = cpu
        return try EinsumPlan.run(spec, operands, EinsumPlan.Ops(
            shape: { $0.shape }, sum: { try c.sum($0, axes: $1) }, permute: { try c.permute($0, $1) },
            reshape: { try $0.reshaped($1) }, matmul: { try c.matmul($0, $1, transposeA: $2, transposeB: $3) }))
    }
}

extension Double {
    func clamped(_ low: Double, _ high: Double) -> Double { Swift.min(Swift.max(self, low), high) }
}

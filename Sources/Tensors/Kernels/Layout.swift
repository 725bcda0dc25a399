// Layout kernels: concat, split, slice, pad (constant / reflect / edge, with cropping) and
// permute (transpose), plus the backward kernels of slice and pad. Every op copies into a fresh
// contiguous output (row-major float32); views (reshape, a range of axis 0) live on ``Tensor``.
// Contiguous runs are copied with `update(from:count:)`; permutes coalesce axes first and use a
// blocked 2D transpose when the innermost axis moves. Work is split by static chunks of
// ``CPU/parallelFor(_:grain:_:)``; each chunk owns its output range, so results never depend on
// the thread count. No autograd here (`Autograd/Tape+Layout.swift`); naive twins in
// `Naive/Layout+Naive.swift`.

/// How ``CPU/pad(_:pads:mode:into:)`` fills the border (ONNX Pad modes).
public enum PadMode: Sendable, Equatable {
    /// A constant value.
    case constant(Float)
    /// Mirror without repeating the edge (`[a b c] -> b | a b c | b`); repeats for wide pads (numpy).
    case reflect
    /// Repeat the edge element (ONNX "edge", PyTorch "replicate").
    case edge
}

/// Padding of one axis: elements added before and after (negative values crop).
public struct PadWidth: Sendable, Equatable, ExpressibleByArrayLiteral {
    public var before: Int
    public var after: Int
    public init(_ before: Int, _ after: Int) { self.before = before; self.after = after }
    public init(arrayLiteral elements: Int...) {
        precondition(elements.count == 2, "PadWidth: expected [before, after]")
        self.init(elements[0], elements[1])
    }
}

/// Python/ONNX slice normalization for a positive step: negative indices count from the end,
/// out-of-range bounds clamp to `0...dim`. Returns the first index and the element count.
func normalizedSlice(dim: Int, start: Int, end: Int, step: Int) -> (start: Int, count: Int) {
    func clampIndex(_ i: Int) -> Int {
        let j = i < 0 ? (i < -dim ? 0 : i + dim) : i
        return Swift.min(Swift.max(j, 0), dim)
    }
    let s = clampIndex(start), e = clampIndex(end)
    return (s, e > s ? (e - s + step - 1) / step : 0)
}

/// Per-axis source index of every output position of a pad (`-1` = constant fill); the output
/// length is the map's count. Negative pads crop first; reflect/edge refer to the cropped range.
func padIndexMap(dim: Int, _ w: PadWidth, mode: PadMode, op: String, shape: Shape, axis: Int) throws -> [Int] {
    let lo = Swift.max(0, -w.before), hi = dim - Swift.max(0, -w.after)
    let n = hi - lo
    guard n >= 0 else {
        throw TensorError.invalidArgument(op: op, "pads (\(w.before), \(w.after)) crop more than axis \(axis) of shape \(shape) holds")
    }
    let pb = Swift.max(w.before, 0), pa = Swift.max(w.after, 0)
    if case .constant = mode {} else if n == 0 && pb + pa > 0 {
        throw TensorError.invalidArgument(op: op, "\(mode) padding of empty axis \(axis) of shape \(shape)")
    }
    var map = [Int](repeating: -1, count: n + pb + pa)
    for o in 0..<map.count {
        let p = o - pb
        if p >= 0 && p < n { map[o] = lo + p; continue }
        switch mode {
        case .constant: map[o] = -1
        case .edge: map[o] = lo + Swift.min(Swift.max(p, 0), n - 1)
        case .reflect:
            if n == 1 { map[o] = lo; continue }
            let period = 2 * (n - 1)
            var q = p % period
            if q < 0 { q += period }
            map[o] = lo + (q >= n ? period - q : q)
        }
    }
    return map
}

/// The shape of `xs` joined along `axis`, or an error naming the mismatching shapes.
func concatShape(_ xs: [Tensor], axis: Int) throws -> (shape: Shape, axis: Int) {
    let op = "concat"
    guard let first = xs.first else { throw TensorError.invalidArgument(op: op, "no inputs") }
    let a = try first.shape.axis(axis, op: op)
    var total = 0
    for x in xs {
        guard x.rank == first.rank && (0..<x.rank).allSatisfy({ $0 == a || x.shape[$0] == first.shape[$0] }) else {
            throw TensorError.shapeMismatch(op: op, first.shape, x.shape, detail: "all axes but \(axis) must agree")
        }
        total += x.shape[a]
    }
    return (first.shape.replacing(axis: a, with: total), a)
}

/// Validates split sizes against axis `axis` of `shape`; returns the normalized axis.
func splitAxis(_ shape: Shape, axis: Int, sizes: [Int]) throws -> Int {
    let a = try shape.axis(axis, op: "split")
    guard sizes.allSatisfy({ $0 >= 0 }) && sizes.reduce(0, +) == shape[a] else {
        throw TensorError.invalidArgument(op: "split", "sizes \(sizes) do not sum to axis \(axis) of shape \(shape)")
    }
    return a
}

func padMaps(_ shape: Shape, pads: [PadWidth], mode: PadMode, op: String) throws -> [[Int]] {
    guard pads.count == shape.rank else {
        throw TensorError.invalidArgument(op: op, "\(pads.count) pad widths for shape \(shape) of rank \(shape.rank)")
    }
    return try (0..<shape.rank).map { try padIndexMap(dim: shape[$0], pads[$0], mode: mode, op: op, shape: shape, axis: $0) }
}

func validatedPermutation(_ perm: [Int], for shape: Shape, op: String) throws -> [Int] {
    var seen = [Bool](repeating: false, count: shape.rank)
    let bad = TensorError.invalidArgument(op: op, "perm \(perm) is not a permutation of the axes of shape \(shape)")
    guard perm.count == shape.rank else { throw bad }
    return try perm.map { a in
        guard let n = shape.normalizedAxis(a), !seen[n] else { throw bad }
        seen[n] = true
        return n
    }
}

/// Copies `n` floats; short runs inline (a vectorized loop beats a memmove call), long runs memmove.
@inline(__always)
func layoutCopyRun(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    if n < 256 { for i in 0..<n { dst[i] = src[i] } } else { dst.update(from: src, count: n) }
}

extension CPU {
    // MARK: concat, split, slice

    /// Joins tensors along `axis`; all other dimensions must agree.
    /// - Parameters:
    ///   - xs: `[..., d_i, ...]` each (at least one)
    ///   - out: `[..., Σ d_i, ...]`, or nil to allocate; must not overlap any of `xs`
    /// - Returns: `[..., Σ d_i, ...]`
    public func concat(_ xs: [Tensor], axis: Int, into out: Tensor? = nil) throws -> Tensor {
        let (shape, a) = try concatShape(xs, axis: axis)
        let out = try Tensor.output(out, shape: shape, op: "concat"), total = shape[a]  // the inputs tile it
        let outer = shape.product(0..<a), inner = shape.product((a + 1)..<shape.rank)
        var offset = 0
        for x in xs {
            let d = x.shape[a]
            layoutSliceCopy(strided: out.pointer, packed: x.pointer, outer: outer, dim: total, inner: inner,
                            start: offset, step: 1, count: d, toPacked: false)
            offset += d
        }
        withExtendedLifetime((xs, out)) {}
        return out
    }

    /// Splits `x` along `axis` into pieces of `sizes` (which must sum to that dimension).
    /// - Parameters:
    ///   - x: `[..., D, ...]`
    /// - Returns: one tensor `[..., sizes[i], ...]` per size
    public func split(_ x: Tensor, axis: Int, sizes: [Int]) throws -> [Tensor] {
        let a = try splitAxis(x.shape, axis: axis, sizes: sizes)
        let outer = x.shape.product(0..<a), inner = x.shape.product((a + 1)..<x.rank)
        var offset = 0
        let outs = sizes.map { size -> Tensor in
            let out = Tensor(zeros: x.shape.replacing(axis: a, with: size))
            layoutSliceCopy(strided: x.pointer, packed: out.pointer, outer: outer, dim: x.shape[a], inner: inner,
                            start: offset, step: 1, count: size, toPacked: true)
            offset += size
            return out
        }
        withExtendedLifetime(x) {}
        return outs
    }

    /// Elements `start, start+step, …` (before `end`) of `axis`, with Python/ONNX semantics:
    /// negative indices count from the end and out-of-range bounds clamp.
    /// - Parameters:
    ///   - x: `[..., D, ...]`
    ///   - step: ≥ 1
    ///   - out: the result's shape, or nil to allocate; must not overlap `x`
    /// - Returns: `[..., ceil((end' - start') / step), ...]` for the clamped bounds
    public func slice(_ x: Tensor, axis: Int, start: Int, end: Int, step: Int = 1, into out: Tensor? = nil) throws -> Tensor {
        let (a, s, n) = try sliceGeometry(x.shape, axis: axis, start: start, end: end, step: step, op: "slice")
        let out = try Tensor.output(out, shape: x.shape.replacing(axis: a, with: n), op: "slice")
        layoutSliceCopy(strided: x.pointer, packed: out.pointer, outer: x.shape.product(0..<a), dim: x.shape[a],
                        inner: x.shape.product((a + 1)..<x.rank), start: s, step: step, count: n, toPacked: true)
        withExtendedLifetime((x, out)) {}
        return out
    }

    /// The gradient of ``slice(_:axis:start:end:step:into:)``: `grad` scattered into zeros of `inputShape`.
    public func sliceBackward(_ grad: Tensor, inputShape: Shape, axis: Int, start: Int, end: Int, step: Int = 1) throws -> Tensor {
        let (a, s, n) = try sliceGeometry(inputShape, axis: axis, start: start, end: end, step: step, op: "sliceBackward")
        guard grad.shape == inputShape.replacing(axis: a, with: n) else {
            throw TensorError.shapeMismatch(op: "sliceBackward", grad.shape, inputShape, detail: "gradient does not fit the slice")
        }
        let out = Tensor(zeros: inputShape)
        layoutSliceCopy(strided: out.pointer, packed: grad.pointer, outer: inputShape.product(0..<a), dim: inputShape[a],
                        inner: inputShape.product((a + 1)..<inputShape.rank), start: s, step: step, count: n, toPacked: false)
        withExtendedLifetime(grad) {}
        return out
    }

    func sliceGeometry(_ shape: Shape, axis: Int, start: Int, end: Int, step: Int, op: String) throws -> (Int, Int, Int) {
        let a = try shape.axis(axis, op: op)
        guard step >= 1 else { throw TensorError.invalidArgument(op: op, "step \(step) must be ≥ 1 (shape \(shape))") }
        let (s, n) = normalizedSlice(dim: shape[a], start: start, end: end, step: step)
        return (a, s, n)
    }

    /// Copies between a strided selection of `[outer, dim, inner]` (indices `start + k*step`,
    /// `k < count`) and a packed `[outer, count, inner]`, in the direction `toPacked`.
    /// Parallel over (outer, k) items; runs that are contiguous in both are copied at once.
    private func layoutSliceCopy(strided: UnsafeMutablePointer<Float>, packed: UnsafeMutablePointer<Float>,
                                 outer: Int, dim: Int, inner: Int, start: Int, step: Int, count: Int, toPacked: Bool) {
        let items = outer * count
        if items == 0 || inner == 0 { return }
        parallelFor(items, grain: Swift.max(1, 32768 / inner)) { range in
            var i = range.lowerBound
            while i < range.upperBound {
                let o = i / count, k0 = i % count
                let k1 = Swift.min(count, k0 + (range.upperBound - i))
                let s = strided + (o * dim + start + k0 * step) * inner, p = packed + i * inner
                if step == 1 {
                    if toPacked { p.update(from: s, count: (k1 - k0) * inner) } else { s.update(from: p, count: (k1 - k0) * inner) }
                } else if inner == 1 {
                    if toPacked { for k in 0..<(k1 - k0) { p[k] = s[k * step] } } else { for k in 0..<(k1 - k0) { s[k * step] = p[k] } }
                } else {
                    for k in 0..<(k1 - k0) {
                        let sk = s + k * step * inner, pk = p + k * inner
                        if toPacked { pk.update(from: sk, count: inner) } else { sk.update(from: pk, count: inner) }
                    }
                }
                i += k1 - k0
            }
        }
    }

    // MARK: pad

    /// Pads (or, with negative widths, crops) every axis (ONNX Pad).
    /// - Parameters:
    ///   - x: any shape of rank R
    ///   - pads: R widths `(before, after)`; negative values crop before padding
    ///   - mode: constant value, reflect (numpy/ONNX, repeating for wide pads) or edge
    ///   - out: the padded shape, or nil to allocate; must not overlap `x`
    /// - Returns: each axis `d + before + after`
    public func pad(_ x: Tensor, pads: [PadWidth], mode: PadMode = .constant(0), into out: Tensor? = nil) throws -> Tensor {
        let maps = try padMaps(x.shape, pads: pads, mode: mode, op: "pad")
        var outShape = Shape()
        for m in maps { outShape.append(m.count) }
        let out = try Tensor.output(out, shape: outShape, op: "pad")  // every row is copied or filled
        let rank = x.rank
        if out.count == 0 { return out }
        if rank == 0 { out.pointer[0] = x.pointer[0]; return out }
        let fill: Float
        if case .constant(let v) = mode { fill = v } else { fill = 0 }
        // Flatten the maps into one buffer: axis k's map starts at mapStart[k].
        var flat: [Int] = [], mapStart = Shape()
        for m in maps { mapStart.append(flat.count); flat += m }
        let srcStrides = x.shape.contiguousStrides
        let width = outShape[rank - 1], rows = out.count / width
        let lastMap = maps[rank - 1], w = pads[rank - 1]
        let pb = Swift.max(w.before, 0), lo = Swift.max(0, -w.before)
        let interior = x.shape[rank - 1] - lo - Swift.max(0, -w.after)
        let px = x.pointer, po = out.pointer
        flat.withUnsafeBufferPointer { fm in
            lastMap.withUnsafeBufferPointer { lm in
                // Rows are grouped by their second-to-last axis `y` (height for NCHW): the outer
                // source offset is decomposed once per group, then `y` walks its map.
                let height = rank >= 2 ? outShape[rank - 2] : 1
                let yMap = rank >= 2 ? mapStart[rank - 2] : 0, yStride = rank >= 2 ? srcStrides[rank - 2] : 0
                parallelFor(rows, grain: Swift.max(1, 16384 / width)) { range in
                    var r = range.lowerBound
                    while r < range.upperBound {
                        let y0 = r % height
                        var rem = r / height, base = 0, inside = true
                        for k in stride(from: rank - 3, through: 0, by: -1) {
                            let d = outShape[k]
                            let s = fm[mapStart[k] + rem % d]
                            rem /= d
                            if s < 0 { inside = false; break }
                            base += s * srcStrides[k]
                        }
                        let y1 = Swift.min(height, y0 + (range.upperBound - r))
                        for y in y0..<y1 {
                            let dst = po + (r + y - y0) * width
                            let sy = rank >= 2 ? fm[yMap + y] : 0
                            if !inside || sy < 0 { dst.update(repeating: fill, count: width); continue }
                            let row = px + base + sy * yStride
                            for o in 0..<pb { let s = lm[o]; dst[o] = s < 0 ? fill : row[s] }
                            layoutCopyRun(dst + pb, row + lo, interior)
                            for o in (pb + interior)..<width { let s = lm[o]; dst[o] = s < 0 ? fill : row[s] }
                        }
                        r += y1 - y0
                    }
                }
            }
        }
        withExtendedLifetime((x, out)) {}
        return out
    }

    /// The gradient of ``pad(_:pads:mode:into:)``: every output position's gradient added to the
    /// input element it was read from (nothing for constant fill). One pass per padded axis.
    /// - Parameters:
    ///   - grad: the padded shape
    ///   - inputShape: the shape before padding
    public func padBackward(_ grad: Tensor, inputShape: Shape, pads: [PadWidth], mode: PadMode) throws -> Tensor {
        let maps = try padMaps(inputShape, pads: pads, mode: mode, op: "padBackward")
        var expected = Shape()
        for m in maps { expected.append(m.count) }
        guard grad.shape == expected else {
            throw TensorError.shapeMismatch(op: "padBackward", grad.shape, expected, detail: "gradient must have the padded shape")
        }
        var g = grad, changed = false
        for k in 0..<inputShape.rank {
            let map = maps[k], d = inputShape[k]
            if map.count == d && map.enumerated().allSatisfy({ $0.offset == $0.element }) { continue }
            let next = Tensor(zeros: g.shape.replacing(axis: k, with: d))
            let outer = g.shape.product(0..<k), inner = g.shape.product((k + 1)..<g.rank), n = map.count
            let chunk = Swift.min(inner, 4096), chunks = (inner + chunk - 1) / Swift.max(chunk, 1)
            let ps = g.pointer, pd = next.pointer
            map.withUnsafeBufferPointer { m in
                parallelFor(outer * chunks, grain: Swift.max(1, 16384 / Swift.max(1, n * chunk))) { range in
                    for item in range {
                        let o = item / chunks, c0 = (item % chunks) * chunk, len = Swift.min(chunk, inner - c0)
                        let src = ps + o * n * inner + c0, dst = pd + o * d * inner + c0
                        for i in 0..<n where m[i] >= 0 {
                            let s = src + i * inner, t = dst + m[i] * inner
                            for j in 0..<len { t[j] += s[j] }
                        }
                    }
                }
            }
            withExtendedLifetime(g) {}
            g = next
            changed = true
        }
        return changed ? g : grad.copy()
    }

    // MARK: permute

    /// Reorders axes: output axis `i` is input axis `perm[i]` (numpy `transpose`, a copy).
    /// - Parameters:
    ///   - x: `[d_0, …, d_{R-1}]`
    ///   - perm: a permutation of `0..<R` (negative axes allowed)
    ///   - out: `[d_perm[0], …, d_perm[R-1]]`, or nil to allocate; must not overlap `x`
    /// - Returns: `[d_perm[0], …, d_perm[R-1]]`
    public func permute(_ x: Tensor, _ perm: [Int], into out: Tensor? = nil) throws -> Tensor {
        let p = try validatedPermutation(perm, for: x.shape, op: "permute")
        var outShape = Shape()
        for a in p { outShape.append(x.shape[a]) }
        let out = try Tensor.output(out, shape: outShape, op: "permute")  // every element is copied
        if out.count == 0 { return out }
        // Coalesce: drop size-1 axes, then merge source axes that stay adjacent and in order.
        var keep: [Int] = [], renumber = [Int](repeating: -1, count: x.rank)
        for a in 0..<x.rank where x.shape[a] != 1 { renumber[a] = keep.count; keep.append(a) }
        let order = p.compactMap { renumber[$0] >= 0 ? renumber[$0] : nil }
        var groups: [(first: Int, dim: Int)] = []  // in output order; `first` = first source axis
        for (i, src) in order.enumerated() {
            if i > 0 && order[i - 1] == src - 1 {
                groups[groups.count - 1].dim *= x.shape[keep[src]]
            } else {
                groups.append((src, x.shape[keep[src]]))
            }
        }
        let bySource = groups.indices.sorted { groups[$0].first < groups[$1].first }
        var srcShape = Shape(), rp = [Int](repeating: 0, count: groups.count)
        for (rank, g) in bySource.enumerated() { srcShape.append(groups[g].dim); rp[g] = rank }
        layoutPermute(x.pointer, out.pointer, srcShape: srcShape, perm: rp)
        withExtendedLifetime((x, out)) {}
        return out
    }

    /// Swaps axes `a` and `b` (a copy).
    public func transpose(_ x: Tensor, _ a: Int, _ b: Int) throws -> Tensor {
        let i = try x.shape.axis(a, op: "transpose"), j = try x.shape.axis(b, op: "transpose")
        var perm = Array(0..<x.rank)
        perm.swapAt(i, j)
        return try permute(x, perm)
    }

    /// Permutes a contiguous `srcShape` (already coalesced: no size-1 axes, no mergeable pairs).
    private func layoutPermute(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, srcShape: Shape, perm: [Int]) {
        let r = srcShape.rank, total = srcShape.elementCount
        if r <= 1 {
            parallelFor(total, grain: 65536) { range in (dst + range.lowerBound).update(from: src + range.lowerBound, count: range.count) }
            return
        }
        let ss = srcShape.contiguousStrides
        var outShape = Shape(), outSrcStride = Shape()
        for a in perm { outShape.append(srcShape[a]); outSrcStride.append(ss[a]) }
        if perm[r - 1] == r - 1 {
            // Innermost axis kept: copy runs of srcShape[r-1], one per output row.
            let run = srcShape[r - 1], rows = total / run
            parallelFor(rows, grain: Swift.max(1, 16384 / run)) { range in
                // Odometer over output axes 0..<r-1, started at the chunk's first row.
                var coord = Shape(rank: r - 1, repeating: 0)
                var rem = range.lowerBound, off = 0
                for k in stride(from: r - 2, through: 0, by: -1) {
                    coord[k] = rem % outShape[k]
                    rem /= outShape[k]
                    off += coord[k] * outSrcStride[k]
                }
                let lastDim = outShape[r - 2], lastStride = outSrcStride[r - 2]
                var c = coord[r - 2]
                for row in range {
                    layoutCopyRun(dst + row * run, src + off, run)
                    c += 1
                    off += lastStride
                    if c == lastDim {
                        c = 0
                        off -= lastDim * lastStride
                        var k = r - 3
                        while k >= 0 {
                            coord[k] += 1
                            off += outSrcStride[k]
                            if coord[k] < outShape[k] { break }
                            coord[k] = 0
                            off -= outShape[k] * outSrcStride[k]
                            k -= 1
                        }
                    }
                }
            }
            return
        }
        // The innermost source axis lands at output axis q; output axis r-1 comes from source
        // axis perm[r-1] with stride lds. Blocked 2D transpose of (q, r-1) per outer index.
        let q = perm.firstIndex(of: r - 1)!
        let os = outShape.contiguousStrides
        let rowsD = outShape[q], cols = outShape[r - 1], ldd = os[q], lds = outSrcStride[r - 1]
        var outerDims = Shape(), outerSrc = Shape(), outerDst = Shape()
        for k in 0..<(r - 1) where k != q { outerDims.append(outShape[k]); outerSrc.append(outSrcStride[k]); outerDst.append(os[k]) }
        let block = 32, rowBlocks = (rowsD + block - 1) / block
        let outerCount = outerDims.elementCount
        parallelFor(outerCount * rowBlocks, grain: Swift.max(1, 16384 / (block * cols))) { range in
            for item in range {
                var rem = item / rowBlocks, so = 0, dof = 0
                for k in stride(from: outerDims.rank - 1, through: 0, by: -1) {
                    let c = rem % outerDims[k]
                    rem /= outerDims[k]
                    so += c * outerSrc[k]
                    dof += c * outerDst[k]
                }
                let i0 = (item % rowBlocks) * block, i1 = Swift.min(rowsD, i0 + block)
                var j0 = 0
                while j0 < cols {
                    let j1 = Swift.min(cols, j0 + block)
                    for i in i0..<i1 {
                        let d = dst + dof + i * ldd, s = src + so + i
                        for j in j0..<j1 { d[j] = s[j * lds] }
                    }
                    j0 = j1
                }
            }
        }
    }
}

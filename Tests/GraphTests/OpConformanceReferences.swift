// OpConformanceReferences: obvious, slow references for the conformance table's ops that have
// no naive twin in `Tensors/Naive` — einsum, reductions other than sum, broadcasting, gather,
// tile, strided slices, DCR depth/space moves. Each walks output elements one multi-index at a
// time straight from the ONNX/numpy definition, in Double where it accumulates. Row-major
// layouts; no kernels, no `take` maps, nothing shared with the interpreter.

import Foundation
import Graphs
import Tensors

/// Row-major multi-index of linear index `i` in `shape`.
func multiIndex(_ i: Int, _ shape: Shape) -> [Int] {
    var index = [Int](repeating: 0, count: shape.rank), rest = i
    for axis in stride(from: shape.rank - 1, through: 0, by: -1) {
        index[axis] = rest % shape[axis]
        rest /= shape[axis]
    }
    return index
}

/// Linear index of a multi-index in `shape`.
func linearIndex(_ index: [Int], _ shape: Shape) -> Int {
    zip(index, shape).reduce(0) { $0 * $1.1 + $1.0 }
}

/// Einsum by its definition: every assignment of the labels, products summed into the output.
/// - Parameters: equation: explicit `->`, one or two operands; operands: one per input subscript.
func einsumReference(_ equation: String, _ operands: [Tensor]) -> Tensor {
    let sides = equation.components(separatedBy: "->")
    let inputs = sides[0].split(separator: ",").map(Array.init), output = Array(sides[1])
    var size: [Character: Int] = [:]
    for (labels, t) in zip(inputs, operands) { for (l, d) in zip(labels, t.shape) { size[l] = d } }
    let labels = Array(size.keys).sorted()
    let extents = Shape(labels.map { size[$0]! }), outShape = Shape(output.map { size[$0]! })
    var sums = [Double](repeating: 0, count: outShape.elementCount)
    for i in 0..<extents.elementCount {
        let value = Dictionary(uniqueKeysWithValues: zip(labels, multiIndex(i, extents)))
        var product = 1.0
        for (subscripts, t) in zip(inputs, operands) {
            product *= Double(t.pointer[linearIndex(subscripts.map { value[$0]! }, t.shape)])
        }
        sums[linearIndex(output.map { value[$0]! }, outShape)] += product
    }
    return Tensor(shape: outShape, scalars: sums.map { Float($0) })
}

/// A reduction over `axes` (negative counts from the end): `combine` folds the reduced elements
/// of each output position in row-major order from `initial`, `finish` maps (accumulator, count).
func reduceReference(_ x: Tensor, axes: [Int], keepDims: Bool, initial: Double,
                     _ combine: (Double, Double) -> Double, finish: (Double, Int) -> Double = { v, _ in v }) -> Tensor {
    let reduced = Set(axes.map { $0 < 0 ? $0 + x.rank : $0 })
    let kept = Shape((0..<x.rank).map { reduced.contains($0) ? 1 : x.shape[$0] })
    var acc = [Double](repeating: initial, count: kept.elementCount)
    for i in 0..<x.count {
        var index = multiIndex(i, x.shape)
        for a in reduced { index[a] = 0 }
        let o = linearIndex(index, kept)
        acc[o] = combine(acc[o], Double(x.pointer[i]))
    }
    let count = reduced.reduce(1) { $0 * x.shape[$1] }
    let shape = keepDims ? kept : Shape((0..<x.rank).filter { !reduced.contains($0) }.map { x.shape[$0] })
    return Tensor(shape: shape, scalars: acc.map { Float(finish($0, count)) })
}

/// numpy broadcasting of `x` to `shape` (axes aligned at the end; size-1 axes repeat).
func broadcastReference(_ x: Tensor, to shape: Shape) -> Tensor {
    let offset = shape.rank - x.rank
    return Tensor(shape: shape, scalars: (0..<shape.elementCount).map { i in
        let index = multiIndex(i, shape)
        let source = (0..<x.rank).map { x.shape[$0] == 1 ? 0 : index[$0 + offset] }
        return x.pointer[linearIndex(source, x.shape)]
    })
}

/// ONNX Gather along `axis`: out[pre, idx…, post] = x[pre, indices[idx…], post] (negative indices from the end).
func gatherReference(_ x: Tensor, _ indices: IntTensor, axis: Int) -> Tensor {
    var shape = Shape(x.shape.prefix(axis))
    for d in indices.shape { shape.append(d) }
    for d in x.shape.dropFirst(axis + 1) { shape.append(d) }
    return Tensor(shape: shape, scalars: (0..<shape.elementCount).map { i in
        let index = multiIndex(i, shape), r = indices.shape.rank
        let k = Int(indices.values[linearIndex(Array(index[axis..<(axis + r)]), indices.shape)])
        let source = Array(index[0..<axis]) + [k < 0 ? k + x.shape[axis] : k] + Array(index[(axis + r)...])
        return x.pointer[linearIndex(source, x.shape)]
    })
}

/// ONNX GatherND: out[b…, m…, rest…] = x[b…, indices[b…, m…, 0], …, indices[b…, m…, k−1], rest…]
/// (the first `batchDims` axes shared; negative indices from the end).
func gatherNDReference(_ x: Tensor, _ indices: IntTensor, batchDims b: Int) -> Tensor {
    let q = indices.shape, k = q[q.rank - 1]
    var shape = Shape(q.prefix(q.rank - 1))
    for d in x.shape.dropFirst(b + k) { shape.append(d) }
    return Tensor(shape: shape, scalars: (0..<shape.elementCount).map { i in
        let index = multiIndex(i, shape), lead = Array(index[0..<(q.rank - 1)])
        let tuple = (0..<k).map { j -> Int in
            let v = Int(indices.values[linearIndex(lead + [j], q)])
            return v < 0 ? v + x.shape[b + j] : v
        }
        return x.pointer[linearIndex(Array(index[0..<b]) + tuple + Array(index[(q.rank - 1)...]), x.shape)]
    })
}

/// ONNX Tile: out[i] = x[i mod shape] with each axis repeated `repeats` times.
func tileReference(_ x: Tensor, repeats: [Int]) -> Tensor {
    let shape = Shape((0..<x.rank).map { x.shape[$0] * repeats[$0] })
    return Tensor(shape: shape, scalars: (0..<shape.elementCount).map { i in
        let index = multiIndex(i, shape)
        return x.pointer[linearIndex((0..<x.rank).map { index[$0] % x.shape[$0] }, x.shape)]
    })
}

/// numpy slicing `x[start:end:step]` on each listed axis (any step sign; Python's clamping).
func sliceReference(_ x: Tensor, starts: [Int], ends: [Int], axes: [Int], steps: [Int]) -> Tensor {
    var picks = (0..<x.rank).map { Array(0..<x.shape[$0]) }
    for (k, axis) in axes.enumerated() {
        let d = x.shape[axis], step = steps[k]
        var s = starts[k] < 0 ? starts[k] + d : starts[k], e = ends[k] < 0 ? ends[k] + d : ends[k]
        if step > 0 {
            s = min(max(s, 0), d); e = min(max(e, 0), d)
            picks[axis] = Array(stride(from: s, to: e, by: step))
        } else {
            s = min(max(s, -1), d - 1); e = min(max(e, -1), d - 1)
            picks[axis] = Array(stride(from: s, to: e, by: step))
        }
    }
    let shape = Shape(picks.map(\.count))
    return Tensor(shape: shape, scalars: (0..<shape.elementCount).map { i in
        let index = multiIndex(i, shape)
        return x.pointer[linearIndex((0..<x.rank).map { picks[$0][index[$0]] }, x.shape)]
    })
}

/// ONNX DepthToSpace, DCR: out[n, c, h·b + i, w·b + j] = x[n, (i·b + j)·C + c, h, w].
func depthToSpaceDCRReference(_ x: Tensor, blockSize b: Int) -> Tensor {
    let (n, cb, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]), c = cb / (b * b)
    let shape: Shape = [n, c, h * b, w * b]
    return Tensor(shape: shape, scalars: (0..<shape.elementCount).map { k in
        let o = multiIndex(k, shape)
        let (i, j) = (o[2] % b, o[3] % b)
        return x.pointer[linearIndex([o[0], (i * b + j) * c + o[1], o[2] / b, o[3] / b], x.shape)]
    })
}

/// ONNX SpaceToDepth (DCR): out[n, (i·b + j)·C + c, h, w] = x[n, c, h·b + i, w·b + j].
func spaceToDepthReference(_ x: Tensor, blockSize b: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let shape: Shape = [n, c * b * b, h / b, w / b]
    return Tensor(shape: shape, scalars: (0..<shape.elementCount).map { k in
        let o = multiIndex(k, shape)
        let (block, ch) = (o[1] / c, o[1] % c)
        return x.pointer[linearIndex([o[0], ch, o[2] * b + block / b, o[3] * b + block % b], x.shape)]
    })
}

// Broadcasting: numpy rules for combining shapes, and the strided iteration plan elementwise
// kernels use. Adjacent axes that broadcast the same way are merged, so `[N,C,H,W] + [1,C,1,1]`
// runs as `[N, C, H*W]` with an innermost contiguous loop.

/// Numpy broadcast of two shapes (trailing axes aligned; each pair equal or one of them 1).
public func broadcastShapes(_ a: Shape, _ b: Shape, op: String) throws -> Shape {
    let rank = max(a.rank, b.rank)
    var out = Shape(rank: rank, repeating: 1)
    for i in 0..<rank {
        let da = i < rank - a.rank ? 1 : a[i - (rank - a.rank)]
        let db = i < rank - b.rank ? 1 : b[i - (rank - b.rank)]
        guard da == db || da == 1 || db == 1 else {
            throw TensorError.shapeMismatch(op: op, a, b, detail: "axis \(i - rank) has \(da) vs \(db) and cannot broadcast")
        }
        out[i] = da == 1 ? db : da
    }
    return out
}

/// Maps linear indices of a broadcast target shape to linear offsets in a source shape.
public struct BroadcastIndex: Sendable {
    public let target: Shape
    let sourceStrides: Shape  // per target axis; 0 where the source broadcasts

    public init(from source: Shape, to target: Shape) {
        self.target = target
        let strides = source.contiguousStrides
        var s = Shape(rank: target.rank, repeating: 0)
        let shift = target.rank - source.rank
        for i in 0..<target.rank where i >= shift {
            s[i] = source[i - shift] == 1 ? 0 : strides[i - shift]
        }
        sourceStrides = s
    }

    /// The source offset of target element `linear`.
    public func sourceOffset(_ linear: Int) -> Int {
        var rem = linear, off = 0
        for i in stride(from: target.rank - 1, through: 0, by: -1) {
            let d = target[i]
            off += (rem % d) * sourceStrides[i]
            rem /= d
        }
        return off
    }
}

/// A plan for iterating an output shape with up to two broadcast inputs: coalesced dims, and
/// per input its stride on each coalesced dim (0 = broadcast).
struct StridedPlan {
    var dims = Shape()
    var strideA = Shape()
    var strideB = Shape()

    init(output: Shape, a: Shape, b: Shape) {
        let ia = BroadcastIndex(from: a, to: output), ib = BroadcastIndex(from: b, to: output)
        let outStrides = output.contiguousStrides
        _ = outStrides
        for i in 0..<output.rank where output[i] != 1 {
            let d = output[i], sa = ia.sourceStrides[i], sb = ib.sourceStrides[i]
            if dims.rank > 0 {
                let last = dims.rank - 1
                let mergeA = strideA[last] == sa * d
                let mergeB = strideB[last] == sb * d
                if mergeA && mergeB {
                    dims[last] *= d
                    strideA[last] = sa
                    strideB[last] = sb
                    continue
                }
            }
            dims.append(d)
            strideA.append(sa)
            strideB.append(sb)
        }
        if dims.rank == 0 {
            dims.append(1)
            strideA.append(0)
            strideB.append(0)
        }
    }

    /// Length of the innermost run and the number of runs.
    var inner: Int { dims[dims.rank - 1] }
    var outer: Int { dims.product(0..<(dims.rank - 1)) }

    /// Offsets of run `r` in a and b.
    func runOffsets(_ r: Int) -> (Int, Int) {
        var rem = r, oa = 0, ob = 0
        for i in stride(from: dims.rank - 2, through: 0, by: -1) {
            let d = dims[i]
            let c = rem % d
            rem /= d
            oa += c * strideA[i]
            ob += c * strideB[i]
        }
        return (oa, ob)
    }
}

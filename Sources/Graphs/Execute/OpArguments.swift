// OpArguments: how a node's input values and an op's attributes become the parameters its kernel
// takes — reshape / unsqueeze / squeeze / flatten / expand targets, split sizes, reduce axes, clip
// bounds, pad widths, resize sizes — decoded once, here, for both executors (the interpreter and
// the training tape), so inference and training read a node's arguments identically. Positions
// follow `Op`'s documented input lists; where ONNX lets an attribute or an input carry a
// parameter, the attribute wins, then the input, then ONNX's default. Every error names the op.
// `Arguments` is the typed view of a node's input values both executors pass in. Computes shapes
// and index lists only: no kernels run here.

import Tensors

/// A node's input values with typed accessors; errors say which input was wrong.
struct Arguments {
    let values: [Value?]
    var count: Int { values.count }

    func value(_ i: Int) throws -> Value {
        guard i < values.count, let v = values[i] else { throw GraphError.badInput("required input \(i) is missing") }
        return v
    }

    func float(_ i: Int) throws -> Tensor {
        guard case .float(let t) = try value(i) else { throw GraphError.badInput("input \(i) must be float32, got int64") }
        return t
    }

    /// Input `i` as a float tensor, converting an int64 one.
    func floatCast(_ i: Int) throws -> Tensor {
        switch try value(i) {
        case .float(let t): return t
        case .int(let t): return Tensor(shape: t.shape, scalars: t.values.map { Float($0) })
        }
    }

    func optionalFloat(_ i: Int) throws -> Tensor? {
        guard i < values.count, values[i] != nil else { return nil }
        return try float(i)
    }

    func ints(_ i: Int) throws -> [Int] { try value(i).intValues.map { Int(clamping: $0) } }

    func optionalInts(_ i: Int) throws -> [Int]? {
        guard i < values.count, values[i] != nil else { return nil }
        return try ints(i)
    }

    func optionalFloats(_ i: Int) throws -> [Float]? {
        guard i < values.count, let v = values[i] else { return nil }
        let f = v.floatValues
        return f.isEmpty ? nil : f
    }

    /// A one-element input as Double (either type), or nil when absent.
    func optionalScalar(_ i: Int) throws -> Double? {
        guard i < values.count, let v = values[i] else { return nil }
        switch v {
        case .float(let t):
            guard t.count == 1 else { throw GraphError.badInput("input \(i) must hold one value, got shape \(t.shape)") }
            return Double(t.pointer[0])
        case .int(let t):
            guard t.values.count == 1 else { throw GraphError.badInput("input \(i) must hold one value, got shape \(t.shape)") }
            return Double(t.values[0])
        }
    }
}

/// Decoders of op parameters shared by ``Interpreter`` and ``TapeExecutor``.
enum OpArguments {
    /// The largest tensor a shape computed from model data may describe (2^31 elements, 8 GiB of
    /// float32): a corrupted file asking for more gets an error, not an allocation failure.
    static let maxComputedElements = 1 << 31

    /// A shape from dims computed out of model data, checked: rank ≤ 6, dims ≥ 0, bounded size.
    static func checkedShape(_ dims: [Int], op: String) throws -> Shape {
        guard dims.count <= Shape.maxRank, dims.allSatisfy({ $0 >= 0 }) else {
            throw GraphError.badInput("\(op): invalid shape \(dims)")
        }
        var n = 1
        for d in dims {
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow, p <= maxComputedElements else { throw GraphError.badInput("\(op): shape \(dims) is too large") }
            n = p
        }
        return Shape(dims)
    }

    /// `reshape` (x, shape): ONNX Reshape's target for `input` — 0 copies the input dim (unless
    /// `allowZero`), one −1 is inferred.
    static func reshapeTarget(_ input: Shape, _ a: Arguments, allowZero: Bool) throws -> Shape {
        let spec = try a.ints(1)
        var dims = spec
        for (i, d) in dims.enumerated() where d == 0 && !allowZero {
            guard i < input.rank else { throw GraphError.badInput("reshape: 0 at axis \(i) but input \(input) has rank \(input.rank)") }
            dims[i] = input[i]
        }
        let unknown = dims.indices.filter { dims[$0] == -1 }
        guard unknown.count <= 1, dims.allSatisfy({ $0 >= -1 }), dims.count <= Shape.maxRank else {
            throw GraphError.badInput("reshape: invalid target \(spec) for input \(input)")
        }
        if let u = unknown.first {
            let known = dims.enumerated().reduce(1) { $1.offset == u ? $0 : $0 * $1.element }
            guard known > 0, input.elementCount % known == 0 else {
                throw GraphError.badInput("reshape: cannot infer -1 in \(spec) for input \(input)")
            }
            dims[u] = input.elementCount / known
        }
        guard dims.reduce(1, *) == input.elementCount else {
            throw GraphError.badInput("reshape: target \(dims) has a different element count than input \(input)")
        }
        return try checkedShape(dims, op: "reshape")
    }

    /// `unsqueeze` (x, axes?): `s` with size-1 axes inserted at `axes` (the attribute, else input 1).
    static func unsqueezedShape(_ s: Shape, axes attribute: [Int]?, _ a: Arguments) throws -> Shape {
        let axes = try attribute ?? a.ints(1)
        let rank = s.rank + axes.count
        let list = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
        guard list.count == axes.count, list.allSatisfy({ $0 >= 0 && $0 < rank }), rank <= Shape.maxRank else {
            throw GraphError.badInput("unsqueeze: axes \(axes) for shape \(s)")
        }
        var out = Shape(), next = 0
        for i in 0..<rank {
            if list.contains(i) { out.append(1) } else { out.append(s[next]); next += 1 }
        }
        return out
    }

    /// `squeeze` (x, axes?): `s` without the axes of the attribute, else of input 1, else every
    /// axis of size 1.
    static func squeezedShape(_ s: Shape, axes attribute: [Int]?, _ a: Arguments) throws -> Shape {
        let axes = try attribute ?? a.optionalInts(1)
        let list = try Set((axes ?? (0..<s.rank).filter { s[$0] == 1 }).map { try s.axis($0, op: "squeeze") })
        guard list.allSatisfy({ s[$0] == 1 }) else { throw GraphError.badInput("squeeze: axes \(axes ?? []) of \(s) are not all 1") }
        return Shape((0..<s.rank).filter { !list.contains($0) }.map { s[$0] })
    }

    /// `flatten`: `[prod(dims before axis), prod(dims from axis)]`.
    static func flattenedShape(_ s: Shape, axis: Int) throws -> Shape {
        let ax = axis < 0 ? axis + s.rank : axis
        guard ax >= 0 && ax <= s.rank else { throw GraphError.badInput("flatten axis \(axis) for shape \(s)") }
        return [s.product(0..<ax), s.product(ax..<s.rank)]
    }

    /// `transpose`: the permutation (nil reverses the axes).
    static func permutation(_ perm: [Int]?, rank: Int) -> [Int] {
        perm ?? Array((0..<rank).reversed())
    }

    /// `expand` (x, shape): the bidirectional broadcast of `s` and input 1.
    static func expandTarget(_ s: Shape, _ a: Arguments) throws -> Shape {
        let target = try broadcastShapes(s, checkedShape(a.ints(1), op: "expand"), op: "expand")
        _ = try checkedShape(Array(target), op: "expand")
        return target
    }

    /// `split` (x, split?): the axis and part sizes — from the attribute, else input 1, else
    /// `parts` equal parts (ONNX: the last may be smaller); one part per output.
    static func splitSizes(_ s: Shape, axis: Int, sizes attribute: [Int]?, parts: Int, outputs: Int,
                           _ a: Arguments) throws -> (axis: Int, sizes: [Int]) {
        let ax = try s.axis(axis, op: "split")
        let sizes = try attribute ?? a.optionalInts(1) ?? evenSplit(s[ax], parts)
        guard sizes.count == outputs else { throw GraphError.badInput("split into \(sizes.count) parts for \(outputs) outputs") }
        return (ax, sizes)
    }

    /// Sizes of an even split (ONNX: the last part may be smaller).
    static func evenSplit(_ n: Int, _ parts: Int) -> [Int] {
        let size = (n + parts - 1) / Swift.max(parts, 1)
        return (0..<parts).map { Swift.max(0, Swift.min(size, n - $0 * size)) }
    }

    /// `reduce` (x, axes?): the axes to reduce over `rank` axes — the attribute, else input 1;
    /// none given means all axes, or nil (the op is the identity) when `noopWithEmptyAxes`.
    static func reduceAxes(rank: Int, axes attribute: [Int]?, noopWithEmptyAxes: Bool, _ a: Arguments) throws -> [Int]? {
        let given = try attribute ?? a.optionalInts(1)
        guard let given, !given.isEmpty else { return noopWithEmptyAxes ? nil : Array(0..<rank) }
        return given
    }

    /// `layerNorm`: how many trailing axes of `s` are normalized (from `axis` on).
    static func normalizedRank(_ s: Shape, axis: Int) throws -> Int {
        s.rank - (try s.axis(axis, op: "layerNorm"))
    }

    /// `clip` (x, min?, max?): the bounds (±∞ when absent).
    static func clipBounds(_ a: Arguments) throws -> (low: Double, high: Double) {
        (try a.optionalScalar(1) ?? -.infinity, try a.optionalScalar(2) ?? .infinity)
    }

    /// `pad` (x, pads, value?, axes?): per-axis widths of `s` — `pads` lists begins then ends for
    /// each axis in `axes` (all axes when absent) — and the fill (constant `value`, default 0).
    static func padding(_ s: Shape, fill: PadFill, _ a: Arguments) throws -> (widths: [PadWidth], mode: PadMode) {
        let pads = try a.ints(1), value = try a.optionalScalar(2) ?? 0
        let list = try (a.optionalInts(3) ?? Array(0..<s.rank)).map { try s.axis($0, op: "pad") }
        guard pads.count == 2 * list.count else { throw GraphError.badInput("pad: \(pads.count) pads for \(list.count) axes of \(s)") }
        var widths = [PadWidth](repeating: [0, 0], count: s.rank)
        for (i, axis) in list.enumerated() { widths[axis] = PadWidth(pads[i], pads[i + list.count]) }
        switch fill {
        case .constant: return (widths, .constant(Float(value)))
        case .reflect: return (widths, .reflect)
        case .edge: return (widths, .edge)
        }
    }

    /// `resize` (x, roi?, scales?, sizes?) of a `[N, C, H, W]` shape `s`: the output `(OH, OW)`
    /// from input 3's sizes, else input 2's scales (rounded down), and the scale factor when the
    /// size came from scales (PyTorch's `scale_factor`, which sets the sampling positions).
    static func resizeTarget(_ s: Shape, _ a: Arguments) throws -> (size: (Int, Int), scaleFactor: (Double, Double)?) {
        try s.requireRank(4, op: "resize")
        if let sizes = try a.optionalInts(3), !sizes.isEmpty {
            guard sizes.count == 4, sizes[0] == s[0], sizes[1] == s[1] else {
                throw GraphError.badInput("resize: sizes \(sizes) must keep N and C of \(s)")
            }
            _ = try checkedShape([s[0], s[1], sizes[2], sizes[3]], op: "resize")
            return ((sizes[2], sizes[3]), nil)
        }
        guard let scales = try a.optionalFloats(2), scales.count == 4 else { throw GraphError.badInput("resize needs 4 scales or 4 sizes") }
        guard scales[0] == 1, scales[1] == 1 else { throw GraphError.badInput("resize: scales \(scales) must be 1 on N and C") }
        guard scales[2].isFinite, scales[3].isFinite, scales[2] > 0, scales[3] > 0, scales[2] < 1e4, scales[3] < 1e4 else {
            throw GraphError.badInput("resize: scales \(scales) must be finite and positive")
        }
        let size = (Int((Float(s[2]) * scales[2]).rounded(.down)), Int((Float(s[3]) * scales[3]).rounded(.down)))
        _ = try checkedShape([s[0], s[1], size.0, size.1], op: "resize")
        return (size, (Double(scales[2]), Double(scales[3])))
    }
}

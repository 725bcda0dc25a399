// Resampling kernels on NCHW float32: nearest, bilinear and bicubic resizing (PyTorch
// F.interpolate semantics, index and weight formulas computed in Float exactly as ATen's CPU
// kernels do; nearest also at ONNX Resize's other sampling positions, computed as onnxruntime
// does), pixel shuffle/unshuffle (nn.PixelShuffle channel order), and their backward kernels
// (pooling is `Pooling.swift`). Forward kernels are parallel over output rows; backward kernels scatter and are parallel over (n, c) planes, each plane
// owned by one chunk, so results never depend on the thread count.
// No autograd here (`Autograd/Tape+Resampling.swift`); naive twins in `Naive/Resampling+Naive.swift`.

/// Where nearest-neighbour resizing samples on each axis: ONNX Resize's coordinate transform
/// (`coordinate_transformation_mode`) and rounding (`nearest_mode`). ``pytorch`` (asymmetric,
/// floor) is PyTorch's `nearest`, computed by ATen's index formula; every other pair by
/// onnxruntime's: the output coordinate mapped to the input in Float (with the ONNX scale
/// out/in, or the given scale factor), rounded, clamped to the input.
public struct NearestSampling: Sendable, Equatable {
    public enum Coordinates: Sendable, CaseIterable {
        /// o / scale
        case asymmetric
        /// (o + ½) / scale − ½
        case halfPixel
        /// as `halfPixel`, but 0 when the output axis has length 1
        case pytorchHalfPixel
        /// o · (in − 1) / (out − 1), 0 when the output axis has length 1
        case alignCorners
    }
    public enum Rounding: Sendable, CaseIterable {
        case floor, ceil
        /// to nearest, halves down (ONNX `round_prefer_floor`, Resize's default)
        case roundPreferFloor
        /// to nearest, halves up (ONNX `round_prefer_ceil`; with `halfPixel`, PyTorch's `nearest-exact`)
        case roundPreferCeil
    }
    public var coordinates: Coordinates
    public var rounding: Rounding

    public init(coordinates: Coordinates, rounding: Rounding) {
        self.coordinates = coordinates
        self.rounding = rounding
    }

    /// PyTorch's `nearest` (ONNX asymmetric + floor).
    public static let pytorch = NearestSampling(coordinates: .asymmetric, rounding: .floor)

    /// The source index of output `o` on an axis of `input` → `output` elements, the ONNX way.
    @inline(__always) func source(_ o: Int, input: Int, output: Int, scale: Float) -> Int {
        let x: Float
        switch coordinates {
        case .asymmetric: x = Float(o) / scale
        case .halfPixel: x = (Float(o) + 0.5) / scale - 0.5
        case .pytorchHalfPixel: x = output > 1 ? (Float(o) + 0.5) / scale - 0.5 : 0
        case .alignCorners: x = output == 1 ? 0 : Float(o) * Float(input - 1) / Float(output - 1)
        }
        let r: Float
        switch rounding {
        case .floor: r = x.rounded(.down)
        case .ceil: r = x.rounded(.up)
        case .roundPreferFloor: r = x == x.rounded(.down) + 0.5 ? x.rounded(.down) : x.rounded(.toNearestOrAwayFromZero)
        case .roundPreferCeil: r = x.rounded(.toNearestOrAwayFromZero)
        }
        return Swift.min(Swift.max(Int(r), 0), input - 1)
    }
}

/// Nearest source index of every output position: for ``NearestSampling/pytorch`` ATen's
/// `nearest_idx` (`scaleFactor`: the user's scale factor when given — PyTorch then uses 1/scale —
/// else in/out), otherwise ``NearestSampling/source(_:input:output:scale:)`` with the ONNX scale
/// (the scale factor, else out/in).
func nearestSourceIndices(input: Int, output: Int, scaleFactor: Double?, sampling: NearestSampling = .pytorch) -> [Int] {
    if sampling != .pytorch {
        let scale = scaleFactor.map { Float($0) } ?? Float(output) / Float(input)
        return (0..<output).map { sampling.source($0, input: input, output: output, scale: scale) }
    }
    if output == input { return Array(0..<output) }
    if output == 2 * input { return (0..<output).map { $0 >> 1 } }
    let scale: Float = scaleFactor.map { $0 > 0 ? Float(1.0 / $0) : Float(input) / Float(output) } ?? Float(input) / Float(output)
    return (0..<output).map { Swift.min(Int((Float($0) * scale).rounded(.down)), input - 1) }
}

/// Linear-interpolation taps of every output position (ATen `compute_source_index_and_lambda`).
func linearTaps(input: Int, output: Int, alignCorners: Bool, scaleFactor: Double?) -> (i0: [Int], i1: [Int], w0: [Float], w1: [Float]) {
    var i0 = [Int](repeating: 0, count: output), i1 = i0
    var w0 = [Float](repeating: 1, count: output), w1 = [Float](repeating: 0, count: output)
    let scale: Float
    if alignCorners {
        scale = output > 1 ? Float(input - 1) / Float(output - 1) : 0
    } else if let sf = scaleFactor, sf > 0 {
        scale = Float(1.0 / sf)
    } else {
        scale = Float(input) / Float(output)
    }
    for o in 0..<output {
        if output == input { i0[o] = o; i1[o] = o; continue }
        var real: Float
        if alignCorners { real = scale * Float(o) } else { real = scale * (Float(o) + 0.5) - 0.5; if real < 0 { real = 0 } }
        let i = Swift.min(Int(real.rounded(.down)), input - 1)
        let lambda = Swift.min(Swift.max(real - Float(i), 0), 1)
        i0[o] = i
        i1[o] = i + (i < input - 1 ? 1 : 0)
        w1[o] = lambda
        w0[o] = 1 - lambda
    }
    return (i0, i1, w0, w1)
}

/// The scale ATen's linear and cubic kernels multiply an output coordinate by
/// (`area_pixel_compute_scale`).
func areaPixelScale(input: Int, output: Int, alignCorners: Bool, scaleFactor: Double?) -> Float {
    if alignCorners { return output > 1 ? Float(input - 1) / Float(output - 1) : 0 }
    if let sf = scaleFactor, sf > 0 { return Float(1.0 / sf) }
    return Float(input) / Float(output)
}

/// Keys' cubic convolution weights (A = −0.75, PyTorch's and ONNX Resize's default) of the four
/// taps at distances 1 + t, t, 1 − t, 2 − t (ATen `get_cubic_upsample_coefficients`).
@inline(__always)
func cubicWeights(_ t: Float) -> (Float, Float, Float, Float) {
    let a: Float = -0.75
    func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
    func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
    return (far(t + 1), near(t), near(1 - t), far(2 - t))
}

/// Bicubic taps of every output position: 4 source indices (clamped to the input, as ATen's
/// `upsample_get_value_bounded`) and 4 weights each, position-major. The source coordinate is
/// ATen's for cubic: `scale·(o + ½) − ½` without clamping, or `scale·o` with aligned corners.
func cubicTaps(input: Int, output: Int, alignCorners: Bool, scaleFactor: Double?) -> (index: [Int], weight: [Float]) {
    let scale = areaPixelScale(input: input, output: output, alignCorners: alignCorners, scaleFactor: scaleFactor)
    var index = [Int](repeating: 0, count: 4 * output), weight = [Float](repeating: 0, count: 4 * output)
    for o in 0..<output {
        let real = alignCorners ? scale * Float(o) : scale * (Float(o) + 0.5) - 0.5
        let i = Int(real.rounded(.down)), (w0, w1, w2, w3) = cubicWeights(real - real.rounded(.down))
        for k in 0..<4 { index[4 * o + k] = Swift.min(Swift.max(i - 1 + k, 0), input - 1) }
        (weight[4 * o], weight[4 * o + 1], weight[4 * o + 2], weight[4 * o + 3]) = (w0, w1, w2, w3)
    }
    return (index, weight)
}

/// Validates an NCHW input and an output size for a resize op.
func resizeCheck(_ shape: Shape, _ size: (Int, Int), op: String) throws {
    try shape.requireRank(4, op: op, "input [N, C, H, W]")
    guard size.0 >= 1 && size.1 >= 1 && shape[2] >= 1 && shape[3] >= 1 else {
        throw TensorError.invalidArgument(op: op, "output size \(size) and input \(shape) must be non-empty")
    }
}

/// Validates a resize gradient `[N, C, OH, OW]` against the forward input shape `[N, C, H, W]`.
func resizeBackwardCheck(_ grad: Shape, _ input: Shape, op: String) throws {
    try input.requireRank(4, op: op, "input shape [N, C, H, W]")
    try resizeCheck(grad, (input[2], input[3]), op: op)
    guard grad[0] == input[0] && grad[1] == input[1] else {
        throw TensorError.shapeMismatch(op: op, grad, input, detail: "gradient and input must share N and C")
    }
}

/// Validates a pixel (un)shuffle; returns the output shape.
func pixelShuffleShape(_ shape: Shape, factor r: Int, unshuffle: Bool) throws -> Shape {
    let op = unshuffle ? "pixelUnshuffle" : "pixelShuffle"
    try shape.requireRank(4, op: op, "input [N, C, H, W]")
    guard r >= 1 else { throw TensorError.invalidArgument(op: op, "factor \(r) must be ≥ 1 (input \(shape))") }
    if unshuffle {
        guard shape[2] % r == 0 && shape[3] % r == 0 else {
            throw TensorError.invalidArgument(op: op, "H and W of input \(shape) must be divisible by factor \(r)")
        }
        return [shape[0], shape[1] * r * r, shape[2] / r, shape[3] / r]
    }
    guard shape[1] % (r * r) == 0 else {
        throw TensorError.invalidArgument(op: op, "C of input \(shape) must be divisible by factor² = \(r * r)")
    }
    return [shape[0], shape[1] / (r * r), shape[2] * r, shape[3] * r]
}

extension CPU {
    // MARK: nearest

    /// Nearest-neighbour resize (PyTorch `mode="nearest"`, ONNX Resize asymmetric + floor; other
    /// ONNX sampling positions by `sampling`).
    /// - Parameters:
    ///   - x: `[N, C, H, W]`
    ///   - outputSize: `(OH, OW)`
    ///   - scaleFactor: PyTorch's `scale_factor` (ONNX Resize's scales) when the caller gave one
    ///     (it changes the rounding)
    ///   - sampling: where each output samples (default PyTorch's `nearest`)
    ///   - out: `[N, C, OH, OW]`, or nil to allocate; must not overlap `x`
    /// - Returns: `[N, C, OH, OW]`
    public func upsampleNearest(_ x: Tensor, outputSize: (Int, Int), scaleFactor: (Double, Double)? = nil,
                                sampling: NearestSampling = .pytorch, into out: Tensor? = nil) throws -> Tensor {
        try resizeCheck(x.shape, outputSize, op: "upsampleNearest")
        let (h, w) = (x.shape[2], x.shape[3]), (oh, ow) = outputSize
        let out = try Tensor.output(out, shape: [x.shape[0], x.shape[1], oh, ow], op: "upsampleNearest")  // all rows written
        let mh = nearestSourceIndices(input: h, output: oh, scaleFactor: scaleFactor?.0, sampling: sampling)
        let mw = nearestSourceIndices(input: w, output: ow, scaleFactor: scaleFactor?.1, sampling: sampling)
        let px = x.pointer, po = out.pointer, planes = x.shape[0] * x.shape[1]
        mh.withUnsafeBufferPointer { mh in mw.withUnsafeBufferPointer { mw in
            parallelFor(planes * oh, grain: Swift.max(1, 8192 / ow)) { range in
                for row in range {
                    let plane = row / oh, y = row % oh
                    let dst = po + row * ow
                    // Rows mapping to the same source row repeat the previous output row.
                    if y > 0 && mh[y] == mh[y - 1] && row > range.lowerBound {
                        dst.update(from: dst - ow, count: ow)
                        continue
                    }
                    let src = px + (plane * h + mh[y]) * w
                    for j in 0..<ow { dst[j] = src[mw[j]] }
                }
            }
        } }
        withExtendedLifetime((x, out)) {}
        return out
    }

    /// Nearest upsampling by integer factors: `[N, C, H, W]` → `[N, C, H*sh, W*sw]` (nn.Upsample(scale_factor=));
    /// `out` as in ``upsampleNearest(_:outputSize:scaleFactor:sampling:into:)``.
    public func upsampleNearest(_ x: Tensor, scale: (Int, Int), into out: Tensor? = nil) throws -> Tensor {
        try x.shape.requireRank(4, op: "upsampleNearest", "input [N, C, H, W]")
        guard scale.0 >= 1 && scale.1 >= 1 else {
            throw TensorError.invalidArgument(op: "upsampleNearest", "scale \(scale) must be ≥ 1 (input \(x.shape))")
        }
        return try upsampleNearest(x, outputSize: (x.shape[2] * scale.0, x.shape[3] * scale.1),
                                   scaleFactor: (Double(scale.0), Double(scale.1)), into: out)
    }

    /// Gradient of ``upsampleNearest(_:outputSize:scaleFactor:sampling:into:)``: each output gradient added to its source.
    /// - Parameters:
    ///   - grad: `[N, C, OH, OW]`
    ///   - inputShape: `[N, C, H, W]`
    public func upsampleNearestBackward(_ grad: Tensor, inputShape: Shape, scaleFactor: (Double, Double)? = nil,
                                        sampling: NearestSampling = .pytorch) throws -> Tensor {
        try resizeBackwardCheck(grad.shape, inputShape, op: "upsampleNearestBackward")
        let (h, w, oh, ow) = (inputShape[2], inputShape[3], grad.shape[2], grad.shape[3])
        let mh = nearestSourceIndices(input: h, output: oh, scaleFactor: scaleFactor?.0, sampling: sampling)
        let mw = nearestSourceIndices(input: w, output: ow, scaleFactor: scaleFactor?.1, sampling: sampling)
        let out = Tensor(zeros: inputShape)
        let pg = grad.pointer, po = out.pointer
        mh.withUnsafeBufferPointer { mh in mw.withUnsafeBufferPointer { mw in
            parallelFor(inputShape[0] * inputShape[1], grain: Swift.max(1, 8192 / (oh * ow))) { range in
                for plane in range {
                    for y in 0..<oh {
                        let src = pg + (plane * oh + y) * ow, dst = po + (plane * h + mh[y]) * w
                        for j in 0..<ow { dst[mw[j]] += src[j] }
                    }
                }
            }
        } }
        withExtendedLifetime(grad) {}
        return out
    }

    // MARK: bilinear

    /// Bilinear resize (PyTorch `F.interpolate(mode="bilinear", align_corners=...)`).
    /// Without aligned corners the source coordinate is `scale*(o+0.5)-0.5` clamped at 0.
    /// - Parameters:
    ///   - x: `[N, C, H, W]`
    ///   - outputSize: `(OH, OW)`
    ///   - scaleFactor: PyTorch's `scale_factor` when the caller gave one (used when not aligning corners)
    ///   - out: `[N, C, OH, OW]`, or nil to allocate; must not overlap `x`
    /// - Returns: `[N, C, OH, OW]`
    public func upsampleBilinear(_ x: Tensor, outputSize: (Int, Int), alignCorners: Bool = false,
                                 scaleFactor: (Double, Double)? = nil, into out: Tensor? = nil) throws -> Tensor {
        try resizeCheck(x.shape, outputSize, op: "upsampleBilinear")
        let (h, w) = (x.shape[2], x.shape[3]), (oh, ow) = outputSize
        let out = try Tensor.output(out, shape: [x.shape[0], x.shape[1], oh, ow], op: "upsampleBilinear")  // all rows written
        let th = linearTaps(input: h, output: oh, alignCorners: alignCorners, scaleFactor: scaleFactor?.0)
        let tw = linearTaps(input: w, output: ow, alignCorners: alignCorners, scaleFactor: scaleFactor?.1)
        let px = x.pointer, po = out.pointer, planes = x.shape[0] * x.shape[1]
        tw.i0.withUnsafeBufferPointer { a0 in tw.i1.withUnsafeBufferPointer { a1 in
        tw.w0.withUnsafeBufferPointer { v0 in tw.w1.withUnsafeBufferPointer { v1 in
            parallelFor(planes * oh, grain: Swift.max(1, 4096 / ow)) { range in
                for row in range {
                    let plane = row / oh, y = row % oh
                    let r0 = px + (plane * h + th.i0[y]) * w, r1 = px + (plane * h + th.i1[y]) * w
                    let wy0 = th.w0[y], wy1 = th.w1[y]
                    let dst = po + row * ow
                    for j in 0..<ow {
                        let j0 = a0[j], j1 = a1[j], wx0 = v0[j], wx1 = v1[j]
                        let top = r0[j0] * wx0 + r0[j1] * wx1
                        let bottom = r1[j0] * wx0 + r1[j1] * wx1
                        dst[j] = top * wy0 + bottom * wy1
                    }
                }
            }
        } } } }
        withExtendedLifetime((x, out)) {}
        return out
    }

    /// Gradient of ``upsampleBilinear(_:outputSize:alignCorners:scaleFactor:into:)``.
    /// - Parameters:
    ///   - grad: `[N, C, OH, OW]`
    ///   - inputShape: `[N, C, H, W]`
    public func upsampleBilinearBackward(_ grad: Tensor, inputShape: Shape, alignCorners: Bool = false,
                                         scaleFactor: (Double, Double)? = nil) throws -> Tensor {
        try resizeBackwardCheck(grad.shape, inputShape, op: "upsampleBilinearBackward")
        let (h, w, oh, ow) = (inputShape[2], inputShape[3], grad.shape[2], grad.shape[3])
        let th = linearTaps(input: h, output: oh, alignCorners: alignCorners, scaleFactor: scaleFactor?.0)
        let tw = linearTaps(input: w, output: ow, alignCorners: alignCorners, scaleFactor: scaleFactor?.1)
        let out = Tensor(zeros: inputShape)
        let pg = grad.pointer, po = out.pointer
        tw.i0.withUnsafeBufferPointer { a0 in tw.i1.withUnsafeBufferPointer { a1 in
        tw.w0.withUnsafeBufferPointer { v0 in tw.w1.withUnsafeBufferPointer { v1 in
            parallelFor(inputShape[0] * inputShape[1], grain: Swift.max(1, 4096 / (oh * ow))) { range in
                for plane in range {
                    for y in 0..<oh {
                        let src = pg + (plane * oh + y) * ow
                        let r0 = po + (plane * h + th.i0[y]) * w, r1 = po + (plane * h + th.i1[y]) * w
                        let wy0 = th.w0[y], wy1 = th.w1[y]
                        for j in 0..<ow {
                            let g = src[j], j0 = a0[j], j1 = a1[j]
                            let g0 = g * wy0, g1 = g * wy1
                            r0[j0] += g0 * v0[j]; r0[j1] += g0 * v1[j]
                            r1[j0] += g1 * v0[j]; r1[j1] += g1 * v1[j]
                        }
                    }
                }
            }
        } } } }
        withExtendedLifetime(grad) {}
        return out
    }

    // MARK: bicubic

    /// Bicubic resize (PyTorch `F.interpolate(mode="bicubic", align_corners=...)`; ONNX Resize
    /// `cubic` with `cubic_coeff_a` −0.75, `exclude_outside` 0): each output is a 4x4 weighted sum
    /// of the input, rows interpolated along W first, then the four results along H; taps past
    /// the border repeat the edge.
    /// - Parameters:
    ///   - x: `[N, C, H, W]`
    ///   - outputSize: `(OH, OW)`
    ///   - scaleFactor: PyTorch's `scale_factor` when the caller gave one (used when not aligning corners)
    ///   - out: `[N, C, OH, OW]`, or nil to allocate; must not overlap `x`
    /// - Returns: `[N, C, OH, OW]`
    public func upsampleBicubic(_ x: Tensor, outputSize: (Int, Int), alignCorners: Bool = false,
                                scaleFactor: (Double, Double)? = nil, into out: Tensor? = nil) throws -> Tensor {
        try resizeCheck(x.shape, outputSize, op: "upsampleBicubic")
        let (h, w) = (x.shape[2], x.shape[3]), (oh, ow) = outputSize
        let out = try Tensor.output(out, shape: [x.shape[0], x.shape[1], oh, ow], op: "upsampleBicubic")  // all rows written
        let th = cubicTaps(input: h, output: oh, alignCorners: alignCorners, scaleFactor: scaleFactor?.0)
        let tw = cubicTaps(input: w, output: ow, alignCorners: alignCorners, scaleFactor: scaleFactor?.1)
        let px = x.pointer, po = out.pointer, planes = x.shape[0] * x.shape[1]
        tw.index.withUnsafeBufferPointer { ix in tw.weight.withUnsafeBufferPointer { wx in
            parallelFor(planes * oh, grain: Swift.max(1, 1024 / ow)) { range in
                for row in range {
                    let plane = row / oh, y = row % oh, dst = po + row * ow
                    let r0 = px + (plane * h + th.index[4 * y]) * w, r1 = px + (plane * h + th.index[4 * y + 1]) * w
                    let r2 = px + (plane * h + th.index[4 * y + 2]) * w, r3 = px + (plane * h + th.index[4 * y + 3]) * w
                    let (wy0, wy1, wy2, wy3) = (th.weight[4 * y], th.weight[4 * y + 1], th.weight[4 * y + 2], th.weight[4 * y + 3])
                    for j in 0..<ow {
                        let (a, b, c, d) = (ix[4 * j], ix[4 * j + 1], ix[4 * j + 2], ix[4 * j + 3])
                        let (u0, u1, u2, u3) = (wx[4 * j], wx[4 * j + 1], wx[4 * j + 2], wx[4 * j + 3])
                        let v0 = r0[a] * u0 + r0[b] * u1 + r0[c] * u2 + r0[d] * u3
                        let v1 = r1[a] * u0 + r1[b] * u1 + r1[c] * u2 + r1[d] * u3
                        let v2 = r2[a] * u0 + r2[b] * u1 + r2[c] * u2 + r2[d] * u3
                        let v3 = r3[a] * u0 + r3[b] * u1 + r3[c] * u2 + r3[d] * u3
                        dst[j] = v0 * wy0 + v1 * wy1 + v2 * wy2 + v3 * wy3
                    }
                }
            }
        } }
        withExtendedLifetime((x, out)) {}
        return out
    }

    /// Gradient of ``upsampleBicubic(_:outputSize:alignCorners:scaleFactor:into:)``: each output
    /// gradient spread over its 4x4 taps by their weights (clamped taps add up at the edge).
    /// - Parameters:
    ///   - grad: `[N, C, OH, OW]`
    ///   - inputShape: `[N, C, H, W]`
    public func upsampleBicubicBackward(_ grad: Tensor, inputShape: Shape, alignCorners: Bool = false,
                                        scaleFactor: (Double, Double)? = nil) throws -> Tensor {
        try resizeBackwardCheck(grad.shape, inputShape, op: "upsampleBicubicBackward")
        let (h, w, oh, ow) = (inputShape[2], inputShape[3], grad.shape[2], grad.shape[3])
        let th = cubicTaps(input: h, output: oh, alignCorners: alignCorners, scaleFactor: scaleFactor?.0)
        let tw = cubicTaps(input: w, output: ow, alignCorners: alignCorners, scaleFactor: scaleFactor?.1)
        let out = Tensor(zeros: inputShape)
        let pg = grad.pointer, po = out.pointer
        tw.index.withUnsafeBufferPointer { ix in tw.weight.withUnsafeBufferPointer { wx in
            parallelFor(inputShape[0] * inputShape[1], grain: Swift.max(1, 1024 / (oh * ow))) { range in
                for plane in range {
                    for y in 0..<oh {
                        let src = pg + (plane * oh + y) * ow
                        for k in 0..<4 {
                            let r = po + (plane * h + th.index[4 * y + k]) * w, wy = th.weight[4 * y + k]
                            for j in 0..<ow {
                                let g = src[j] * wy
                                for m in 0..<4 { r[ix[4 * j + m]] += g * wx[4 * j + m] }
                            }
                        }
                    }
                }
            }
        } }
        withExtendedLifetime(grad) {}
        return out
    }

    // MARK: pixel shuffle

    /// Depth to space (nn.PixelShuffle): `out[n, c, h*r+i, w*r+j] = x[n, c*r*r + i*r + j, h, w]`.
    /// - Parameters:
    ///   - x: `[N, C*r*r, H, W]`
    ///   - out: `[N, C, H*r, W*r]`, or nil to allocate; must not overlap `x`
    /// - Returns: `[N, C, H*r, W*r]`
    public func pixelShuffle(_ x: Tensor, factor r: Int, into out: Tensor? = nil) throws -> Tensor {
        let outShape = try pixelShuffleShape(x.shape, factor: r, unshuffle: false)
        let out = try Tensor.output(out, shape: outShape, op: "pixelShuffle")  // a permutation: every element written
        layoutPixelShuffle(big: out.pointer, small: x.pointer, n: outShape[0], c: outShape[1],
                           h: x.shape[2], w: x.shape[3], r: r, toBig: true)
        withExtendedLifetime((x, out)) {}
        return out
    }

    /// Space to depth (nn.PixelUnshuffle, einops `b c (h p1) (w p2) -> b (c p1 p2) h w`).
    /// - Parameters:
    ///   - x: `[N, C, H*r, W*r]`
    ///   - out: `[N, C*r*r, H, W]`, or nil to allocate; must not overlap `x`
    /// - Returns: `[N, C*r*r, H, W]`
    public func pixelUnshuffle(_ x: Tensor, factor r: Int, into out: Tensor? = nil) throws -> Tensor {
        let outShape = try pixelShuffleShape(x.shape, factor: r, unshuffle: true)
        let out = try Tensor.output(out, shape: outShape, op: "pixelUnshuffle")  // a permutation: every element written
        layoutPixelShuffle(big: x.pointer, small: out.pointer, n: x.shape[0], c: x.shape[1],
                           h: outShape[2], w: outShape[3], r: r, toBig: false)
        withExtendedLifetime((x, out)) {}
        return out
    }

    /// Moves data between `small` `[N, C*r*r, H, W]` and `big` `[N, C, H*r, W*r]`; one work item
    /// per big row `(n, c, h, i)`, which reads/writes the `r` small rows `(c*r*r + i*r + j, h)`.
    private func layoutPixelShuffle(big: UnsafeMutablePointer<Float>, small: UnsafeMutablePointer<Float>,
                                    n: Int, c: Int, h: Int, w: Int, r: Int, toBig: Bool) {
        let rows = n * c * h * r, bw = w * r, plane = h * w
        parallelFor(rows, grain: Swift.max(1, 8192 / Swift.max(bw, 1))) { range in
            for row in range {
                let i = row % r, hh = (row / r) % h, nc = row / (r * h)
                let b = big + row * bw
                let s = small + (nc * r * r + i * r) * plane + hh * w
                if r == 2 {
                    let s0 = s, s1 = s + plane
                    if toBig { for x in 0..<w { b[2 * x] = s0[x]; b[2 * x + 1] = s1[x] } }
                    else { for x in 0..<w { s0[x] = b[2 * x]; s1[x] = b[2 * x + 1] } }
                    continue
                }
                for j in 0..<r {
                    let sj = s + j * plane
                    if toBig { for x in 0..<w { b[x * r + j] = sj[x] } } else { for x in 0..<w { sj[x] = b[x * r + j] } }
                }
            }
        }
    }
}

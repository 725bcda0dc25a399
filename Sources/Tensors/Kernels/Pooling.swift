// Pooling kernels on NCHW float32: 2D average pooling (nn.AvgPool2d / ONNX AveragePool) and 2D
// max pooling (nn.MaxPool2d / ONNX MaxPool, single output: no indices), floor or ceil mode, and
// their backward kernels. Output sizes follow PyTorch's `pooling_output_shape` (which ONNX Runtime
// matches): in ceil mode a last, partial window is kept only when it starts inside the input or
// its leading padding. Padding is symmetric per axis and at most half the (dilated) kernel, so
// every window starts inside the padded input. Forward kernels are parallel over output rows;
// backward kernels scatter and are parallel over (n, c) planes, each plane owned by one chunk, so
// results never depend on the thread count. Max pooling scans a window rows outer, columns inner,
// and keeps the first maximum (a NaN wins, as in PyTorch); its gradient goes to that element.
// No autograd here (`Autograd/Tape+Resampling.swift`); naive twins in `Naive/Pooling+Naive.swift`.

/// A 2D pooling window: kernel, stride, symmetric zero padding and dilation per spatial axis, and
/// the output rounding (floor, or ceil: `ceilMode`).
public struct Pool2dWindow: Sendable, Equatable {
    public var kernel: (h: Int, w: Int)
    public var stride: (h: Int, w: Int)
    public var padding: (h: Int, w: Int)
    /// Spacing of a window's taps; average pooling takes only 1.
    public var dilation: (h: Int, w: Int)
    /// Round the output size up (PyTorch / ONNX `ceil_mode`): a last window that overhangs the
    /// padded input is kept when it starts inside the input or its leading padding.
    public var ceilMode: Bool

    /// `stride` defaults to the kernel (PyTorch).
    public init(kernel: (h: Int, w: Int), stride: (h: Int, w: Int)? = nil, padding: (h: Int, w: Int) = (0, 0),
                dilation: (h: Int, w: Int) = (1, 1), ceilMode: Bool = false) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
        self.dilation = dilation
        self.ceilMode = ceilMode
    }

    public static func == (a: Pool2dWindow, b: Pool2dWindow) -> Bool {
        a.kernel == b.kernel && a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation && a.ceilMode == b.ceilMode
    }

    /// Extent of the dilated kernel on one axis.
    static func span(k: Int, d: Int) -> Int { d * (k - 1) + 1 }

    /// Output size on one axis of length `n` (PyTorch `pooling_output_shape`; `n + 2p ≥ span` checked).
    func outputSize(_ n: Int, k: Int, s: Int, p: Int, d: Int) -> Int {
        let room = n + 2 * p - Self.span(k: k, d: d)
        var out = (ceilMode ? (room + s - 1) / s : room / s) + 1
        if ceilMode && (out - 1) * s >= n + p { out -= 1 }
        return out
    }
}

/// Validates pool geometry for `op` (average pooling refuses dilation); returns the output shape.
func poolShape(_ shape: Shape, _ w: Pool2dWindow, op: String, dilated: Bool) throws -> Shape {
    try shape.requireRank(4, op: op, "input [N, C, H, W]")
    let (kh, kw) = w.kernel, (sh, sw) = w.stride, (ph, pw) = w.padding, (dh, dw) = w.dilation
    guard kh >= 1 && kw >= 1 && sh >= 1 && sw >= 1 && ph >= 0 && pw >= 0 && dh >= 1 && dw >= 1 else {
        throw TensorError.invalidArgument(op: op, "kernel \(w.kernel), stride \(w.stride) and dilation \(w.dilation) must be ≥ 1, padding \(w.padding) ≥ 0 (input \(shape))")
    }
    guard dilated || (dh == 1 && dw == 1) else {
        throw TensorError.invalidArgument(op: op, "dilation \(w.dilation) is not supported (input \(shape))")
    }
    let spanH = Pool2dWindow.span(k: kh, d: dh), spanW = Pool2dWindow.span(k: kw, d: dw)
    guard ph <= spanH / 2 && pw <= spanW / 2 else {
        throw TensorError.invalidArgument(op: op, "padding \(w.padding) must be at most half of kernel \(w.kernel) (input \(shape))")
    }
    guard spanH <= shape[2] + 2 * ph && spanW <= shape[3] + 2 * pw else {
        throw TensorError.invalidArgument(op: op, "kernel \(w.kernel) is larger than the padded input \(shape) with padding \(w.padding)")
    }
    return [shape[0], shape[1], w.outputSize(shape[2], k: kh, s: sh, p: ph, d: dh), w.outputSize(shape[3], k: kw, s: sw, p: pw, d: dw)]
}

/// Validates a pooling gradient against the pooled shape of `inputShape`.
func poolBackwardCheck(_ grad: Shape, _ inputShape: Shape, _ w: Pool2dWindow, op: String, dilated: Bool) throws {
    let outShape = try poolShape(inputShape, w, op: op, dilated: dilated)
    guard grad == outShape else {
        throw TensorError.shapeMismatch(op: op, grad, outShape, detail: "gradient must have the pooled shape")
    }
}

/// Divisor and clipped window of one average-pooled position on one axis (ATen avg_pool2d): the
/// window clipped to the input, and its length clipped only to the padded input (`padded`).
@inline(__always)
func poolSpan(_ o: Int, k: Int, s: Int, p: Int, n: Int) -> (start: Int, end: Int, padded: Int) {
    let start = o * s - p
    let end = Swift.min(start + k, n + p)
    return (Swift.max(start, 0), Swift.min(end, n), end - start)
}

/// The first and one-past-last tap of a dilated window on one axis that fall inside `0..<n`
/// (taps at `start + i·d`): `i` in `lo..<hi`.
@inline(__always)
func dilatedTaps(_ o: Int, k: Int, s: Int, p: Int, d: Int, n: Int) -> (start: Int, lo: Int, hi: Int) {
    let start = o * s - p
    let lo = start >= 0 ? 0 : (-start + d - 1) / d
    let hi = start >= n ? 0 : Swift.min(k, (n - 1 - start) / d + 1)
    return (start, lo, Swift.max(lo, hi))
}

extension CPU {
    // MARK: average pooling

    /// 2D average pooling (nn.AvgPool2d): the mean of each window; with `countIncludePad` the
    /// divisor counts padded zeros (but not positions past the padding, which ceil mode can add).
    /// - Parameters:
    ///   - x: `[N, C, H, W]`
    ///   - window: dilation must be 1
    ///   - out: `[N, C, OH, OW]`, or nil to allocate; must not overlap `x`
    /// - Returns: `[N, C, OH, OW]`, OH = (H+2ph-kh)/sh+1 rounded down (or up in ceil mode)
    public func avgPool2d(_ x: Tensor, _ window: Pool2dWindow, countIncludePad: Bool = true, into out: Tensor? = nil) throws -> Tensor {
        let outShape = try poolShape(x.shape, window, op: "avgPool2d", dilated: false)
        let out = try Tensor.output(out, shape: outShape, op: "avgPool2d")  // every element written
        let (h, w, oh, ow) = (x.shape[2], x.shape[3], outShape[2], outShape[3])
        let (kh, kw) = window.kernel, (sh, sw) = window.stride, (ph, pw) = window.padding
        let px = x.pointer, po = out.pointer
        let fast2x2 = kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && 2 * oh <= h && 2 * ow <= w
        parallelFor(outShape[0] * outShape[1] * oh, grain: Swift.max(1, 4096 / (ow * kh * kw))) { range in
            for row in range {
                let plane = row / oh, y = row % oh
                let src = px + plane * h * w, dst = po + row * ow
                if fast2x2 {
                    let a = src + 2 * y * w, b = a + w
                    for j in 0..<ow { dst[j] = (((a[2 * j] + a[2 * j + 1]) + b[2 * j]) + b[2 * j + 1]) / 4 }
                    continue
                }
                let ys = poolSpan(y, k: kh, s: sh, p: ph, n: h)
                // Interior columns (window inside [0, W)): vectorized over j, adding window
                // taps in the same order (rows outer, columns inner) as the edge loop below.
                let jLo = Swift.min(ow, (pw + sw - 1) / sw)
                let jHi = w + pw - kw < 0 ? jLo : Swift.max(jLo, Swift.min(ow, (w + pw - kw) / sw + 1))
                if ys.start < ys.end && jLo < jHi {
                    for j in jLo..<jHi { dst[j] = 0 }
                    for iy in ys.start..<ys.end {
                        for ix in 0..<kw {
                            let r = src + iy * w - pw + ix
                            if sw == 1 { for j in jLo..<jHi { dst[j] += r[j] } }
                            else { for j in jLo..<jHi { dst[j] += r[j * sw] } }
                        }
                    }
                    let divisor = Float(countIncludePad ? ys.padded * kw : (ys.end - ys.start) * kw)
                    for j in jLo..<jHi { dst[j] = dst[j] / divisor }
                }
                for j in 0..<ow where j < jLo || j >= jHi || ys.start >= ys.end {
                    let xs = poolSpan(j, k: kw, s: sw, p: pw, n: w)
                    if ys.start >= ys.end || xs.start >= xs.end { dst[j] = 0; continue }
                    var sum: Float = 0
                    for iy in ys.start..<ys.end {
                        let r = src + iy * w
                        for ix in xs.start..<xs.end { sum += r[ix] }
                    }
                    let divisor = countIncludePad ? ys.padded * xs.padded : (ys.end - ys.start) * (xs.end - xs.start)
                    dst[j] = sum / Float(divisor)
                }
            }
        }
        withExtendedLifetime((x, out)) {}
        return out
    }

    /// Gradient of ``avgPool2d(_:_:countIncludePad:into:)``: each window's gradient / divisor spread over it.
    /// - Parameters:
    ///   - grad: the pooled shape `[N, C, OH, OW]`
    ///   - inputShape: `[N, C, H, W]`
    public func avgPool2dBackward(_ grad: Tensor, inputShape: Shape, _ window: Pool2dWindow, countIncludePad: Bool = true) throws -> Tensor {
        try poolBackwardCheck(grad.shape, inputShape, window, op: "avgPool2dBackward", dilated: false)
        let out = Tensor(zeros: inputShape)
        let (h, w, oh, ow) = (inputShape[2], inputShape[3], grad.shape[2], grad.shape[3])
        let (kh, kw) = window.kernel, (sh, sw) = window.stride, (ph, pw) = window.padding
        let pg = grad.pointer, po = out.pointer
        parallelFor(inputShape[0] * inputShape[1], grain: Swift.max(1, 4096 / (oh * ow * kh * kw))) { range in
            for plane in range {
                let dst = po + plane * h * w
                for y in 0..<oh {
                    let ys = poolSpan(y, k: kh, s: sh, p: ph, n: h), src = pg + (plane * oh + y) * ow
                    for j in 0..<ow {
                        let xs = poolSpan(j, k: kw, s: sw, p: pw, n: w)
                        if ys.start >= ys.end || xs.start >= xs.end { continue }
                        let divisor = countIncludePad ? ys.padded * xs.padded : (ys.end - ys.start) * (xs.end - xs.start)
                        let g = src[j] / Float(divisor)
                        for iy in ys.start..<ys.end {
                            let r = dst + iy * w
                            for ix in xs.start..<xs.end { r[ix] += g }
                        }
                    }
                }
            }
        }
        withExtendedLifetime(grad) {}
        return out
    }

    // MARK: max pooling

    /// 2D max pooling (nn.MaxPool2d, ONNX MaxPool's first output): the largest tap of each
    /// (dilated) window, padding never chosen; a window with no tap inside the input gives −∞.
    /// - Parameters:
    ///   - x: `[N, C, H, W]`
    ///   - out: `[N, C, OH, OW]`, or nil to allocate; must not overlap `x`
    /// - Returns: `[N, C, OH, OW]`, OH = (H+2ph-dh(kh-1)-1)/sh+1 rounded down (or up in ceil mode)
    public func maxPool2d(_ x: Tensor, _ window: Pool2dWindow, into out: Tensor? = nil) throws -> Tensor {
        let outShape = try poolShape(x.shape, window, op: "maxPool2d", dilated: true)
        let out = try Tensor.output(out, shape: outShape, op: "maxPool2d")  // every element written
        let (h, w, oh, ow) = (x.shape[2], x.shape[3], outShape[2], outShape[3])
        let (kh, kw) = window.kernel, (sh, sw) = window.stride, (ph, pw) = window.padding, (dh, dw) = window.dilation
        let px = x.pointer, po = out.pointer
        // Columns whose whole window lies inside [0, W): j·sw − pw ≥ 0 and j·sw − pw + dw(kw−1) < W.
        let spanW = Pool2dWindow.span(k: kw, d: dw)
        let jLo = Swift.min(ow, (pw + sw - 1) / sw)
        let jHi = w + pw - spanW < 0 ? jLo : Swift.max(jLo, Swift.min(ow, (w + pw - spanW) / sw + 1))
        parallelFor(outShape[0] * outShape[1] * oh, grain: Swift.max(1, 4096 / (ow * kh * kw))) { range in
            for row in range {
                let plane = row / oh, y = row % oh
                let src = px + plane * h * w, dst = po + row * ow
                let ys = dilatedTaps(y, k: kh, s: sh, p: ph, d: dh, n: h)
                // Interior columns, vectorized over j: the same comparison per tap, taps in the
                // same order as the edge loop, so the value is the first maximum's.
                if ys.lo < ys.hi && jLo < jHi {
                    for j in jLo..<jHi { dst[j] = -.infinity }
                    for i in ys.lo..<ys.hi {
                        for t in 0..<kw {
                            let r = src + (ys.start + i * dh) * w - pw + t * dw
                            if sw == 1 {
                                for j in jLo..<jHi { let v = r[j], m = dst[j]; dst[j] = v > m || v != v ? v : m }
                            } else {
                                for j in jLo..<jHi { let v = r[j * sw], m = dst[j]; dst[j] = v > m || v != v ? v : m }
                            }
                        }
                    }
                }
                for j in 0..<ow where j < jLo || j >= jHi || ys.lo >= ys.hi {
                    let xs = dilatedTaps(j, k: kw, s: sw, p: pw, d: dw, n: w)
                    var m = -Float.infinity
                    for i in ys.lo..<ys.hi {
                        let r = src + (ys.start + i * dh) * w
                        for t in xs.lo..<xs.hi { let v = r[xs.start + t * dw]; if v > m || v != v { m = v } }
                    }
                    dst[j] = m
                }
            }
        }
        withExtendedLifetime((x, out)) {}
        return out
    }

    /// Gradient of ``maxPool2d(_:_:into:)``: each output's gradient added to its window's first
    /// maximum (found again in `x`).
    /// - Parameters:
    ///   - grad: the pooled shape `[N, C, OH, OW]`
    ///   - x: the forward input `[N, C, H, W]`
    /// - Returns: `[N, C, H, W]`
    public func maxPool2dBackward(_ grad: Tensor, input x: Tensor, _ window: Pool2dWindow) throws -> Tensor {
        try poolBackwardCheck(grad.shape, x.shape, window, op: "maxPool2dBackward", dilated: true)
        let out = Tensor(zeros: x.shape)
        let (h, w, oh, ow) = (x.shape[2], x.shape[3], grad.shape[2], grad.shape[3])
        let (kh, kw) = window.kernel, (sh, sw) = window.stride, (ph, pw) = window.padding, (dh, dw) = window.dilation
        let px = x.pointer, pg = grad.pointer, po = out.pointer
        parallelFor(x.shape[0] * x.shape[1], grain: Swift.max(1, 4096 / (oh * ow * kh * kw))) { range in
            for plane in range {
                let src = px + plane * h * w, dst = po + plane * h * w
                for y in 0..<oh {
                    let ys = dilatedTaps(y, k: kh, s: sh, p: ph, d: dh, n: h), g = pg + (plane * oh + y) * ow
                    for j in 0..<ow {
                        let xs = dilatedTaps(j, k: kw, s: sw, p: pw, d: dw, n: w)
                        var m = -Float.infinity, best = -1
                        for i in ys.lo..<ys.hi {
                            let r = (ys.start + i * dh) * w
                            for t in xs.lo..<xs.hi {
                                let k = r + xs.start + t * dw, v = src[k]
                                if best < 0 || v > m || (v != v && m == m) { m = v; best = k }
                            }
                        }
                        if best >= 0 { dst[best] += g[j] }
                    }
                }
            }
        }
        withExtendedLifetime((x, grad)) {}
        return out
    }
}

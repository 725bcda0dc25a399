// Naive twins of the pooling kernels: one output element at a time, each window walked tap by tap
// from the PyTorch definitions (AvgPool2d's clipped windows and divisors, MaxPool2d's dilated taps
// with the first maximum kept, a NaN winning), backward kernels as the adjoint loops. Shape
// validation (and so the output size, floor or ceil mode) is shared with the fast kernels.
// No threads, no interior/edge split.

extension Naive {
    /// The input positions and divisor of average-pooled output `(y, j)`.
    static func poolWindow(_ y: Int, _ j: Int, h: Int, w: Int, _ win: Pool2dWindow, countIncludePad: Bool)
        -> (rows: Range<Int>, cols: Range<Int>, divisor: Int) {
        let hs = y * win.stride.h - win.padding.h, ws = j * win.stride.w - win.padding.w
        let he = min(hs + win.kernel.h, h + win.padding.h), we = min(ws + win.kernel.w, w + win.padding.w)
        let rows = max(hs, 0)..<max(max(hs, 0), min(he, h)), cols = max(ws, 0)..<max(max(ws, 0), min(we, w))
        return (rows, cols, countIncludePad ? (he - hs) * (we - ws) : rows.count * cols.count)
    }

    /// nn.AvgPool2d `[N, C, H, W]` → `[N, C, OH, OW]` (floor or ceil mode).
    public static func avgPool2d(_ x: Tensor, _ win: Pool2dWindow, countIncludePad: Bool = true) throws -> Tensor {
        let outShape = try poolShape(x.shape, win, op: "avgPool2d", dilated: false)
        let (h, w, oh, ow) = (x.shape[2], x.shape[3], outShape[2], outShape[3])
        let out = Tensor(zeros: outShape)
        for p in 0..<(x.shape[0] * x.shape[1]) {
            for y in 0..<oh {
                for j in 0..<ow {
                    let (rows, cols, divisor) = poolWindow(y, j, h: h, w: w, win, countIncludePad: countIncludePad)
                    if rows.isEmpty || cols.isEmpty { continue }
                    var sum: Float = 0
                    for iy in rows { for ix in cols { sum += x.pointer[(p * h + iy) * w + ix] } }
                    out.pointer[(p * oh + y) * ow + j] = sum / Float(divisor)
                }
            }
        }
        return out
    }

    /// Adjoint of ``avgPool2d(_:_:countIncludePad:)``.
    public static func avgPool2dBackward(_ grad: Tensor, inputShape: Shape, _ win: Pool2dWindow, countIncludePad: Bool = true) -> Tensor {
        let (h, w, oh, ow) = (inputShape[2], inputShape[3], grad.shape[2], grad.shape[3])
        let out = Tensor(zeros: inputShape)
        for p in 0..<(inputShape[0] * inputShape[1]) {
            for y in 0..<oh {
                for j in 0..<ow {
                    let (rows, cols, divisor) = poolWindow(y, j, h: h, w: w, win, countIncludePad: countIncludePad)
                    let g = grad.pointer[(p * oh + y) * ow + j] / Float(divisor)
                    for iy in rows { for ix in cols { out.pointer[(p * h + iy) * w + ix] += g } }
                }
            }
        }
        return out
    }

    /// The flat input index of max-pooled output `(p, y, j)`'s first maximum, or nil when no tap
    /// of its window lies inside the input.
    static func maxPoolArgmax(_ x: Tensor, _ p: Int, _ y: Int, _ j: Int, _ win: Pool2dWindow) -> Int? {
        let (h, w) = (x.shape[2], x.shape[3])
        var best: Int?
        for i in 0..<win.kernel.h {
            let iy = y * win.stride.h - win.padding.h + i * win.dilation.h
            guard iy >= 0 && iy < h else { continue }
            for t in 0..<win.kernel.w {
                let ix = j * win.stride.w - win.padding.w + t * win.dilation.w
                guard ix >= 0 && ix < w else { continue }
                let k = (p * h + iy) * w + ix
                guard let b = best else { best = k; continue }
                let v = x.pointer[k], m = x.pointer[b]
                if v > m || (v.isNaN && !m.isNaN) { best = k }
            }
        }
        return best
    }

    /// nn.MaxPool2d `[N, C, H, W]` → `[N, C, OH, OW]` (dilated taps, floor or ceil mode; −∞ for a
    /// window without taps inside the input).
    public static func maxPool2d(_ x: Tensor, _ win: Pool2dWindow) throws -> Tensor {
        let outShape = try poolShape(x.shape, win, op: "maxPool2d", dilated: true)
        let (oh, ow) = (outShape[2], outShape[3])
        let out = Tensor(zeros: outShape)
        for p in 0..<(x.shape[0] * x.shape[1]) {
            for y in 0..<oh {
                for j in 0..<ow {
                    out.pointer[(p * oh + y) * ow + j] = maxPoolArgmax(x, p, y, j, win).map { x.pointer[$0] } ?? -.infinity
                }
            }
        }
        return out
    }

    /// Adjoint of ``maxPool2d(_:_:)``: each gradient to its window's first maximum in `x`.
    public static func maxPool2dBackward(_ grad: Tensor, input x: Tensor, _ win: Pool2dWindow) -> Tensor {
        let (oh, ow) = (grad.shape[2], grad.shape[3])
        let out = Tensor(zeros: x.shape)
        for p in 0..<(x.shape[0] * x.shape[1]) {
            for y in 0..<oh {
                for j in 0..<ow {
                    if let k = maxPoolArgmax(x, p, y, j, win) { out.pointer[k] += grad.pointer[(p * oh + y) * ow + j] }
                }
            }
        }
        return out
    }
}

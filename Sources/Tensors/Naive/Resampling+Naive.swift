// Naive twins of the resampling kernels: one output element at a time, straight from the
// PyTorch definitions (nearest floor(dst*scale), bilinear with per-element source coordinates,
// PixelShuffle index formula), and backward kernels as the adjoint loops. Pooling's twins are
// in `Pooling+Naive.swift`.
// Shape validation is shared with the fast kernels. No threads, no row tricks.

extension Naive {
    /// Nearest resize `[N, C, H, W]` → `[N, C, OH, OW]`.
    public static func upsampleNearest(_ x: Tensor, outputSize: (Int, Int), scaleFactor: (Double, Double)? = nil) throws -> Tensor {
        try resizeCheck(x.shape, outputSize, op: "upsampleNearest")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]), (oh, ow) = outputSize
        let out = Tensor(zeros: [n, c, oh, ow])
        for p in 0..<(n * c) {
            for y in 0..<oh {
                let sy = nearestSource(y, input: h, output: oh, scaleFactor: scaleFactor?.0)
                for j in 0..<ow {
                    let sx = nearestSource(j, input: w, output: ow, scaleFactor: scaleFactor?.1)
                    out.pointer[(p * oh + y) * ow + j] = x.pointer[(p * h + sy) * w + sx]
                }
            }
        }
        return out
    }

    /// ATen's nearest source index for one output position.
    static func nearestSource(_ o: Int, input: Int, output: Int, scaleFactor: Double?) -> Int {
        if output == input { return o }
        if output == 2 * input { return o / 2 }
        var scale = Float(input) / Float(output)
        if let sf = scaleFactor, sf > 0 { scale = Float(1.0 / sf) }
        return min(Int((Float(o) * scale).rounded(.down)), input - 1)
    }

    /// Adjoint of ``upsampleNearest(_:outputSize:scaleFactor:into:)``.
    public static func upsampleNearestBackward(_ grad: Tensor, inputShape: Shape, scaleFactor: (Double, Double)? = nil) -> Tensor {
        let (h, w, oh, ow) = (inputShape[2], inputShape[3], grad.shape[2], grad.shape[3])
        let out = Tensor(zeros: inputShape)
        for p in 0..<(inputShape[0] * inputShape[1]) {
            for y in 0..<oh {
                for j in 0..<ow {
                    let sy = nearestSource(y, input: h, output: oh, scaleFactor: scaleFactor?.0)
                    let sx = nearestSource(j, input: w, output: ow, scaleFactor: scaleFactor?.1)
                    out.pointer[(p * h + sy) * w + sx] += grad.pointer[(p * oh + y) * ow + j]
                }
            }
        }
        return out
    }

    /// Source coordinate, lower index, upper index and weight of the upper index for one output position.
    static func linearSource(_ o: Int, input: Int, output: Int, alignCorners: Bool, scaleFactor: Double?) -> (Int, Int, Float) {
        if input == output { return (o, o, 0) }
        var real: Float
        if alignCorners {
            real = output > 1 ? Float(input - 1) / Float(output - 1) * Float(o) : 0
        } else {
            var scale = Float(input) / Float(output)
            if let sf = scaleFactor, sf > 0 { scale = Float(1.0 / sf) }
            real = max(scale * (Float(o) + 0.5) - 0.5, 0)
        }
        let i0 = min(Int(real.rounded(.down)), input - 1)
        let i1 = min(i0 + 1, input - 1)
        return (i0, i1, min(max(real - Float(i0), 0), 1))
    }

    /// Bilinear resize `[N, C, H, W]` → `[N, C, OH, OW]` (PyTorch align_corners semantics).
    public static func upsampleBilinear(_ x: Tensor, outputSize: (Int, Int), alignCorners: Bool = false,
                                        scaleFactor: (Double, Double)? = nil) throws -> Tensor {
        try resizeCheck(x.shape, outputSize, op: "upsampleBilinear")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]), (oh, ow) = outputSize
        let out = Tensor(zeros: [n, c, oh, ow])
        for p in 0..<(n * c) {
            for y in 0..<oh {
                let (y0, y1, ly) = linearSource(y, input: h, output: oh, alignCorners: alignCorners, scaleFactor: scaleFactor?.0)
                for j in 0..<ow {
                    let (x0, x1, lx) = linearSource(j, input: w, output: ow, alignCorners: alignCorners, scaleFactor: scaleFactor?.1)
                    func at(_ yy: Int, _ xx: Int) -> Float { x.pointer[(p * h + yy) * w + xx] }
                    let top = at(y0, x0) * (1 - lx) + at(y0, x1) * lx
                    let bottom = at(y1, x0) * (1 - lx) + at(y1, x1) * lx
                    out.pointer[(p * oh + y) * ow + j] = top * (1 - ly) + bottom * ly
                }
            }
        }
        return out
    }

    /// Adjoint of ``upsampleBilinear(_:outputSize:alignCorners:scaleFactor:into:)``.
    public static func upsampleBilinearBackward(_ grad: Tensor, inputShape: Shape, alignCorners: Bool = false,
                                                scaleFactor: (Double, Double)? = nil) -> Tensor {
        let (h, w, oh, ow) = (inputShape[2], inputShape[3], grad.shape[2], grad.shape[3])
        let out = Tensor(zeros: inputShape)
        for p in 0..<(inputShape[0] * inputShape[1]) {
            for y in 0..<oh {
                let (y0, y1, ly) = linearSource(y, input: h, output: oh, alignCorners: alignCorners, scaleFactor: scaleFactor?.0)
                for j in 0..<ow {
                    let (x0, x1, lx) = linearSource(j, input: w, output: ow, alignCorners: alignCorners, scaleFactor: scaleFactor?.1)
                    let g = grad.pointer[(p * oh + y) * ow + j]
                    out.pointer[(p * h + y0) * w + x0] += g * (1 - ly) * (1 - lx)
                    out.pointer[(p * h + y0) * w + x1] += g * (1 - ly) * lx
                    out.pointer[(p * h + y1) * w + x0] += g * ly * (1 - lx)
                    out.pointer[(p * h + y1) * w + x1] += g * ly * lx
                }
            }
        }
        return out
    }

    /// nn.PixelShuffle: `out[n, c, h*r+i, w*r+j] = x[n, c*r*r + i*r + j, h, w]`.
    public static func pixelShuffle(_ x: Tensor, factor r: Int) throws -> Tensor {
        let s = try pixelShuffleShape(x.shape, factor: r, unshuffle: false)
        let out = Tensor(zeros: s)
        for i in 0..<out.count {
            let idx = multiIndex(i, s)
            let src = [idx[0], idx[1] * r * r + (idx[2] % r) * r + idx[3] % r, idx[2] / r, idx[3] / r]
            out.pointer[i] = x.pointer[linearIndex(src, x.shape)]
        }
        return out
    }

    /// nn.PixelUnshuffle: `out[n, c*r*r + i*r + j, h, w] = x[n, c, h*r+i, w*r+j]`.
    public static func pixelUnshuffle(_ x: Tensor, factor r: Int) throws -> Tensor {
        let s = try pixelShuffleShape(x.shape, factor: r, unshuffle: true)
        let out = Tensor(zeros: s)
        for i in 0..<out.count {
            let idx = multiIndex(i, s)
            let c = idx[1] / (r * r), ij = idx[1] % (r * r)
            let src = [idx[0], c, idx[2] * r + ij / r, idx[3] * r + ij % r]
            out.pointer[i] = x.pointer[linearIndex(src, x.shape)]
        }
        return out
    }
}

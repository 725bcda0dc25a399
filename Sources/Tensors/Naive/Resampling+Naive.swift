// Naive twins of the resampling kernels: one output element at a time, straight from the
// PyTorch definitions (nearest floor(dst*scale), bilinear and bicubic with per-element source
// coordinates and weights, PixelShuffle index formula) and, for nearest at ONNX's other sampling
// positions, onnxruntime's formulas in Float; backward kernels as the adjoint loops. Pooling's twins are
// in `Pooling+Naive.swift`.
// Shape validation is shared with the fast kernels. No threads, no row tricks.

extension Naive {
    /// Nearest resize `[N, C, H, W]` → `[N, C, OH, OW]`.
    public static func upsampleNearest(_ x: Tensor, outputSize: (Int, Int), scaleFactor: (Double, Double)? = nil,
                                       sampling: NearestSampling = .pytorch) throws -> Tensor {
        try resizeCheck(x.shape, outputSize, op: "upsampleNearest")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]), (oh, ow) = outputSize
        let out = Tensor(zeros: [n, c, oh, ow])
        for p in 0..<(n * c) {
            for y in 0..<oh {
                let sy = nearestSource(y, input: h, output: oh, scaleFactor: scaleFactor?.0, sampling: sampling)
                for j in 0..<ow {
                    let sx = nearestSource(j, input: w, output: ow, scaleFactor: scaleFactor?.1, sampling: sampling)
                    out.pointer[(p * oh + y) * ow + j] = x.pointer[(p * h + sy) * w + sx]
                }
            }
        }
        return out
    }

    /// The nearest source index of one output position: ATen's for PyTorch's sampling, else
    /// onnxruntime's (Float coordinate with the scale out/in or the given factor, rounded, clamped).
    static func nearestSource(_ o: Int, input: Int, output: Int, scaleFactor: Double?, sampling: NearestSampling = .pytorch) -> Int {
        if sampling != .pytorch {
            let scale = scaleFactor.map { Float($0) } ?? Float(output) / Float(input)
            var x: Float
            switch sampling.coordinates {
            case .asymmetric: x = Float(o) / scale
            case .halfPixel: x = (Float(o) + 0.5) / scale - 0.5
            case .pytorchHalfPixel: x = output == 1 ? 0 : (Float(o) + 0.5) / scale - 0.5
            case .alignCorners: x = output == 1 ? 0 : Float(o) * Float(input - 1) / Float(output - 1)
            }
            let below = x.rounded(.down), fraction = x - below
            switch sampling.rounding {
            case .floor: x = below
            case .ceil: x = fraction > 0 ? below + 1 : below
            case .roundPreferFloor: x = fraction > 0.5 ? below + 1 : below
            case .roundPreferCeil: x = fraction >= 0.5 ? below + 1 : below
            }
            return min(max(Int(x), 0), input - 1)
        }
        if output == input { return o }
        if output == 2 * input { return o / 2 }
        var scale = Float(input) / Float(output)
        if let sf = scaleFactor, sf > 0 { scale = Float(1.0 / sf) }
        return min(Int((Float(o) * scale).rounded(.down)), input - 1)
    }

    /// Adjoint of ``upsampleNearest(_:outputSize:scaleFactor:sampling:)``.
    public static func upsampleNearestBackward(_ grad: Tensor, inputShape: Shape, scaleFactor: (Double, Double)? = nil,
                                               sampling: NearestSampling = .pytorch) -> Tensor {
        let (h, w, oh, ow) = (inputShape[2], inputShape[3], grad.shape[2], grad.shape[3])
        let out = Tensor(zeros: inputShape)
        for p in 0..<(inputShape[0] * inputShape[1]) {
            for y in 0..<oh {
                for j in 0..<ow {
                    let sy = nearestSource(y, input: h, output: oh, scaleFactor: scaleFactor?.0, sampling: sampling)
                    let sx = nearestSource(j, input: w, output: ow, scaleFactor: scaleFactor?.1, sampling: sampling)
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

    /// The source coordinate of one bicubic output position (ATen: no clamping at 0) and its
    /// four taps' weights, from Keys' kernel with A = −0.75 evaluated at each tap's distance.
    static func cubicSource(_ o: Int, input: Int, output: Int, alignCorners: Bool, scaleFactor: Double?) -> (Int, [Float]) {
        var scale = Float(input) / Float(output)
        if alignCorners { scale = output > 1 ? Float(input - 1) / Float(output - 1) : 0 } else if let sf = scaleFactor, sf > 0 { scale = Float(1.0 / sf) }
        let real = alignCorners ? scale * Float(o) : scale * (Float(o) + 0.5) - 0.5
        let i = real.rounded(.down), t = real - i
        let a: Float = -0.75
        func kernel(_ d: Float) -> Float {  // Keys (1981), |d| ≤ 1 and 1 < |d| < 2
            d <= 1 ? ((a + 2) * d - (a + 3)) * d * d + 1 : ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
        }
        return (Int(i), [kernel(t + 1), kernel(t), kernel(1 - t), kernel(2 - t)])
    }

    /// Bicubic resize `[N, C, H, W]` → `[N, C, OH, OW]` (PyTorch `bicubic`): rows along W, then along H.
    public static func upsampleBicubic(_ x: Tensor, outputSize: (Int, Int), alignCorners: Bool = false,
                                       scaleFactor: (Double, Double)? = nil) throws -> Tensor {
        try resizeCheck(x.shape, outputSize, op: "upsampleBicubic")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]), (oh, ow) = outputSize
        let out = Tensor(zeros: [n, c, oh, ow])
        for p in 0..<(n * c) {
            for y in 0..<oh {
                let (iy, wy) = cubicSource(y, input: h, output: oh, alignCorners: alignCorners, scaleFactor: scaleFactor?.0)
                for j in 0..<ow {
                    let (ix, wx) = cubicSource(j, input: w, output: ow, alignCorners: alignCorners, scaleFactor: scaleFactor?.1)
                    func at(_ yy: Int, _ xx: Int) -> Float { x.pointer[(p * h + min(max(yy, 0), h - 1)) * w + min(max(xx, 0), w - 1)] }
                    var rows = [Float](repeating: 0, count: 4)
                    for k in 0..<4 {
                        rows[k] = at(iy - 1 + k, ix - 1) * wx[0] + at(iy - 1 + k, ix) * wx[1] + at(iy - 1 + k, ix + 1) * wx[2] + at(iy - 1 + k, ix + 2) * wx[3]
                    }
                    out.pointer[(p * oh + y) * ow + j] = rows[0] * wy[0] + rows[1] * wy[1] + rows[2] * wy[2] + rows[3] * wy[3]
                }
            }
        }
        return out
    }

    /// Adjoint of ``upsampleBicubic(_:outputSize:alignCorners:scaleFactor:)``.
    public static func upsampleBicubicBackward(_ grad: Tensor, inputShape: Shape, alignCorners: Bool = false,
                                               scaleFactor: (Double, Double)? = nil) -> Tensor {
        let (h, w, oh, ow) = (inputShape[2], inputShape[3], grad.shape[2], grad.shape[3])
        let out = Tensor(zeros: inputShape)
        for p in 0..<(inputShape[0] * inputShape[1]) {
            for y in 0..<oh {
                let (iy, wy) = cubicSource(y, input: h, output: oh, alignCorners: alignCorners, scaleFactor: scaleFactor?.0)
                for j in 0..<ow {
                    let (ix, wx) = cubicSource(j, input: w, output: ow, alignCorners: alignCorners, scaleFactor: scaleFactor?.1)
                    let g = grad.pointer[(p * oh + y) * ow + j]
                    for k in 0..<4 {
                        for m in 0..<4 {
                            let yy = min(max(iy - 1 + k, 0), h - 1), xx = min(max(ix - 1 + m, 0), w - 1)
                            out.pointer[(p * h + yy) * w + xx] += g * wy[k] * wx[m]
                        }
                    }
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

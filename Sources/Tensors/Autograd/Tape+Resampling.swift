// Tape+Resampling: nearest/bilinear/bicubic resizing, average and max pooling and pixel (un)shuffle on
// the tape, and their backward rules (scatter kernels in `Kernels/Resampling.swift` and
// `Kernels/Pooling.swift`; max pooling's gradient goes to each window's first maximum, found again
// in the saved input; pixel shuffle and unshuffle are each other's gradient). All inputs are NCHW.

/// Differentiable resampling ops with their parameters.
enum ResamplingOp {
    case upsampleNearest(scaleFactor: (Double, Double)?, sampling: NearestSampling)
    case upsampleBilinear(alignCorners: Bool, scaleFactor: (Double, Double)?)
    case upsampleBicubic(alignCorners: Bool, scaleFactor: (Double, Double)?)
    case avgPool2d(Pool2dWindow, countIncludePad: Bool)
    case maxPool2d(Pool2dWindow)
    case pixelShuffle(Int)
    case pixelUnshuffle(Int)
}

extension ResamplingOp {
    /// Gradients with respect to each input (see BackwardContext).
    func backward(_ c: BackwardContext) throws -> [Tensor?] {
        let cpu = c.cpu, g = c.grad, shape = c.inputs[0].shape
        switch self {
        case let .upsampleNearest(sf, sampling):
            return [try cpu.upsampleNearestBackward(g, inputShape: shape, scaleFactor: sf, sampling: sampling)]
        case let .upsampleBilinear(alignCorners, sf):
            return [try cpu.upsampleBilinearBackward(g, inputShape: shape, alignCorners: alignCorners, scaleFactor: sf)]
        case let .upsampleBicubic(alignCorners, sf):
            return [try cpu.upsampleBicubicBackward(g, inputShape: shape, alignCorners: alignCorners, scaleFactor: sf)]
        case let .avgPool2d(window, countIncludePad):
            return [try cpu.avgPool2dBackward(g, inputShape: shape, window, countIncludePad: countIncludePad)]
        case .maxPool2d(let window):
            return [try cpu.maxPool2dBackward(g, input: c.inputs[0], window)]
        case .pixelShuffle(let r):
            return [try cpu.pixelUnshuffle(g, factor: r)]
        case .pixelUnshuffle(let r):
            return [try cpu.pixelShuffle(g, factor: r)]
        }
    }
}

extension Tape {
    /// Nearest resize of `[N, C, H, W]` to `outputSize` (see ``CPU/upsampleNearest(_:outputSize:scaleFactor:sampling:into:)``).
    public func upsampleNearest(_ x: Var, outputSize: (Int, Int), scaleFactor: (Double, Double)? = nil,
                                sampling: NearestSampling = .pytorch) throws -> Var {
        record(try cpu.upsampleNearest(self[x], outputSize: outputSize, scaleFactor: scaleFactor, sampling: sampling),
               .resampling(.upsampleNearest(scaleFactor: scaleFactor, sampling: sampling)), [x])
    }

    /// Nearest upsampling by integer factors (nn.Upsample(scale_factor=, mode="nearest")).
    public func upsampleNearest(_ x: Var, scale: (Int, Int)) throws -> Var {
        let sf = (Double(scale.0), Double(scale.1))
        return record(try cpu.upsampleNearest(self[x], scale: scale), .resampling(.upsampleNearest(scaleFactor: sf, sampling: .pytorch)), [x])
    }

    /// Bilinear resize of `[N, C, H, W]` (see ``CPU/upsampleBilinear(_:outputSize:alignCorners:scaleFactor:into:)``).
    public func upsampleBilinear(_ x: Var, outputSize: (Int, Int), alignCorners: Bool = false,
                                 scaleFactor: (Double, Double)? = nil) throws -> Var {
        record(try cpu.upsampleBilinear(self[x], outputSize: outputSize, alignCorners: alignCorners, scaleFactor: scaleFactor),
               .resampling(.upsampleBilinear(alignCorners: alignCorners, scaleFactor: scaleFactor)), [x])
    }

    /// Bicubic resize of `[N, C, H, W]` (see ``CPU/upsampleBicubic(_:outputSize:alignCorners:scaleFactor:into:)``).
    public func upsampleBicubic(_ x: Var, outputSize: (Int, Int), alignCorners: Bool = false,
                                scaleFactor: (Double, Double)? = nil) throws -> Var {
        record(try cpu.upsampleBicubic(self[x], outputSize: outputSize, alignCorners: alignCorners, scaleFactor: scaleFactor),
               .resampling(.upsampleBicubic(alignCorners: alignCorners, scaleFactor: scaleFactor)), [x])
    }

    /// 2D average pooling of `[N, C, H, W]` (see ``CPU/avgPool2d(_:_:countIncludePad:into:)``).
    public func avgPool2d(_ x: Var, _ window: Pool2dWindow, countIncludePad: Bool = true) throws -> Var {
        record(try cpu.avgPool2d(self[x], window, countIncludePad: countIncludePad),
               .resampling(.avgPool2d(window, countIncludePad: countIncludePad)), [x])
    }

    /// 2D max pooling of `[N, C, H, W]` (see ``CPU/maxPool2d(_:_:into:)``); the gradient goes to
    /// each window's first maximum.
    public func maxPool2d(_ x: Var, _ window: Pool2dWindow) throws -> Var {
        record(try cpu.maxPool2d(self[x], window), .resampling(.maxPool2d(window)), [x])
    }

    /// `[N, C*r*r, H, W]` → `[N, C, H*r, W*r]` (nn.PixelShuffle).
    public func pixelShuffle(_ x: Var, factor r: Int) throws -> Var {
        record(try cpu.pixelShuffle(self[x], factor: r), .resampling(.pixelShuffle(r)), [x])
    }

    /// `[N, C, H*r, W*r]` → `[N, C*r*r, H, W]` (nn.PixelUnshuffle).
    public func pixelUnshuffle(_ x: Var, factor r: Int) throws -> Var {
        record(try cpu.pixelUnshuffle(self[x], factor: r), .resampling(.pixelUnshuffle(r)), [x])
    }
}

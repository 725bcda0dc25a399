// Tape+Convolution: conv2d and conv_transpose2d on the tape, and their backward rules. Each is the
// other's data gradient; both weight gradients are the same lowered product (`Kernels/Convolution.swift`).
// The forward and stride-1 data gradients take Winograd where the compiled plan would.

/// Differentiable convolution ops with their parameters.
enum ConvolutionOp {
    case conv2d(Conv2dOptions, hasBias: Bool)
    case convTranspose2d(Conv2dOptions, outputPadding: (h: Int, w: Int), hasBias: Bool)
}

extension ConvolutionOp {
    /// Gradients with respect to each input (see BackwardContext): x, weight, and bias when present.
    func backward(_ c: BackwardContext) throws -> [Tensor?] {
        let x = c.inputs[0], w = c.inputs[1]
        let needs = (input: c.needsGrad[0], weight: c.needsGrad[1], bias: c.needsGrad.count > 2 && c.needsGrad[2])
        let g: LayerGradients, hasBias: Bool
        switch self {
        case let .conv2d(options, bias):
            hasBias = bias
            g = try c.cpu.conv2dBackward(x, weight: w, grad: c.grad, hasBias: bias, options, needs: needs)
        case let .convTranspose2d(options, outputPadding, bias):
            hasBias = bias
            g = try c.cpu.convTranspose2dBackward(x, weight: w, grad: c.grad, hasBias: bias, options,
                                                  outputPadding: outputPadding, needs: needs)
        }
        return hasBias ? [g.input, g.weight, g.bias] : [g.input, g.weight]
    }
}

extension Tape {
    /// 2D convolution of `[N, C, H, W]` by `weight` `[M, C/groups, KH, KW]` (see ``CPU/conv2d(_:weight:bias:_:residual:activation:into:)``).
    public func conv2d(_ x: Var, weight: Var, bias: Var? = nil, _ options: Conv2dOptions = Conv2dOptions()) throws -> Var {
        let value = try cpu.conv2d(self[x], weight: self[weight], bias: bias.map { self[$0] }, options, winograd: true)
        return record(value, .convolution(.conv2d(options, hasBias: bias != nil)), bias.map { [x, weight, $0] } ?? [x, weight])
    }

    /// Transposed 2D convolution of `[N, Cin, H, W]` by `weight` `[Cin, Cout/groups, KH, KW]`
    /// (see ``CPU/convTranspose2d(_:weight:bias:_:outputPadding:into:)``).
    public func convTranspose2d(_ x: Var, weight: Var, bias: Var? = nil, _ options: Conv2dOptions = Conv2dOptions(),
                                outputPadding: (h: Int, w: Int) = (0, 0)) throws -> Var {
        let value = try cpu.convTranspose2d(self[x], weight: self[weight], bias: bias.map { self[$0] }, options,
                                            outputPadding: outputPadding)
        return record(value, .convolution(.convTranspose2d(options, outputPadding: outputPadding, hasBias: bias != nil)),
                      bias.map { [x, weight, $0] } ?? [x, weight])
    }
}

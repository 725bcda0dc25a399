// Tape+Normalization: GroupNorm (± fused SiLU), InstanceNorm, LayerNorm, BatchNorm and RMS norms
// on the tape, and their backward rules. Inputs are [x, weight?, bias?] (only the present ones;
// the payload says which). Forward statistics are saved in the payload so backward does not
// recompute them. Running statistics of BatchNorm are plain tensors updated in place, not Vars.

/// Differentiable normalization ops with their parameters and saved tensors.
enum NormalizationOp {
    case groupNorm(groups: Int, silu: Bool, hasWeight: Bool, hasBias: Bool, stats: RowStats)
    case layerNorm(normalizedRank: Int, hasWeight: Bool, hasBias: Bool, stats: RowStats)
    case batchNorm(training: Bool, hasWeight: Bool, hasBias: Bool, mean: Tensor, invStd: Tensor)
    case rmsNorm(axis: Int, eps: Float, kind: RMSNormKind, hasWeight: Bool)
}

extension NormalizationOp {
    /// Gradients with respect to each input (see BackwardContext).
    func backward(_ c: BackwardContext) throws -> [Tensor?] {
        let cpu = c.cpu, x = c.inputs[0]
        func affine(_ hasWeight: Bool, _ hasBias: Bool) -> (Tensor?, Tensor?, Int?, Int?) {
            let wi = hasWeight ? 1 : nil, bi = hasBias ? (hasWeight ? 2 : 1) : nil
            return (wi.map { c.inputs[$0] }, bi.map { c.inputs[$0] }, wi, bi)
        }
        func pack(_ g: LayerGradients, _ wi: Int?, _ bi: Int?) -> [Tensor?] {
            var out: [Tensor?] = [c.needsGrad[0] ? g.input : nil]
            if let wi { out.append(c.needsGrad[wi] ? g.weight : nil) }
            if let bi { out.append(c.needsGrad[bi] ? g.bias : nil) }
            return out
        }
        switch self {
        case let .groupNorm(groups, silu, hasWeight, hasBias, stats):
            let (w, b, wi, bi) = affine(hasWeight, hasBias)
            let layout = try cpu.groupLayout(x, groups: groups, weight: w, bias: b, op: "groupNorm")
            let g = try cpu.groupedBackward(x, grad: c.grad, layout, stats: stats, weight: w, bias: b, silu: silu,
                                            needs: (c.needsGrad[0], wi.map { c.needsGrad[$0] } ?? false,
                                                    bi.map { c.needsGrad[$0] } ?? false))
            return pack(g, wi, bi)
        case let .layerNorm(k, hasWeight, hasBias, stats):
            let (w, b, wi, bi) = affine(hasWeight, hasBias)
            let layout = try cpu.layerLayout(x, normalizedRank: k, weight: w, bias: b, op: "layerNorm")
            let g = try cpu.groupedBackward(x, grad: c.grad, layout, stats: stats, weight: w, bias: b, silu: false,
                                            needs: (c.needsGrad[0], wi.map { c.needsGrad[$0] } ?? false,
                                                    bi.map { c.needsGrad[$0] } ?? false))
            return pack(g, wi, bi)
        case let .batchNorm(training, hasWeight, hasBias, mean, invStd):
            let (w, _, wi, bi) = affine(hasWeight, hasBias)
            let g = try cpu.batchNormBackward(x, grad: c.grad, weight: w, savedMean: mean, savedInvStd: invStd,
                                              training: training)
            return pack(g, wi, bi)
        case let .rmsNorm(axis, eps, kind, hasWeight):
            let (w, _, wi, _) = affine(hasWeight, false)
            let g = try cpu.rmsNormBackward(x, grad: c.grad, axis: axis, weight: w, eps: eps, kind: kind)
            return pack(g, wi, nil)
        }
    }
}

extension Tape {
    private func affineInputs(_ x: Var, _ weight: Var?, _ bias: Var?) -> [Var] {
        [x] + (weight.map { [$0] } ?? []) + (bias.map { [$0] } ?? [])
    }

    /// `nn.GroupNorm` (see ``CPU/groupNorm(_:groups:weight:bias:eps:into:)``); weight, bias `[C]`.
    public func groupNorm(_ x: Var, groups: Int, weight: Var? = nil, bias: Var? = nil, eps: Float = 1e-5) throws -> Var {
        try groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps, silu: false, op: "groupNorm")
    }

    /// GroupNorm then SiLU as one node (the fused kernel and its backward).
    public func groupNormSiLU(_ x: Var, groups: Int, weight: Var? = nil, bias: Var? = nil, eps: Float = 1e-5) throws -> Var {
        try groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps, silu: true, op: "groupNormSiLU")
    }

    /// ONNX InstanceNormalization (GroupNorm with one channel per group); weight, bias `[C]`.
    public func instanceNorm(_ x: Var, weight: Var? = nil, bias: Var? = nil, eps: Float = 1e-5) throws -> Var {
        guard self[x].rank >= 2 else {
            throw TensorError.invalidArgument(op: "instanceNorm", "x must be [N, C, *spatial], got \(self[x].shape)")
        }
        return try groupNorm(x, groups: self[x].shape[1], weight: weight, bias: bias, eps: eps, silu: false, op: "instanceNorm")
    }

    private func groupNorm(_ x: Var, groups: Int, weight: Var?, bias: Var?, eps: Float, silu: Bool, op: String) throws -> Var {
        let w = weight.map { self[$0] }, b = bias.map { self[$0] }
        let layout = try cpu.groupLayout(self[x], groups: groups, weight: w, bias: b, op: op)
        let (y, stats) = try cpu.groupedForward(self[x], layout, weight: w, bias: b, eps: eps, silu: silu)
        return record(y, .normalization(.groupNorm(groups: groups, silu: silu, hasWeight: weight != nil,
                                                   hasBias: bias != nil, stats: stats)), affineInputs(x, weight, bias))
    }

    /// `nn.LayerNorm` over the last `normalizedRank` axes; weight, bias of those axes' shape.
    public func layerNorm(_ x: Var, normalizedRank: Int = 1, weight: Var? = nil, bias: Var? = nil, eps: Float = 1e-5) throws -> Var {
        let w = weight.map { self[$0] }, b = bias.map { self[$0] }
        let layout = try cpu.layerLayout(self[x], normalizedRank: normalizedRank, weight: w, bias: b, op: "layerNorm")
        let (y, stats) = try cpu.groupedForward(self[x], layout, weight: w, bias: b, eps: eps, silu: false)
        return record(y, .normalization(.layerNorm(normalizedRank: normalizedRank, hasWeight: weight != nil,
                                                   hasBias: bias != nil, stats: stats)), affineInputs(x, weight, bias))
    }

    /// `nn.BatchNorm` (see ``CPU/batchNorm``); in training mode `runningMean`/`runningVar` `[C]`
    /// are updated in place (they are state, not differentiable inputs).
    public func batchNorm(_ x: Var, weight: Var? = nil, bias: Var? = nil, runningMean: Tensor, runningVar: Tensor,
                          training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) throws -> Var {
        let (y, mean, invStd) = try cpu.batchNormForward(self[x], weight: weight.map { self[$0] }, bias: bias.map { self[$0] },
                                                         runningMean: runningMean, runningVar: runningVar,
                                                         training: training, momentum: momentum, eps: eps)
        return record(y, .normalization(.batchNorm(training: training, hasWeight: weight != nil, hasBias: bias != nil,
                                                   mean: mean, invStd: invStd)), affineInputs(x, weight, bias))
    }

    /// RMS normalization along `axis` (see ``CPU/rmsNorm(_:axis:weight:eps:kind:into:)``); weight `[x.shape[axis]]`.
    public func rmsNorm(_ x: Var, axis: Int, weight: Var? = nil, eps: Float = 1e-6, kind: RMSNormKind = .meanSquare) throws -> Var {
        let y = try cpu.rmsNorm(self[x], axis: axis, weight: weight.map { self[$0] }, eps: eps, kind: kind)
        return record(y, .normalization(.rmsNorm(axis: axis, eps: eps, kind: kind, hasWeight: weight != nil)),
                      affineInputs(x, weight, nil))
    }
}

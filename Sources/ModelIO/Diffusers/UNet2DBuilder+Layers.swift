// UNet2DBuilder+Layers: the layers diffusers' blocks are made of — ResnetBlock2D (with its
// up/down variants), ResnetBlockCondNorm2D + AdaGroupNorm (K blocks), Attention, the resamplers
// (nearest, FIR (1,3,3,1), K, 2x2 average pooling) — and the graph plumbing (conv, linear, group
// norm, activation, constants). Fixed filters are depthwise convolutions with constant weights
// (exact: the same sums as diffusers' upfirdn2d / avg_pool2d), each built in one helper
// (`averagePool2x2`, `firFilter`) so a dedicated pooling op can replace it in one place.
// Shapes: B batch, C channels, E time_embed_dim.

import Foundation
import Graphs
import Tensors

extension UNet2DBuilder {
    /// How a resampler changes a feature map's resolution.
    enum Resample {
        /// Upsample2D(use_conv=False): nearest ×2.
        case nearestUp
        /// upsample_2d / FirUpsample2D: zero-stuffing ×2, then the FIR (1,3,3,1) ⊗ (1,3,3,1) · 4/64.
        case firUp
        /// KUpsample2D: reflect pad 1, transposed conv (stride 2, padding 3) with (1,3,3,1) ⊗ (1,3,3,1) / 16.
        case kUp
        /// Downsample2D(use_conv=False): AvgPool2d(2, stride 2).
        case averagePoolDown
        /// downsample_2d / FirDownsample2D: the FIR (1,3,3,1) ⊗ (1,3,3,1) / 64, zero pad 1, stride 2.
        case firDown
        /// KDownsample2D: reflect pad 1, conv (stride 2) with (1,3,3,1) ⊗ (1,3,3,1) / 64.
        case kDown
    }

    /// A ResnetBlock2D's construction arguments.
    struct ResnetOptions {
        var groups: Int
        /// norm2's groups; nil: `groups`.
        var groupsOut: Int?
        /// output_scale_factor: the sum is divided by it.
        var scale: Double = 1
        /// up=True / down=True: input and hidden state resampled after norm1 → act.
        var resample: Resample?
        /// use_in_shortcut; nil: a 1x1 conv shortcut when channels change.
        var shortcut: Bool?

        init(groups: Int, groupsOut: Int? = nil, scale: Double = 1, resample: Resample? = nil, shortcut: Bool? = nil) {
            (self.groups, self.groupsOut, self.scale, self.resample, self.shortcut) = (groups, groupsOut, scale, resample, shortcut)
        }
    }

    // MARK: blocks of layers

    /// ResnetBlock2D: norm1 → act → (resample) → conv1 → (+ time, or scale/shift after norm2) → norm2 →
    /// act → conv2, plus the (resampled) input — through a 1x1 conv when channels change — ÷ scale.
    mutating func resnet(_ name: String, _ x: Feature, _ emb: ValueID, to cout: Int, _ o: ResnetOptions) throws -> Feature {
        let cin = x.channels
        var input = x
        var h = Feature(id: activation(try groupNorm(name + ".norm1", x.id, cin, groups: o.groups)), channels: cin, level: x.level)
        if let r = o.resample { (input, h) = (resampled(x, r), resampled(h, r)) }
        var y = try conv(name + ".conv1", h.id, cin, cout, padding: 1)                     // [B, cout, H, W]
        let scaleShift = arch.conditioning == .scaleShift, width = scaleShift ? 2 * cout : cout
        let projected = try linear(name + ".time_emb_proj", activation(emb), arch.timeEmbedDim, width)
        let temb = node(.reshape(allowZero: false), [projected, ints([-1, Int64(width), 1, 1])])  // [B, width, 1, 1]
        if !scaleShift { y = node(.binary(.add), [y, temb]) }
        y = try groupNorm(name + ".norm2", y, cout, groups: o.groupsOut ?? o.groups)
        if scaleShift {
            let (scale, shift) = split(temb, cout, name)
            y = node(.binary(.add), [node(.binary(.mul), [y, node(.binary(.add), [scale, scalar(1)])]), shift])
        }
        y = try conv(name + ".conv2", activation(y), cout, cout, padding: 1)
        let shortcut = o.shortcut ?? (cin != cout) ? try conv(name + ".conv_shortcut", input.id, cin, cout, kernel: 1, padding: 0) : input.id
        var out = node(.binary(.add), [shortcut, y])
        if o.scale != 1 { out = node(.binary(.div), [out, scalar(Float(o.scale))]) }
        return Feature(id: out, channels: cout, level: input.level)
    }

    /// ResnetBlockCondNorm2D with AdaGroupNorm (K blocks): norm1(x, emb) → act → conv1 → norm2(·, emb) →
    /// act → conv2, plus the input (a bias-free 1x1 conv when channels change).
    mutating func kResnet(_ name: String, _ x: Feature, _ emb: ValueID, to cout: Int, groups: Int, groupsOut: Int) throws -> Feature {
        let cin = x.channels
        var y = activation(try adaGroupNorm(name + ".norm1", x.id, emb, cin, groups: groups))
        y = try conv(name + ".conv1", y, cin, cout, padding: 1)
        y = activation(try adaGroupNorm(name + ".norm2", y, emb, cout, groups: groupsOut))
        y = try conv(name + ".conv2", y, cout, cout, padding: 1)
        let shortcut = cin != cout ? try conv(name + ".conv_shortcut", x.id, cin, cout, kernel: 1, options: Conv2dOptions(), bias: false) : x.id
        return Feature(id: node(.binary(.add), [shortcut, y]), channels: cout, level: x.level)
    }

    /// AdaGroupNorm: group norm without affine, then · (1 + scale) + shift from linear(emb) (no activation).
    mutating func adaGroupNorm(_ name: String, _ x: ValueID, _ emb: ValueID, _ channels: Int, groups: Int) throws -> ValueID {
        let projected = try linear(name + ".linear", emb, arch.timeEmbedDim, 2 * channels)  // [B, 2C]
        let (scale, shift) = split(node(.reshape(allowZero: false), [projected, ints([-1, Int64(2 * channels), 1, 1])]), channels, name)
        let normed = try plainGroupNorm(name, x, channels, groups: groups)
        return node(.binary(.add), [node(.binary(.mul), [normed, node(.binary(.add), [scale, scalar(1)])]), shift])
    }

    /// diffusers' Attention on `[B, C, H, W]`: group norm (when `groups`), q/k/v linears over the C
    /// channels of each position, multi-head attention, output linear, + residual, divided by `rescale`.
    mutating func attention(_ name: String, _ x: Feature, groups: Int?, rescale: Double = 1) throws -> Feature {
        let channels = x.channels, headDim = config.attentionHeadDim ?? channels
        guard channels % headDim == 0 else {
            throw Refusal(description: "\(name): \(channels) channels do not split into heads of attention_head_dim \(headDim)")
        }
        let heads = channels / headDim
        let normed = try groups.map { try groupNorm(name + ".group_norm", x.id, channels, groups: $0) } ?? x.id
        let flat = node(.transpose(perm: [0, 2, 1]), [node(.reshape(allowZero: false), [normed, ints([0, Int64(channels), -1])])])  // [B, HW, C]
        let rows = node(.reshape(allowZero: false), [flat, ints([-1, Int64(channels)])])  // [B·HW, C]
        func heads4(_ v: ValueID) -> ValueID {                                             // [B, heads, HW, d]
            node(.transpose(perm: [0, 2, 1, 3]), [node(.reshape(allowZero: false), [v, node(.concat(axis: 0), [shapeOf(flat, 0, 2), ints([Int64(heads), Int64(headDim)])])])])
        }
        let q = heads4(try linear(name + ".to_q", rows, channels, channels))
        let k = heads4(try linear(name + ".to_k", rows, channels, channels)), v = heads4(try linear(name + ".to_v", rows, channels, channels))
        let o = node(.attention(scale: 1 / Float(headDim).squareRoot(), keyTransposed: false), [q, k, v])
        let merged = node(.reshape(allowZero: false), [node(.transpose(perm: [0, 2, 1, 3]), [o]), ints([-1, Int64(channels)])])  // [B·HW, C]
        let projected = node(.reshape(allowZero: false), [try linear(name + ".to_out.0", merged, channels, channels), shapeOf(flat, 0, 3)])  // [B, HW, C]
        let back = node(.reshape(allowZero: false), [node(.transpose(perm: [0, 2, 1]), [projected]), shapeOf(x.id, 0, 4)])          // [B, C, H, W]
        var out = node(.binary(.add), [back, x.id])
        if rescale != 1 { out = node(.binary(.div), [out, scalar(Float(rescale))]) }
        return Feature(id: out, channels: channels, level: x.level)
    }

    // MARK: resamplers

    /// `x` resampled: the level goes down by one for upsamplers, up by one for downsamplers.
    mutating func resampled(_ x: Feature, _ r: Resample) -> Feature {
        let c = x.channels
        let fir = outer([1, 3, 3, 1])                                                      // 16 taps, sum 64
        switch r {
        case .nearestUp:
            return Feature(id: node(.resize(.nearest), [x.id, nil, floats([1, 1, 2, 2])]), channels: c, level: x.level - 1)
        case .firUp:
            return Feature(id: firFilter(x.id, c, fir.map { $0 * 4 / 64 }, "fir_up", stride: 2, padding: 1, transposed: true), channels: c, level: x.level - 1)
        case .kUp:
            let padded = node(.pad(.reflect), [x.id, ints([0, 0, 1, 1, 0, 0, 1, 1])])
            return Feature(id: firFilter(padded, c, fir.map { $0 / 16 }, "k_up", stride: 2, padding: 3, transposed: true), channels: c, level: x.level - 1)
        case .averagePoolDown:
            return Feature(id: averagePool2x2(x.id, c), channels: c, level: x.level + 1)
        case .firDown:
            return Feature(id: firFilter(x.id, c, fir.map { $0 / 64 }, "fir_down", stride: 2, padding: 1, transposed: false), channels: c, level: x.level + 1)
        case .kDown:
            let padded = node(.pad(.reflect), [x.id, ints([0, 0, 1, 1, 0, 0, 1, 1])])
            return Feature(id: firFilter(padded, c, fir.map { $0 / 64 }, "k_down", stride: 2, padding: 0, transposed: false), channels: c, level: x.level + 1)
        }
    }

    /// AvgPool2d(2, stride 2) on `[B, C, H, W]` → `[B, C, H/2, W/2]`: the IR's pooling op, as ONNX
    /// exports it (no weights, so nothing here is mistaken for a trainable parameter).
    mutating func averagePool2x2(_ x: ValueID, _ channels: Int) -> ValueID {
        node(.averagePool(Pool2dWindow(kernel: (2, 2)), countIncludePad: true), [x])
    }

    /// A fixed 4x4 filter applied to each channel of `[B, C, H, W]`: a depthwise conv (or, `transposed`,
    /// a depthwise transposed conv: zero-stuffing then filtering, as upfirdn2d's up=2) with `taps`
    /// (row-major; symmetric, so diffusers' flip is a no-op).
    mutating func firFilter(_ x: ValueID, _ channels: Int, _ taps: [Float], _ name: String, stride: Int, padding: Int, transposed: Bool) -> ValueID {
        let w = cachedConstant("\(name).c\(channels)") { Tensor(shape: [channels, 1, 4, 4], scalars: (0..<channels).flatMap { _ in taps }) }
        let o = Conv2dOptions(stride: stride, padding: padding, groups: channels)
        return node(transposed ? .convTranspose(o, outputPaddingH: 0, outputPaddingW: 0) : .conv(o, activation: nil), [x, w, nil])
    }

    /// The 4x4 outer product of a 4-tap kernel with itself, row-major.
    func outer(_ k: [Float]) -> [Float] { k.flatMap { a in k.map { a * $0 } } }

    /// Downsample2D(use_conv=True, padding=downsample_padding): 3x3 stride-2 conv; padding 0 pads
    /// right/bottom by one first, as diffusers does.
    mutating func downsampleConv(_ name: String, _ x: Feature) throws -> Feature {
        let p = config.downsamplePadding
        guard p == 0 || p == 1 else {
            throw Refusal(description: "\(name): downsample_padding \(p) does not halve the resolution, so the skip connections would not meet in diffusers (accepted: 0, 1)")
        }
        let o = p == 0 ? Conv2dOptions(stride: (2, 2), padding: (0, 0, 1, 1)) : Conv2dOptions(stride: 2, padding: 1)
        return Feature(id: try conv(name, x.id, x.channels, x.channels, kernel: 3, options: o), channels: x.channels, level: x.level + 1)
    }

    // MARK: layers

    /// nn.Conv2d(cin, cout, kernel) with bias: weight `[cout, cin, k, k]`.
    mutating func conv(_ name: String, _ x: ValueID, _ cin: Int, _ cout: Int, kernel: Int = 3, padding: Int) throws -> ValueID {
        try conv(name, x, cin, cout, kernel: kernel, options: Conv2dOptions(padding: padding))
    }

    mutating func conv(_ name: String, _ x: Feature, to cout: Int, kernel: Int, padding: Int) throws -> Feature {
        Feature(id: try conv(name, x.id, x.channels, cout, kernel: kernel, padding: padding), channels: cout, level: x.level)
    }

    mutating func conv(_ name: String, _ x: ValueID, _ cin: Int, _ cout: Int, kernel: Int, options: Conv2dOptions, bias: Bool = true) throws -> ValueID {
        let b = bias ? try parameter(name + ".bias", [cout]) : nil
        return node(.conv(options, activation: nil), [x, try parameter(name + ".weight", [cout, cin, kernel, kernel]), b], name: name)
    }

    /// nn.Linear(cin, cout) on `[rows, cin]`: gemm with the weight `[cout, cin]` transposed.
    mutating func linear(_ name: String, _ x: ValueID, _ cin: Int, _ cout: Int) throws -> ValueID {
        node(.gemm(transA: false, transB: true, alpha: 1, beta: 1), [x, try parameter(name + ".weight", [cout, cin]), try parameter(name + ".bias", [cout])], name: name)
    }

    /// nn.GroupNorm(groups, channels, eps=norm_eps) with affine weight and bias `[channels]`.
    mutating func groupNorm(_ name: String, _ x: ValueID, _ channels: Int, groups: Int) throws -> ValueID {
        try checkGroups(name, channels, groups)
        return node(.groupNorm(groups: groups, eps: Float(config.normEps), silu: false),
                    [x, try parameter(name + ".weight", [channels]), try parameter(name + ".bias", [channels])], name: name)
    }

    /// F.group_norm without affine parameters: `[B, C, H, W]` viewed as `[B, groups, C/groups·H·W]`,
    /// instance-normalized with constant unit scale and zero shift (buffers, not trained), viewed back.
    mutating func plainGroupNorm(_ name: String, _ x: ValueID, _ channels: Int, groups: Int) throws -> ValueID {
        try checkGroups(name, channels, groups)
        let ones = cachedConstant("group_norm.ones.\(groups)") { Tensor(shape: [groups], repeating: 1) }
        let zeros = cachedConstant("group_norm.zeros.\(groups)") { Tensor(zeros: [groups]) }
        let grouped = node(.reshape(allowZero: false), [x, ints([0, Int64(groups), -1])])  // [B, G, C/G·H·W]
        let normed = node(.instanceNorm(eps: Float(config.normEps)), [grouped, ones, zeros], name: name)
        return node(.reshape(allowZero: false), [normed, shapeOf(x, 0, 4)])                // [B, C, H, W]
    }

    func checkGroups(_ name: String, _ channels: Int, _ groups: Int) throws {
        guard groups >= 1, channels % groups == 0 else {
            throw Refusal(description: "\(name): \(channels) channels do not split into \(groups) groups (diffusers' GroupNorm refuses it)")
        }
    }

    /// The ResNet blocks' act_fn.
    mutating func activation(_ x: ValueID) -> ValueID {
        switch arch.activation {
        case .silu, .swish: return node(.unary(.silu), [x])
        case .relu: return node(.unary(.relu), [x])
        case .gelu: return node(.unary(.gelu), [x])
        case .mish:                                                                        // x · tanh(softplus(x))
            let softplus = node(.unary(.log), [node(.binary(.add), [node(.unary(.exp), [x]), scalar(1)])])
            return node(.binary(.mul), [x, node(.unary(.tanh), [softplus])])
        }
    }

    /// `[B, 2C, 1, 1]` → its two halves along channels (torch.chunk(2, dim=1)).
    mutating func split(_ x: ValueID, _ channels: Int, _ name: String) -> (ValueID, ValueID) {
        let first = graph.addValue(ValueInfo(name: name + ".scale")), second = graph.addValue(ValueInfo(name: name + ".shift"))
        graph.nodes.append(Node(.split(axis: 1, sizes: [channels, channels], outputs: 2), inputs: [x], outputs: [first, second], name: name + ".split"))
        return (first, second)
    }

    // MARK: plumbing

    mutating func node(_ op: Op, _ inputs: [ValueID?], name: String = "") -> ValueID {
        let out = graph.addValue(ValueInfo(name: name.isEmpty ? "\(op.name).\(graph.values.count)" : name + ".out"))
        graph.nodes.append(Node(op, inputs: inputs, outputs: [out], name: name.isEmpty ? "\(op.name).\(graph.nodes.count)" : name))
        return out
    }

    /// The parameter `name` of `shape`, read once; in a weightless check, a placeholder value.
    mutating func parameter(_ name: String, _ shape: Shape) throws -> ValueID {
        if let id = constantsByName[name] { return id }
        guard let weights else {
            let id = graph.addValue(ValueInfo(name: name))
            constantsByName[name] = id
            return id
        }
        let t = try weights(name, shape)
        guard t.shape == shape else {
            throw GraphError.invalid("parameter '\(name)' has shape \(t.shape); the config needs \(shape)")
        }
        return cachedConstant(name) { t }
    }

    /// The constant `name`, made by `make` the first time it is asked for.
    mutating func cachedConstant(_ name: String, _ make: () -> Tensor) -> ValueID {
        if let id = constantsByName[name] { return id }
        let id = graph.addConstant(.float(make()), name: name)
        constantsByName[name] = id
        return id
    }
    mutating func constant(_ t: Tensor, _ name: String) -> ValueID { cachedConstant(name) { t } }
    mutating func scalar(_ v: Float) -> ValueID { graph.addConstant(.float(Tensor(scalar: v)), name: "const.\(graph.values.count)") }
    mutating func floats(_ v: [Float]) -> ValueID { graph.addConstant(.float(Tensor(shape: [v.count], scalars: v)), name: "const.\(graph.values.count)") }
    mutating func ints(_ v: [Int64]) -> ValueID { graph.addConstant(.int(IntTensor(v)), name: "const.\(graph.values.count)") }

    /// Axes `start..<end` of `v`'s shape, as an int64 value (folded once shapes are fixed).
    mutating func shapeOf(_ v: ValueID, _ start: Int, _ end: Int) -> ValueID { node(.shape(start: start, end: end), [v]) }
}

// UNet2DBuilder: diffusers' UNet2DModel as graph IR — the built-in U-Net. It emits the same ops the
// ONNX importer produces (conv, group norm, linear as gemm, attention, resize, concat), so the
// compiled plan, its fusions and the time table apply unchanged, and training interprets the same
// graph. Weights are constants named exactly as in diffusers' state dict (`down_blocks.1.resnets.0.
// conv1.weight`); `weights` supplies them (from diffusion_pytorch_model.safetensors, or freshly
// initialized for training). Forward as diffusers.UNet2DModel.forward: time projection →
// TimestepEmbedding → conv_in → down blocks (resnets, attentions, downsample) → mid block → up blocks
// (skip concats, upsample) → GroupNorm, act, conv_out. Shapes in comments: B batch, C channels.

import Foundation
import Graphs
import Tensors

/// Emits a diffusers UNet2DModel graph.
public struct UNet2DBuilder {
    public let config: UNet2DConfig
    /// Parameter by diffusers' name and the shape the network needs; every name must be supplied.
    let weights: (String, Shape) throws -> Tensor
    var graph = Graph()

    public init(config: UNet2DConfig, weights: @escaping (String, Shape) throws -> Tensor) {
        self.config = config
        self.weights = weights
    }

    /// The graph: inputs `x` `[batch, in, S, S]` float32 and `t` `[batch]` int64 (float32 for
    /// fourier embeddings); output `y` `[batch, out, S, S]`.
    public static func build(_ config: UNet2DConfig, weights: @escaping (String, Shape) throws -> Tensor) throws -> Graph {
        var b = UNet2DBuilder(config: config, weights: weights)
        return try b.emit()
    }

    mutating func emit() throws -> Graph {
        let c = config, s = c.sampleSize
        let x = graph.addValue(ValueInfo(name: "x", type: .float32, dims: [.symbol("batch"), .fixed(c.inChannels), .fixed(s), .fixed(s)]))
        let fourier = c.timeEmbeddingType == "fourier"
        let t = graph.addValue(ValueInfo(name: "t", type: fourier ? .float32 : .int64, dims: [.symbol("batch")]))
        graph.inputs = [x, t]
        var h = x
        if c.centerInputSample { h = node(.binary(.sub), [node(.binary(.mul), [h, scalar(2)]), scalar(1)]) }
        let emb = try timeEmbedding(t)                                                     // [B, 4·C0]
        h = try conv("conv_in", h, c.inChannels, c.blockOutChannels[0], padding: 1)       // [B, C0, S, S]
        var skips = [h]
        var channels = c.blockOutChannels[0]
        for (i, type) in c.downBlockTypes.enumerated() {
            let out = c.blockOutChannels[i], last = i == c.blockOutChannels.count - 1
            for j in 0..<c.layersPerBlock {
                h = try resnet("down_blocks.\(i).resnets.\(j)", h, emb, from: j == 0 ? channels : out, to: out)
                if type == "AttnDownBlock2D" { h = try attention("down_blocks.\(i).attentions.\(j)", h, channels: out, groups: c.normNumGroups) }
                skips.append(h)
            }
            if !last {
                let p = c.downsamplePadding  // padding 0: diffusers pads right/bottom by one before the stride-2 conv
                let o = p == 0 ? Conv2dOptions(stride: (2, 2), padding: (0, 0, 1, 1)) : Conv2dOptions(stride: 2, padding: p)
                h = try conv("down_blocks.\(i).downsamplers.0.conv", h, out, out, kernel: 3, options: o)
                skips.append(h)
            }
            channels = out
        }
        let top = c.blockOutChannels.last!                                                 // mid block
        h = try resnet("mid_block.resnets.0", h, emb, from: top, to: top, scale: c.midBlockScaleFactor)
        if c.addAttention {
            // diffusers' mid block: attn_norm_num_groups, else norm_num_groups, and no norm with scale_shift.
            let groups = c.attnNormNumGroups ?? (c.resnetTimeScaleShift == "default" ? c.normNumGroups : nil)
            h = try attention("mid_block.attentions.0", h, channels: top, groups: groups, rescale: c.midBlockScaleFactor)
        }
        h = try resnet("mid_block.resnets.1", h, emb, from: top, to: top, scale: c.midBlockScaleFactor)
        let reversed = Array(c.blockOutChannels.reversed())
        var previous = reversed[0]
        for (i, type) in c.upBlockTypes.enumerated() {
            let out = reversed[i], input = reversed[min(i + 1, reversed.count - 1)], last = i == reversed.count - 1
            for j in 0...c.layersPerBlock {
                let skip = skips.removeLast()
                let skipChannels = j == c.layersPerBlock ? input : out
                h = node(.concat(axis: 1), [h, skip])                                    // [B, C + skip, H, W]
                h = try resnet("up_blocks.\(i).resnets.\(j)", h, emb, from: (j == 0 ? previous : out) + skipChannels, to: out)
                if type == "AttnUpBlock2D" { h = try attention("up_blocks.\(i).attentions.\(j)", h, channels: out, groups: c.normNumGroups) }
            }
            if !last {
                h = node(.resize(.nearest), [h, nil, floats([1, 1, 2, 2])])              // [B, C, 2H, 2W]
                h = try conv("up_blocks.\(i).upsamplers.0.conv", h, out, out, padding: 1)
            }
            previous = out
        }
        h = try groupNorm("conv_norm_out", h, c.blockOutChannels[0], groups: c.normNumGroups)
        h = activation(h)
        h = try conv("conv_out", h, c.blockOutChannels[0], c.outChannels, padding: 1)      // [B, out, S, S]
        if fourier { h = node(.binary(.div), [h, node(.reshape(allowZero: false), [t, ints([-1, 1, 1, 1])])]) }
        graph.outputs = [h]
        graph.values[h.index].name = "y"
        graph.values[h.index].dims = [.symbol("batch"), .fixed(c.outChannels), .fixed(s), .fixed(s)]
        return graph
    }

    // MARK: blocks

    /// get_timestep_embedding (or the Gaussian Fourier projection) → linear_1 → act → linear_2: `[B, 4·C0]`.
    mutating func timeEmbedding(_ t: ValueID) throws -> ValueID {
        let c = config, dim = c.blockOutChannels[0]
        var proj: ValueID
        if c.timeEmbeddingType == "fourier" {
            let w = try weights("time_proj.weight", [dim])                                 // [C0]
            let scaled = Tensor(shape: [1, w.count], scalars: w.scalars.map { $0 * 2 * Float.pi })
            let arg = node(.binary(.mul), [node(.reshape(allowZero: false), [node(.unary(.log), [t]), ints([-1, 1])]), constant(scaled, "time_proj.weight·2π")])
            let (sin, cos) = (node(.unary(.sin), [arg]), node(.unary(.cos), [arg]))
            proj = node(.concat(axis: -1), c.flipSinToCos ? [cos, sin] : [sin, cos])      // [B, 2·C0]
        } else {
            let half = dim / 2
            let exponent = (0..<half).map { Float(-log(10000.0)) * Float($0) / (Float(half) - Float(c.freqShift)) }
            let freqs = Tensor(shape: [1, half], scalars: exponent.map { Foundation.exp($0) })
            let arg = node(.binary(.mul), [node(.reshape(allowZero: false), [node(.cast(.float32), [t]), ints([-1, 1])]), constant(freqs, "time_proj.freqs")])
            let (sin, cos) = (node(.unary(.sin), [arg]), node(.unary(.cos), [arg]))
            proj = node(.concat(axis: -1), c.flipSinToCos ? [cos, sin] : [sin, cos])      // [B, C0]
        }
        let inputDim = c.timeEmbeddingType == "fourier" ? 2 * dim : dim
        var e = try linear("time_embedding.linear_1", proj, inputDim, 4 * dim)
        e = activation(e)
        return try linear("time_embedding.linear_2", e, 4 * dim, 4 * dim)
    }

    /// ResnetBlock2D: norm1 → act → conv1 → (+ time, or scale/shift after norm2) → norm2 → act → conv2,
    /// plus the input (1x1 conv when channels change), divided by `scale`.
    mutating func resnet(_ name: String, _ x: ValueID, _ emb: ValueID, from cin: Int, to cout: Int, scale: Double = 1) throws -> ValueID {
        var h = activation(try groupNorm(name + ".norm1", x, cin, groups: config.normNumGroups))
        h = try conv(name + ".conv1", h, cin, cout, padding: 1)                              // [B, cout, H, W]
        let scaleShift = config.resnetTimeScaleShift == "scale_shift"
        let projected = try linear(name + ".time_emb_proj", activation(emb), 4 * config.blockOutChannels[0], scaleShift ? 2 * cout : cout)
        let temb = node(.reshape(allowZero: false), [projected, ints([-1, Int64(scaleShift ? 2 * cout : cout), 1, 1])])
        if !scaleShift { h = node(.binary(.add), [h, temb]) }
        h = try groupNorm(name + ".norm2", h, cout, groups: config.normNumGroups)
        if scaleShift {
            let parts = graph.addValue(ValueInfo(name: name + ".scale")), shift = graph.addValue(ValueInfo(name: name + ".shift"))
            graph.nodes.append(Node(.split(axis: 1, sizes: [cout, cout], outputs: 2), inputs: [temb], outputs: [parts, shift], name: name + ".split"))
            h = node(.binary(.add), [node(.binary(.mul), [h, node(.binary(.add), [parts, scalar(1)])]), shift])
        }
        h = activation(h)
        h = try conv(name + ".conv2", h, cout, cout, padding: 1)
        let shortcut = cin != cout ? try conv(name + ".conv_shortcut", x, cin, cout, kernel: 1, padding: 0) : x
        var out = node(.binary(.add), [shortcut, h])
        if scale != 1 { out = node(.binary(.div), [out, scalar(Float(scale))]) }
        return out
    }

    /// diffusers' Attention on `[B, C, H, W]`: group norm (when `groups`), q/k/v linears over the C
    /// channels of each position, multi-head attention, output linear, + residual, divided by `rescale`.
    mutating func attention(_ name: String, _ x: ValueID, channels: Int, groups: Int?, rescale: Double = 1) throws -> ValueID {
        let headDim = config.attentionHeadDim ?? channels, heads = channels / headDim
        let normed = try groups.map { try groupNorm(name + ".group_norm", x, channels, groups: $0) } ?? x
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
        let back = node(.reshape(allowZero: false), [node(.transpose(perm: [0, 2, 1]), [projected]), shapeOf(x, 0, 4)])          // [B, C, H, W]
        var out = node(.binary(.add), [back, x])
        if rescale != 1 { out = node(.binary(.div), [out, scalar(Float(rescale))]) }
        return out
    }

    // MARK: layers

    /// nn.Conv2d(cin, cout, kernel) with bias: weight `[cout, cin, k, k]`.
    mutating func conv(_ name: String, _ x: ValueID, _ cin: Int, _ cout: Int, kernel: Int = 3, padding: Int) throws -> ValueID {
        try conv(name, x, cin, cout, kernel: kernel, options: Conv2dOptions(padding: padding))
    }

    mutating func conv(_ name: String, _ x: ValueID, _ cin: Int, _ cout: Int, kernel: Int, options: Conv2dOptions) throws -> ValueID {
        node(.conv(options, activation: nil), [x, try parameter(name + ".weight", [cout, cin, kernel, kernel]), try parameter(name + ".bias", [cout])], name: name)
    }

    /// nn.Linear(cin, cout) on `[rows, cin]`: gemm with the weight `[cout, cin]` transposed.
    mutating func linear(_ name: String, _ x: ValueID, _ cin: Int, _ cout: Int) throws -> ValueID {
        node(.gemm(transA: false, transB: true, alpha: 1, beta: 1), [x, try parameter(name + ".weight", [cout, cin]), try parameter(name + ".bias", [cout])], name: name)
    }

    mutating func groupNorm(_ name: String, _ x: ValueID, _ channels: Int, groups: Int) throws -> ValueID {
        node(.groupNorm(groups: groups, eps: Float(config.normEps), silu: false),
             [x, try parameter(name + ".weight", [channels]), try parameter(name + ".bias", [channels])], name: name)
    }

    mutating func activation(_ x: ValueID) -> ValueID {
        switch config.actFn {
        case "relu": return node(.unary(.relu), [x])
        case "gelu": return node(.unary(.gelu), [x])
        default: return node(.unary(.silu), [x])
        }
    }

    // MARK: plumbing

    mutating func node(_ op: Op, _ inputs: [ValueID?], name: String = "") -> ValueID {
        let out = graph.addValue(ValueInfo(name: name.isEmpty ? "\(op.name).\(graph.values.count)" : name + ".out"))
        graph.nodes.append(Node(op, inputs: inputs, outputs: [out], name: name.isEmpty ? "\(op.name).\(graph.nodes.count)" : name))
        return out
    }

    mutating func parameter(_ name: String, _ shape: Shape) throws -> ValueID {
        let t = try weights(name, shape)
        guard t.shape == shape else {
            throw GraphError.invalid("parameter '\(name)' has shape \(t.shape); the config needs \(shape)")
        }
        return graph.addConstant(.float(t), name: name)
    }
    mutating func constant(_ t: Tensor, _ name: String) -> ValueID { graph.addConstant(.float(t), name: name) }
    mutating func scalar(_ v: Float) -> ValueID { graph.addConstant(.float(Tensor(scalar: v)), name: "const.\(graph.values.count)") }
    mutating func floats(_ v: [Float]) -> ValueID { graph.addConstant(.float(Tensor(shape: [v.count], scalars: v)), name: "const.\(graph.values.count)") }
    mutating func ints(_ v: [Int64]) -> ValueID { graph.addConstant(.int(IntTensor(v)), name: "const.\(graph.values.count)") }

    /// Axes `start..<end` of `v`'s shape, as an int64 value (folded once shapes are fixed).
    mutating func shapeOf(_ v: ValueID, _ start: Int, _ end: Int) -> ValueID { node(.shape(start: start, end: end), [v]) }
}

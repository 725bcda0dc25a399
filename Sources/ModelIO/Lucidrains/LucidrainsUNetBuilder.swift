// LucidrainsUNetBuilder: denoising-diffusion-pytorch's `Unet` (2.x) as graph IR, forward exactly as
// the library's: time MLP (sinusoidal or learned Fourier features → Linear → GELU → Linear) →
// init_conv 7x7 → per stage two ResnetBlocks (conv → RMSNorm → ·(scale+1)+shift → SiLU, conv →
// RMSNorm → SiLU, + residual) and a residual Attention / LinearAttention, pixel-unshuffle +
// 1x1 conv down (3x3 conv on the last stage) → mid resnet, full attention, resnet → up stages with
// skip concats, nearest ×2 + 3x3 conv up → concat with the init_conv output → final ResnetBlock →
// 1x1 final_conv. It emits the ops the ONNX importer produces for the same PyTorch modules —
// RMSNorm as F.normalize's ReduceL2 / Clip / Expand / Div then · g · √C, the einops pixel-unshuffle
// as Reshape / Transpose / Reshape, LinearAttention's two einsums — so compiling fuses them as it
// fuses an imported model (rmsNorm, attention), the time table covers the whole time branch, and
// `denoise export` writes plain ONNX. Weights are constants named by the Unet's state-dict keys
// (`downs.0.2.to_qkv.weight`). Shapes in comments: B batch, C channels, S the side at that stage,
// N = S², h heads, d head dim, m memory key/values.

import Foundation
import Graphs
import Tensors

/// Emits a denoising-diffusion-pytorch Unet graph.
public struct LucidrainsUNetBuilder {
    public let config: LucidrainsUNetConfig
    public let imageSize: Int
    /// Parameter by state-dict name and the shape the network needs; every name must be supplied.
    let weights: (String, Shape) throws -> Tensor
    var graph = Graph()

    /// The graph: inputs `x` `[batch, C, S, S]` float32 and `t` `[batch]` int64 (timesteps
    /// 0..<T, as the library's samplers pass them); output `y` `[batch, C, S, S]`.
    public static func build(_ config: LucidrainsUNetConfig, imageSize: Int, weights: @escaping (String, Shape) throws -> Tensor) throws -> Graph {
        guard imageSize >= 1, imageSize % config.downsampleFactor == 0 else {
            throw GraphError.invalid("image size \(imageSize) must be a positive multiple of \(config.downsampleFactor) (the Unet halves it \(config.dimMults.count - 1) times)")
        }
        var b = LucidrainsUNetBuilder(config: config, imageSize: imageSize, weights: weights)
        return try b.emit()
    }

    /// The graph over a Unet state dict (keys as `Unet.state_dict()`); a tensor the architecture
    /// does not use, or one of the wrong shape, is an error naming it.
    public static func build(_ config: LucidrainsUNetConfig, imageSize: Int, stateDict: [String: Tensor], source: String) throws -> Graph {
        var used = Set<String>()
        let graph: Graph
        do {
            graph = try build(config, imageSize: imageSize) { name, shape in
                guard let t = stateDict[name] else { throw ModelFileError(path: source, problem: "the Unet needs '\(name)' \(shape), which is missing") }
                used.insert(name)
                return t
            }
        } catch let e as GraphError { throw ModelFileError(path: source, problem: "\(e)") }
        let unused = stateDict.keys.filter { !used.contains($0) }.sorted()
        guard unused.isEmpty else {
            throw ModelFileError(path: source, problem: "\(unused.count) tensors are not part of the Unet this state dict implies (a different architecture?): \(unused.prefix(5).joined(separator: ", "))")
        }
        return graph
    }

    mutating func emit() throws -> Graph {
        let c = config, s = imageSize
        let x = graph.addValue(ValueInfo(name: "x", type: .float32, dims: [.symbol("batch"), .fixed(c.channels), .fixed(s), .fixed(s)]))
        let t = graph.addValue(ValueInfo(name: "t", type: .int64, dims: [.symbol("batch")]))
        graph.inputs = [x, t]
        let emb = try timeEmbedding(t)                                                        // [B, 4·dim]
        var h = try conv("init_conv", x, c.channels, c.initDim, kernel: 7, padding: 3)       // [B, C0, S, S]
        let r = h
        let dims = c.dims, stages = c.dimMults.count
        var skips: [ValueID] = []
        var side = s
        for i in 0..<stages {
            let (din, dout) = (dims[i], dims[i + 1]), last = i == stages - 1
            h = try resnet("downs.\(i).0", h, emb, din, din)
            skips.append(h)
            h = try resnet("downs.\(i).1", h, emb, din, din)
            h = node(.binary(.add), [try attention("downs.\(i).2", h, din, stage: i, side: side), h])
            skips.append(h)
            if last {
                h = try conv("downs.\(i).3", h, din, dout, kernel: 3, padding: 1)               // [B, dout, S, S]
            } else {
                h = try downsample("downs.\(i).3", h, din, dout, side: side)                     // [B, dout, S/2, S/2]
                side /= 2
            }
        }
        let mid = dims[stages]
        h = try resnet("mid_block1", h, emb, mid, mid)
        h = node(.binary(.add), [try fullAttention("mid_attn", h, mid, heads: c.attnHeads[stages - 1], dimHead: c.attnDimHead[stages - 1], side: side), h])
        h = try resnet("mid_block2", h, emb, mid, mid)
        for i in 0..<stages {
            let stage = stages - 1 - i, (din, dout) = (dims[stage], dims[stage + 1]), last = i == stages - 1
            h = try resnet("ups.\(i).0", node(.concat(axis: 1), [h, skips.removeLast()]), emb, dout + din, dout)
            h = try resnet("ups.\(i).1", node(.concat(axis: 1), [h, skips.removeLast()]), emb, dout + din, dout)
            h = node(.binary(.add), [try attention("ups.\(i).2", h, dout, stage: stage, side: side), h])
            if last {
                h = try conv("ups.\(i).3", h, dout, din, kernel: 3, padding: 1)                  // [B, din, S, S]
            } else {
                h = node(.resize(.nearest), [h, nil, floats([1, 1, 2, 2])])                       // [B, dout, 2S, 2S]
                h = try conv("ups.\(i).3.1", h, dout, din, kernel: 3, padding: 1)                // [B, din, 2S, 2S]
                side *= 2
            }
        }
        h = node(.concat(axis: 1), [h, r])                                                        // [B, 2·C0, S, S]
        h = try resnet("final_res_block", h, emb, 2 * c.initDim, c.initDim)
        h = try conv("final_conv", h, c.initDim, c.channels, kernel: 1, padding: 0)              // [B, C, S, S]
        graph.outputs = [h]
        graph.values[h.index].name = "y"
        graph.values[h.index].dims = [.symbol("batch"), .fixed(c.channels), .fixed(s), .fixed(s)]
        return graph
    }

    // MARK: blocks

    /// time_mlp: SinusoidalPosEmb(dim, θ) or RandomOrLearnedSinusoidalPosEmb → Linear → GELU → Linear: `[B, 4·dim]`.
    mutating func timeEmbedding(_ t: ValueID) throws -> ValueID {
        let c = config
        let time = node(.reshape(allowZero: false), [node(.cast(.float32), [t]), ints([-1, 1])])    // [B, 1]
        let features: ValueID
        if let learned = c.learnedSinusoidalDim {
            // x · w · 2 · π, then [x, sin, cos] (in the library's order of operations).
            let w = try parameter("time_mlp.0.weights", [learned / 2])                           // [d/2]
            let freqs = node(.binary(.mul), [node(.binary(.mul), [node(.binary(.mul), [time, w]), scalar(2)]), scalar(Float.pi)])
            features = node(.concat(axis: -1), [time, node(.unary(.sin), [freqs]), node(.unary(.cos), [freqs])])  // [B, d + 1]
        } else {
            // exp(arange(dim/2) · −log(θ)/(dim/2 − 1)), in float32 as torch computes it.
            let half = c.dim / 2, step = Float(-Foundation.log(c.sinusoidalPosEmbTheta) / Double(half - 1))
            let freqs = Tensor(shape: [1, half], scalars: (0..<half).map { Foundation.exp(Float($0) * step) })
            let arg = node(.binary(.mul), [time, constant(freqs, "time_mlp.0.freqs")])          // [B, dim/2]
            features = node(.concat(axis: -1), [node(.unary(.sin), [arg]), node(.unary(.cos), [arg])])  // [B, dim]
        }
        let hidden = node(.unary(.gelu), [try linear("time_mlp.1", features, c.fourierDim, c.timeDim)])
        return try linear("time_mlp.3", hidden, c.timeDim, c.timeDim)                            // [B, 4·dim]
    }

    /// ResnetBlock: mlp (SiLU → Linear) → scale, shift; block1 (conv → RMSNorm → ·(scale+1)+shift →
    /// SiLU), block2 (conv → RMSNorm → SiLU), + res_conv(x) (1x1 when the channels change).
    mutating func resnet(_ name: String, _ x: ValueID, _ emb: ValueID, _ cin: Int, _ cout: Int) throws -> ValueID {
        let projected = try linear(name + ".mlp.1", node(.unary(.silu), [emb]), config.timeDim, 2 * cout)  // [B, 2·cout]
        let temb = node(.reshape(allowZero: false), [projected, ints([-1, Int64(2 * cout), 1, 1])])       // [B, 2·cout, 1, 1]
        let scale = graph.addValue(ValueInfo(name: name + ".scale")), shift = graph.addValue(ValueInfo(name: name + ".shift"))
        graph.nodes.append(Node(.split(axis: 1, sizes: [cout, cout], outputs: 2), inputs: [temb], outputs: [scale, shift], name: name + ".chunk"))
        var h = try conv(name + ".block1.proj", x, cin, cout, kernel: 3, padding: 1)                    // [B, cout, S, S]
        h = try rmsNorm(name + ".block1.norm", h, cout)
        h = node(.binary(.add), [node(.binary(.mul), [h, node(.binary(.add), [scale, scalar(1)])]), shift])
        h = node(.unary(.silu), [h])
        h = try conv(name + ".block2.proj", h, cout, cout, kernel: 3, padding: 1)
        h = node(.unary(.silu), [try rmsNorm(name + ".block2.norm", h, cout)])
        let residual = cin != cout ? try conv(name + ".res_conv", x, cin, cout, kernel: 1, padding: 0) : x
        return node(.binary(.add), [h, residual])
    }

    /// The stage's attention block (without its residual): full or linear, per the config.
    mutating func attention(_ name: String, _ x: ValueID, _ channels: Int, stage: Int, side: Int) throws -> ValueID {
        let (heads, dimHead) = (config.attnHeads[stage], config.attnDimHead[stage])
        return config.fullAttn[stage]
            ? try fullAttention(name, x, channels, heads: heads, dimHead: dimHead, side: side)
            : try linearAttention(name, x, channels, heads: heads, dimHead: dimHead, side: side)
    }

    /// Attention: RMSNorm → to_qkv (1x1, no bias) → heads `[B, h, N, d]`, memory k/v prepended →
    /// softmax(q·kᵀ/√d)·v → to_out (1x1).
    mutating func fullAttention(_ name: String, _ x: ValueID, _ channels: Int, heads: Int, dimHead: Int, side: Int) throws -> ValueID {
        let hidden = heads * dimHead, n = side * side, m = config.numMemKV
        let (q, k, v) = try qkv(name, x, channels, hidden: hidden)
        func split(_ t: ValueID) -> ValueID {                                                    // [B, h, N, d]
            node(.transpose(perm: [0, 1, 3, 2]), [node(.reshape(allowZero: false), [t, ints([-1, Int64(heads), Int64(dimHead), Int64(n)])])])
        }
        let (mk, mv) = try memory(name, x, [2, heads, m, dimHead])                               // [B, h, m, d] each
        let keys = node(.concat(axis: 2), [mk, split(k)]), values = node(.concat(axis: 2), [mv, split(v)])  // [B, h, m+N, d]
        let o = node(.attention(scale: 1 / Float(dimHead).squareRoot(), keyTransposed: false), [split(q), keys, values])  // [B, h, N, d]
        let merged = node(.reshape(allowZero: false), [node(.transpose(perm: [0, 1, 3, 2]), [o]), ints([-1, Int64(hidden), Int64(side), Int64(side)])])
        return try conv(name + ".to_out", merged, hidden, channels, kernel: 1, padding: 0)       // [B, C, S, S]
    }

    /// LinearAttention: RMSNorm → to_qkv → heads `[B, h, d, N]`, memory k/v prepended; q softmax
    /// over d (· d^−½), k softmax over positions; context = k·vᵀ `[B, h, d, d]`, out = contextᵀ·q →
    /// to_out (1x1 conv → RMSNorm).
    mutating func linearAttention(_ name: String, _ x: ValueID, _ channels: Int, heads: Int, dimHead: Int, side: Int) throws -> ValueID {
        let hidden = heads * dimHead, n = side * side, m = config.numMemKV
        let (q, k, v) = try qkv(name, x, channels, hidden: hidden)
        func split(_ t: ValueID) -> ValueID {                                                    // [B, h, d, N]
            node(.reshape(allowZero: false), [t, ints([-1, Int64(heads), Int64(dimHead), Int64(n)])])
        }
        let (mk, mv) = try memory(name, x, [2, heads, dimHead, m])                               // [B, h, d, m] each
        let keys = node(.softmax(axis: 3), [node(.concat(axis: 3), [mk, split(k)])])            // [B, h, d, m+N]
        let values = node(.concat(axis: 3), [mv, split(v)])
        let queries = node(.binary(.mul), [node(.softmax(axis: 2), [split(q)]), scalar(1 / Float(dimHead).squareRoot())])
        let context = node(.einsum(try EinsumSpec("bhdn,bhen->bhde")), [keys, values])          // [B, h, d, d]
        let out = node(.einsum(try EinsumSpec("bhde,bhdn->bhen")), [context, queries])          // [B, h, d, N]
        let merged = node(.reshape(allowZero: false), [out, ints([-1, Int64(hidden), Int64(side), Int64(side)])])
        let projected = try conv(name + ".to_out.0", merged, hidden, channels, kernel: 1, padding: 0)
        return try rmsNorm(name + ".to_out.1", projected, channels)                              // [B, C, S, S]
    }

    /// norm → to_qkv → q, k, v `[B, hidden, S, S]` each.
    mutating func qkv(_ name: String, _ x: ValueID, _ channels: Int, hidden: Int) throws -> (ValueID, ValueID, ValueID) {
        let normed = try rmsNorm(name + ".norm", x, channels)
        let w = try parameter(name + ".to_qkv.weight", [3 * hidden, channels, 1, 1])
        let all = node(.conv(Conv2dOptions(padding: 0), activation: nil), [normed, w, nil], name: name + ".to_qkv")  // [B, 3·hidden, S, S]
        let parts = (0..<3).map { graph.addValue(ValueInfo(name: name + ".qkv.\($0)")) }
        graph.nodes.append(Node(.split(axis: 1, sizes: [hidden, hidden, hidden], outputs: 3), inputs: [all], outputs: parts, name: name + ".chunk"))
        return (parts[0], parts[1], parts[2])
    }

    /// mem_kv `[2, …]` split into its key and value halves, each repeated over the batch of `x`.
    mutating func memory(_ name: String, _ x: ValueID, _ shape: Shape) throws -> (ValueID, ValueID) {
        let mem = try parameter(name + ".mem_kv", shape)
        let halves = [graph.addValue(ValueInfo(name: name + ".mem_k")), graph.addValue(ValueInfo(name: name + ".mem_v"))]
        graph.nodes.append(Node(.split(axis: 0, sizes: [1, 1], outputs: 2), inputs: [mem], outputs: halves, name: name + ".mem_kv.chunk"))
        let target = node(.concat(axis: 0), [shapeOf(x, 0, 1), ints(shape.dropFirst().map { Int64($0) })])   // [B, …]
        return (node(.expand, [halves[0], target]), node(.expand, [halves[1], target]))
    }

    /// Downsample: einops 'b c (h p1) (w p2) -> b (c p1 p2) h w' (p = 2) → 1x1 conv.
    mutating func downsample(_ name: String, _ x: ValueID, _ cin: Int, _ cout: Int, side: Int) throws -> ValueID {
        let half = Int64(side / 2), c = Int64(cin)
        let split = node(.reshape(allowZero: false), [x, ints([-1, c, half, 2, half, 2])])       // [B, C, S/2, 2, S/2, 2]
        let moved = node(.transpose(perm: [0, 1, 3, 5, 2, 4]), [split])                           // [B, C, 2, 2, S/2, S/2]
        let stacked = node(.reshape(allowZero: false), [moved, ints([-1, 4 * c, half, half])])     // [B, 4C, S/2, S/2]
        return try conv(name + ".1", stacked, 4 * cin, cout, kernel: 1, padding: 0)
    }

    // MARK: layers

    /// RMSNorm: F.normalize(x, dim=1) · g · √C, as F.normalize exports (x / expand(max(‖x‖₂, 1e-12))).
    mutating func rmsNorm(_ name: String, _ x: ValueID, _ channels: Int) throws -> ValueID {
        let g = try parameter(name + ".g", [1, channels, 1, 1])
        let norm = node(.reduce(.l2, axes: [1], keepDims: true, noopWithEmptyAxes: false), [x])  // [B, 1, S, S]
        let clipped = node(.clip, [norm, scalar(1e-12)])
        let normalized = node(.binary(.div), [x, node(.expand, [clipped, shapeOf(x, 0, 4)])])
        return node(.binary(.mul), [node(.binary(.mul), [normalized, g]), scalar(Float(Double(channels).squareRoot()))], name: name)
    }

    /// nn.Conv2d(cin, cout, kernel) with bias: weight `[cout, cin, k, k]`.
    mutating func conv(_ name: String, _ x: ValueID, _ cin: Int, _ cout: Int, kernel: Int, padding: Int) throws -> ValueID {
        node(.conv(Conv2dOptions(padding: padding), activation: nil),
             [x, try parameter(name + ".weight", [cout, cin, kernel, kernel]), try parameter(name + ".bias", [cout])], name: name)
    }

    /// nn.Linear(cin, cout) on `[rows, cin]`: gemm with the weight `[cout, cin]` transposed.
    mutating func linear(_ name: String, _ x: ValueID, _ cin: Int, _ cout: Int) throws -> ValueID {
        node(.gemm(transA: false, transB: true, alpha: 1, beta: 1), [x, try parameter(name + ".weight", [cout, cin]), try parameter(name + ".bias", [cout])], name: name)
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
            throw GraphError.invalid("parameter '\(name)' has shape \(t.shape); the Unet needs \(shape)")
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

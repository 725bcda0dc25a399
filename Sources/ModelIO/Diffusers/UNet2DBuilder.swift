// UNet2DBuilder: diffusers' UNet2DModel as graph IR — the built-in U-Net. It emits the ops the ONNX
// importer produces (conv, group norm, linear as gemm, attention, resize, concat, gather, pad), so
// the compiled plan, its fusions and the time table apply unchanged, and training interprets the
// same graph. Weights are constants named exactly as in diffusers' state dict (`down_blocks.1.
// resnets.0.conv1.weight`); `weights` supplies them (from diffusion_pytorch_model.safetensors, or
// freshly initialized for training). Forward as diffusers.UNet2DModel.forward: center → time (and
// class) embedding → conv_in → down blocks (resnets, attentions, downsamplers, the skip-sample path
// of skip blocks) → mid block → up blocks (skip concats, upsamplers, skip-sample path) → GroupNorm,
// SiLU, conv_out → + skip sample → ÷ t for Fourier embeddings. Blocks are in
// UNet2DBuilder+Blocks.swift, layers (ResNets, attention, FIR / pooling resamplers) in
// UNet2DBuilder+Layers.swift. Not here: config parsing and value checks (UNet2DConfig /
// UNet2DArchitecture); this file's walk does the structural checks (Refusal), also run weightless
// by `check`. Shapes in comments: B batch, C channels, E time_embed_dim, S the sample size.
//
// Graph contract: inputs `x` float32 `[batch, in, H, W]`, `t` `[batch]` (int64; float32 for
// fourier), and with a class embedding `class_labels`: int64 `[batch]` (num_class_embeds table),
// float32 `[batch]` (class_embed_type "timestep", embedded like a timestep) or float32
// `[batch, E]` (class_embed_type "identity": the embedding itself, as diffusers adds it to the time
// embedding unchanged). Output `y` float32 `[batch, out, H, W]`.

import Foundation
import Graphs
import Tensors

/// Emits a diffusers UNet2DModel graph.
public struct UNet2DBuilder {
    public let config: UNet2DConfig
    let arch: UNet2DArchitecture
    /// Parameter by diffusers' name and the shape the network needs; nil for a weightless structural check.
    let weights: ((String, Shape) throws -> Tensor)?
    var graph = Graph()
    /// Constants added so far, by name (a parameter read twice, e.g. time_proj for class labels, is one constant).
    var constantsByName: [String: ValueID] = [:]

    /// A config whose blocks diffusers cannot build or run: a group count that does not divide the
    /// channels, skip paths or skip connections whose shapes do not meet. Names the layer.
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    /// A feature map: its value, channel count and resolution level (0: the sample's, k: 2^k smaller).
    struct Feature {
        var id: ValueID
        var channels: Int
        var level: Int
    }

    init(config: UNet2DConfig, weights: ((String, Shape) throws -> Tensor)?) throws {
        self.config = config
        self.arch = try config.architecture(source: "UNet2DModel config")
        self.weights = weights
    }

    /// The graph (contract in the file header). `weights` returns each parameter by name and shape.
    public static func build(_ config: UNet2DConfig, weights: @escaping (String, Shape) throws -> Tensor) throws -> Graph {
        var b = try UNet2DBuilder(config: config, weights: weights)
        return try b.emit()
    }

    /// Walks the blocks without weights: throws the `Refusal` a build would.
    public static func check(_ config: UNet2DConfig) throws {
        var b = try UNet2DBuilder(config: config, weights: nil)
        _ = try b.emit()
    }

    mutating func emit() throws -> Graph {
        let c = config, a = arch, c0 = c.blockOutChannels[0]
        let batch = Dim.symbol("batch")
        let x = graph.addValue(ValueInfo(name: "x", type: .float32, dims: [batch, .fixed(c.inChannels), .fixed(a.height), .fixed(a.width)]))
        let t = graph.addValue(ValueInfo(name: "t", type: a.time == .fourier ? .float32 : .int64, dims: [batch]))
        graph.inputs = [x, t]
        var labels: ValueID?
        switch a.classEmbedding {
        case nil: break
        case .table: labels = graph.addValue(ValueInfo(name: "class_labels", type: .int64, dims: [batch]))
        case .timestep: labels = graph.addValue(ValueInfo(name: "class_labels", type: .float32, dims: [batch]))
        case .identity: labels = graph.addValue(ValueInfo(name: "class_labels", type: .float32, dims: [batch, .fixed(a.timeEmbedDim)]))
        }
        if let labels { graph.inputs.append(labels) }

        var sample = x
        if c.centerInputSample { sample = node(.binary(.sub), [node(.binary(.mul), [scalar(2), x]), scalar(1)]) }  // 2x − 1
        var emb = try timestepEmbedding("time_embedding", timeProjection(t))              // [B, E]
        if let labels { emb = node(.binary(.add), [emb, try classEmbedding(labels)]) }     // [B, E]

        var h = Feature(id: try conv("conv_in", sample, c.inChannels, c0, padding: 1), channels: c0, level: 0)  // [B, C0, H, W]
        var res = [h]                                                                      // skip connections
        var downSkip = Feature(id: sample, channels: c.inChannels, level: 0)               // skip blocks' sample path
        for (i, type) in a.down.enumerated() { try downBlock(i, type, &h, &res, &downSkip, emb) }
        if a.midBlock { h = try midBlock(h, emb) }
        var upSkip: Feature?                                                               // up skip blocks' sample path
        for (i, type) in a.up.enumerated() { try upBlock(i, type, &h, &res, &upSkip, emb) }

        let outGroups = c.normNumGroups ?? min(c0 / 4, 32)
        var y = node(.unary(.silu), [try groupNorm("conv_norm_out", h.id, c0, groups: outGroups)])  // always SiLU in diffusers
        y = try conv("conv_out", y, c0, c.outChannels, padding: 1)                         // [B, out, H, W]
        if let upSkip {
            guard upSkip.level == 0, upSkip.channels == c.outChannels else {
                throw Refusal(description: "the up skip blocks' sample path ends with \(upSkip.channels) channels at 1/\(1 << upSkip.level) resolution; "
                              + "UNet2DModel adds it to the \(c.outChannels)-channel output at full resolution, which fails in diffusers")
            }
            y = node(.binary(.add), [y, upSkip.id])
        }
        if a.time == .fourier { y = node(.binary(.div), [y, node(.reshape(allowZero: false), [t, ints([-1, 1, 1, 1])])]) }
        graph.outputs = [y]
        graph.values[y.index].name = "y"
        graph.values[y.index].dims = [batch, .fixed(c.outChannels), .fixed(a.height), .fixed(a.width)]
        return graph
    }

    // MARK: embeddings

    /// `time_proj` of `v` `[B]`: sinusoidal `[B, C0]`, Gaussian Fourier `[B, 2·C0]` or the learned table's rows `[B, C0]`.
    mutating func timeProjection(_ v: ValueID) throws -> ValueID {
        let c = config, dim = c.blockOutChannels[0]
        switch arch.time {
        case .positional:
            // diffusers.get_timestep_embedding: exp(−ln(10000)·i / (half − freq_shift)), [sin, cos] (flipped: [cos, sin]).
            let half = dim / 2
            let exponent = (0..<half).map { Float(-log(10000.0)) * Float($0) / Float(Double(half) - c.freqShift) }
            let freqs = Tensor(shape: [1, half], scalars: exponent.map { Foundation.exp($0) })
            let arg = node(.binary(.mul), [node(.reshape(allowZero: false), [node(.cast(.float32), [v]), ints([-1, 1])]), constant(freqs, "time_proj.freqs")])
            let (sin, cos) = (node(.unary(.sin), [arg]), node(.unary(.cos), [arg]))
            let proj = node(.concat(axis: -1), c.flipSinToCos ? [cos, sin] : [sin, cos])  // [B, 2·half]
            return dim % 2 == 0 ? proj : node(.pad(.constant), [proj, ints([0, 0, 0, 1])])  // odd C0: a zero column
        case .fourier:
            // GaussianFourierProjection(C0, scale 16, log=True), built by UNet2DModel with its default
            // flip_sin_to_cos=False: [sin, cos] of log(v)·W·2·π, multiplied in diffusers' order.
            let w = try parameter("time_proj.weight", [dim])                               // [C0]
            let logv = node(.reshape(allowZero: false), [node(.unary(.log), [v]), ints([-1, 1])])  // [B, 1]
            let arg = node(.binary(.mul), [node(.binary(.mul), [node(.binary(.mul), [logv, w]), scalar(2)]), scalar(Float.pi)])
            return node(.concat(axis: -1), [node(.unary(.sin), [arg]), node(.unary(.cos), [arg])])  // [B, 2·C0]
        case .learned(let timesteps):
            let table = try parameter("time_proj.weight", [timesteps, dim])                // nn.Embedding [T, C0]
            let index = graph[v].type == .int64 ? v : node(.cast(.int64), [v])
            return node(.gather(axis: 0), [table, index])                                  // [B, C0]
        }
    }

    /// TimestepEmbedding: linear_1 → SiLU → linear_2, `[B, in]` → `[B, E]`.
    mutating func timestepEmbedding(_ name: String, _ proj: ValueID) throws -> ValueID {
        let c0 = config.blockOutChannels[0], e = arch.timeEmbedDim
        let input = arch.time == .fourier ? 2 * c0 : c0
        let hidden = node(.unary(.silu), [try linear(name + ".linear_1", proj, input, e)])
        return try linear(name + ".linear_2", hidden, e, e)
    }

    /// The class embedding `[B, E]` diffusers adds to the time embedding.
    mutating func classEmbedding(_ labels: ValueID) throws -> ValueID {
        switch arch.classEmbedding {
        case nil: throw Refusal(description: "class labels without a class embedding")
        case .table(let classes):
            return node(.gather(axis: 0), [try parameter("class_embedding.weight", [classes, arch.timeEmbedDim]), labels])
        case .timestep:
            return try timestepEmbedding("class_embedding", timeProjection(labels))
        case .identity:
            return labels
        }
    }
}

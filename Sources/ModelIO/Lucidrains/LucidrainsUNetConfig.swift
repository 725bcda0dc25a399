// LucidrainsUNetConfig: the architecture of a denoising-diffusion-pytorch `Unet` (version 2.x,
// denoising_diffusion_pytorch.py), recovered from its state dict's shapes — dim, init_dim,
// dim_mults, channels, out_dim, the time embedding (fixed sinusoidal, or learned / random Fourier
// features and their count), and per stage full or linear attention with its heads, head dim and
// memory key/values. What shapes cannot tell (`sinusoidal_pos_emb_theta`) takes the library's
// default unless `LucidrainsUNetOverrides` (the Unet's constructor kwargs as JSON, `--unet-config`)
// gives it; every other kwarg given there is checked against the shapes. Refused, with the reason:
// self-conditioned Unets (the sampler would have to feed its x0 estimate back) and learned
// variance (LearnedGaussianDiffusion). Not here: building the graph (LucidrainsUNetBuilder) and
// the GaussianDiffusion buffers (LucidrainsCheckpoint).

import Foundation
import Tensors

/// A denoising-diffusion-pytorch Unet's constructor arguments, as far as inference needs them.
public struct LucidrainsUNetConfig: Sendable, Equatable {
    public var dim: Int
    public var initDim: Int
    public var dimMults: [Int]
    /// Image channels (input and output; GaussianDiffusion requires them equal).
    public var channels: Int
    /// nil: the fixed sinusoidal embedding of `dim` features; else the count of learned or random
    /// Fourier features (`learned_sinusoidal_dim`; the embedding has that many + 1).
    public var learnedSinusoidalDim: Int?
    /// SinusoidalPosEmb's θ (`sinusoidal_pos_emb_theta`): shapes cannot tell it.
    public var sinusoidalPosEmbTheta: Double = 10000
    /// Per stage (down stage i, up stage n−1−i): full attention, else linear attention.
    public var fullAttn: [Bool]
    public var attnHeads: [Int]
    public var attnDimHead: [Int]
    /// Memory key/value pairs of every attention block (the library's fixed 4).
    public var numMemKV: Int

    public init(dim: Int, initDim: Int? = nil, dimMults: [Int], channels: Int, learnedSinusoidalDim: Int? = nil,
                sinusoidalPosEmbTheta: Double = 10000, fullAttn: [Bool], attnHeads: [Int], attnDimHead: [Int], numMemKV: Int = 4) {
        self.dim = dim
        self.initDim = initDim ?? dim
        self.dimMults = dimMults
        self.channels = channels
        self.learnedSinusoidalDim = learnedSinusoidalDim
        self.sinusoidalPosEmbTheta = sinusoidalPosEmbTheta
        self.fullAttn = fullAttn
        self.attnHeads = attnHeads
        self.attnDimHead = attnDimHead
        self.numMemKV = numMemKV
    }

    /// Channels before each stage and after the last: `[init_dim, dim·m₀, dim·m₁, …]`.
    public var dims: [Int] { [initDim] + dimMults.map { dim * $0 } }
    /// Width of the time embedding (`dim · 4`).
    public var timeDim: Int { 4 * dim }
    /// Features of the time embedding before the MLP.
    public var fourierDim: Int { learnedSinusoidalDim.map { $0 + 1 } ?? dim }
    /// The image side must be a multiple of this (`Unet.downsample_factor`).
    public var downsampleFactor: Int { 1 << (dimMults.count - 1) }

    /// The constructor kwargs this config stands for, as a JSON object (for model metadata).
    public var kwargsJSON: String {
        var members: [(String, JSONValue)] = [("dim", .int(dim)), ("init_dim", .int(initDim)), ("dim_mults", .ints(dimMults)),
                                              ("channels", .int(channels))]
        if let learnedSinusoidalDim { members += [("learned_sinusoidal_cond", .bool(true)), ("learned_sinusoidal_dim", .int(learnedSinusoidalDim))] }
        members += [("sinusoidal_pos_emb_theta", .real(sinusoidalPosEmbTheta)), ("attn_dim_head", .ints(attnDimHead)),
                    ("attn_heads", .ints(attnHeads)), ("full_attn", .array(fullAttn.map(JSONValue.bool)))]
        return JSONValue.object(members).document().split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .joined(separator: " ")
    }
}

extension LucidrainsUNetConfig {
    /// The config a Unet state dict (keys as in `Unet.state_dict()`, no prefix) implies, with
    /// `overrides` applied and checked; errors name `source` and what disagrees.
    public static func inferred(from shapes: [String: Shape], overrides: LucidrainsUNetOverrides = .init(),
                                source: String) throws -> LucidrainsUNetConfig {
        func fail(_ problem: String) -> ModelFileError { ModelFileError(path: source, problem: problem) }
        func shape(_ key: String, rank: Int) throws -> Shape {
            guard let s = shapes[key] else { throw fail("not a denoising-diffusion-pytorch Unet: '\(key)' is missing") }
            guard s.rank == rank else { throw fail("'\(key)' has shape \(s); a Unet's has rank \(rank)") }
            return s
        }
        let initConv = try shape("init_conv.weight", rank: 4), finalConv = try shape("final_conv.weight", rank: 4)
        let (inputChannels, initDim, outDim) = (initConv[1], initConv[0], finalConv[0])
        guard initConv[2] == 7, initConv[3] == 7 else { throw fail("init_conv.weight has shape \(initConv); the Unet's init_conv is 7x7") }

        // Time embedding: [learned Fourier features →] Linear(fourier_dim, 4·dim) → GELU → Linear.
        let time1 = try shape("time_mlp.1.weight", rank: 2)
        guard time1[0] % 4 == 0 else { throw fail("time_mlp.1.weight has shape \(time1); its rows must be 4·dim") }
        let dim = time1[0] / 4
        var learned: Int?
        if let w = shapes["time_mlp.0.weights"] {
            guard w.rank == 1, time1[1] == 2 * w[0] + 1 else {
                throw fail("time_mlp.0.weights has shape \(w) and time_mlp.1.weight \(time1); learned Fourier features need [d/2] and [4·dim, d + 1]")
            }
            learned = 2 * w[0]
        } else {
            guard time1[1] == dim else { throw fail("time_mlp.1.weight has shape \(time1); a sinusoidal time embedding needs [4·dim, dim] = [\(time1[0]), \(dim)]") }
            guard dim >= 4 else { throw fail("dim \(dim): the library's sinusoidal embedding divides by dim/2 − 1 = 0") }
        }

        // Stages: downs.i = (resnet, resnet, attention, downsample or 3x3 conv on the last).
        var stages = 0
        while shapes["downs.\(stages).0.block1.proj.weight"] != nil { stages += 1 }
        guard stages >= 1 else { throw fail("not a denoising-diffusion-pytorch Unet: no 'downs.0.0.block1.proj.weight'") }
        var dimMults: [Int] = [], fullAttn: [Bool] = [], heads: [Int] = [], dimHeads: [Int] = [], memKV: Set<Int> = []
        var channelsIn = initDim
        for i in 0..<stages {
            let din = try shape("downs.\(i).0.block1.proj.weight", rank: 4)[0]
            guard din == channelsIn else { throw fail("downs.\(i) takes \(din) channels; the previous stage gives \(channelsIn)") }
            let last = i == stages - 1
            let down = try shape(last ? "downs.\(i).3.weight" : "downs.\(i).3.1.weight", rank: 4)
            guard down[1] == (last ? din : 4 * din) else {
                throw fail("downs.\(i).3 has weight \(down); expected \(last ? din : 4 * din) input channels")
            }
            guard down[0] % dim == 0 else { throw fail("stage \(i) gives \(down[0]) channels, not a multiple of dim \(dim)") }
            dimMults.append(down[0] / dim)
            channelsIn = down[0]
            let a = try attention("downs.\(i).2", shapes, fail)
            fullAttn.append(a.full); heads.append(a.heads); dimHeads.append(a.dimHead); memKV.insert(a.memKV)
        }
        let mid = try attention("mid_attn", shapes, fail)
        guard mid.full, mid.heads == heads.last, mid.dimHead == dimHeads.last else {
            throw fail("mid_attn (\(mid.full ? "full" : "linear"), \(mid.heads) heads of \(mid.dimHead)) is not the full attention of the last stage's heads (\(heads.last!) of \(dimHeads.last!))")
        }
        memKV.insert(mid.memKV)
        for i in 0..<stages {
            let s = stages - 1 - i, a = try attention("ups.\(i).2", shapes, fail)
            guard a.full == fullAttn[s], a.heads == heads[s], a.dimHead == dimHeads[s] else {
                throw fail("ups.\(i).2 (\(a.full ? "full" : "linear"), \(a.heads) heads of \(a.dimHead)) differs from downs.\(s).2 (\(fullAttn[s] ? "full" : "linear"), \(heads[s]) heads of \(dimHeads[s]))")
            }
            memKV.insert(a.memKV)
        }
        guard memKV.count == 1 else { throw fail("attention blocks have different numbers of memory key/values: \(memKV.sorted())") }

        // Channels: GaussianDiffusion needs out_dim == channels; 2·channels in is self-conditioning.
        if inputChannels == 2 * outDim {
            throw fail("a self-conditioned Unet (init_conv takes 2 × \(outDim) channels: x and the previous x0 estimate); "
                       + "the library feeds each step's x0 estimate back into the next, which denoise's samplers do not, so it cannot be sampled as trained and is refused")
        }
        if outDim == 2 * inputChannels {
            throw fail("a Unet with learned variance (final_conv gives 2 × \(inputChannels) channels; LearnedGaussianDiffusion) is not supported")
        }
        guard inputChannels == outDim else {
            throw fail("init_conv takes \(inputChannels) channels but final_conv gives \(outDim); GaussianDiffusion needs them equal")
        }
        var config = LucidrainsUNetConfig(dim: dim, initDim: initDim, dimMults: dimMults, channels: outDim, learnedSinusoidalDim: learned,
                                          fullAttn: fullAttn, attnHeads: heads, attnDimHead: dimHeads, numMemKV: memKV.first!)
        try overrides.apply(to: &config, source: source)
        return config
    }

    /// An attention block's kind and sizes: full attention has `to_out.weight` and mem_kv
    /// `[2, heads, m, d]`; linear attention `to_out.0.weight` (+ RMSNorm `to_out.1.g`) and `[2, heads, d, m]`.
    private static func attention(_ prefix: String, _ shapes: [String: Shape], _ fail: (String) -> ModelFileError) throws
        -> (full: Bool, heads: Int, dimHead: Int, memKV: Int) {
        guard let mem = shapes[prefix + ".mem_kv"], mem.rank == 4, mem[0] == 2 else {
            throw fail("not a denoising-diffusion-pytorch Unet: '\(prefix).mem_kv' is missing or not [2, heads, …]")
        }
        let full: Bool
        if shapes[prefix + ".to_out.weight"] != nil { full = true } else if shapes[prefix + ".to_out.0.weight"] != nil { full = false } else {
            throw fail("not a denoising-diffusion-pytorch Unet: '\(prefix)' has neither to_out.weight (Attention) nor to_out.0.weight (LinearAttention)")
        }
        let (heads, dimHead, memKV) = full ? (mem[1], mem[3], mem[2]) : (mem[1], mem[2], mem[3])
        if let qkv = shapes[prefix + ".to_qkv.weight"], qkv.rank == 4, qkv[0] != 3 * heads * dimHead {
            throw fail("\(prefix).to_qkv.weight has shape \(qkv); mem_kv \(mem) implies \(3 * heads * dimHead) rows (3 × \(heads) heads × \(dimHead))")
        }
        return (full, heads, dimHead, memKV)
    }
}

/// A Unet's constructor kwargs given by the user (`--unet-config`): each checked against what the
/// state dict's shapes say; `sinusoidal_pos_emb_theta` (which shapes cannot tell) is used; `dropout`
/// and `flash_attn` are accepted and change nothing at inference.
public struct LucidrainsUNetOverrides: Sendable, Equatable {
    /// Every kwarg of denoising-diffusion-pytorch 2.x's `Unet.__init__`.
    public static let keys = ["dim", "init_dim", "out_dim", "dim_mults", "channels", "self_condition", "learned_variance",
                              "learned_sinusoidal_cond", "random_fourier_features", "learned_sinusoidal_dim",
                              "sinusoidal_pos_emb_theta", "dropout", "attn_dim_head", "attn_heads", "full_attn", "flash_attn"]
    var members: [(String, JSONValue)] = []

    public init() {}

    public static func == (a: Self, b: Self) -> Bool {
        a.members.map(\.0) == b.members.map(\.0) && zip(a.members, b.members).allSatisfy { $0.1.document() == $1.1.document() }
    }

    /// Kwargs from a JSON object's text; unknown keys are an error naming them and the known ones.
    public init(json: Data, source: String) throws {
        let value: JSONValue
        do { value = try JSONValue.parse(json) } catch { throw ModelFileError(path: source, problem: "not valid JSON: \(error)") }
        guard case .object(let members) = value else { throw ModelFileError(path: source, problem: "must be a JSON object of Unet kwargs, got \(value.kindDescription)") }
        for (key, _) in members where !Self.keys.contains(key) {
            throw ModelFileError(path: source, problem: "unknown Unet kwarg '\(key)' (known: \(Self.keys.joined(separator: ", ")))")
        }
        self.members = members
    }

    /// `argument` is a JSON object's text (starting with `{`) or the path of a file holding one.
    public static func read(_ argument: String) throws -> LucidrainsUNetOverrides {
        if argument.trimmingCharacters(in: .whitespaces).hasPrefix("{") { return try Self(json: Data(argument.utf8), source: "--unet-config") }
        guard let data = FileManager.default.contents(atPath: argument) else { throw ModelFileError(path: argument, problem: "cannot read the Unet config") }
        return try Self(json: data, source: argument)
    }

    /// Sets what shapes cannot tell; throws when a given kwarg disagrees with `config`.
    func apply(to config: inout LucidrainsUNetConfig, source: String) throws {
        let stages = config.dimMults.count
        func fail(_ key: String, _ problem: String) -> ModelFileError {
            ModelFileError(path: source, problem: "--unet-config \(key): \(problem)")
        }
        func int(_ key: String, _ v: JSONValue) throws -> Int {
            guard case .integer(let n) = v else { throw fail(key, "must be an integer, got \(v.kindDescription)") }
            return Int(n)
        }
        func bool(_ key: String, _ v: JSONValue) throws -> Bool {
            guard case .bool(let b) = v else { throw fail(key, "must be true or false, got \(v.kindDescription)") }
            return b
        }
        func number(_ key: String, _ v: JSONValue) throws -> Double {
            switch v {
            case .integer(let n): return Double(n)
            case .real(let d): return d
            case .float(let f): return Double(f)
            default: throw fail(key, "must be a number, got \(v.kindDescription)")
            }
        }
        /// cast_tuple: one value for every stage, or a list of one per stage.
        func perStage<T: Equatable>(_ key: String, _ v: JSONValue, _ one: (String, JSONValue) throws -> T) throws -> [T] {
            if case .array(let items) = v {
                guard items.count == stages else { throw fail(key, "has \(items.count) values; the state dict has \(stages) stages") }
                return try items.map { try one(key, $0) }
            }
            return Array(repeating: try one(key, v), count: stages)
        }
        func agree<T: Equatable>(_ key: String, _ given: T, _ actual: T, _ what: String) throws {
            guard given == actual else { throw fail(key, "is \(given) but the state dict's shapes say \(actual) (\(what))") }
        }
        func isNull(_ v: JSONValue) -> Bool { if case .null = v { return true } else { return false } }
        var learnedFlag: Bool?
        for (key, v) in members {
            switch key {
            case "dim": try agree(key, try int(key, v), config.dim, "time_mlp.1.weight has 4·dim rows")
            case "init_dim": try agree(key, isNull(v) ? config.dim : try int(key, v), config.initDim, "init_conv.weight's output channels")
            case "out_dim": if !isNull(v) { try agree(key, try int(key, v), config.channels, "final_conv.weight's output channels") }
            case "dim_mults": try agree(key, try perStage(key, v, int), config.dimMults, "each stage's output channels / dim")
            case "channels": try agree(key, try int(key, v), config.channels, "init_conv.weight's input channels")
            case "self_condition": if try bool(key, v) { throw fail(key, "self-conditioned Unets are refused (the sampler would have to feed its x0 estimate back)") }
            case "learned_variance": if try bool(key, v) { throw fail(key, "learned variance (LearnedGaussianDiffusion) is not supported") }
            case "learned_sinusoidal_cond", "random_fourier_features":
                let on = try bool(key, v)
                learnedFlag = (learnedFlag ?? false) || on
            case "learned_sinusoidal_dim":
                let d = try int(key, v)
                if let actual = config.learnedSinusoidalDim { try agree(key, d, actual, "time_mlp.0.weights has learned_sinusoidal_dim / 2 values") }
            case "sinusoidal_pos_emb_theta":
                let theta = try number(key, v)
                guard theta > 0, theta.isFinite else { throw fail(key, "must be positive, got \(theta)") }
                config.sinusoidalPosEmbTheta = theta
            case "dropout": _ = try number(key, v)
            case "flash_attn": _ = try bool(key, v)
            case "attn_dim_head": try agree(key, try perStage(key, v, int), config.attnDimHead, "each attention's mem_kv")
            case "attn_heads": try agree(key, try perStage(key, v, int), config.attnHeads, "each attention's mem_kv")
            case "full_attn":
                // `if not full_attn`: null, false or an empty list mean the default (full attention in the last stage only).
                let falsy: Bool
                switch v {
                case .null: falsy = true
                case .bool(let b): falsy = !b
                case .array(let items): falsy = items.isEmpty
                default: throw fail(key, "must be null, true, false or a list of booleans, got \(v.kindDescription)")
                }
                let given = falsy ? Array(repeating: false, count: stages - 1) + [true] : try perStage(key, v, bool)
                try agree(key, given, config.fullAttn, "downs.i.2 is Attention (to_out.weight) or LinearAttention (to_out.0.weight)")
            default:
                throw fail(key, "unknown kwarg (known: \(Self.keys.joined(separator: ", ")))")
            }
        }
        if let learnedFlag, learnedFlag != (config.learnedSinusoidalDim != nil) {
            throw fail("learned_sinusoidal_cond / random_fourier_features", "say \(learnedFlag) but the state dict \(config.learnedSinusoidalDim != nil ? "has" : "has no") time_mlp.0.weights")
        }
    }
}

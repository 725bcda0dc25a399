// UNet2DConfig: the parts of a diffusers `UNet2DModel` config.json that shape the network — the
// same key names, the same defaults as diffusers. Unsupported values (other block types, class
// embeddings, attention-free mid blocks of other kinds) are refused by name at validation.

import Foundation

/// A diffusers UNet2DModel configuration.
public struct UNet2DConfig: Codable, Sendable, Equatable {
    public var sampleSize: Int = 32
    public var inChannels: Int = 3
    public var outChannels: Int = 3
    public var centerInputSample: Bool = false
    public var timeEmbeddingType: String = "positional"
    public var freqShift: Int = 0
    public var flipSinToCos: Bool = true
    public var downBlockTypes: [String] = ["DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"]
    public var upBlockTypes: [String] = ["AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"]
    public var blockOutChannels: [Int] = [224, 448, 672, 896]
    public var layersPerBlock: Int = 2
    public var midBlockScaleFactor: Double = 1
    public var downsamplePadding: Int = 1
    public var actFn: String = "silu"
    public var attentionHeadDim: Int? = 8
    public var normNumGroups: Int = 32
    public var attnNormNumGroups: Int?
    public var normEps: Double = 1e-5
    public var resnetTimeScaleShift: String = "default"
    public var addAttention: Bool = true
    public var classEmbedType: String?
    public var numClassEmbeds: Int?
    public var downsampleType: String = "conv"
    public var upsampleType: String = "conv"

    public init() {}

    enum CodingKeys: String, CodingKey {
        case sampleSize = "sample_size", inChannels = "in_channels", outChannels = "out_channels"
        case centerInputSample = "center_input_sample", timeEmbeddingType = "time_embedding_type", freqShift = "freq_shift"
        case flipSinToCos = "flip_sin_to_cos", downBlockTypes = "down_block_types", upBlockTypes = "up_block_types"
        case blockOutChannels = "block_out_channels", layersPerBlock = "layers_per_block", midBlockScaleFactor = "mid_block_scale_factor"
        case downsamplePadding = "downsample_padding", actFn = "act_fn", attentionHeadDim = "attention_head_dim"
        case normNumGroups = "norm_num_groups", attnNormNumGroups = "attn_norm_num_groups", normEps = "norm_eps"
        case resnetTimeScaleShift = "resnet_time_scale_shift", addAttention = "add_attention", classEmbedType = "class_embed_type"
        case numClassEmbeds = "num_class_embeds", downsampleType = "downsample_type", upsampleType = "upsample_type"
    }

    /// Keys absent from the file keep diffusers' defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = UNet2DConfig()
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T { try c.decodeIfPresent(T.self, forKey: key) ?? fallback }
        sampleSize = try value(.sampleSize, d.sampleSize)
        inChannels = try value(.inChannels, d.inChannels)
        outChannels = try value(.outChannels, d.outChannels)
        centerInputSample = try value(.centerInputSample, d.centerInputSample)
        timeEmbeddingType = try value(.timeEmbeddingType, d.timeEmbeddingType)
        freqShift = try value(.freqShift, d.freqShift)
        flipSinToCos = try value(.flipSinToCos, d.flipSinToCos)
        downBlockTypes = try value(.downBlockTypes, d.downBlockTypes)
        upBlockTypes = try value(.upBlockTypes, d.upBlockTypes)
        blockOutChannels = try value(.blockOutChannels, d.blockOutChannels)
        layersPerBlock = try value(.layersPerBlock, d.layersPerBlock)
        midBlockScaleFactor = try value(.midBlockScaleFactor, d.midBlockScaleFactor)
        downsamplePadding = try value(.downsamplePadding, d.downsamplePadding)
        actFn = try value(.actFn, d.actFn)
        attentionHeadDim = try c.contains(.attentionHeadDim) ? c.decodeIfPresent(Int.self, forKey: .attentionHeadDim) : d.attentionHeadDim
        normNumGroups = try value(.normNumGroups, d.normNumGroups)
        attnNormNumGroups = try c.decodeIfPresent(Int.self, forKey: .attnNormNumGroups)
        normEps = try value(.normEps, d.normEps)
        resnetTimeScaleShift = try value(.resnetTimeScaleShift, d.resnetTimeScaleShift)
        addAttention = try value(.addAttention, d.addAttention)
        classEmbedType = try c.decodeIfPresent(String.self, forKey: .classEmbedType)
        numClassEmbeds = try c.decodeIfPresent(Int.self, forKey: .numClassEmbeds)
        downsampleType = try value(.downsampleType, d.downsampleType)
        upsampleType = try value(.upsampleType, d.upsampleType)
    }

    /// Refuses what the builder does not implement, naming the key and value.
    public func validated(source: String) throws -> UNet2DConfig {
        func fail(_ problem: String) -> ModelFileError { ModelFileError(path: source, problem: problem) }
        let downs: Set<String> = ["DownBlock2D", "AttnDownBlock2D"], ups: Set<String> = ["UpBlock2D", "AttnUpBlock2D"]
        guard !blockOutChannels.isEmpty, downBlockTypes.count == blockOutChannels.count, upBlockTypes.count == blockOutChannels.count else {
            throw fail("block_out_channels, down_block_types and up_block_types must have the same, non-zero length")
        }
        for b in downBlockTypes where !downs.contains(b) { throw fail("down block type '\(b)' is not supported (\(downs.sorted()))") }
        for b in upBlockTypes where !ups.contains(b) { throw fail("up block type '\(b)' is not supported (\(ups.sorted()))") }
        guard timeEmbeddingType == "positional" || timeEmbeddingType == "fourier" else { throw fail("time_embedding_type '\(timeEmbeddingType)' is not supported") }
        guard ["silu", "swish", "relu", "gelu"].contains(actFn) else { throw fail("act_fn '\(actFn)' is not supported") }
        guard resnetTimeScaleShift == "default" || resnetTimeScaleShift == "scale_shift" else { throw fail("resnet_time_scale_shift '\(resnetTimeScaleShift)' is not supported") }
        guard classEmbedType == nil, numClassEmbeds == nil else { throw fail("class embeddings are not supported") }
        guard downsampleType == "conv", upsampleType == "conv" else { throw fail("down/upsample types other than conv are not supported") }
        guard layersPerBlock >= 1, normNumGroups >= 1, blockOutChannels.allSatisfy({ $0 % normNumGroups == 0 }), inChannels >= 1, outChannels >= 1 else {
            throw fail("layers_per_block, norm_num_groups and channels must be positive, channels divisible by norm_num_groups")
        }
        return self
    }
}

extension UNet2DConfig {
    /// The small U-Net of the shipped default model: 28x28 gray (Fashion-MNIST), channels
    /// 32/64/64, one ResNet block per level, attention at 14x14 and in the middle.
    public static var fashionMNIST: UNet2DConfig {
        var c = UNet2DConfig()
        c.sampleSize = 28; c.inChannels = 1; c.outChannels = 1
        c.blockOutChannels = [32, 64, 64]; c.layersPerBlock = 1; c.normNumGroups = 8; c.attentionHeadDim = 16
        c.downBlockTypes = ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D"]
        c.upBlockTypes = ["UpBlock2D", "AttnUpBlock2D", "UpBlock2D"]
        return c
    }
}

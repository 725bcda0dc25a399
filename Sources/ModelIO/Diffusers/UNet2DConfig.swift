// UNet2DConfig: a diffusers `UNet2DModel` config.json — every key of UNet2DModel.__init__, the same
// names, the same defaults as diffusers 0.42 — and its validation into a typed `UNet2DArchitecture`
// the builder switches over. What diffusers itself cannot build or run in a UNet2DModel (the
// cross-attention, VAE encoder/decoder and KCrossAttn blocks, skip or K blocks in layouts whose
// shapes do not meet) and what denoise does not implement is refused at validation, naming the
// key, the value, the reason and the accepted values. Not here: the graph (UNet2DBuilder), files
// (DiffusersFolder), the structural walk of the blocks (UNet2DArchitecture.swift).

import Foundation

/// A diffusers UNet2DModel configuration, as its config.json spells it.
public struct UNet2DConfig: Decodable, Sendable, Equatable {
    /// `sample_size`: the image height, and its width unless `sampleWidth` is set (a `[h, w]` pair).
    public var sampleSize: Int = 32
    public var sampleWidth: Int?
    public var inChannels: Int = 3
    public var outChannels: Int = 3
    public var centerInputSample: Bool = false
    public var timeEmbeddingType: String = "positional"
    /// `time_embedding_dim`: the time embedding's width; nil means 4 · block_out_channels[0].
    public var timeEmbeddingDim: Int?
    public var freqShift: Double = 0
    public var flipSinToCos: Bool = true
    public var downBlockTypes: [String] = ["DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"]
    /// `mid_block_type`: "UNetMidBlock2D", or nil (JSON null) for no mid block.
    public var midBlockType: String? = "UNetMidBlock2D"
    public var upBlockTypes: [String] = ["AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"]
    public var blockOutChannels: [Int] = [224, 448, 672, 896]
    public var layersPerBlock: Int = 2
    public var midBlockScaleFactor: Double = 1
    public var downsamplePadding: Int = 1
    public var downsampleType: String = "conv"
    public var upsampleType: String = "conv"
    /// `dropout`: accepted and ignored (inference).
    public var dropout: Double = 0
    public var actFn: String = "silu"
    public var attentionHeadDim: Int? = 8
    /// `norm_num_groups`: nil (JSON null) lets the blocks that allow it pick min(C / 4, 32).
    public var normNumGroups: Int? = 32
    public var attnNormNumGroups: Int?
    public var normEps: Double = 1e-5
    public var resnetTimeScaleShift: String = "default"
    public var addAttention: Bool = true
    public var classEmbedType: String?
    public var numClassEmbeds: Int?
    public var numTrainTimesteps: Int?
    /// `_class_name`: when present it must be "UNet2DModel".
    public var className: String?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case sampleSize = "sample_size", inChannels = "in_channels", outChannels = "out_channels"
        case centerInputSample = "center_input_sample", timeEmbeddingType = "time_embedding_type"
        case timeEmbeddingDim = "time_embedding_dim", freqShift = "freq_shift", flipSinToCos = "flip_sin_to_cos"
        case downBlockTypes = "down_block_types", midBlockType = "mid_block_type", upBlockTypes = "up_block_types"
        case blockOutChannels = "block_out_channels", layersPerBlock = "layers_per_block", midBlockScaleFactor = "mid_block_scale_factor"
        case downsamplePadding = "downsample_padding", downsampleType = "downsample_type", upsampleType = "upsample_type"
        case dropout, actFn = "act_fn", attentionHeadDim = "attention_head_dim", normNumGroups = "norm_num_groups"
        case attnNormNumGroups = "attn_norm_num_groups", normEps = "norm_eps", resnetTimeScaleShift = "resnet_time_scale_shift"
        case addAttention = "add_attention", classEmbedType = "class_embed_type", numClassEmbeds = "num_class_embeds"
        case numTrainTimesteps = "num_train_timesteps", className = "_class_name"
    }

    /// Keys absent from the file keep diffusers' defaults; a key present as null is nil.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = UNet2DConfig()
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T { try c.decodeIfPresent(T.self, forKey: key) ?? fallback }
        /// Absent: the default; null: nil; else the value.
        func nullable<T: Decodable>(_ key: CodingKeys, _ fallback: T?) throws -> T? {
            try c.contains(key) ? c.decodeIfPresent(T.self, forKey: key) : fallback
        }
        if c.contains(.sampleSize), try c.decodeNil(forKey: .sampleSize) {
            sampleSize = 0  // refused at validation: the graph needs the image size
        } else if let pair = try? c.decode([Int].self, forKey: .sampleSize) {
            guard pair.count == 2 else {
                throw DecodingError.dataCorruptedError(forKey: .sampleSize, in: c, debugDescription: "sample_size must be an integer or [height, width], not \(pair)")
            }
            (sampleSize, sampleWidth) = (pair[0], pair[1])
        } else {
            sampleSize = try value(.sampleSize, d.sampleSize)
        }
        inChannels = try value(.inChannels, d.inChannels)
        outChannels = try value(.outChannels, d.outChannels)
        centerInputSample = try value(.centerInputSample, d.centerInputSample)
        timeEmbeddingType = try value(.timeEmbeddingType, d.timeEmbeddingType)
        timeEmbeddingDim = try c.decodeIfPresent(Int.self, forKey: .timeEmbeddingDim)
        freqShift = try value(.freqShift, d.freqShift)
        flipSinToCos = try value(.flipSinToCos, d.flipSinToCos)
        downBlockTypes = try value(.downBlockTypes, d.downBlockTypes)
        midBlockType = try nullable(.midBlockType, d.midBlockType)
        upBlockTypes = try value(.upBlockTypes, d.upBlockTypes)
        blockOutChannels = try value(.blockOutChannels, d.blockOutChannels)
        layersPerBlock = try value(.layersPerBlock, d.layersPerBlock)
        midBlockScaleFactor = try value(.midBlockScaleFactor, d.midBlockScaleFactor)
        downsamplePadding = try value(.downsamplePadding, d.downsamplePadding)
        downsampleType = try value(.downsampleType, d.downsampleType)
        upsampleType = try value(.upsampleType, d.upsampleType)
        dropout = try value(.dropout, d.dropout)
        actFn = try value(.actFn, d.actFn)
        attentionHeadDim = try nullable(.attentionHeadDim, d.attentionHeadDim)
        normNumGroups = try nullable(.normNumGroups, d.normNumGroups)
        attnNormNumGroups = try c.decodeIfPresent(Int.self, forKey: .attnNormNumGroups)
        normEps = try value(.normEps, d.normEps)
        resnetTimeScaleShift = try value(.resnetTimeScaleShift, d.resnetTimeScaleShift)
        addAttention = try value(.addAttention, d.addAttention)
        classEmbedType = try c.decodeIfPresent(String.self, forKey: .classEmbedType)
        numClassEmbeds = try c.decodeIfPresent(Int.self, forKey: .numClassEmbeds)
        numTrainTimesteps = try c.decodeIfPresent(Int.self, forKey: .numTrainTimesteps)
        className = try c.decodeIfPresent(String.self, forKey: .className)
    }

    /// The image shape the network takes and returns: `[in_channels, height, width]`.
    public var imageShape: [Int] { [inChannels, sampleSize, sampleWidth ?? sampleSize] }

    /// This config, when the builder implements it and diffusers can run it; otherwise an error
    /// naming the key, the value and the accepted values.
    /// Values are checked by `architecture(source:)`, the blocks' shapes by a weightless build.
    public func validated(source: String) throws -> UNet2DConfig {
        _ = try architecture(source: source)
        do { try UNet2DBuilder.check(self) } catch let refusal as UNet2DBuilder.Refusal {
            throw ModelFileError(path: source, problem: refusal.description)
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

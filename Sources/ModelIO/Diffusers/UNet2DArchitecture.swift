// UNet2DArchitecture: a UNet2DModel config read into the typed choices UNet2DBuilder switches over
// (block kinds, time and class embeddings, activation, resampling), after checking every value:
// an unknown or refused value is an error naming the key, the value, why, and what is accepted.
// Refused block types carry the reason diffusers' own UNet2DModel cannot build or run them.
// Structural checks that need the walk over the blocks (group counts, skip-path and skip-
// connection shapes) are the builder's, run by `UNet2DConfig.validated` as a weightless build.

import Foundation

/// What a validated UNet2DModel config builds.
public struct UNet2DArchitecture: Sendable {
    /// get_down_block types UNet2DModel can build and run (the `UNetRes` prefix is dropped, as diffusers does).
    public enum DownBlock: String, CaseIterable, Sendable {
        case plain = "DownBlock2D", attention = "AttnDownBlock2D", resnetDownsample = "ResnetDownsampleBlock2D"
        case skip = "SkipDownBlock2D", attentionSkip = "AttnSkipDownBlock2D", k = "KDownBlock2D"
    }
    /// get_up_block types UNet2DModel can build and run.
    public enum UpBlock: String, CaseIterable, Sendable {
        case plain = "UpBlock2D", attention = "AttnUpBlock2D", resnetUpsample = "ResnetUpsampleBlock2D"
        case skip = "SkipUpBlock2D", attentionSkip = "AttnSkipUpBlock2D", k = "KUpBlock2D"
    }
    /// `time_embedding_type`.
    public enum TimeEmbedding: Sendable, Equatable {
        /// Sinusoidal (Timesteps): int64 timesteps.
        case positional
        /// GaussianFourierProjection of log(t), and the output divided by t: float32 timesteps (noise levels).
        case fourier
        /// nn.Embedding(num_train_timesteps, C0): int64 timesteps in 0..<timesteps.
        case learned(timesteps: Int)
    }
    /// `act_fn` of the ResNet blocks (the time MLP and the output head are always SiLU in diffusers).
    public enum Activation: String, CaseIterable, Sendable {
        case silu, swish, mish, gelu, relu
    }
    /// `downsample_type` / `upsample_type` of AttnDownBlock2D / AttnUpBlock2D.
    public enum Resampling: String, CaseIterable, Sendable {
        case conv, resnet
    }
    /// `resnet_time_scale_shift`.
    public enum TimeConditioning: String, CaseIterable, Sendable {
        case additive = "default", scaleShift = "scale_shift"
    }
    /// The class embedding added to the time embedding (`class_embed_type`, `num_class_embeds`).
    public enum ClassEmbedding: Sendable, Equatable {
        /// class_embed_type null with num_class_embeds: nn.Embedding(classes, time_embed_dim); labels int64 `[batch]`.
        case table(classes: Int)
        /// "timestep": the labels through time_proj and their own TimestepEmbedding; labels float32 `[batch]`.
        case timestep
        /// "identity": the labels are the embedding; float32 `[batch, time_embed_dim]`.
        case identity
    }

    public var down: [DownBlock]
    public var up: [UpBlock]
    public var time: TimeEmbedding
    /// Width of the time embedding: `time_embedding_dim`, else 4 · block_out_channels[0].
    public var timeEmbedDim: Int
    public var classEmbedding: ClassEmbedding?
    public var activation: Activation
    public var conditioning: TimeConditioning
    public var downsample: Resampling
    public var upsample: Resampling
    public var midBlock: Bool
    public var height: Int
    public var width: Int

    /// Block types refused by name, with the reason diffusers' UNet2DModel cannot use them.
    static let refusedBlocks: [String: String] = [
        "CrossAttnDownBlock2D": "it needs cross_attention_dim (text conditioning), which UNet2DModel never passes — a UNet2DConditionModel block",
        "SimpleCrossAttnDownBlock2D": "it needs cross_attention_dim (text conditioning), which UNet2DModel never passes — a UNet2DConditionModel block",
        "CrossAttnUpBlock2D": "it needs cross_attention_dim (text conditioning), which UNet2DModel never passes — a UNet2DConditionModel block",
        "SimpleCrossAttnUpBlock2D": "it needs cross_attention_dim (text conditioning), which UNet2DModel never passes — a UNet2DConditionModel block",
        "KCrossAttnDownBlock2D": "UNet2DModel builds it without cross_attention_dim and its forward then fails (a UNet2DConditionModel block)",
        "KCrossAttnUpBlock2D": "UNet2DModel builds it without cross_attention_dim and its forward then fails (a UNet2DConditionModel block)",
        "DownEncoderBlock2D": "a VAE encoder block: it takes no time embedding and returns one tensor, which UNet2DModel's down loop cannot unpack (TypeError in diffusers)",
        "AttnDownEncoderBlock2D": "a VAE encoder block: it takes no time embedding and returns one tensor, which UNet2DModel's down loop cannot unpack (TypeError in diffusers)",
        "UpDecoderBlock2D": "a VAE decoder block: its forward takes neither skip connections nor a time embedding, which UNet2DModel's up loop passes (TypeError in diffusers)",
        "AttnUpDecoderBlock2D": "a VAE decoder block: its forward takes neither skip connections nor a time embedding, which UNet2DModel's up loop passes (TypeError in diffusers)",
    ]
}

extension UNet2DConfig {
    /// The typed architecture, or an error naming the first value the builder does not implement
    /// or diffusers cannot run. Structural checks over the blocks are the builder's (`validated`).
    public func architecture(source: String) throws -> UNet2DArchitecture {
        typealias A = UNet2DArchitecture
        func fail(_ problem: String) -> ModelFileError { ModelFileError(path: source, problem: problem) }
        func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ value: String, _: T.Type) throws -> T where T.RawValue == String {
            guard let v = T(rawValue: value) else {
                throw fail("\(key) '\(value)' is not supported (accepted: \(T.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return v
        }
        if let className, className != "UNet2DModel" {
            throw fail("_class_name '\(className)' is not UNet2DModel; only UNet2DModel configs are built")
        }
        let (height, width) = (sampleSize, sampleWidth ?? sampleSize)
        guard height >= 1, width >= 1 else { throw fail("sample_size must be a positive size or [height, width] (got \(height)x\(width)); the graph's image shape comes from it") }
        guard inChannels >= 1, outChannels >= 1 else { throw fail("in_channels and out_channels must be positive (got \(inChannels), \(outChannels))") }
        guard !blockOutChannels.isEmpty, blockOutChannels.allSatisfy({ $0 >= 1 }) else {
            throw fail("block_out_channels must be a non-empty list of positive counts (got \(blockOutChannels))")
        }
        guard downBlockTypes.count == blockOutChannels.count, upBlockTypes.count == blockOutChannels.count else {
            throw fail("block_out_channels (\(blockOutChannels.count)), down_block_types (\(downBlockTypes.count)) and up_block_types (\(upBlockTypes.count)) must have the same length")
        }
        guard layersPerBlock >= 1 else { throw fail("layers_per_block must be at least 1 (got \(layersPerBlock))") }
        let scale = 1 << (blockOutChannels.count - 1)
        guard height % scale == 0, width % scale == 0 else {
            throw fail("sample_size \(height)x\(width) must be a multiple of 2^(levels − 1) = \(scale), as UNet2DModel requires, so skip connections meet")
        }

        func block<T: RawRepresentable & CaseIterable>(_ key: String, _ i: Int, _ name: String, _: T.Type) throws -> T where T.RawValue == String {
            let stripped = name.hasPrefix("UNetRes") ? String(name.dropFirst(7)) : name  // diffusers' get_*_block alias
            if let v = T(rawValue: stripped) { return v }
            let accepted = T.allCases.map(\.rawValue).joined(separator: ", ")
            if let reason = A.refusedBlocks[stripped] { throw fail("\(key)[\(i)] '\(name)' is refused: \(reason) (accepted: \(accepted))") }
            throw fail("\(key)[\(i)] '\(name)' is not a diffusers block type UNet2DModel can build (accepted: \(accepted))")
        }
        let down = try downBlockTypes.enumerated().map { try block("down_block_types", $0, $1, A.DownBlock.self) }
        let up = try upBlockTypes.enumerated().map { try block("up_block_types", $0, $1, A.UpBlock.self) }
        let kDown = down.filter { $0 == .k }.count, kUp = up.filter { $0 == .k }.count
        guard (kDown == 0 && kUp == 0) || (kDown == down.count && kUp == up.count) else {
            throw fail("KDownBlock2D / KUpBlock2D are built only as a complete set (every down block KDownBlock2D, every up block KUpBlock2D): "
                       + "their skip connections (one per ResNet, none after downsampling) do not line up with the other blocks' (got \(downBlockTypes) / \(upBlockTypes))")
        }

        let time: A.TimeEmbedding
        switch timeEmbeddingType {
        case "positional": time = .positional
        case "fourier": time = .fourier
        case "learned":
            guard let n = numTrainTimesteps, n >= 1 else { throw fail("time_embedding_type 'learned' needs num_train_timesteps (the embedding table's rows); got \(numTrainTimesteps.map(String.init) ?? "null")") }
            time = .learned(timesteps: n)
        default: throw fail("time_embedding_type '\(timeEmbeddingType)' is not supported (accepted: positional, fourier, learned)")
        }
        if let timeEmbeddingDim, timeEmbeddingDim < 1 { throw fail("time_embedding_dim must be positive (got \(timeEmbeddingDim))") }

        let classEmbedding: A.ClassEmbedding?
        switch classEmbedType {
        case nil:
            if let n = numClassEmbeds {
                guard n >= 1 else { throw fail("num_class_embeds must be positive (got \(n))") }
                classEmbedding = .table(classes: n)
            } else {
                classEmbedding = nil
            }
        case "timestep": classEmbedding = .timestep
        case "identity": classEmbedding = .identity
        case let other?:
            throw fail("class_embed_type '\(other)' is not supported: UNet2DModel implements only null (with num_class_embeds), timestep and identity")
        }

        let conditioning: A.TimeConditioning
        switch resnetTimeScaleShift {
        case "spatial", "ada_group":
            throw fail("resnet_time_scale_shift '\(resnetTimeScaleShift)' is refused: diffusers' ResnetBlock2D, which UNet2DModel's blocks build, raises for it (accepted: default, scale_shift)")
        default: conditioning = try choice("resnet_time_scale_shift", resnetTimeScaleShift, A.TimeConditioning.self)
        }
        let activation = try choice("act_fn", actFn, A.Activation.self)
        let downsample = try choice("downsample_type", downsampleType, A.Resampling.self)
        let upsample = try choice("upsample_type", upsampleType, A.Resampling.self)
        switch midBlockType {
        case nil, "UNetMidBlock2D": break
        case let other?:
            throw fail("mid_block_type '\(other)' is not supported: UNet2DModel builds UNetMidBlock2D for any non-null value, so only UNetMidBlock2D or null are accepted")
        }
        guard normEps > 0 else { throw fail("norm_eps must be positive (got \(normEps))") }
        if let g = normNumGroups, g < 1 { throw fail("norm_num_groups must be positive or null (got \(g))") }
        if let g = attnNormNumGroups, g < 1 { throw fail("attn_norm_num_groups must be positive or null (got \(g))") }
        if let d = attentionHeadDim, d < 1 { throw fail("attention_head_dim must be positive or null (got \(d))") }
        return UNet2DArchitecture(down: down, up: up, time: time, timeEmbedDim: timeEmbeddingDim ?? 4 * blockOutChannels[0],
                                  classEmbedding: classEmbedding, activation: activation, conditioning: conditioning,
                                  downsample: downsample, upsample: upsample, midBlock: midBlockType != nil, height: height, width: width)
    }
}

// UNet2DBuilder+Blocks: the down, mid and up blocks of diffusers' unet_2d_blocks.py that
// UNet2DModel builds, one case per UNet2DArchitecture block kind, with diffusers' own channel and
// group arithmetic (quirks included: skip blocks pick their groups as min(C / 4, 32), and
// AttnSkipUpBlock2D's first norm uses min(in + skip / 4, 32) by operator precedence). Every skip
// concat checks that diffusers' channel count and resolution meet (`Refusal` otherwise). Layers
// are in UNet2DBuilder+Layers.swift.

import Foundation
import Graphs
import Tensors

extension UNet2DBuilder {
    /// Skip blocks' output_scale_factor, np.sqrt(2.0).
    static let skipScale = 2.0.squareRoot()

    /// The group count of blocks that use `norm_num_groups` (a null one fails in diffusers' GroupNorm).
    func resnetGroups(_ block: String) throws -> Int {
        guard let g = config.normNumGroups else {
            throw Refusal(description: "\(block): norm_num_groups is null, but this block's GroupNorm needs a group count in diffusers "
                          + "(only skip and K blocks choose their own)")
        }
        return g
    }

    // MARK: down

    /// Down block `i`: resnets (+ attentions) appending skip connections to `res`, then the downsampler.
    mutating func downBlock(_ i: Int, _ type: UNet2DArchitecture.DownBlock, _ h: inout Feature, _ res: inout [Feature],
                            _ skipSample: inout Feature, _ emb: ValueID) throws {
        let c = config, name = "down_blocks.\(i)", out = c.blockOutChannels[i], last = i == c.blockOutChannels.count - 1
        switch type {
        case .plain, .attention, .resnetDownsample:
            let groups = try resnetGroups(name)
            for j in 0..<c.layersPerBlock {
                h = try resnet("\(name).resnets.\(j)", h, emb, to: out, ResnetOptions(groups: groups))
                if type == .attention { h = try attention("\(name).attentions.\(j)", h, groups: groups) }
                res.append(h)
            }
            guard !last else { return }
            // ResnetDownsampleBlock2D by a ResNet with average pooling; AttnDownBlock2D as downsample_type says; DownBlock2D by conv.
            if type == .resnetDownsample || (type == .attention && arch.downsample == .resnet) {
                h = try resnet("\(name).downsamplers.0", h, emb, to: out, ResnetOptions(groups: groups, resample: .averagePoolDown))
            } else {
                h = try downsampleConv("\(name).downsamplers.0.conv", h)
            }
            res.append(h)                                                                  // [B, out, H/2, W/2]
        case .skip, .attentionSkip:
            for j in 0..<c.layersPerBlock {
                let o = ResnetOptions(groups: min(h.channels / 4, 32), groupsOut: min(out / 4, 32), scale: Self.skipScale)
                h = try resnet("\(name).resnets.\(j)", h, emb, to: out, o)
                if type == .attentionSkip { h = try attention("\(name).attentions.\(j)", h, groups: 32, rescale: Self.skipScale) }
                res.append(h)
            }
            guard !last else { return }
            let g = min(out / 4, 32)
            h = try resnet("\(name).resnet_down", h, emb, to: out,
                           ResnetOptions(groups: g, scale: Self.skipScale, resample: .firDown, shortcut: true))
            skipSample = resampled(skipSample, .firDown)                                   // FirDownsample2D of the sample path
            guard skipSample.level == h.level, skipSample.channels == 3 else {
                throw Refusal(description: "\(name).skip_conv: diffusers' skip_conv takes the 3-channel sample path at the block's output resolution; "
                              + "here it has \(skipSample.channels) channels at 1/\(1 << skipSample.level) against 1/\(1 << h.level) "
                              + "(skip down blocks need in_channels 3 and only skip blocks before them)")
            }
            let projected = try conv("\(name).skip_conv", skipSample.id, 3, out, kernel: 1, padding: 0)  // [B, out, h, w]
            h.id = node(.binary(.add), [projected, h.id])
            res.append(h)
        case .k:
            for j in 0..<c.layersPerBlock {
                h = try kResnet("\(name).resnets.\(j)", h, emb, to: out, groups: h.channels / 32, groupsOut: out / 32)
                res.append(h)
            }
            if !last { h = resampled(h, .kDown) }                                          // KDownsample2D; no skip connection
        }
    }

    // MARK: mid

    /// UNetMidBlock2D: resnet → attention (unless add_attention is false) → resnet, all ÷ mid_block_scale_factor.
    mutating func midBlock(_ h: Feature, _ emb: ValueID) throws -> Feature {
        let c = config, top = h.channels, scale = c.midBlockScaleFactor
        let groups = c.normNumGroups ?? min(top / 4, 32)
        // The attention's norm: attn_norm_num_groups, else the resnets' groups, and none with scale_shift.
        let attentionGroups = c.attnNormNumGroups ?? (arch.conditioning == .additive ? groups : nil)
        var h = try resnet("mid_block.resnets.0", h, emb, to: top, ResnetOptions(groups: groups, scale: scale))
        if c.addAttention { h = try attention("mid_block.attentions.0", h, groups: attentionGroups, rescale: scale) }
        return try resnet("mid_block.resnets.1", h, emb, to: top, ResnetOptions(groups: groups, scale: scale))
    }

    // MARK: up

    /// Up block `i`: concat skip connections from `res` into resnets (+ attentions), then the upsampler.
    mutating func upBlock(_ i: Int, _ type: UNet2DArchitecture.UpBlock, _ h: inout Feature, _ res: inout [Feature],
                          _ skipSample: inout Feature?, _ emb: ValueID) throws {
        let c = config, name = "up_blocks.\(i)", reversed = Array(c.blockOutChannels.reversed())
        let out = reversed[i], input = reversed[min(i + 1, reversed.count - 1)], last = i == reversed.count - 1
        let prev = i == 0 ? reversed[0] : reversed[i - 1], layers = c.layersPerBlock + 1
        /// Pops a skip connection and concatenates it, checking diffusers' `resnet_in + res_skip` channels.
        func concatSkip(_ h: Feature, _ j: Int, _ res: inout [Feature]) throws -> Feature {
            let skip = try popSkip(&res, name)
            let expected = (j == 0 ? prev : out) + (j == layers - 1 ? input : out)
            return try concat(h, skip, "\(name).resnets.\(j)", expected: expected)
        }
        switch type {
        case .plain, .attention, .resnetUpsample:
            let groups = try resnetGroups(name)
            for j in 0..<layers {
                h = try resnet("\(name).resnets.\(j)", try concatSkip(h, j, &res), emb, to: out, ResnetOptions(groups: groups))
                if type == .attention { h = try attention("\(name).attentions.\(j)", h, groups: groups) }
            }
            guard !last else { return }
            // ResnetUpsampleBlock2D by a ResNet with nearest upsampling; AttnUpBlock2D as upsample_type says; UpBlock2D by nearest + conv.
            if type == .resnetUpsample || (type == .attention && arch.upsample == .resnet) {
                h = try resnet("\(name).upsamplers.0", h, emb, to: out, ResnetOptions(groups: groups, resample: .nearestUp))
            } else {
                h = try conv("\(name).upsamplers.0.conv", resampled(h, .nearestUp), to: out, kernel: 3, padding: 1)
            }
        case .skip, .attentionSkip:
            for j in 0..<layers {
                let resnetIn = j == 0 ? prev : out, resSkip = j == layers - 1 ? input : out
                // diffusers: SkipUpBlock2D min((in + skip) // 4, 32); AttnSkipUpBlock2D min(in + skip // 4, 32).
                let groups = type == .skip ? min((resnetIn + resSkip) / 4, 32) : min(resnetIn + resSkip / 4, 32)
                let o = ResnetOptions(groups: groups, groupsOut: min(out / 4, 32), scale: Self.skipScale)
                h = try resnet("\(name).resnets.\(j)", try concatSkip(h, j, &res), emb, to: out, o)
            }
            if type == .attentionSkip { h = try attention("\(name).attentions.0", h, groups: 32, rescale: Self.skipScale) }
            if let s = skipSample { skipSample = resampled(s, .firUp) }                    // FirUpsample2D, every skip up block
            guard !last else { return }
            let g = min(out / 4, 32)
            let normed = node(.unary(.silu), [try groupNorm("\(name).skip_norm", h.id, out, groups: g)])
            let projected = Feature(id: try conv("\(name).skip_conv", normed, out, 3, padding: 1), channels: 3, level: h.level)
            if let s = skipSample {
                guard s.level == h.level else {
                    throw Refusal(description: "\(name): the skip-sample path is at 1/\(1 << s.level) resolution but the block at 1/\(1 << h.level); "
                                  + "skip up blocks must not be separated by other upsampling blocks (diffusers fails adding them)")
                }
                skipSample = Feature(id: node(.binary(.add), [s.id, projected.id]), channels: 3, level: h.level)
            } else {
                skipSample = projected
            }
            h = try resnet("\(name).resnet_up", h, emb, to: out,
                           ResnetOptions(groups: g, groupsOut: g, scale: Self.skipScale, resample: .firUp, shortcut: true))
        case .k:
            // KUpBlock2D: layers_per_block resnets take one skip connection (the last of the ones
            // UNet2DModel hands it) concatenated to 2·out channels; the last resnet outputs `input`.
            var handed: [Feature] = []
            for _ in 0..<c.layersPerBlock { handed.append(try popSkip(&res, name)) }
            h = try concat(h, handed[0], "\(name).resnets.0", expected: 2 * out)
            for j in 0..<c.layersPerBlock {
                let to = j == c.layersPerBlock - 1 ? input : out
                h = try kResnet("\(name).resnets.\(j)", h, emb, to: to, groups: h.channels / 32, groupsOut: out / 32)
            }
            if !last { h = resampled(h, .kUp) }                                            // KUpsample2D
        }
    }

    /// The most recent skip connection.
    func popSkip(_ res: inout [Feature], _ block: String) throws -> Feature {
        guard let skip = res.popLast() else { throw Refusal(description: "\(block): no skip connection left for it (the down blocks made too few)") }
        return skip
    }

    /// `[h, skip]` along channels, which diffusers' next layer was built for as `expected` channels.
    mutating func concat(_ h: Feature, _ skip: Feature, _ layer: String, expected: Int) throws -> Feature {
        guard h.level == skip.level, h.channels + skip.channels == expected else {
            throw Refusal(description: "\(layer): diffusers builds it for \(expected) input channels, but the features (\(h.channels) channels at 1/\(1 << h.level)) "
                          + "and their skip connection (\(skip.channels) channels at 1/\(1 << skip.level)) do not give that")
        }
        return Feature(id: node(.concat(axis: 1), [h.id, skip.id]), channels: expected, level: h.level)  // [B, C + skip, H, W]
    }
}

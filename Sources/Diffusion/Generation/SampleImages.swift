// SampleImages: model-space samples (`[N, C, H, W]`, nominally [-1, 1]) to 8-bit images the way
// diffusers' pipelines do it: (x / 2 + 0.5) clamped to [0, 1], times 255, rounded. A NaN sample
// (a model or sampler that diverged) is an error naming the sample, not an image.

import Imaging
import Tensors

public enum SampleImages {
    /// Sample `index` of `samples` `[N, C, H, W]` (C = 1 or 3) as an 8-bit image.
    public static func image(_ samples: Tensor, index: Int) throws -> Image8 {
        guard samples.rank == 4, samples.shape[1] == 1 || samples.shape[1] == 3, index >= 0, index < samples.shape[0] else {
            throw TensorError.invalidArgument(op: "SampleImages.image", "needs [N, 1 or 3, H, W] samples and an index < N, got \(samples.shape), \(index)")
        }
        let (c, h, w) = (samples.shape[1], samples.shape[2], samples.shape[3])
        let base = samples.pointer + index * c * h * w
        var pixels = [UInt8](repeating: 0, count: c * h * w)
        for y in 0..<h {
            for x in 0..<w {
                for ch in 0..<c {
                    let value = base[(ch * h + y) * w + x]
                    guard !value.isNaN else {
                        throw DiffusionError("sample \(index) is not a number at channel \(ch), row \(y), column \(x): the model's output diverged")
                    }
                    let v = min(max(value / 2 + 0.5, 0), 1)
                    pixels[(y * w + x) * c + ch] = UInt8((v * 255).rounded(.toNearestOrEven))
                }
            }
        }
        withExtendedLifetime(samples) {}
        return Image8(width: w, height: h, channels: c, pixels: pixels)
    }
}

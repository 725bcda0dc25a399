// ImageConversion: 8-bit images into the tensors image-to-image and inpainting take — an init
// image into model space `[C, H, W]` (x = v/255·2 − 1, the inverse of SampleImages: a sample's
// 8-bit image converts back to bytes it was made of), a mask image into `[1, H, W]` in [0, 1]
// (white = 1 = regenerate, black = 0 = keep). The CLI and the server both convert here. Without
// `resize` the image must already have the model's size (and, for init images, channels); with
// it, the image is converted gray ↔ RGB, center-cropped to the model's aspect ratio and resized
// (Imaging's Image8+Resize). Not here: PNG decoding (Imaging's PNG).

import Imaging
import Tensors

public enum ImageConversion {
    /// `image` as a model-space tensor of `shape` `[C, H, W]` (C = 1 or 3), x = v/255·2 − 1.
    /// - Parameter resize: convert channels and crop/resize to `shape`; false: a different size
    ///   or channel count is an error naming the expected `[C, H, W]`.
    public static func tensor(from image: Image8, shape: [Int], resize: Bool) throws -> Tensor {
        guard shape.count == 3, shape[0] == 1 || shape[0] == 3, shape[1] >= 1, shape[2] >= 1 else {
            throw DiffusionError("init images convert to [C, H, W] with C = 1 or 3, not \(shape)")
        }
        let (c, h, w) = (shape[0], shape[1], shape[2])
        var image = image
        if resize {
            image = image.converted(channels: c).centerCropped(width: w, height: h).resized(width: w, height: h)
        } else if image.channels != c || image.height != h || image.width != w {
            throw DiffusionError("the init image is \(image.width)x\(image.height) with \(image.channels) channel(s) ([C, H, W] = "
                                 + "[\(image.channels), \(image.height), \(image.width)]); the model takes [C, H, W] = [\(c), \(h), \(w)] "
                                 + "(resize it, or ask for resizing)")
        }
        let x = Tensor(uninitialized: Shape([c, h, w]))
        for y in 0..<h {
            for px in 0..<w {
                for ch in 0..<c { x.pointer[(ch * h + y) * w + px] = Float(image.pixels[(y * w + px) * c + ch]) / 255 * 2 - 1 }
            }
        }
        return x
    }

    /// A mask image (gray, or RGB taken as its ITU-R 601 gray) as `[1, height, width]` in [0, 1]:
    /// v/255, white = 1 = regenerate, black = 0 = keep; resizing makes gray edges, which mix.
    /// - Parameter resize: crop/resize to `height`×`width`; false: another size is an error
    ///   naming the expected `[1, H, W]`.
    public static func mask(from image: Image8, height h: Int, width w: Int, resize: Bool) throws -> Tensor {
        guard h >= 1, w >= 1 else { throw DiffusionError("masks convert to [1, H, W] with H, W ≥ 1, not [1, \(h), \(w)]") }
        var gray = image.converted(channels: 1)
        if resize {
            gray = gray.centerCropped(width: w, height: h).resized(width: w, height: h)
        } else if gray.height != h || gray.width != w {
            throw DiffusionError("the mask is \(image.width)x\(image.height) ([1, H, W] = [1, \(image.height), \(image.width)]); "
                                 + "the model takes [1, H, W] = [1, \(h), \(w)] (resize it, or ask for resizing)")
        }
        return Tensor(shape: [1, h, w], scalars: gray.pixels.map { Float($0) / 255 })
    }
}

// ImageHarnesses: pictures and datasets — PNG bytes as init images and masks arrive (decoded,
// then converted to model tensors with and without resizing, gray and RGB, square and not) and
// IDX dataset files (raw or gzipped) as `denoise train --data FILE` reads them.

import Diffusion
import Foundation
import Imaging

enum ImageHarnesses {
    /// Model image shapes `[C, H, W]` the conversions target: gray square, RGB wider than tall.
    static let shapes = [[1, 8, 8], [3, 12, 16]]

    /// A PNG: decoded, its tEXt chunks read, then converted to every shape as an init image and
    /// a mask. Resizing must succeed for any decoded picture; without it, a size or channel
    /// mismatch is an expected refusal.
    static func png(_ bytes: [UInt8]) throws {
        let data = Data(bytes)
        _ = PNG.text(of: data)
        let image = try PNG.decode(data, path: "fuzz.png")
        for shape in shapes {
            _ = try ImageConversion.tensor(from: image, shape: shape, resize: true)
            _ = try ImageConversion.mask(from: image, height: shape[1], width: shape[2], resize: true)
            _ = try? ImageConversion.tensor(from: image, shape: shape, resize: false)
            _ = try? ImageConversion.mask(from: image, height: shape[1], width: shape[2], resize: false)
        }
    }

    /// IDX bytes read both as an image file and as a label file; accepted when either reads them.
    static func idx(_ bytes: [UInt8]) throws {
        let images = Result { try IDX.images(bytes: bytes, path: "fuzz-images-idx3-ubyte") }
        let labels = Result { try IDX.labels(bytes: bytes, path: "fuzz-labels-idx1-ubyte") }
        if case .failure(let error) = images, case .failure = labels { throw error }
    }
}

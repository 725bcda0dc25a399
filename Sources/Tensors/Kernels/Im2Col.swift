// Im2Col: the lowering loops behind every convolution. `im2col` copies one group of an image
// into the column matrix that turns a convolution into a GEMM; `col2im` adds a column matrix
// back into an image (its adjoint). Both work row by row of the column matrix, copying (or
// adding) contiguous spans when the stride is 1 and zero-filling the padded edges, so the inner
// loops are plain memcpy / vector adds. Single-threaded; callers split rows (im2col) or
// channels (col2im: each channel owns its KH·KW rows, so no two chunks write the same pixel).
// Geometry in `ConvGeometry` (`Convolution.swift`).

/// Column rows cover `(c, kh, kw)` of one group, row index `(c·KH + kh)·KW + kw`; columns cover
/// output positions `oh·OW + ow`. Entry = image[c, oh·sh − pt + kh·dh, ow·sw − pl + kw·dw], or 0
/// where that falls in the padding.
extension ConvGeometry {
    /// The output columns `ow` whose input column `ow·sw − pl + kw·dw` lies inside the image.
    @inline(__always)
    func validColumns(kw: Int) -> Range<Int> {
        let offset = kw * options.dilationW - options.padLeft  // iw = ow·sw + offset
        let lo = max(0, ceilDivide(-offset, options.strideW))
        let hi = min(outWidth, floorDivide(width - 1 - offset, options.strideW) + 1)
        return lo..<max(lo, hi)
    }

    /// Writes rows `rows` of the `[Cg·KH·KW, OH·OW]` column matrix of `image` (one group's
    /// `[Cg, H, W]`) into `col`; with `outRows`, only the columns of those output rows, stored as
    /// a `[Cg·KH·KW, outRows.count·OW]` matrix. `ld` is the row stride of `col` (default: the row
    /// length), so several images can fill side-by-side column blocks of one matrix.
    func im2col(_ image: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, rows: Range<Int>,
                outRows: Range<Int>? = nil, ld: Int? = nil) {
        let kk = kernelH * kernelW, sw = options.strideW, ow = outWidth
        let band = outRows ?? 0..<outHeight
        let rowStride = ld ?? band.count * ow
        for r in rows {
            let c = r / kk, kh = (r % kk) / kernelW, kw = r % kernelW
            let valid = validColumns(kw: kw)
            let offset = kw * options.dilationW - options.padLeft
            let plane = image + c * height * width
            var dst = col + r * rowStride
            for oh in band {
                let ih = oh * options.strideH - options.padTop + kh * options.dilationH
                // Inline loops, not memcpy/memset calls: rows are often 8–32 floats, where a call costs more than the copy.
                if ih < 0 || ih >= height || valid.isEmpty {
                    for x in 0..<ow { dst[x] = 0 }
                } else {
                    let src = plane + ih * width
                    for x in 0..<valid.lowerBound { dst[x] = 0 }
                    if sw == 1 {
                        let s = src + offset
                        for x in valid { dst[x] = s[x] }
                    } else {
                        for x in valid { dst[x] = src[x * sw + offset] }
                    }
                    for x in valid.upperBound..<ow { dst[x] = 0 }
                }
                dst += ow
            }
        }
    }

    /// Adds the column matrix `col` (`[Cg·KH·KW, OH·OW]`) into channels `channels` of `image`
    /// (one group's `[Cg, H, W]`), visiting rows and positions in a fixed order.
    func col2im(_ col: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>, channels: Range<Int>) {
        let kk = kernelH * kernelW, sw = options.strideW, ow = outWidth
        for c in channels {
            let plane = image + c * height * width
            for k in 0..<kk {
                let kh = k / kernelW, kw = k % kernelW
                let valid = validColumns(kw: kw)
                if valid.isEmpty { continue }
                let offset = kw * options.dilationW - options.padLeft
                var src = col + (c * kk + k) * colCount
                for oh in 0..<outHeight {
                    let ih = oh * options.strideH - options.padTop + kh * options.dilationH
                    if ih >= 0 && ih < height {
                        let dst = plane + ih * width
                        if sw == 1 {
                            let d = dst + offset, s = src
                            for x in valid { d[x] += s[x] }
                        } else {
                            for x in valid { dst[x * sw + offset] += src[x] }
                        }
                    }
                    src += ow
                }
            }
        }
    }
}

/// ⌊a / b⌋ for b > 0 and any sign of a.
@inline(__always) func floorDivide(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }

/// ⌈a / b⌉ for b > 0 and any sign of a.
@inline(__always) func ceilDivide(_ a: Int, _ b: Int) -> Int { a >= 0 ? (a + b - 1) / b : -((-a) / b) }

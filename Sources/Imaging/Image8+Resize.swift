// Image8+Resize: channel conversion (gray ↔ RGB), center cropping to an aspect ratio and resizing
// (area averaging when shrinking, bilinear when growing) of 8-bit images — what image folders
// (Datasets.swift) and init images and masks (Diffusion's ImageConversion) go through. Integer
// and Double arithmetic only, so results are the same bytes everywhere. No gamma handling, no
// alpha (PNG.decode delivers gray or RGB).

extension Image8 {
    /// Gray ↔ RGB (gray = round(0.299 R + 0.587 G + 0.114 B), ITU-R 601 as PIL's "L"); the image
    /// itself when it already has `channels` (1 or 3).
    public func converted(channels: Int) -> Image8 {
        precondition(channels == 1 || channels == 3, "Image8.converted: channels must be 1 or 3")
        if self.channels == channels { return self }
        let n = width * height
        if channels == 3 {
            return Image8(width: width, height: height, channels: 3, pixels: pixels.flatMap { [$0, $0, $0] })
        }
        let p = pixels
        let gray = (0..<n).map { i -> UInt8 in
            let v = (299 * Int(p[3 * i]) + 587 * Int(p[3 * i + 1]) + 114 * Int(p[3 * i + 2]) + 500) / 1000
            return UInt8(min(v, 255))
        }
        return Image8(width: width, height: height, channels: 1, pixels: gray)
    }

    /// The largest centered region with the aspect ratio `width`:`height` (the image itself when
    /// it has that ratio already).
    public func centerCropped(width w: Int, height h: Int) -> Image8 {
        precondition(w >= 1 && h >= 1, "Image8.centerCropped: the aspect ratio needs positive sides")
        let (cw, ch) = width * h >= height * w ? (max(1, height * w / h), height) : (width, max(1, width * h / w))
        if cw == width && ch == height { return self }
        let x0 = (width - cw) / 2, y0 = (height - ch) / 2, c = channels
        var out = [UInt8](); out.reserveCapacity(cw * ch * c)
        for y in 0..<ch {
            let start = ((y0 + y) * width + x0) * c
            out += pixels[start..<(start + cw * c)]
        }
        return Image8(width: cw, height: ch, channels: c, pixels: out)
    }

    /// The image resized to `w`×`h`: area averaging when shrinking along both axes, else
    /// bilinear (half-pixel centers, edges clamped); rounded to the nearest byte.
    public func resized(width w: Int, height h: Int) -> Image8 {
        precondition(w >= 1 && h >= 1, "Image8.resized: sizes must be ≥ 1")
        if w == width && h == height { return self }
        let c = channels, (sw, sh) = (width, height)
        var out = [UInt8](repeating: 0, count: w * h * c)
        let scaleX = Double(sw) / Double(w), scaleY = Double(sh) / Double(h)
        let area = scaleX >= 1 && scaleY >= 1
        for y in 0..<h {
            for x in 0..<w {
                for ch in 0..<c {
                    var value = 0.0
                    if area {
                        // Average the source area [x·s, (x+1)·s) × [y·s, (y+1)·s), partial pixels weighted.
                        let (x0, x1, y0, y1) = (Double(x) * scaleX, Double(x + 1) * scaleX, Double(y) * scaleY, Double(y + 1) * scaleY)
                        var total = 0.0
                        for sy in Int(y0)..<min(sh, Int(y1.rounded(.up))) {
                            let wy = min(Double(sy + 1), y1) - max(Double(sy), y0)
                            for sx in Int(x0)..<min(sw, Int(x1.rounded(.up))) {
                                let wx = min(Double(sx + 1), x1) - max(Double(sx), x0)
                                value += wx * wy * Double(pixels[(sy * sw + sx) * c + ch])
                                total += wx * wy
                            }
                        }
                        value /= max(total, 1e-12)
                    } else {
                        let fxs = max(0, (Double(x) + 0.5) * scaleX - 0.5), fys = max(0, (Double(y) + 0.5) * scaleY - 0.5)
                        let ix = min(Int(fxs), sw - 1), iy = min(Int(fys), sh - 1), jx = min(ix + 1, sw - 1), jy = min(iy + 1, sh - 1)
                        let fx = fxs - Double(ix), fy = fys - Double(iy)
                        func p(_ yy: Int, _ xx: Int) -> Double { Double(pixels[(yy * sw + xx) * c + ch]) }
                        value = (p(iy, ix) * (1 - fx) + p(iy, jx) * fx) * (1 - fy) + (p(jy, ix) * (1 - fx) + p(jy, jx) * fx) * fy
                    }
                    out[(y * w + x) * c + ch] = UInt8(min(max(value.rounded(), 0), 255))
                }
            }
        }
        return Image8(width: w, height: h, channels: c, pixels: out)
    }
}

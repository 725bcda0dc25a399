// Winograd: 3x3, stride-1, undilated, ungrouped convolution by Winograd's F(2x2, 3x3) — each 2x2
// output tile from a 4x4 input tile with 16 multiplies per (input, output channel) instead of 36.
// Weights are transformed once (`winogradWeights`: U = G·g·Gᵀ, stored `[16, M, C]`); a forward
// transforms input tiles (V = Bᵀ·d·B, `[C, 16, tiles]`: a channel's 16 planes together, so the
// transform's stores stay in cache, and V_k a strided matrix the GEMM reads in place; `[16, C,
// tiles]` where that stride would be a multiple of 1 KiB), runs 16 GEMMs U_k · V_k, and transforms
// each 4x4 result back (Y = Aᵀ·m·A), adding bias and residual and applying the activation as it
// writes. Tiles of several images share one set of GEMMs when an image has few tiles. The plan
// chooses it for eligible convs, and training by the same rule: the forward and the stride-1 data
// gradient (a forward conv, `Convolution.swift`), and the weight gradient by the transposed
// algorithm (`winogradWeightGradient`: dU_k = Σ (A·dY·Aᵀ)_k · V_kᵀ, dW = Gᵀ·dU·G). The tile
// transforms are C (`CKernels/winograd.c`, AVX-512/AVX2 clones), the GEMMs ours. Naive twin:
// `Naive.conv2d` (tests compare within float rounding: the transforms reassociate sums).

import CKernels

extension CPU {
    /// Whether ``conv2dWinograd`` applies: 3x3 kernel, stride 1, dilation 1, one group.
    public static func winogradApplies(weight: Shape, _ o: Conv2dOptions) -> Bool {
        weight.rank == 4 && weight[2] == 3 && weight[3] == 3 && o.strideH == 1 && o.strideW == 1
            && o.dilationH == 1 && o.dilationW == 1 && o.groups == 1
    }

    /// Whether Winograd beats the direct conv for a `[M, C, 3, 3]` weight and an output
    /// `[N, M, OH, OW]`: at least 16 tiles per image (a 7x7 output and up) and at least 16 input
    /// and output channels, so the 16 GEMMs are wide enough to amortize the transforms (measured
    /// with `denoise bench --profile` on the default model: a 14x14 64→64 conv 0.12 ms either way
    /// at batch 1 and 1.31 vs 1.71 ms at batch 16; 7x7 128→64 0.87 vs 1.13 ms at batch 16; with 1
    /// input or output channel Winograd was 5x slower). Decided from one image's geometry alone,
    /// never the batch or thread count, so a sample takes the same arithmetic in any batch.
    public func winogradPays(weight: Shape, output: Shape) -> Bool {
        guard output.rank == 4, weight.rank == 4 else { return false }
        return ((output[2] + 1) / 2) * ((output[3] + 1) / 2) >= 16 && min(weight[0], weight[1]) >= 16
    }

    /// The transformed weights U = G·g·Gᵀ of a `[M, C, 3, 3]` weight, as `[16, M, C]`.
    public func winogradWeights(_ weight: Tensor) throws -> Tensor {
        guard weight.rank == 4, weight.shape[2] == 3, weight.shape[3] == 3 else {
            throw TensorError.invalidArgument(op: "winogradWeights", "weight must be [M, C, 3, 3], got \(weight.shape)")
        }
        let m = weight.shape[0], c = weight.shape[1]
        let u = Tensor(uninitialized: [16, m, c])
        let work = UncheckedSendable((weight.pointer, u.pointer))
        parallelFor(m, grain: max(1, 4096 / max(c, 1))) { outs in
            let (w, pu) = work.value
            for o in outs {
                for i in 0..<c {
                    let g = w + (o * c + i) * 9
                    // t = G·g (4x3, as three columns), then U = t·Gᵀ; G = [[1,0,0],[½,½,½],[½,−½,½],[0,0,1]].
                    let g0 = SIMD3(g[0], g[1], g[2]), g1 = SIMD3(g[3], g[4], g[5]), g2 = SIMD3(g[6], g[7], g[8])
                    let half: Float = 0.5
                    func emit(_ row: Int, _ t: SIMD3<Float>) {  // row of U = (row of t)·Gᵀ
                        let values = SIMD4(t[0], half * (t[0] + t[1] + t[2]), half * (t[0] - t[1] + t[2]), t[2])
                        for col in 0..<4 { pu[((row * 4 + col) * m + o) * c + i] = values[col] }
                    }
                    emit(0, g0)
                    emit(1, half * (g0 + g1 + g2))
                    emit(2, half * (g0 - g1 + g2))
                    emit(3, g2)
                }
            }
        }
        withExtendedLifetime(weight) {}
        return u
    }

    /// 3x3 stride-1 convolution with Winograd-transformed weights: activation(conv + bias + residual).
    /// - Parameters:
    ///   - x: `[N, C, H, W]`
    ///   - transformed: `[16, M, C]` from ``winogradWeights(_:)``
    ///   - bias: `[M]` or nil; residual: `[N, M, OH, OW]` or nil (may be exactly `out`)
    ///   - options: padding only (stride, dilation and groups must be 1)
    ///   - out: `[N, M, OH, OW]` or nil to allocate; must not overlap `x`
    public func conv2dWinograd(_ x: Tensor, transformed: Tensor, bias: Tensor? = nil, _ options: Conv2dOptions,
                               residual: Tensor? = nil, activation: UnaryOp? = nil, into out: Tensor? = nil) throws -> Tensor {
        let op = "conv2dWinograd"
        guard transformed.rank == 3, transformed.shape[0] == 16 else {
            throw TensorError.invalidArgument(op: op, "transformed weights must be [16, M, C], got \(transformed.shape)")
        }
        let (mChannels, cChannels) = (transformed.shape[1], transformed.shape[2])
        let g = try ConvGeometry.conv2d(input: x.shape, weight: [mChannels, cChannels, 3, 3], bias: bias?.shape, options, op: op)
        guard CPU.winogradApplies(weight: [mChannels, cChannels, 3, 3], options) else {
            throw TensorError.invalidArgument(op: op, "needs stride 1, dilation 1 and one group, got \(options)")
        }
        if let residual, residual.shape != g.colShape {
            throw TensorError.shapeMismatch(op: op, residual.shape, g.colShape, detail: "residual must be the output [N, M, OH, OW]")
        }
        let out = try Tensor.output(out, shape: g.colShape, op: op)
        let tilesH = (g.outHeight + 1) / 2, tilesW = (g.outWidth + 1) / 2, tiles = tilesH * tilesW
        // Images per unit: enough tiles for a wide GEMM, units spread evenly over the threads.
        let perThread = (g.batch + threads - 1) / threads
        let imagesPerUnit = min(perThread, max(1, 256 / max(tiles, 1)))
        let units = (g.batch + imagesPerUnit - 1) / imagesPerUnit
        let inner = units >= threads ? 1 : threads
        let (c, m, h, w) = (cChannels, mChannels, g.height, g.width)
        let (oh, ow) = (g.outHeight, g.outWidth)
        let (pt, pl) = (options.padTop, options.padLeft)
        let work = UncheckedSendable((x.pointer, transformed.pointer, bias?.pointer, residual?.pointer, out.pointer))
        let run = { (unitRange: Range<Int>) in
            let (px, pu, pb, pr, py) = work.value
            let capacity = imagesPerUnit * tiles
            let v = Scratch.buffer(slot: 0, count: 16 * c * capacity)
            let mk = Scratch.buffer(slot: 1, count: 16 * m * capacity + 8)  // + 8: the output transform loads eight tiles at a time
            for unit in unitRange {
                let first = unit * imagesPerUnit
                let images = first..<min(g.batch, first + imagesPerUnit)
                let cols = images.count * tiles
                // Input transform: V[ch][k][col] (or V[k][ch][col]) = (Bᵀ·d·B)[k] of the 4x4 tile at (2ty − pt, 2tx − pl).
                let (channelStride, pointStride) = self.winogradInputTiles(px, images: images, channels: c, height: h, width: w,
                                                                           padTop: pt, padLeft: pl, tilesH: tilesH, tilesW: tilesW,
                                                                           into: v, inner: inner)
                // The 16 products M_k = U_k · V_k, as (k, column panel) units: one parallel region
                // whose units each run a single-threaded GEMM (with one inner thread, all in turn).
                let panels = inner == 1 ? 1 : max(1, min((cols + 63) / 64, (inner + 15) / 16))
                let panel = ((cols + panels - 1) / panels + 15) / 16 * 16
                self.split(16 * panels, inner: inner) { units in
                    for u in units {
                        let k = u / panels, start = (u % panels) * panel, len = min(panel, cols - start)
                        if len <= 0 { continue }
                        sgemm(transposeA: false, transposeB: false, m: m, n: len, k: c, a: pu + k * m * c, lda: c,
                              b: v + k * pointStride + start, ldb: channelStride, c: mk + k * m * cols + start, ldc: cols, threads: 1)
                    }
                }
                // Output transform with the epilogue.
                self.split(m, inner: inner) { channels in
                    for o in channels {
                        let shift = pb.map { $0[o] } ?? 0
                        let mo = mk + o * cols, plane = m * cols  // element k of tile col: mo[k·plane + col]
                        for (j, n) in images.enumerated() {
                            let base = (n * m + o) * oh * ow
                            for ty in 0..<tilesH {
                                // Eight tiles at a time; a row's last group writes only the columns
                                // (and rows) inside the output (its loads past the row stay in `mk`).
                                for tx in stride(from: 0, to: tilesW, by: 8) {
                                    let at = base + 2 * ty * ow + 2 * tx
                                    dn_winograd_output_tiles8(mo + j * tiles + ty * tilesW + tx, plane, py + at, ow, shift,
                                                              pr.map { UnsafePointer($0 + at) }, min(16, ow - 2 * tx), min(2, oh - 2 * ty))
                                }
                            }
                            if let activation { unaryRun(activation, 0..<(oh * ow), py + base, py + base) }
                        }
                    }
                }
            }
        }
        if inner == 1 { parallelFor(units, run) } else { run(0..<units) }
        withExtendedLifetime((x, transformed, bias, residual, out)) {}
        return out
    }

    /// V = Bᵀ·d·B of every 4x4 input tile of `images` (tile (ty, tx) of image j at rows 2ty − pt,
    /// columns 2tx − pl, zero outside the image) into column j·tiles + ty·tilesW + tx of V (cols =
    /// images·tiles columns), element k of channel ch at `v + ch·channelStride + k·pointStride`:
    /// V as [C, 16, cols] (a channel's planes together) when a GEMM can read V_k in place at that
    /// stride, else [16, C, cols], which it packs (see CKernels/gemm.c). Returns the two strides.
    /// Channels split over `inner` threads.
    func winogradInputTiles(_ px: UnsafeMutablePointer<Float>, images: Range<Int>, channels c: Int, height h: Int, width w: Int,
                            padTop pt: Int, padLeft pl: Int, tilesH: Int, tilesW: Int, into v: UnsafeMutablePointer<Float>,
                            inner: Int) -> (channelStride: Int, pointStride: Int) {
        let tiles = tilesH * tilesW, cols = images.count * tiles
        let channelMajor = (16 * cols) % 256 != 0
        let (channelStride, pointStride) = channelMajor ? (16 * cols, cols) : (cols, c * cols)
        split(c, inner: inner) { channels in
            // Each plane is first copied into a zero-padded scratch plane, so every tile is interior
            // and the input transform runs 8 tiles at a time.
            let groups = (tilesW + 7) / 8, pw = 16 * groups + 2, ph = 2 * tilesH + 2
            let padded = Scratch.buffer(slot: 2, count: pw * ph)
            for ch in channels {
                for (j, n) in images.enumerated() {
                    let plane = px + (n * c + ch) * h * w
                    for yy in 0..<ph {
                        let row = padded + yy * pw, sy = yy - pt
                        row.update(repeating: 0, count: pw)
                        if sy >= 0 && sy < h {
                            let lo = max(0, -pl), hi = min(w, pw - pl)  // source columns that land in the row
                            if hi > lo { (row + pl + lo).update(from: plane + sy * w + lo, count: hi - lo) }
                        }
                    }
                    for ty in 0..<tilesH {
                        for group in 0..<groups {
                            // A row's last group stores all 8 lanes while they stay inside this
                            // channel's row of V: the extra lanes land on tiles written later
                            // (the next tile row, or the next image), so they are overwritten.
                            let tx = group * 8, at = j * tiles + ty * tilesW + tx
                            let count = at + 8 <= cols ? 8 : min(8, tilesW - tx)
                            dn_winograd_input_tiles8(padded + 2 * ty * pw + 2 * tx, pw, v + ch * channelStride + at, pointStride, count)
                        }
                    }
                }
            }
        }
        return (channelStride, pointStride)
    }

    /// The weight gradient of a conv2d that Winograd applies to (geometry `g`: 3x3, stride 1,
    /// dilation 1, one group) for the output gradient `grad`, by F(2x2, 3x3) backwards: per 4x4
    /// tile, Z = A·dY·Aᵀ of its 2x2 output-gradient tile (zero past the output) and V = Bᵀ·d·B of
    /// its input tile; dU_kᵀ = Σ_tiles V_k · Z_kᵀ, sixteen GEMMs `[C, tiles]·[tiles, M]` (4 multiplies
    /// per output pixel and weight pair instead of 9); dW = Gᵀ·dU·G. Images are split over the
    /// threads as in ``lowerBackwardWeight``, their partial dU added in chunk order (the same bits
    /// every run for a thread count); several images of few tiles share one set of GEMMs.
    func winogradWeightGradient(image: Tensor, grad: Tensor, _ g: ConvGeometry) -> Tensor {
        let (c, m, h, w, oh, ow) = (g.channels, g.outChannels, g.height, g.width, g.outHeight, g.outWidth)
        let tilesH = (oh + 1) / 2, tilesW = (ow + 1) / 2, tiles = tilesH * tilesW
        let chunks = max(1, g.batch >= threads ? chunkCount(g.batch) : 1)
        let perChunk = (g.batch + chunks - 1) / chunks
        let imagesPerUnit = min(perChunk, max(1, 256 / max(tiles, 1)))
        let size = 16 * m * c
        let partials = Tensor(zeros: [chunks, size])
        let work = UncheckedSendable((image.pointer, grad.pointer, partials.pointer))
        let (pt, pl) = (g.options.padTop, g.options.padLeft)
        let body = { (chunk: Int, chunkImages: Range<Int>, inner: Int) in
            let (px, pg, pp) = work.value
            let capacity = imagesPerUnit * tiles
            let v = Scratch.buffer(slot: 0, count: 16 * c * capacity)
            let z = Scratch.buffer(slot: 1, count: 16 * m * capacity)
            let du = pp + chunk * size
            for first in stride(from: chunkImages.lowerBound, to: chunkImages.upperBound, by: imagesPerUnit) {
                let images = first..<min(chunkImages.upperBound, first + imagesPerUnit)
                let cols = images.count * tiles
                let (channelStride, pointStride) = self.winogradInputTiles(px, images: images, channels: c, height: h, width: w,
                                                                           padTop: pt, padLeft: pl, tilesH: tilesH, tilesW: tilesW,
                                                                           into: v, inner: inner)
                // Z[k][col][o] = (A·dY·Aᵀ)[k], A = [[1,0],[1,1],[1,−1],[0,−1]]: with dY = [[a,b],[e,f]],
                // A·dY has rows (a,b), (a+e,b+f), (a−e,b−f), (−e,−f), and each row (p,q)·Aᵀ = (p, p+q, p−q, −q).
                // Stored [cols, M] per k, so the GEMM below reads both operands in place (no transpose).
                self.split(m, inner: inner) { outs in
                    // Per image, the gradient of these channels pixel-major (`[OH·OW, outs]`, then a zero
                    // row for a tile's missing column or row), so the tile transform runs along channels.
                    let count = outs.count, pixels = oh * ow
                    let t = Scratch.buffer(slot: 2, count: (pixels + 1) * count)
                    let zero = t + pixels * count
                    zero.update(repeating: 0, count: count)
                    for (j, n) in images.enumerated() {
                        for (i, o) in outs.enumerated() {
                            let plane = pg + (n * m + o) * pixels
                            for px in 0..<pixels { t[px * count + i] = plane[px] }
                        }
                        for ty in 0..<tilesH {
                            let y0 = 2 * ty, hasRow1 = y0 + 1 < oh
                            for tx in 0..<tilesW {
                                let x0 = 2 * tx, hasCol1 = x0 + 1 < ow
                                let a = t + (y0 * ow + x0) * count
                                dn_winograd_gradient_tile(a, hasCol1 ? a + count : zero, hasRow1 ? a + ow * count : zero,
                                                          hasRow1 && hasCol1 ? a + (ow + 1) * count : zero, count,
                                                          z + (j * tiles + ty * tilesW + tx) * m + outs.lowerBound, cols * m)
                            }
                        }
                    }
                }
                // dU_kᵀ [C, M] (+)= V_k [C, cols] · Z_k [cols, M].
                let accumulate: Float = images.lowerBound == chunkImages.lowerBound ? 0 : 1
                self.split(16, inner: inner) { points in
                    for k in points {
                        sgemm(transposeA: false, transposeB: false, m: c, n: m, k: cols, a: v + k * pointStride, lda: channelStride,
                              b: z + k * cols * m, ldb: m, beta: accumulate, c: du + k * m * c, ldc: m, threads: 1)
                    }
                }
            }
        }
        if g.batch >= threads { parallelChunks(g.batch) { chunk, images in body(chunk, images, 1) } }
        else { body(0, 0..<g.batch, threads) }
        let du = partials.pointer
        for chunk in 1..<chunks { for i in 0..<size { du[i] += du[chunk * size + i] } }
        // dW = Gᵀ·dU·G, G = [[1,0,0],[½,½,½],[½,−½,½],[0,0,1]]: rows of Gᵀ·dU are (u0 + ½u1 + ½u2,
        // ½u1 − ½u2, ½u1 + ½u2 + u3), and each row p of that times G is (p0 + ½p1 + ½p2, ½p1 − ½p2, ½p1 + ½p2 + p3).
        let result = Tensor(uninitialized: g.weightShape)
        let dw = result.pointer
        let mc = m * c, half: Float = 0.5
        for ci in 0..<c {
            for o in 0..<m {
                func u(_ row: Int) -> SIMD4<Float> {
                    let at = du + 4 * row * mc + ci * m + o
                    return SIMD4(at[0], at[mc], at[2 * mc], at[3 * mc])
                }
                let (u0, u1, u2, u3) = (u(0), u(1), u(2), u(3))
                func emit(_ r: Int, _ p: SIMD4<Float>) {
                    let out = dw + (o * c + ci) * 9 + r * 3
                    out[0] = p[0] + half * (p[1] + p[2])
                    out[1] = half * (p[1] - p[2])
                    out[2] = half * (p[1] + p[2]) + p[3]
                }
                emit(0, u0 + half * (u1 + u2)); emit(1, half * (u1 - u2)); emit(2, half * (u1 + u2) + u3)
            }
        }
        withExtendedLifetime((image, grad, partials)) {}
        return result
    }
}

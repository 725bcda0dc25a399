// Convolution: conv2d and conv_transpose2d on NCHW float32 (PyTorch nn.Conv2d / nn.ConvTranspose2d,
// ONNX Conv / ConvTranspose: any kernel size, stride, asymmetric padding, dilation, groups),
// forward and backward. Everything lowers to three GEMM primitives over one `ConvGeometry`,
// stated in conv2d terms — an image side [C, H, W] and a column side [M, OH, OW] linked by a
// kernel [M, C/groups, KH, KW]:
//   lowerForward        cols  = W · im2col(image)       conv2d forward; conv_transpose data gradient
//   lowerBackwardData   image = col2im(Wᵀ · cols)       conv2d data gradient; conv_transpose forward
//   lowerBackwardWeight dW    = Σₙ cols · im2col(image)ᵀ  the weight gradient of both
// A 1x1, stride-1, unpadded kernel skips im2col/col2im (the image is its own column matrix).
// With stride 1, lowerBackwardData is a forward conv by the flipped kernel (no col2im; a GEMM as
// well shaped as the forward's, or Winograd where the forward would take it), see
// `ConvGeometry.flippedForStrideOne`. Training's forward asks conv2d for Winograd too.
// With at most 4 output channels per group, conv2d runs a direct kernel (CKernels/conv_direct.c)
// that computes each element's same FMA chain without the column matrix.
// conv2d fuses an epilogue into lowerForward, band by band while it is in cache:
// y = activation(W · im2col(x) + bias + residual), the GEMM accumulating onto bias + residual.
// Threads: with at least as many images as threads, each thread owns whole images (its own
// scratch, single-threaded GEMM); otherwise images go one at a time with im2col/col2im split
// over rows/channels and the GEMM split into panels. Weight gradients add per-chunk partials in
// chunk order, so a given thread count gives the same bits every run.
// No autograd here (`Autograd/Tape+Convolution.swift`); lowering loops in `Im2Col.swift`;
// naive twins in `Naive/Convolution+Naive.swift`.

import CKernels

/// Stride, zero padding, dilation and groups of a 2D convolution (PyTorch / ONNX attributes).
public struct Conv2dOptions: Sendable, Hashable, CustomStringConvertible {
    public var strideH: Int, strideW: Int
    /// Zero padding in rows above / below and columns left / right (ONNX `pads` is
    /// `[top, left, bottom, right]`; PyTorch pads both sides alike).
    public var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    public var dilationH: Int, dilationW: Int
    /// Channel groups: input and output channels split into `groups` independent convolutions.
    public var groups: Int

    /// The same stride, padding and dilation on both axes (PyTorch's integer arguments).
    public init(stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) {
        self.init(stride: (stride, stride), padding: (padding, padding, padding, padding),
                  dilation: (dilation, dilation), groups: groups)
    }

    /// Per-axis stride and dilation, and padding per side.
    public init(stride: (h: Int, w: Int), padding: (top: Int, left: Int, bottom: Int, right: Int),
                dilation: (h: Int, w: Int) = (1, 1), groups: Int = 1) {
        (strideH, strideW) = stride
        (padTop, padLeft, padBottom, padRight) = padding
        (dilationH, dilationW) = dilation
        self.groups = groups
    }

    public var description: String {
        "stride (\(strideH), \(strideW)), padding (top \(padTop), left \(padLeft), bottom \(padBottom), right \(padRight)), "
            + "dilation (\(dilationH), \(dilationW)), groups \(groups)"
    }

    func validate(op: String) throws {
        guard strideH >= 1, strideW >= 1, dilationH >= 1, dilationW >= 1, groups >= 1,
              min(padTop, padLeft, padBottom, padRight) >= 0 else {
            throw TensorError.invalidArgument(op: op, "stride, dilation and groups must be ≥ 1 and padding ≥ 0, got \(self)")
        }
    }
}

/// A convolution's sizes in conv2d terms: image side `[C, H, W]`, column side `[M, OH, OW]`,
/// kernel `[M, C/groups, KH, KW]`. For conv_transpose2d the image side is its output and the
/// column side its input.
struct ConvGeometry {
    let batch: Int
    let channels: Int, height: Int, width: Int
    let outChannels: Int, outHeight: Int, outWidth: Int
    let kernelH: Int, kernelW: Int
    let options: Conv2dOptions

    var groups: Int { options.groups }
    /// Image channels per group (Cg).
    var groupChannels: Int { channels / groups }
    /// Column-side channels per group (Mg).
    var groupOutChannels: Int { outChannels / groups }
    /// Rows of one group's column matrix: Cg·KH·KW.
    var colRows: Int { groupChannels * kernelH * kernelW }
    /// Columns of the column matrix: OH·OW.
    var colCount: Int { outHeight * outWidth }
    var imageShape: Shape { [batch, channels, height, width] }
    var colShape: Shape { [batch, outChannels, outHeight, outWidth] }
    var weightShape: Shape { [outChannels, groupChannels, kernelH, kernelW] }
    /// 1x1, stride 1, no padding: the image is its own column matrix.
    var isPointwise: Bool {
        let o = options
        return kernelH == 1 && kernelW == 1 && o.strideH == 1 && o.strideW == 1
            && o.padTop == 0 && o.padLeft == 0 && o.padBottom == 0 && o.padRight == 0
    }

    /// Few output channels per group (a U-Net's last conv): the direct kernel beats lowering to a
    /// GEMM of so few rows (measured: the default model's 32 → 1 conv at 28x28, 0.079 ms lowered).
    var usesDirectKernel: Bool { groupOutChannels <= 4 && !isPointwise }

    /// With stride 1, the data side is itself a convolution of the column side: by the kernel
    /// with its channel axes swapped and its taps reversed, padded by dilation·(K−1) − padding.
    /// That runs on the forward's fast paths (a GEMM with K = Mg·KH·KW instead of Mg, no col2im)
    /// — the geometry of it, or nil when a stride is not 1, the kernel is 1x1 unpadded (already
    /// one GEMM) or a padding exceeds dilation·(K−1).
    func flippedForStrideOne() -> ConvGeometry? {
        let o = options
        guard o.strideH == 1, o.strideW == 1, !isPointwise else { return nil }
        let (spanH, spanW) = (o.dilationH * (kernelH - 1), o.dilationW * (kernelW - 1))
        let (top, left) = (spanH - o.padTop, spanW - o.padLeft)
        let (bottom, right) = (height - outHeight + o.padTop, width - outWidth + o.padLeft)
        guard top >= 0, left >= 0, bottom >= 0, right >= 0 else { return nil }
        var f = o
        (f.padTop, f.padLeft, f.padBottom, f.padRight) = (top, left, bottom, right)
        return ConvGeometry(batch: batch, channels: outChannels, height: outHeight, width: outWidth,
                            outChannels: channels, outHeight: height, outWidth: width,
                            kernelH: kernelH, kernelW: kernelW, options: f)
    }

    /// Output size of a convolution on one axis; < 1 when the kernel does not fit.
    static func convolvedSize(_ n: Int, kernel: Int, stride: Int, padding: Int, dilation: Int) -> Int {
        floorDivide(n + padding - dilation * (kernel - 1) - 1, stride) + 1
    }

    /// Validates conv2d operands: `input` `[N, C, H, W]`, `weight` `[M, C/groups, KH, KW]`, `bias` `[M]`.
    static func conv2d(input: Shape, weight: Shape, bias: Shape?, _ o: Conv2dOptions, op: String) throws -> ConvGeometry {
        try o.validate(op: op)
        try input.requireRank(4, op: op, "input [N, C, H, W]")
        try weight.requireRank(4, op: op, "weight [M, C/groups, KH, KW]")
        let (c, m) = (input[1], weight[0])
        guard c % o.groups == 0, m % o.groups == 0, weight[1] * o.groups == c, weight[2] >= 1, weight[3] >= 1 else {
            throw TensorError.shapeMismatch(op: op, input, weight,
                                            detail: "weight must be [M, C/groups, KH, KW] with C and M divisible by groups \(o.groups)")
        }
        if let bias, bias != [m] { throw TensorError.shapeMismatch(op: op, weight, bias, detail: "bias must be [M]") }
        let oh = convolvedSize(input[2], kernel: weight[2], stride: o.strideH, padding: o.padTop + o.padBottom, dilation: o.dilationH)
        let ow = convolvedSize(input[3], kernel: weight[3], stride: o.strideW, padding: o.padLeft + o.padRight, dilation: o.dilationW)
        guard oh >= 1, ow >= 1 else {
            throw TensorError.invalidArgument(op: op, "kernel \(weight[2])x\(weight[3]) does not fit input \(input) with \(o)")
        }
        return ConvGeometry(batch: input[0], channels: c, height: input[2], width: input[3],
                            outChannels: m, outHeight: oh, outWidth: ow, kernelH: weight[2], kernelW: weight[3], options: o)
    }

    /// Validates conv_transpose2d operands: `input` `[N, Cin, H, W]`, `weight` `[Cin, Cout/groups, KH, KW]`,
    /// `bias` `[Cout]`; `outputPadding` adds rows/columns at the bottom/right (each < stride or dilation).
    static func convTranspose2d(input: Shape, weight: Shape, bias: Shape?, _ o: Conv2dOptions,
                                outputPadding: (h: Int, w: Int), op: String) throws -> ConvGeometry {
        try o.validate(op: op)
        try input.requireRank(4, op: op, "input [N, Cin, H, W]")
        try weight.requireRank(4, op: op, "weight [Cin, Cout/groups, KH, KW]")
        let cin = input[1]
        guard cin % o.groups == 0, weight[0] == cin, weight[1] >= 1, weight[2] >= 1, weight[3] >= 1 else {
            throw TensorError.shapeMismatch(op: op, input, weight,
                                            detail: "weight must be [Cin, Cout/groups, KH, KW] with Cin divisible by groups \(o.groups)")
        }
        let cout = weight[1] * o.groups
        if let bias, bias != [cout] { throw TensorError.shapeMismatch(op: op, weight, bias, detail: "bias must be [Cout]") }
        guard outputPadding.h >= 0, outputPadding.w >= 0,
              outputPadding.h < max(o.strideH, o.dilationH), outputPadding.w < max(o.strideW, o.dilationW) else {
            throw TensorError.invalidArgument(op: op, "output padding \(outputPadding) must be ≥ 0 and smaller than stride or dilation (\(o))")
        }
        let oh = (input[2] - 1) * o.strideH - o.padTop - o.padBottom + o.dilationH * (weight[2] - 1) + outputPadding.h + 1
        let ow = (input[3] - 1) * o.strideW - o.padLeft - o.padRight + o.dilationW * (weight[3] - 1) + outputPadding.w + 1
        guard oh >= 1, ow >= 1, input[2] >= 1, input[3] >= 1 else {
            throw TensorError.invalidArgument(op: op, "input \(input) with kernel \(weight[2])x\(weight[3]) and \(o) gives an empty output")
        }
        return ConvGeometry(batch: input[0], channels: cout, height: oh, width: ow,
                            outChannels: cin, outHeight: input[2], outWidth: input[3],
                            kernelH: weight[2], kernelW: weight[3], options: o)
    }
}

extension CPU {
    /// 2D convolution (cross-correlation) as PyTorch's `F.conv2d` / ONNX `Conv`, with an optional
    /// fused epilogue: `activation(conv(x, weight) + bias + residual)`.
    /// - Parameters:
    ///   - x: `[N, C, H, W]`
    ///   - weight: `[M, C/groups, KH, KW]`
    ///   - bias: `[M]` or nil
    ///   - residual: `[N, M, OH, OW]` added before the activation, or nil; may be any tensor
    ///     (it is only read), including `x` or exactly `out` (y = conv(x) + y in place), but
    ///     must not otherwise overlap `out`
    ///   - activation: applied last (as ``unary(_:_:into:)`` would), or nil
    ///   - out: `[N, M, OH, OW]`, or nil to allocate; must not overlap `x`, `weight` or `bias`
    /// - Returns: `[N, M, OH, OW]`, OH = ⌊(H + padTop + padBottom − dilationH·(KH−1) − 1) / strideH⌋ + 1
    ///   - winograd: run Winograd's F(2x2, 3x3) (``conv2dWinograd(_:transformed:bias:_:residual:activation:into:)``,
    ///     weights transformed on the way) where it applies and pays — the compiled plan's rule,
    ///     decided by one image's geometry — instead of im2col + GEMM; it rounds differently
    public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, _ options: Conv2dOptions = Conv2dOptions(),
                       residual: Tensor? = nil, activation: UnaryOp? = nil, winograd: Bool = false, into out: Tensor? = nil) throws -> Tensor {
        let op = "conv2d"
        let g = try ConvGeometry.conv2d(input: x.shape, weight: weight.shape, bias: bias?.shape, options, op: op)
        if let residual, residual.shape != g.colShape {
            throw TensorError.shapeMismatch(op: op, residual.shape, g.colShape, detail: "residual must be the output [N, M, OH, OW]")
        }
        let out = try Tensor.output(out, shape: g.colShape, op: op)
        if winograd && prefersWinograd(weight.shape, g) {
            return try conv2dWinograd(x, transformed: winogradWeights(weight), bias: bias, options,
                                      residual: residual, activation: activation, into: out)
        }
        return lowerForward(x, weight, bias: bias, g, residual: residual, activation: activation, into: out)
    }

    /// Whether a conv2d of `weight` over geometry `g` runs faster by Winograd.
    func prefersWinograd(_ weight: Shape, _ g: ConvGeometry) -> Bool {
        CPU.winogradApplies(weight: weight, g.options) && winogradPays(weight: weight, output: g.colShape)
    }

    /// Gradients of ``conv2d(_:weight:bias:_:residual:activation:into:)`` (without epilogue) for
    /// the incoming gradient `grad` `[N, M, OH, OW]`.
    /// `needs` says which of input, weight, bias to compute (bias only when `hasBias`).
    public func conv2dBackward(_ x: Tensor, weight: Tensor, grad: Tensor, hasBias: Bool, _ options: Conv2dOptions = Conv2dOptions(),
                               needs: (input: Bool, weight: Bool, bias: Bool) = (true, true, true)) throws -> LayerGradients {
        let op = "conv2dBackward"
        let g = try ConvGeometry.conv2d(input: x.shape, weight: weight.shape, bias: nil, options, op: op)
        guard grad.shape == g.colShape else { throw TensorError.shapeMismatch(op: op, grad.shape, g.colShape, detail: "gradient must match the output") }
        var result = LayerGradients()
        if needs.input { result.input = lowerBackwardData(grad, weight, bias: nil, g) }
        if needs.weight { result.weight = lowerBackwardWeight(image: x, cols: grad, g) }
        if hasBias && needs.bias { result.bias = channelSums(grad) }
        return result
    }

    /// Transposed 2D convolution as PyTorch's `F.conv_transpose2d` / ONNX `ConvTranspose`
    /// (the data gradient of ``conv2d(_:weight:bias:_:residual:activation:into:)``).
    /// - Parameters:
    ///   - x: `[N, Cin, H, W]`
    ///   - weight: `[Cin, Cout/groups, KH, KW]`
    ///   - bias: `[Cout]` or nil
    ///   - outputPadding: extra rows/columns at the bottom/right, each smaller than stride or dilation
    ///   - out: `[N, Cout, OH, OW]`, or nil to allocate; must not overlap `x`, `weight` or `bias`
    /// - Returns: `[N, Cout, OH, OW]`, OH = (H−1)·strideH − padTop − padBottom + dilationH·(KH−1) + outputPadding.h + 1
    public func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, _ options: Conv2dOptions = Conv2dOptions(),
                                outputPadding: (h: Int, w: Int) = (0, 0), into out: Tensor? = nil) throws -> Tensor {
        let op = "convTranspose2d"
        let g = try ConvGeometry.convTranspose2d(input: x.shape, weight: weight.shape, bias: bias?.shape, options,
                                                 outputPadding: outputPadding, op: op)
        let out = try Tensor.output(out, shape: g.imageShape, op: op)  // lowerBackwardData zero-fills what it accumulates into
        return lowerBackwardData(x, weight, bias: bias, g, into: out)
    }

    /// Gradients of ``convTranspose2d(_:weight:bias:_:outputPadding:into:)`` for `grad` `[N, Cout, OH, OW]`.
    public func convTranspose2dBackward(_ x: Tensor, weight: Tensor, grad: Tensor, hasBias: Bool,
                                        _ options: Conv2dOptions = Conv2dOptions(), outputPadding: (h: Int, w: Int) = (0, 0),
                                        needs: (input: Bool, weight: Bool, bias: Bool) = (true, true, true)) throws -> LayerGradients {
        let op = "convTranspose2dBackward"
        let g = try ConvGeometry.convTranspose2d(input: x.shape, weight: weight.shape, bias: nil, options,
                                                 outputPadding: outputPadding, op: op)
        guard grad.shape == g.imageShape else { throw TensorError.shapeMismatch(op: op, grad.shape, g.imageShape, detail: "gradient must match the output") }
        var result = LayerGradients()
        if needs.input { result.input = lowerForward(grad, weight, bias: nil, g) }
        if needs.weight { result.weight = lowerBackwardWeight(image: grad, cols: x, g) }
        if hasBias && needs.bias { result.bias = channelSums(grad) }
        return result
    }

    /// Per channel of `[N, C, H, W]`, the sum over images and pixels (a conv's bias gradient): each
    /// plane's blocked sum in double, added in image order (no dependence on the thread count).
    func channelSums(_ t: Tensor) -> Tensor {
        let (n, c, hw) = (t.shape[0], t.shape[1], t.shape[2] * t.shape[3])
        let out = Tensor(uninitialized: [c])
        let work = UncheckedSendable((t.pointer, out.pointer))
        parallelFor(c, grain: max(1, 16_384 / max(n * hw, 1))) { channels in
            let (src, dst) = work.value
            for ch in channels {
                var acc = 0.0
                for image in 0..<n { acc += blockedSum(src + (image * c + ch) * hw, hw) }
                dst[ch] = Float(acc)
            }
        }
        withExtendedLifetime((t, out)) {}
        return out
    }

    // MARK: the three lowered primitives

    /// How the batch is split: whole images per thread when every thread gets one, else one
    /// chunk with all threads inside each image. Calls `body(chunk, images, innerThreads)`.
    private func overImages(_ batch: Int, _ body: (Int, Range<Int>, Int) -> Void) {
        if batch >= threads { parallelChunks(batch) { c, images in body(c, images, 1) } }
        else { body(0, 0..<batch, threads) }
    }

    private func imageChunks(_ batch: Int) -> Int { batch >= threads ? chunkCount(batch) : 1 }

    /// Fills `rows` of the column matrix of one image group, split over `inner` threads.
    private func im2col(_ g: ConvGeometry, _ image: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, inner: Int) {
        if inner == 1 { g.im2col(image, col, rows: 0..<g.colRows); return }
        let work = UncheckedSendable((image, col))
        parallelFor(g.colRows) { rows in g.im2col(work.value.0, work.value.1, rows: rows) }
    }

    /// cols[n] = activation(W · im2col(image[n]) + bias[m] + residual[n]) (bias, residual and
    /// activation each optional): `[N, C, H, W]` → `[N, M, OH, OW]`, into `out` (`[N, M, OH, OW]`,
    /// already checked) or a new tensor; `residual` may be exactly `out`.
    /// Work units are (image, group, band of output rows): each lowers its band into a column
    /// panel sized to stay in L2, then one single-threaded GEMM writes that band of the output,
    /// accumulating onto the band's bias + residual, and the activation runs over the band.
    /// Units are spread over the threads; with fewer units than threads (one small image), units
    /// run in turn with the GEMM split into panels (and the band's other loops over channels) instead.
    func lowerForward(_ image: Tensor, _ weight: Tensor, bias: Tensor?, _ g: ConvGeometry, residual: Tensor? = nil,
                      activation: UnaryOp? = nil, into out: Tensor? = nil) -> Tensor {
        let out = out ?? Tensor(uninitialized: g.colShape)
        if g.usesDirectKernel {
            lowerForwardDirect(image, weight, bias: bias, g, residual: residual, activation: activation, into: out)
            return out
        }
        let (mg, kg, p, hw, ow) = (g.groupOutChannels, g.colRows, g.colCount, g.height * g.width, g.outWidth)
        // Small outputs (the U-Net's 8x8 and 4x4 levels): one GEMM per image would have a handful of
        // columns and repack the whole weight matrix for little work; lower several images side by side.
        let perThread = (g.batch + threads - 1) / threads
        let imagesPerUnit = min(perThread, max(1, 128 / max(p, 1)))
        if imagesPerUnit > 1 {
            lowerForwardGrouped(image, weight, bias: bias, g, residual: residual, activation: activation, imagesPerUnit: imagesPerUnit, into: out)
            return out
        }
        // Output rows per band: a column panel of at most 256K floats (1 MiB), bands of equal size,
        // and a band count that makes the units a multiple of the threads (equal work per thread).
        var bands = max(1, (kg * p + 262_143) / 262_144)
        let perBatch = g.batch * g.groups
        var need = threads, common = perBatch
        while common != 0 { (need, common) = (common, need % common) }  // need = gcd(threads, perBatch)
        need = threads / max(need, 1)
        bands = min((bands + need - 1) / need * need, g.outHeight)
        let bandRows = (g.outHeight + bands - 1) / bands
        bands = (g.outHeight + bandRows - 1) / bandRows
        let units = perBatch * bands
        let inner = units >= threads ? 1 : threads
        let work = UncheckedSendable((image.pointer, weight.pointer, bias?.pointer, out.pointer, residual?.pointer))
        let accumulate = bias != nil || residual != nil
        let run = { (unitRange: Range<Int>) in
            let (x, w, b, y, res) = work.value
            let col = g.isPointwise ? nil : Scratch.buffer(slot: 0, count: kg * bandRows * ow)
            for unit in unitRange {
                let band = unit % bands, gi = (unit / bands) % g.groups, n = unit / (bands * g.groups)
                let rows = band * bandRows..<min(g.outHeight, (band + 1) * bandRows)
                let columns = rows.count * ow
                let src = x + (n * g.channels + gi * g.groupChannels) * hw
                let offset = (n * g.outChannels + gi * mg) * p + rows.lowerBound * ow  // of (n, channel gi·Mg, first band row)
                let dst = y + offset
                if let col { self.split(kg, inner: inner) { g.im2col(src, col, rows: $0, outRows: rows) } }
                if accumulate {
                    let bandBias = b.map { $0 + gi * mg }, bandResidual = res.map { $0 + offset }
                    self.split(mg, inner: inner) {
                        convPrologue(dst, ldc: p, columns: columns, channels: $0, bias: bandBias, residual: bandResidual)
                    }
                }
                sgemm(transposeA: false, transposeB: false, m: mg, n: columns, k: kg, a: w + gi * mg * kg, lda: kg,
                      b: col ?? (src + rows.lowerBound * ow), ldb: col == nil ? p : columns,
                      beta: accumulate ? 1 : 0, c: dst, ldc: p, threads: inner)
                if let activation {
                    self.split(mg, inner: inner) { for m in $0 { unaryRun(activation, 0..<columns, dst + m * p, dst + m * p) } }
                }
            }
        }
        if inner == 1 { parallelFor(units, run) } else { run(0..<units) }
        withExtendedLifetime((image, weight, bias, residual, out)) {}
        return out
    }

    /// Runs `body` over `0..<count` (column rows or channels of one band): inline with one inner
    /// thread, else split over the threads.
    func split(_ count: Int, inner: Int, _ body: (Range<Int>) -> Void) {
        if inner == 1 { body(0..<count) } else { parallelFor(count, body) }
    }

    /// ``lowerForward`` for few output channels per group (``ConvGeometry/usesDirectKernel``): the
    /// direct kernel (`dn_conv2d_direct_rows`) over (image, group, band of output rows) units, with
    /// the same prologue and activation as the banded path and the same FMA chain per element, so
    /// its bits equal im2col + GEMM's.
    private func lowerForwardDirect(_ image: Tensor, _ weight: Tensor, bias: Tensor?, _ g: ConvGeometry, residual: Tensor?,
                                    activation: UnaryOp?, into out: Tensor) {
        let (mg, p, hw, ow) = (g.groupOutChannels, g.colCount, g.height * g.width, g.outWidth)
        let planes = g.batch * g.groups
        let bands = min(g.outHeight, max(1, (threads + planes - 1) / planes))
        let bandRows = (g.outHeight + bands - 1) / bands
        let span = (ow - 1) * g.options.strideW + (g.kernelW - 1) * g.options.dilationW + 1
        let work = UncheckedSendable((image.pointer, weight.pointer, bias?.pointer, out.pointer, residual?.pointer))
        let accumulate = bias != nil || residual != nil
        let o = g.options
        parallelFor(planes * bands) { units in
            let (x, w, b, y, res) = work.value
            let scratch = Scratch.buffer(slot: 0, count: span + mg * ow)
            for unit in units {
                let band = unit % bands, gi = (unit / bands) % g.groups, n = unit / (bands * g.groups)
                let rows = band * bandRows..<min(g.outHeight, (band + 1) * bandRows)
                if rows.isEmpty { continue }
                let src = x + (n * g.channels + gi * g.groupChannels) * hw
                let base = (n * g.outChannels + gi * mg) * p, offset = base + rows.lowerBound * ow
                if accumulate {
                    convPrologue(y + offset, ldc: p, columns: rows.count * ow, channels: 0..<mg,
                                 bias: b.map { $0 + gi * mg }, residual: res.map { $0 + offset })
                }
                dn_conv2d_direct_rows(src, g.groupChannels, g.height, g.width, w + gi * mg * g.colRows, mg, g.kernelH, g.kernelW,
                                      o.strideH, o.strideW, o.padTop, o.padLeft, o.dilationH, o.dilationW,
                                      y + base, g.outHeight, ow, rows.lowerBound, rows.upperBound, accumulate ? 1 : 0, scratch)
                if let activation {
                    for m in 0..<mg { unaryRun(activation, 0..<(rows.count * ow), y + offset + m * p, y + offset + m * p) }
                }
            }
        }
        withExtendedLifetime((image, weight, bias, residual, out)) {}
    }

    /// ``lowerForward`` for small outputs: a unit lowers `imagesPerUnit` images of one group into
    /// adjacent column blocks of one panel `[Cg·KH·KW, images·OH·OW]`, runs one GEMM into a scratch
    /// `[Mg, images·OH·OW]` that starts as bias + residual, and copies each image's block to NCHW,
    /// applying the activation on the way. `residual` may be exactly `out`: each unit reads its
    /// residual blocks into the scratch before writing the same (image, group) blocks of `out`.
    private func lowerForwardGrouped(_ image: Tensor, _ weight: Tensor, bias: Tensor?, _ g: ConvGeometry, residual: Tensor?,
                                     activation: UnaryOp?, imagesPerUnit: Int, into out: Tensor) {
        let (mg, kg, p, hw) = (g.groupOutChannels, g.colRows, g.colCount, g.height * g.width)
        let imageGroups = (g.batch + imagesPerUnit - 1) / imagesPerUnit
        let units = imageGroups * g.groups
        let inner = units >= threads ? 1 : threads
        let work = UncheckedSendable((image.pointer, weight.pointer, bias?.pointer, out.pointer, residual?.pointer))
        let accumulate = bias != nil || residual != nil
        let run = { (unitRange: Range<Int>) in
            let (x, w, b, y, res) = work.value
            let col = Scratch.buffer(slot: 0, count: kg * imagesPerUnit * p)
            let product = Scratch.buffer(slot: 1, count: mg * imagesPerUnit * p)
            for unit in unitRange {
                let gi = unit % g.groups, first = (unit / g.groups) * imagesPerUnit
                let images = first..<min(g.batch, first + imagesPerUnit)
                let columns = images.count * p
                for (j, n) in images.enumerated() {
                    let src = x + (n * g.channels + gi * g.groupChannels) * hw
                    self.split(kg, inner: inner) { g.im2col(src, col + j * p, rows: $0, ld: columns) }
                }
                // Same operation order as the banded path (prologue, then GEMM accumulating with β = 1),
                // so results do not depend on which path ran.
                if accumulate {
                    self.split(mg, inner: inner) { channels in
                        for m in channels {
                            for (j, n) in images.enumerated() {
                                let row = product + m * columns + j * p
                                let r = res.map { $0 + (n * g.outChannels + gi * mg + m) * p }
                                switch (b, r) {
                                case let (b?, r?): let v = b[gi * mg + m]; for i in 0..<p { row[i] = r[i] + v }
                                case let (b?, nil): row.update(repeating: b[gi * mg + m], count: p)
                                case let (nil, r?): row.update(from: r, count: p)
                                case (nil, nil): break
                                }
                            }
                        }
                    }
                }
                sgemm(transposeA: false, transposeB: false, m: mg, n: columns, k: kg, a: w + gi * mg * kg, lda: kg,
                      b: col, ldb: columns, beta: accumulate ? 1 : 0, c: product, ldc: columns, threads: inner)
                self.split(mg, inner: inner) { channels in
                    for m in channels {
                        for (j, n) in images.enumerated() {
                            let d = y + (n * g.outChannels + gi * mg + m) * p
                            d.update(from: product + m * columns + j * p, count: p)
                            if let activation { unaryRun(activation, 0..<p, d, d) }
                        }
                    }
                }
            }
        }
        if inner == 1 { parallelFor(units, run) } else { run(0..<units) }
        withExtendedLifetime((image, weight, bias, residual, out)) {}
    }

    /// image[n] = col2im(Wᵀ · cols[n]) (+ bias[c] on every pixel): `[N, M, OH, OW]` → `[N, C, H, W]`,
    /// into `out` (`[N, C, H, W]`, already checked; zero-filled here when col2im accumulates) or a new tensor.
    func lowerBackwardData(_ cols: Tensor, _ weight: Tensor, bias: Tensor?, _ g: ConvGeometry, into out: Tensor? = nil) -> Tensor {
        let out = out ?? Tensor(uninitialized: g.imageShape)
        if let flipped = g.flippedForStrideOne() {
            let kernel = flippedKernel(weight, g)
            if prefersWinograd(kernel.shape, flipped), let y = try? conv2dWinograd(cols, transformed: winogradWeights(kernel), bias: bias,
                                                                                  flipped.options, into: out) {
                return y
            }
            return lowerForward(cols, kernel, bias: bias, flipped, into: out)
        }
        if !g.isPointwise { out.pointer.update(repeating: 0, count: out.count) }
        let (mg, kg, p, cg, hw) = (g.groupOutChannels, g.colRows, g.colCount, g.groupChannels, g.height * g.width)
        let work = UncheckedSendable((cols.pointer, weight.pointer, out.pointer))
        overImages(g.batch) { _, images, inner in
            let (y, w, x) = work.value
            let col = g.isPointwise ? nil : Scratch.buffer(slot: 0, count: kg * p)
            for n in images {
                for gi in 0..<g.groups {
                    let dst = x + (n * g.channels + gi * cg) * hw
                    sgemm(transposeA: true, transposeB: false, m: kg, n: p, k: mg, a: w + gi * mg * kg, lda: kg,
                          b: y + (n * g.outChannels + gi * mg) * p, ldb: p, c: col ?? dst, ldc: p, threads: inner)
                    guard let col else { continue }
                    if inner == 1 { g.col2im(col, dst, channels: 0..<cg); continue }
                    let pair = UncheckedSendable((UnsafePointer(col), dst))
                    parallelFor(cg) { channels in g.col2im(pair.value.0, pair.value.1, channels: channels) }
                }
            }
        }
        if let bias {
            let b = bias.pointer, x = out.pointer, c = g.channels
            parallelFor(g.batch * c, grain: max(1, 16_384 / max(hw, 1))) { planes in
                for plane in planes {
                    let v = b[plane % c], row = x + plane * hw
                    for i in 0..<hw { row[i] += v }
                }
            }
        }
        withExtendedLifetime((cols, weight, bias, out)) {}
        return out
    }

    /// The kernel of ``ConvGeometry/flippedForStrideOne()``: `[M, Cg, KH, KW]` → `[C, Mg, KH, KW]`,
    /// per group the channel axes swapped and both spatial axes reversed.
    private func flippedKernel(_ weight: Tensor, _ g: ConvGeometry) -> Tensor {
        let (mg, cg, kh, kw) = (g.groupOutChannels, g.groupChannels, g.kernelH, g.kernelW)
        let flipped = Tensor(uninitialized: [g.channels, mg, kh, kw])
        let (w, f) = (weight.pointer, flipped.pointer)
        for gi in 0..<g.groups {
            for m in 0..<mg {
                for c in 0..<cg {
                    let src = w + ((gi * mg + m) * cg + c) * kh * kw, dst = f + ((gi * cg + c) * mg + m) * kh * kw
                    for i in 0..<kh * kw { dst[i] = src[kh * kw - 1 - i] }
                }
            }
        }
        withExtendedLifetime(weight) {}
        return flipped
    }

    /// dW = Σₙ cols[n] · im2col(image[n])ᵀ: `[M, C/groups, KH, KW]`.
    func lowerBackwardWeight(image: Tensor, cols: Tensor, _ g: ConvGeometry) -> Tensor {
        if prefersWinograd(g.weightShape, g) { return winogradWeightGradient(image: image, grad: cols, g) }
        let (mg, kg, p, hw) = (g.groupOutChannels, g.colRows, g.colCount, g.height * g.width)
        let size = g.outChannels * kg, chunks = imageChunks(g.batch)
        let partials = Tensor(zeros: [max(chunks, 1), size])
        let work = UncheckedSendable((image.pointer, cols.pointer, partials.pointer))
        overImages(g.batch) { chunk, images, inner in
            let (x, y, dw) = work.value
            let col = g.isPointwise ? nil : Scratch.buffer(slot: 0, count: kg * p)
            let partial = dw + chunk * size
            for n in images {
                for gi in 0..<g.groups {
                    let src = x + (n * g.channels + gi * g.groupChannels) * hw
                    if let col { im2col(g, src, col, inner: inner) }
                    sgemm(transposeA: false, transposeB: true, m: mg, n: kg, k: p,
                          a: y + (n * g.outChannels + gi * mg) * p, lda: p, b: col ?? src, ldb: p,
                          beta: n == images.lowerBound ? 0 : 1, c: partial + gi * mg * kg, ldc: kg, threads: inner)
                }
            }
        }
        let result = Tensor(shape: g.weightShape, storage: partials.storage, offset: 0)
        for c in 1..<max(chunks, 1) {
            let src = partials.pointer + c * size, dst = result.pointer
            for i in 0..<size { dst[i] += src[i] }
        }
        withExtendedLifetime((image, cols, partials)) {}
        return result
    }
}

/// C of one band's GEMM before it accumulates: per channel `m` in `channels`, the `columns`
/// floats at `dst + m·ldc` become bias[m] + residual (either optional, not both nil). The residual
/// band (same layout) may be `dst` itself: each element is read before it is written.
@inline(__always)
private func convPrologue(_ dst: UnsafeMutablePointer<Float>, ldc: Int, columns: Int, channels: Range<Int>,
                          bias: UnsafeMutablePointer<Float>?, residual: UnsafeMutablePointer<Float>?) {
    for m in channels {
        let row = dst + m * ldc
        switch (bias, residual) {
        case let (b?, r?) where r == dst:  // one pointer: equal pointers would fail the vectorizer's overlap check
            let v = b[m]
            for j in 0..<columns { row[j] += v }
        case let (b?, r?):
            let v = b[m], src = r + m * ldc
            for j in 0..<columns { row[j] = src[j] + v }
        case let (b?, nil): row.update(repeating: b[m], count: columns)
        case let (nil, r?): if r != dst { row.update(from: r + m * ldc, count: columns) }
        case (nil, nil): break
        }
    }
}

// Convolution kernels against their naive twins on many geometries (kernel sizes, strides,
// asymmetric padding, dilation, groups, 1x1 fast path; batches above and below the thread
// count), backward kernels against the adjoint identity and finite differences, errors, and the
// fused epilogue activation(conv + bias + residual) against the naive unfused ops.

import Testing
@testable import Tensors

/// One convolution case: input shape, kernel size, options, output padding (transpose only).
private struct ConvCase: CustomStringConvertible {
    let input: Shape
    let outChannels: Int
    let kernel: (Int, Int)
    let options: Conv2dOptions
    var outputPadding: (h: Int, w: Int) = (0, 0)
    var bias = true

    var description: String { "input \(input) → \(outChannels) channels, kernel \(kernel), \(options), outputPadding \(outputPadding)" }

    /// conv2d weight `[M, C/g, KH, KW]`.
    var convWeight: Shape { [outChannels, input[1] / options.groups, kernel.0, kernel.1] }
    /// conv_transpose2d weight `[Cin, Cout/g, KH, KW]`.
    var transposeWeight: Shape { [input[1], outChannels / options.groups, kernel.0, kernel.1] }
}

private let cases: [ConvCase] = [
    ConvCase(input: [2, 3, 7, 9], outChannels: 5, kernel: (3, 3), options: Conv2dOptions(padding: 1)),
    ConvCase(input: [1, 4, 8, 8], outChannels: 6, kernel: (3, 3), options: Conv2dOptions(stride: 2, padding: 1)),
    ConvCase(input: [3, 4, 9, 11], outChannels: 4, kernel: (3, 3), options: Conv2dOptions(padding: 2, dilation: 2, groups: 2)),
    ConvCase(input: [2, 6, 5, 6], outChannels: 6, kernel: (3, 3), options: Conv2dOptions(padding: 1, groups: 6)),  // depthwise
    ConvCase(input: [2, 5, 6, 7], outChannels: 3, kernel: (1, 1), options: Conv2dOptions(), bias: false),  // pointwise
    ConvCase(input: [1, 3, 6, 5], outChannels: 4, kernel: (1, 1), options: Conv2dOptions(stride: 2)),
    ConvCase(input: [2, 2, 7, 10], outChannels: 3, kernel: (2, 5),
             options: Conv2dOptions(stride: (2, 3), padding: (top: 0, left: 2, bottom: 1, right: 1), dilation: (1, 2))),
    ConvCase(input: [1, 3, 5, 5], outChannels: 2, kernel: (5, 5), options: Conv2dOptions(padding: 2), bias: false),
    ConvCase(input: [3, 17, 4, 3], outChannels: 19, kernel: (3, 1), options: Conv2dOptions(stride: (1, 1), padding: (1, 0, 1, 0))),
    ConvCase(input: [2, 8, 12, 12], outChannels: 16, kernel: (4, 4), options: Conv2dOptions(stride: 2, padding: 1)),
    ConvCase(input: [1, 40, 3, 130], outChannels: 72, kernel: (3, 3), options: Conv2dOptions()),  // one output row: GEMM split inside
    // Padding beyond dilation·(K−1): the stride-1 data gradient cannot be a flipped-kernel conv.
    ConvCase(input: [2, 3, 5, 6], outChannels: 4, kernel: (3, 3), options: Conv2dOptions(stride: (1, 1), padding: (top: 3, left: 1, bottom: 0, right: 2))),
]

private let transposeCases: [ConvCase] = [
    ConvCase(input: [2, 4, 5, 5], outChannels: 3, kernel: (4, 4), options: Conv2dOptions(stride: 2, padding: 1)),  // 2x upsampling
    ConvCase(input: [1, 3, 4, 6], outChannels: 5, kernel: (3, 3), options: Conv2dOptions(stride: 2, padding: 1),
             outputPadding: (1, 1)),
    ConvCase(input: [3, 4, 3, 4], outChannels: 6, kernel: (3, 2),
             options: Conv2dOptions(stride: (2, 1), padding: (top: 1, left: 0, bottom: 0, right: 1), dilation: (1, 2), groups: 2),
             outputPadding: (1, 0)),
    ConvCase(input: [2, 5, 6, 6], outChannels: 2, kernel: (1, 1), options: Conv2dOptions(), bias: false),  // pointwise
    ConvCase(input: [1, 2, 5, 4], outChannels: 2, kernel: (3, 3), options: Conv2dOptions(dilation: 2, groups: 2)),
]

/// Σ a ⊙ b in Double.
private func dot(_ a: Tensor, _ b: Tensor) -> Double {
    var acc = 0.0
    for i in 0..<a.count { acc += Double(a.pointer[i]) * Double(b.pointer[i]) }
    return acc
}

@Suite struct ConvolutionTests {
    @Test(arguments: [1, 2]) func conv2dMatchesNaive(threads: Int) throws {
        let cpu = CPU(threads: threads)
        for (i, c) in cases.enumerated() {
            let x = randomTensor(c.input, seed: UInt64(i)), w = randomTensor(c.convWeight, seed: UInt64(100 + i))
            let b = c.bias ? randomTensor([c.outChannels], seed: UInt64(200 + i)) : nil
            expectClose(try cpu.conv2d(x, weight: w, bias: b, c.options), try Naive.conv2d(x, weight: w, bias: b, c.options),
                        rtol: 1e-5, atol: 1e-5, "conv2d \(c)")
        }
    }

    @Test(arguments: [1, 2]) func convTranspose2dMatchesNaive(threads: Int) throws {
        let cpu = CPU(threads: threads)
        for (i, c) in transposeCases.enumerated() {
            let x = randomTensor(c.input, seed: UInt64(i)), w = randomTensor(c.transposeWeight, seed: UInt64(100 + i))
            let b = c.bias ? randomTensor([c.outChannels], seed: UInt64(200 + i)) : nil
            expectClose(try cpu.convTranspose2d(x, weight: w, bias: b, c.options, outputPadding: c.outputPadding),
                        try Naive.convTranspose2d(x, weight: w, bias: b, c.options, outputPadding: c.outputPadding),
                        rtol: 1e-5, atol: 1e-5, "convTranspose2d \(c)")
        }
    }

    /// Backward kernels satisfy ⟨conv(x, w), g⟩ = ⟨x, dx⟩ = ⟨w, dw⟩ (conv is linear in each
    /// operand), at sizes large enough for the GEMM panel split and the per-image thread split.
    @Test(arguments: [1, 2]) func backwardIsTheAdjoint(threads: Int) throws {
        let cpu = CPU(threads: threads)
        let shapes: [(Shape, Shape, Conv2dOptions)] = [
            ([3, 16, 12, 12], [24, 16, 3, 3], Conv2dOptions(padding: 1)),
            ([1, 32, 16, 16], [32, 16, 3, 3], Conv2dOptions(stride: 2, padding: 1, groups: 2)),
            ([2, 48, 9, 9], [40, 48, 1, 1], Conv2dOptions()),
        ]
        for (i, (xs, ws, o)) in shapes.enumerated() {
            let x = randomTensor(xs, seed: UInt64(i)), w = randomTensor(ws, seed: UInt64(10 + i))
            let y = try cpu.conv2d(x, weight: w, o)
            let g = randomTensor(y.shape, seed: UInt64(20 + i))
            let grads = try cpu.conv2dBackward(x, weight: w, grad: g, hasBias: true, o)
            let reference = dot(y, g)
            #expect(abs(dot(x, grads.input!) - reference) <= 1e-4 * abs(reference) + 1e-3, "conv2d dx, case \(i)")
            #expect(abs(dot(w, grads.weight!) - reference) <= 1e-4 * abs(reference) + 1e-3, "conv2d dw, case \(i)")
            expectClose(grads.bias!, Naive.sum(g, axes: [0, 2, 3], keepDims: false), rtol: 1e-5, atol: 1e-4, "conv2d db")
            // conv2d's data gradient is conv_transpose2d of the gradient with the same weight.
            let outputPadding = ((xs[2] + o.padTop + o.padBottom - ws[2]) % o.strideH, (xs[3] + o.padLeft + o.padRight - ws[3]) % o.strideW)
            expectClose(grads.input!, try Naive.convTranspose2d(g, weight: w, o, outputPadding: outputPadding),
                        rtol: 1e-4, atol: 1e-4, "conv2d dx vs naive conv_transpose2d, case \(i)")
        }
    }

    /// conv2d's data gradient is conv_transpose2d of the gradient by the same weight — for every
    /// geometry, whichever lowering runs (the flipped-kernel forward at stride 1, col2im otherwise).
    @Test(arguments: [1, 2]) func dataGradientIsTheTransposedConvolution(threads: Int) throws {
        let cpu = CPU(threads: threads)
        for (i, c) in cases.enumerated() {
            let x = randomTensor(c.input, seed: UInt64(i)), w = randomTensor(c.convWeight, seed: UInt64(100 + i))
            let o = c.options
            let y = try cpu.conv2d(x, weight: w, o)
            let g = randomTensor(y.shape, seed: UInt64(300 + i))
            let dx = try cpu.conv2dBackward(x, weight: w, grad: g, hasBias: false, o, needs: (true, false, false)).input!
            let outputPadding = ((c.input[2] + o.padTop + o.padBottom - o.dilationH * (c.kernel.0 - 1) - 1) % o.strideH,
                                 (c.input[3] + o.padLeft + o.padRight - o.dilationW * (c.kernel.1 - 1) - 1) % o.strideW)
            expectClose(dx, try Naive.convTranspose2d(g, weight: w, o, outputPadding: outputPadding),
                        rtol: 1e-5, atol: 1e-5, "conv2d dx \(c)")
        }
    }

    @Test func gradientsMatchFiniteDifferences() throws {
        for (i, c) in cases.enumerated() {
            let x = randomTensor(c.input, seed: UInt64(i)), w = randomTensor(c.convWeight, seed: UInt64(100 + i))
            if c.bias {
                let b = randomTensor([c.outChannels], seed: UInt64(200 + i))
                try expectGradientsMatch("conv2d \(c)", inputs: [x, w, b]) { t, v in try t.conv2d(v[0], weight: v[1], bias: v[2], c.options) }
            } else {
                try expectGradientsMatch("conv2d \(c)", inputs: [x, w]) { t, v in try t.conv2d(v[0], weight: v[1], c.options) }
            }
        }
        for (i, c) in transposeCases.enumerated() {
            let x = randomTensor(c.input, seed: UInt64(i)), w = randomTensor(c.transposeWeight, seed: UInt64(100 + i))
            let b = randomTensor([c.outChannels], seed: UInt64(200 + i))
            try expectGradientsMatch("convTranspose2d \(c)", inputs: [x, w, b]) { t, v in
                try t.convTranspose2d(v[0], weight: v[1], bias: v[2], c.options, outputPadding: c.outputPadding)
            }
        }
        // Only the weight needs a gradient (frozen input): the rule must still give it.
        let x = randomTensor([2, 3, 6, 6], seed: 1), w = randomTensor([4, 3, 3, 3], seed: 2)
        try expectGradientsMatch("conv2d weight only", inputs: [x, w], differentiable: [false, true]) { t, v in
            try t.conv2d(v[0], weight: v[1], Conv2dOptions(padding: 1))
        }
    }

    @Test(arguments: [1, 16]) func bitIdenticalAcrossRuns(batch: Int) throws {
        let cpu = CPU(threads: 2)
        let x = randomTensor([batch, 16, 10, 10], seed: 3), w = randomTensor([8, 16, 3, 3], seed: 4)
        let o = Conv2dOptions(padding: 1)
        let y = try cpu.conv2d(x, weight: w, o)
        #expect(y.scalars == (try cpu.conv2d(x, weight: w, o)).scalars)
        let g = randomTensor(y.shape, seed: 5)
        let a = try cpu.conv2dBackward(x, weight: w, grad: g, hasBias: false, o)
        let b = try cpu.conv2dBackward(x, weight: w, grad: g, hasBias: false, o)
        #expect(a.input!.scalars == b.input!.scalars && a.weight!.scalars == b.weight!.scalars)
    }

    @Test func badInputNamesOpAndShapes() throws {
        let cpu = CPU(threads: 1)
        let x = Tensor(zeros: [1, 4, 5, 5])
        func message(_ body: () throws -> Tensor) -> String {
            do { _ = try body(); return "no error" } catch { return "\(error)" }
        }
        let channels = message { try cpu.conv2d(x, weight: Tensor(zeros: [2, 3, 3, 3])) }
        #expect(channels.contains("conv2d") && channels.contains("[1, 4, 5, 5]") && channels.contains("[2, 3, 3, 3]"))
        let tooBig = message { try cpu.conv2d(x, weight: Tensor(zeros: [2, 4, 7, 7])) }
        #expect(tooBig.contains("conv2d") && tooBig.contains("does not fit"))
        #expect(message { try cpu.conv2d(x, weight: Tensor(zeros: [3, 2, 3, 3]), Conv2dOptions(groups: 2)) }.contains("groups 2"))
        #expect(message { try cpu.conv2d(x, weight: Tensor(zeros: [2, 4, 3, 3]), Conv2dOptions(stride: 0)) }.contains("stride"))
        #expect(message { try cpu.conv2d(x, weight: Tensor(zeros: [2, 4, 3, 3]), Conv2dOptions(padding: -1)) }.contains("padding"))
        #expect(message { try cpu.conv2d(x, weight: Tensor(zeros: [2, 4, 3, 3]), bias: Tensor(zeros: [3])) }.contains("bias"))
        #expect(message { try cpu.conv2d(Tensor(zeros: [4, 5, 5]), weight: Tensor(zeros: [2, 4, 3, 3])) }.contains("4 axes"))
        let outputPadding = message {
            try cpu.convTranspose2d(x, weight: Tensor(zeros: [4, 2, 3, 3]), Conv2dOptions(stride: 2), outputPadding: (2, 0))
        }
        #expect(outputPadding.contains("convTranspose2d") && outputPadding.contains("output padding"))
        #expect(message { try cpu.convTranspose2d(x, weight: Tensor(zeros: [3, 2, 3, 3])) }.contains("[Cin, Cout/groups, KH, KW]"))
        let grad = message {
            try cpu.conv2dBackward(x, weight: Tensor(zeros: [2, 4, 3, 3]), grad: Tensor(zeros: [1, 2, 5, 5]), hasBias: false).input!
        }
        #expect(grad.contains("conv2dBackward") && grad.contains("[1, 2, 3, 3]"))
    }

    // MARK: fused epilogue

    /// conv2d with the epilogue against Naive.conv2d, a naive residual add and the activation
    /// applied elementwise: 3x3, pointwise, strided and grouped kernels, and a one-row output
    /// whose GEMM is split over the threads (so the epilogue is split over channels too).
    @Test(arguments: [1, 2]) func epilogueMatchesNaive(threads: Int) throws {
        let cpu = CPU(threads: threads)
        let geometries: [(Shape, Shape, Conv2dOptions)] = [  // input [1, C, H, W] (batch set below), weight, options
            ([1, 5, 7, 9], [6, 5, 3, 3], Conv2dOptions(padding: 1)),
            ([1, 7, 6, 5], [4, 7, 1, 1], Conv2dOptions()),  // pointwise: no im2col
            ([1, 4, 9, 8], [5, 4, 3, 3], Conv2dOptions(stride: 2, padding: 1)),
            ([1, 6, 5, 7], [4, 3, 3, 3], Conv2dOptions(stride: (1, 1), padding: (top: 1, left: 0, bottom: 2, right: 1), groups: 2)),
            ([1, 40, 3, 130], [72, 40, 3, 3], Conv2dOptions()),  // one output row: one unit per image
        ]
        for (i, (xs, ws, o)) in geometries.enumerated() {
            for batch in [1, 3] {
                let x = randomTensor(xs.replacing(axis: 0, with: batch), seed: UInt64(i))
                let w = randomTensor(ws, seed: UInt64(10 + i)), b = randomTensor([ws[0]], seed: UInt64(20 + i))
                let plain = try Naive.conv2d(x, weight: w, o)
                let r = randomTensor(plain.shape, seed: UInt64(30 + i), -2, 2)
                for (bias, residual) in [(nil, nil), (b, nil), (nil, r), (b, r)] as [(Tensor?, Tensor?)] {
                    var expected = try Naive.conv2d(x, weight: w, bias: bias, o)
                    if let residual { expected = try Naive.binary(.add, expected, residual) }
                    for activation in [nil, UnaryOp.relu, .silu, .gelu] {
                        let want = activation.map { Naive.unary($0, expected) } ?? expected
                        let got = try cpu.conv2d(x, weight: w, bias: bias, o, residual: residual, activation: activation)
                        expectClose(got, want, rtol: 1e-5, atol: 1e-5,
                                    "case \(i) batch \(batch) bias \(bias != nil) residual \(residual != nil) \(activation.map { "\($0)" } ?? "none")")
                    }
                }
            }
        }
    }

    /// y = act(conv(x) + bias + y) in place: the residual is exactly the output, a view inside a
    /// larger storage. Same bits as with a separate residual tensor, and close to the naive ops.
    @Test(arguments: [1, 2]) func epilogueResidualMayBeTheOutput(threads: Int) throws {
        let cpu = CPU(threads: threads)
        let geometries: [(Shape, Shape, Conv2dOptions)] = [
            ([3, 5, 7, 9], [6, 5, 3, 3], Conv2dOptions(padding: 1)),
            ([1, 8, 5, 5], [8, 8, 1, 1], Conv2dOptions()),
            ([1, 40, 3, 130], [72, 40, 3, 3], Conv2dOptions()),
        ]
        for (i, (xs, ws, o)) in geometries.enumerated() {
            let x = randomTensor(xs, seed: UInt64(i)), w = randomTensor(ws, seed: UInt64(10 + i))
            let b = randomTensor([ws[0]], seed: UInt64(20 + i))
            let r = randomTensor(try Naive.conv2d(x, weight: w, o).shape, seed: UInt64(30 + i))
            for (bias, activation) in [(nil, nil), (b, UnaryOp.silu), (b, nil), (nil, .relu)] as [(Tensor?, UnaryOp?)] {
                let storage = TensorStorage(capacity: r.count + 11)
                let slot = Tensor(viewing: storage, offset: 7, shape: r.shape)
                slot.assign(r)
                let got = try cpu.conv2d(x, weight: w, bias: bias, o, residual: slot, activation: activation, into: slot)
                let separate = try cpu.conv2d(x, weight: w, bias: bias, o, residual: r, activation: activation)
                #expect(got.storage === storage && got.offset == 7)
                expectSameBits(got, separate, "case \(i): in place vs a separate residual")
                var expected = try Naive.binary(.add, try Naive.conv2d(x, weight: w, bias: bias, o), r)
                if let activation { expected = Naive.unary(activation, expected) }
                expectClose(got, expected, rtol: 1e-5, atol: 1e-5, "case \(i) in place")
            }
        }
    }

    /// The fused activation gives the bits of the separate unary op on the conv output.
    @Test func epilogueActivationMatchesUnfusedBits() throws {
        let cpu = CPU(threads: 2)
        let x = randomTensor([2, 6, 9, 9], seed: 1), w = randomTensor([8, 6, 3, 3], seed: 2), b = randomTensor([8], seed: 3)
        let o = Conv2dOptions(padding: 1)
        let conv = try cpu.conv2d(x, weight: w, bias: b, o)
        for activation in UnaryOp.allCases where ![.log, .sqrt].contains(activation) {
            let fused = try cpu.conv2d(x, weight: w, bias: b, o, activation: activation)
            expectSameBits(fused, cpu.unary(activation, conv), "fused \(activation)")
        }
    }

    @Test func epilogueRejectsAWrongResidual() throws {
        let cpu = CPU(threads: 1)
        let x = Tensor(zeros: [1, 4, 5, 5]), w = Tensor(zeros: [2, 4, 3, 3])
        do {
            _ = try cpu.conv2d(x, weight: w, residual: Tensor(zeros: [1, 2, 5, 5]))
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("conv2d") && "\(error)".contains("[1, 2, 5, 5]") && "\(error)".contains("[1, 2, 3, 3]"))
        }
    }

    /// The direct kernel (≤ 4 output channels per group) computes every element as the GEMM path's
    /// chain acc = fma(w, x, acc) over (c, kh, kw) in order, zero-padded taps included, starting
    /// from bias + residual: bit-identical to that chain written out in Swift, over geometries with
    /// stride, dilation, asymmetric padding, groups, C·KH·KW past one K block (256), a residual
    /// that is the output, and 1 and 2 threads.
    @Test(arguments: [1, 2]) func directKernelIsTheGEMMChain(threads: Int) throws {
        let cpu = CPU(threads: threads)
        let cases: [(Shape, Shape, Conv2dOptions)] = [
            ([2, 32, 28, 28], [1, 32, 3, 3], Conv2dOptions(padding: 1)),
            ([1, 5, 9, 7], [3, 5, 3, 3], Conv2dOptions(stride: 2, padding: 1)),
            ([3, 4, 9, 11], [4, 2, 3, 3], Conv2dOptions(padding: 2, dilation: 2, groups: 2)),
            ([1, 2, 7, 10], [2, 2, 2, 5], Conv2dOptions(stride: (2, 3), padding: (top: 0, left: 2, bottom: 1, right: 1), dilation: (1, 2))),
        ]
        for (i, (xs, ws, o)) in cases.enumerated() {
            let x = randomTensor(xs, seed: UInt64(i)), w = randomTensor(ws, seed: UInt64(10 + i)), b = randomTensor([ws[0]], seed: UInt64(20 + i))
            let plain = try cpu.conv2d(x, weight: w, bias: b, o)
            let r = randomTensor(plain.shape, seed: UInt64(30 + i))
            let slot = r.copy()
            let got = try cpu.conv2d(x, weight: w, bias: b, o, residual: slot, into: slot)
            // The chain, element by element.
            let (m, oh, ow) = (ws[0], plain.shape[2], plain.shape[3]), cg = ws[1], mg = m / o.groups
            let expected = Tensor(zeros: plain.shape)
            for n in 0..<xs[0] { for oc in 0..<m { for yy in 0..<oh { for xx in 0..<ow {
                let at = ((n * m + oc) * oh + yy) * ow + xx
                var acc = b.pointer[oc] + r.pointer[at]
                for c in 0..<cg { for kh in 0..<ws[2] { for kw in 0..<ws[3] {
                    let iy = yy * o.strideH + kh * o.dilationH - o.padTop, ix = xx * o.strideW + kw * o.dilationW - o.padLeft
                    let ch = (oc / mg) * cg + c
                    let v: Float = iy >= 0 && iy < xs[2] && ix >= 0 && ix < xs[3] ? x.pointer[((n * xs[1] + ch) * xs[2] + iy) * xs[3] + ix] : 0
                    acc = acc.addingProduct(w.pointer[((oc * cg + c) * ws[2] + kh) * ws[3] + kw], v)  // one fused multiply-add
                } } }
                expected.pointer[at] = acc
            } } } }
            expectSameBits(got, expected, "direct conv \(xs) \(ws) \(o)")
        }
    }

    /// Winograd F(2x2, 3x3) against the direct definition: odd sizes (partial tiles), asymmetric
    /// padding, batches above and below the thread count, bias / residual / activation.
    @Test(arguments: [1, 2]) func winogradMatchesNaive(threads: Int) throws {
        let cpu = CPU(threads: threads)
        let cases: [(Shape, Int, Conv2dOptions)] = [
            ([1, 3, 8, 8], 4, Conv2dOptions(padding: 1)),
            ([3, 5, 7, 9], 6, Conv2dOptions(padding: 1)),
            ([2, 4, 9, 5], 3, Conv2dOptions()),
            ([1, 6, 6, 11], 2, Conv2dOptions(stride: (1, 1), padding: (top: 2, left: 0, bottom: 1, right: 2))),
            ([16, 8, 4, 4], 16, Conv2dOptions(padding: 1)),
            ([2, 17, 33, 31], 19, Conv2dOptions(padding: 1)),
        ]
        for (i, (xs, m, o)) in cases.enumerated() {
            let x = randomTensor(xs, seed: UInt64(i)), w = randomTensor([m, xs[1], 3, 3], seed: UInt64(10 + i))
            let b = randomTensor([m], seed: UInt64(20 + i))
            let u = try cpu.winogradWeights(w)
            let plain = try Naive.conv2d(x, weight: w, bias: b, o)
            expectClose(try cpu.conv2dWinograd(x, transformed: u, bias: b, o), plain, rtol: 1e-5, atol: 1e-5, "winograd \(xs) \(o)")
            let r = randomTensor(plain.shape, seed: UInt64(30 + i))
            let expected = Naive.unary(.silu, try Naive.binary(.add, plain, r))
            expectClose(try cpu.conv2dWinograd(x, transformed: u, bias: b, o, residual: r, activation: .silu), expected,
                        rtol: 1e-5, atol: 1e-5, "winograd epilogue \(xs)")
            let slot = r.copy()  // residual exactly the output
            _ = try cpu.conv2dWinograd(x, transformed: u, bias: b, o, residual: slot, activation: .silu, into: slot)
            expectClose(slot, expected, rtol: 1e-5, atol: 1e-5, "winograd in place \(xs)")
        }
        #expect(throws: TensorError.self) { try cpu.conv2dWinograd(Tensor(zeros: [1, 3, 8, 8]), transformed: Tensor(zeros: [16, 4, 2]), Conv2dOptions()) }
        // The weight gradient by F(2x2, 3x3) backwards, against the definition in Double: each entry
        // within 1e-5 of the sum of its terms' magnitudes (float rounding of a long sum, not more).
        for (i, (xs, m, o)) in cases.enumerated() {
            let x = randomTensor(xs, seed: UInt64(40 + i)), w = Tensor(zeros: [m, xs[1], 3, 3])
            let g = try ConvGeometry.conv2d(input: xs, weight: w.shape, bias: nil, o, op: "test")
            let dy = randomTensor(g.colShape, seed: UInt64(50 + i))
            let got = cpu.winogradWeightGradient(image: x, grad: dy, g)
            for oc in 0..<m { for c in 0..<xs[1] { for kh in 0..<3 { for kw in 0..<3 {
                var sum = 0.0, magnitude = 0.0
                for n in 0..<xs[0] { for oy in 0..<g.outHeight { for ox in 0..<g.outWidth {
                    let iy = oy - o.padTop + kh, ix = ox - o.padLeft + kw
                    guard iy >= 0, iy < xs[2], ix >= 0, ix < xs[3] else { continue }
                    let term = Double(dy.pointer[((n * m + oc) * g.outHeight + oy) * g.outWidth + ox])
                        * Double(x.pointer[((n * xs[1] + c) * xs[2] + iy) * xs[3] + ix])
                    sum += term; magnitude += abs(term)
                } } }
                let at = ((oc * xs[1] + c) * 3 + kh) * 3 + kw
                #expect(abs(Double(got.pointer[at]) - sum) <= 1e-5 * magnitude + 1e-6,
                        "winograd dW \(xs) \(o) [\(oc), \(c), \(kh), \(kw)]: \(got.pointer[at]) vs \(sum)")
            } } } }
        }
        #expect(throws: TensorError.self) {
            try cpu.conv2dWinograd(Tensor(zeros: [1, 3, 8, 8]), transformed: Tensor(zeros: [16, 4, 3]), Conv2dOptions(stride: 2))
        }
    }
}

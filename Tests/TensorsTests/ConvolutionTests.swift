// Convolution kernels against their naive twins on many geometries (kernel sizes, strides,
// asymmetric padding, dilation, groups, 1x1 fast path; batches above and below the thread
// count), backward kernels against the adjoint identity and finite differences, and errors.

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
}

// Pooling kernels beyond ResamplingTests' floor-mode average pooling: ceil mode and max pooling
// (dilation, ties, NaN) — PyTorch 2.13 (CPU) golden outputs, fast vs naive on random shapes (odd
// sizes, SIMD tails, thread counts 1 and 2, bit-identical), backward vs the naive adjoint, tape
// gradients by finite differences, and errors naming op and shapes.
//
// Golden values come from this snippet (run once with /work/venv/bin/python, torch CPU):
//   import torch, torch.nn.functional as F
//   x = torch.arange(24, dtype=torch.float32).reshape(1, 2, 3, 4) * 0.5 - 2
//   F.avg_pool2d(x, 2, 2, 0, ceil_mode=True, count_include_pad=True)               # avgCeilIncl
//   F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)              # avgCeilPadExcl
//   F.avg_pool2d(x, (3, 2), (2, 3), (1, 1), ceil_mode=True, count_include_pad=True) # avgCeilPadIncl
//   x2 = x.clone(); x2[0, 0, 1, 1] = 5; x2[0, 1, 0, 0] = 9
//   F.max_pool2d(x2, 2)                                                            # max2
//   F.max_pool2d(x2, 3, 2, 1, ceil_mode=True)                                      # maxCeilPad
//   F.max_pool2d(x2, 2, 1, 1, dilation=2)                                          # maxDil
//   xg = x2.clone().requires_grad_(); y = F.max_pool2d(xg, 3, 2, 1, ceil_mode=True)
//   y.backward(torch.arange(12.).reshape(y.shape) - 3)                             # maxGrad

import Testing
@testable import Tensors

@Suite struct PoolingTests {
    let cpu = CPU(threads: 2)
    let x = Tensor(shape: [1, 2, 3, 4], scalars: (0..<24).map { Float($0) * 0.5 - 2 })

    func t(_ shape: Shape, _ v: [Float]) -> Tensor { Tensor(shape: shape, scalars: v) }

    var x2: Tensor {
        let y = x.copy()
        y.pointer[5] = 5
        y.pointer[12] = 9
        return y
    }

    @Test func matchesPyTorch() throws {
        let ceil2 = Pool2dWindow(kernel: (2, 2), ceilMode: true)
        expectClose(try cpu.avgPool2d(x, ceil2), t([1, 2, 2, 2], [-0.75, 0.25, 2.25, 3.25, 5.25, 6.25, 8.25, 9.25]), rtol: 1e-6, atol: 1e-6, "avg ceil")
        let ceilPad = Pool2dWindow(kernel: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true)
        let avgCeilPadExcl: [Float] = [-0.75, 0.0, 0.5, 1.25, 2.0, 2.5, 5.25, 6.0, 6.5, 7.25, 8.0, 8.5]
        expectClose(try cpu.avgPool2d(x, ceilPad, countIncludePad: false), t([1, 2, 2, 3], avgCeilPadExcl), rtol: 1e-6, atol: 1e-6, "avg ceil pad excl")
        let rect = Pool2dWindow(kernel: (3, 2), stride: (2, 3), padding: (1, 1), ceilMode: true)
        let avgCeilPadIncl: [Float] = [-0.3333333, 0.1666667, 0.3333333, 1.5, 1.6666666, 4.1666665, 2.3333333, 5.5]
        expectClose(try cpu.avgPool2d(x, rect, countIncludePad: true), t([1, 2, 2, 2], avgCeilPadIncl), rtol: 1e-6, atol: 1e-6, "avg ceil pad incl")

        expectClose(try cpu.maxPool2d(x2, Pool2dWindow(kernel: (2, 2))), t([1, 2, 1, 2], [5, 1.5, 9, 7.5]), rtol: 0, atol: 0, "max 2x2")
        let maxCeilPad: [Float] = [5, 5, 1.5, 5, 5, 3.5, 9, 7.5, 7.5, 8.5, 9.5, 9.5]
        expectClose(try cpu.maxPool2d(x2, ceilPad), t([1, 2, 2, 3], maxCeilPad), rtol: 0, atol: 0, "max ceil pad")
        let dilated = Pool2dWindow(kernel: (2, 2), stride: (1, 1), padding: (1, 1), dilation: (2, 2))
        let maxDil: [Float] = [5, 1, 5, 1, 2.5, 3, 3.5, 3, 5, 1, 5, 1, 6.5, 7, 7.5, 7, 8.5, 9, 9.5, 9, 6.5, 7, 7.5, 7]
        expectClose(try cpu.maxPool2d(x2, dilated), t([1, 2, 3, 4], maxDil), rtol: 0, atol: 0, "max dilated")
        let g = t([1, 2, 2, 3], (0..<12).map { Float($0) - 3 })
        let maxGrad: [Float] = [0, 0, 0, 0, 0, -4, 0, -1, 0, 0, 0, 2, 3, 0, 0, 0, 0, 0, 0, 9, 0, 6, 0, 15]
        expectClose(try cpu.maxPool2dBackward(g, input: x2, ceilPad), t(x.shape, maxGrad), rtol: 0, atol: 0, "max grad")
    }

    static let windows: [Pool2dWindow] = [
        Pool2dWindow(kernel: (2, 2)), Pool2dWindow(kernel: (2, 2), ceilMode: true),
        Pool2dWindow(kernel: (3, 3), stride: (1, 1), padding: (1, 1)),
        Pool2dWindow(kernel: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true),
        Pool2dWindow(kernel: (3, 2), stride: (2, 3), padding: (1, 0), ceilMode: true),
        Pool2dWindow(kernel: (3, 2), stride: (2, 3), padding: (1, 0)),
        Pool2dWindow(kernel: (1, 1)), Pool2dWindow(kernel: (5, 5), stride: (3, 2), padding: (2, 2), ceilMode: true),
        Pool2dWindow(kernel: (5, 5), stride: (3, 2), padding: (2, 2)),
    ]
    static let dilatedWindows: [Pool2dWindow] = [
        Pool2dWindow(kernel: (3, 3), stride: (1, 1), padding: (2, 2), dilation: (2, 2)),
        Pool2dWindow(kernel: (2, 3), stride: (2, 1), padding: (1, 1), dilation: (3, 2), ceilMode: true),
    ]
    static let shapes: [Shape] = [[2, 3, 6, 8], [1, 2, 7, 17], [2, 1, 5, 33], [1, 1, 4, 7], [1, 2, 9, 1], [1, 1, 2, 2]]

    /// Whether `win` fits `shape` (the kernels refuse the rest).
    static func fits(_ win: Pool2dWindow, _ shape: Shape) -> Bool {
        (win.kernel.h - 1) * win.dilation.h + 1 <= shape[2] + 2 * win.padding.h
            && (win.kernel.w - 1) * win.dilation.w + 1 <= shape[3] + 2 * win.padding.w
    }

    @Test func avgPoolCeilModeMatchesNaive() throws {
        for (k, shape) in Self.shapes.enumerated() {
            let x = randomTensor(shape, seed: UInt64(k))
            for win in Self.windows where Self.fits(win, shape) {
                for incl in [true, false] {
                    let e = try Naive.avgPool2d(x, win, countIncludePad: incl)
                    try expectExactOnThreads("avgPool \(shape) \(win) incl \(incl)", e) { try $0.avgPool2d(x, win, countIncludePad: incl) }
                    let g = randomTensor(e.shape, seed: 3)
                    let nb = Naive.avgPool2dBackward(g, inputShape: shape, win, countIncludePad: incl)
                    for threads in [1, 2] {
                        let fast = try CPU(threads: threads).avgPool2dBackward(g, inputShape: shape, win, countIncludePad: incl)
                        expectClose(fast, nb, rtol: 1e-5, atol: 1e-6, "avgPool backward \(shape) \(win) incl \(incl)")
                    }
                }
            }
        }
    }

    @Test func maxPoolMatchesNaive() throws {
        for (k, shape) in Self.shapes.enumerated() {
            // Values on a coarse grid: many ties, so "first maximum" is exercised.
            let x = Tensor(shape: shape, scalars: randomTensor(shape, seed: UInt64(k)).scalars.map { ($0 * 4).rounded() })
            for win in Self.windows + Self.dilatedWindows where Self.fits(win, shape) {
                let e = try Naive.maxPool2d(x, win)
                try expectExactOnThreads("maxPool \(shape) \(win)", e) { try $0.maxPool2d(x, win) }
                let g = randomTensor(e.shape, seed: 4)
                let nb = Naive.maxPool2dBackward(g, input: x, win)
                try expectExactOnThreads("maxPool backward \(shape) \(win)", nb) { try $0.maxPool2dBackward(g, input: x, win) }
            }
        }
    }

    @Test func maxPoolPropagatesNaNAndWritesIntoOutput() throws {
        let x = randomTensor([1, 1, 4, 6], seed: 9)
        x.pointer[7] = .nan
        let win = Pool2dWindow(kernel: (2, 2))
        let out = Tensor(shape: [1, 1, 2, 3], repeating: 42)
        let y = try cpu.maxPool2d(x, win, into: out)
        #expect(y.storage === out.storage)
        #expect(y.pointer[0].isNaN && !y.pointer[1].isNaN)
        expectSameBits(y, try Naive.maxPool2d(x, win), "NaN window")
        let g = Tensor(shape: [1, 1, 2, 3], repeating: 1)
        #expect(try cpu.maxPool2dBackward(g, input: x, win).scalars[7] == 1)
    }

    @Test func gradients() throws {
        let x = randomTensor([2, 2, 5, 6], seed: 11)
        for incl in [true, false] {
            try expectGradientsMatch("avgPool ceil \(incl)", inputs: [x]) { t, v in
                try t.avgPool2d(v[0], Pool2dWindow(kernel: (3, 2), stride: (2, 2), padding: (1, 1), ceilMode: true), countIncludePad: incl)
            }
        }
        // Distinct values 0.05 apart: a finite-difference step never changes a window's maximum.
        let spaced = Tensor(shape: [2, 2, 5, 6], scalars: (0..<120).map { Float(($0 * 37) % 120) * 0.05 - 3 })
        for win in [Pool2dWindow(kernel: (2, 2)), Pool2dWindow(kernel: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true),
                    Pool2dWindow(kernel: (2, 2), stride: (1, 2), padding: (1, 1), dilation: (2, 2))] {
            try expectGradientsMatch("maxPool \(win)", inputs: [spaced]) { t, v in try t.maxPool2d(v[0], win) }
        }
    }

    @Test func errorsNameOpAndShapes() {
        expectTensorError(["maxPool2d", "[1, 1, 3, 3]", "kernel (h: 3, w: 3)"]) {
            _ = try cpu.maxPool2d(Tensor(zeros: [1, 1, 3, 3]), Pool2dWindow(kernel: (3, 3), dilation: (2, 2)))
        }
        expectTensorError(["avgPool2d", "dilation", "[1, 1, 8, 8]"]) {
            _ = try cpu.avgPool2d(Tensor(zeros: [1, 1, 8, 8]), Pool2dWindow(kernel: (2, 2), dilation: (2, 1)))
        }
        expectTensorError(["maxPool2dBackward", "[1, 1, 3, 3]", "[1, 1, 2, 2]"]) {
            _ = try cpu.maxPool2dBackward(Tensor(zeros: [1, 1, 3, 3]), input: Tensor(zeros: [1, 1, 4, 4]), Pool2dWindow(kernel: (2, 2)))
        }
        expectTensorError(["maxPool2d", "output tensor"]) {
            _ = try cpu.maxPool2d(Tensor(zeros: [1, 1, 4, 4]), Pool2dWindow(kernel: (2, 2)), into: Tensor(zeros: [1, 1, 3, 3]))
        }
    }
}

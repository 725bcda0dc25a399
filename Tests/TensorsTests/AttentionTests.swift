// Attention kernels: softmax / log-softmax and scaled dot-product attention against their naive
// twins (odd lengths, SIMD tails, masks of several broadcast shapes, thread counts 1 and 2,
// bit-identical repeats), gradients by finite differences, and errors naming op and shapes.

import Foundation
import Testing
@testable import Tensors

@Suite struct AttentionTests {
    @Test func softmaxMatchesNaive() throws {
        for threads in [1, 2] {
            let cpu = CPU(threads: threads)
            for (i, (shape, axis)) in ([([3, 17], -1), ([2, 33, 5], 1), ([4, 1], -1), ([2, 7], 0), ([2, 3, 64], 2), ([1, 100], 1)]
                                       as [(Shape, Int)]).enumerated() {
                let x = randomTensor(shape, seed: UInt64(i), -20, 20)
                expectClose(try cpu.softmax(x, axis: axis), Naive.softmax(x, axis: axis), rtol: 1e-5, atol: 1e-7, "softmax \(shape) \(axis)")
                expectClose(try cpu.logSoftmax(x, axis: axis), Naive.softmax(x, axis: axis, log: true), rtol: 1e-5, atol: 2e-6,
                            "logSoftmax \(shape) \(axis)")
            }
        }
        // stability: huge logits
        let x = Tensor(shape: [1, 3], scalars: [1000, 1001, -1e30])
        expectClose(try CPU(threads: 1).softmax(x), Naive.softmax(x), rtol: 1e-6, atol: 1e-7, "huge logits")
    }

    static let attentionCases: [(Shape, Int, Int, Shape?)] = [
        // q shape [..., Lq, D], Lk, Dv, mask
        ([2, 3, 7, 5], 9, 4, nil), ([1, 1, 1, 1], 1, 1, nil), ([2, 2, 17, 16], 17, 16, [17, 17]),
        ([2, 3, 7, 8], 33, 3, [2, 1, 7, 33]), ([3, 5, 6], 7, 2, [7]), ([1, 2, 16, 64], 16, 64, [1, 16]),
        ([2, 3, 150, 8], 70, 5, nil),  // more query rows than one 64-row block
    ]

    func attentionInputs(_ i: Int, _ c: (Shape, Int, Int, Shape?)) -> (Tensor, Tensor, Tensor, Tensor?) {
        let (qs, lk, dv, ms) = c
        var ks = qs; ks[ks.rank - 2] = lk
        var vs = ks; vs[vs.rank - 1] = dv
        let mask = ms.map { m -> Tensor in
            let t = randomTensor(m, seed: UInt64(90 + i), -2, 2)
            for j in 0..<t.count where j % 5 == 3 { t.pointer[j] = -1e9 }  // some masked-out keys
            return t
        }
        return (randomTensor(qs, seed: UInt64(i)), randomTensor(ks, seed: UInt64(30 + i)), randomTensor(vs, seed: UInt64(60 + i)), mask)
    }

    @Test func attentionMatchesNaive() throws {
        for threads in [1, 2] {
            let cpu = CPU(threads: threads)
            for (i, c) in Self.attentionCases.enumerated() {
                let (q, k, v, mask) = attentionInputs(i, c)
                let expected = Naive.scaledDotProductAttention(q, k, v, mask: mask)
                let fast = try cpu.scaledDotProductAttention(q, k, v, mask: mask)
                expectClose(fast, expected, rtol: 1e-4, atol: 1e-5, "sdpa \(c.0) t\(threads)")
                let inter = try cpu.attentionForward(q, k, v, scale: nil, mask: mask, interleaved: true).output
                let swept = try cpu.attentionForward(q, k, v, scale: nil, mask: mask).output
                #expect(inter.scalars == swept.scalars, "interleaved schedule differs \(c.0)")
                expectClose(swept, expected, rtol: 1e-4, atol: 1e-5, "training path \(c.0) t\(threads)")
                if mask == nil {  // the blocked inference path, also with k given transposed
                    let kt = try cpu.permute(k, Array(0..<(k.rank - 2)) + [k.rank - 1, k.rank - 2])
                    expectClose(try cpu.scaledDotProductAttention(q, kt, v, keyTransposed: true), expected,
                                rtol: 1e-4, atol: 1e-5, "keyTransposed \(c.0) t\(threads)")
                }
                #expect(try cpu.scaledDotProductAttention(q, k, v, mask: mask).scalars == fast.scalars, "repeat \(c.0)")
                expectClose(try cpu.scaledDotProductAttention(q, k, v, scale: 0.3, mask: mask),
                            Naive.scaledDotProductAttention(q, k, v, scale: 0.3, mask: mask), rtol: 1e-4, atol: 1e-5, "scale 0.3")
            }
        }
    }

    /// Heads interleaved in the rows ([B, L, H, D]) give exactly the bits of attention on the
    /// head-split layout ([B, H, L, D]) between transposes: the same chains, only other strides.
    @Test(arguments: [1, 2]) func interleavedHeadsMatchTheSplitLayout(threads: Int) throws {
        let cpu = CPU(threads: threads), heads = [0, 2, 1, 3]
        for (i, (b, lq, lk, h, d, dv)) in [(1, 196, 196, 4, 16, 16), (3, 70, 9, 2, 5, 7), (2, 1, 130, 3, 8, 4)].enumerated() {
            let q = randomTensor([b, lq, h, d], seed: UInt64(i)), k = randomTensor([b, lk, h, d], seed: UInt64(10 + i))
            let v = randomTensor([b, lk, h, dv], seed: UInt64(20 + i))
            let split = try cpu.scaledDotProductAttention(cpu.permute(q, heads), cpu.permute(k, heads), cpu.permute(v, heads), scale: 0.25)
            let got = try cpu.scaledDotProductAttentionInterleaved(q, k, v, scale: 0.25)
            expectSameBits(got, try cpu.permute(split, heads), "interleaved \(q.shape) \(k.shape) \(v.shape)")
        }
        #expect(throws: TensorError.self) {
            try cpu.scaledDotProductAttentionInterleaved(Tensor(zeros: [1, 4, 2, 3]), Tensor(zeros: [1, 5, 2, 4]), Tensor(zeros: [1, 5, 2, 3]))
        }
    }

    @Test func attentionMatchesPyTorch() throws {
        // /work/venv/bin/python: j = arange(24, float64); q = sin(0.3 j), k = cos(0.2 j), v = sin(0.11 j + 1),
        // each .reshape(1, 2, 3, 4).float(); F.scaled_dot_product_attention(q, k, v)  (torch 2.x CPU)
        func make(_ f: (Double) -> Double) -> Tensor { Tensor(shape: [1, 2, 3, 4], scalars: (0..<24).map { Float(f(Double($0))) }) }
        let q = make { sin(0.3 * $0) }, k = make { cos(0.2 * $0) }, v = make { sin(0.11 * $0 + 1) }
        let expected = Tensor(shape: [1, 2, 3, 4], scalars: [
            0.9079181, 0.931764, 0.9443469, 0.9455147, 0.8887252, 0.9246798, 0.949457, 0.9627574, 0.9195803, 0.9360901,
            0.9412847, 0.9351013, 0.4454587, 0.350786, 0.2518731, 0.1499157, 0.4281374, 0.3325817, 0.2330058, 0.1306134,
            0.3018937, 0.2028059, 0.1012666, -0.001496813])
        expectClose(try CPU(threads: 2).scaledDotProductAttention(q, k, v), expected, rtol: 1e-5, atol: 1e-6, "vs PyTorch")
    }

    @Test func gradients() throws {
        let x = randomTensor([3, 5], seed: 1, -2, 2)
        try expectGradientsMatch("softmax", inputs: [x]) { t, v in try t.softmax(v[0]) }
        try expectGradientsMatch("softmax axis 0", inputs: [x]) { t, v in try t.softmax(v[0], axis: 0) }
        try expectGradientsMatch("logSoftmax", inputs: [x]) { t, v in try t.logSoftmax(v[0]) }
        let x3 = randomTensor([2, 4, 3], seed: 2, -2, 2)
        try expectGradientsMatch("logSoftmax axis 1", inputs: [x3]) { t, v in try t.logSoftmax(v[0], axis: 1) }
        let q = randomTensor([2, 2, 5, 3], seed: 3), k = randomTensor([2, 2, 6, 3], seed: 4), v = randomTensor([2, 2, 6, 4], seed: 5)
        let mask = randomTensor([5, 6], seed: 6)
        try expectGradientsMatch("sdpa", inputs: [q, k, v]) { t, x in try t.scaledDotProductAttention(x[0], x[1], x[2]) }
        try expectGradientsMatch("sdpa mask scale", inputs: [q, k, v, mask]) { t, x in
            try t.scaledDotProductAttention(x[0], x[1], x[2], scale: 0.7, mask: x[3])
        }
        try expectGradientsMatch("sdpa constant mask", inputs: [q, k, v, mask], differentiable: [true, false, true, false]) { t, x in
            try t.scaledDotProductAttention(x[0], x[1], x[2], mask: x[3])
        }
    }

    @Test func errorsNameOpAndShapes() {
        let cpu = CPU(threads: 1)
        func expectError(_ parts: [String], _ body: () throws -> Tensor) {
            do { _ = try body(); Issue.record("no error for \(parts)") } catch {
                for p in parts { #expect("\(error)".contains(p), "\(error) should mention \(p)") }
            }
        }
        let q = Tensor(zeros: [1, 2, 4, 8])
        expectError(["scaledDotProductAttention", "[1, 2, 4, 8]", "[1, 2, 4, 7]"]) {
            try cpu.scaledDotProductAttention(q, Tensor(zeros: [1, 2, 4, 7]), Tensor(zeros: [1, 2, 4, 8]))
        }
        expectError(["scaledDotProductAttention", "[1, 2, 5, 8]"]) {
            try cpu.scaledDotProductAttention(q, q, Tensor(zeros: [1, 2, 5, 8]))
        }
        expectError(["scaledDotProductAttention", "[3, 4]"]) {
            try cpu.scaledDotProductAttention(q, q, q, mask: Tensor(zeros: [3, 4]))
        }
        expectError(["softmax", "axis 2", "[3, 4]"]) { try cpu.softmax(Tensor(zeros: [3, 4]), axis: 2) }
    }
}

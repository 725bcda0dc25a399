// Elementwise kernels: broadcasting against the naive twin, and every backward rule by finite differences.

import Testing
@testable import Tensors

@Suite struct ElementwiseTests {
    let cpu = CPU(threads: 2)

    static let shapePairs: [(Shape, Shape)] = [
        ([7], [7]), ([3, 5], [5]), ([2, 3, 4, 5], [1, 3, 1, 1]), ([4, 1, 6], [1, 5, 1]), ([1], [2, 3, 17]),
        ([2, 33, 9], [2, 33, 9]), ([], [3, 2]), ([5, 1], [1, 1]),
    ]

    @Test func binaryMatchesNaive() throws {
        for (i, (sa, sb)) in Self.shapePairs.enumerated() {
            let a = randomTensor(sa, seed: UInt64(i)), b = randomTensor(sb, seed: UInt64(100 + i), 0.5, 2)
            for op in BinaryOp.allCases {
                let base = op == .pow ? cpu.unary(.abs, a) : a
                expectClose(try cpu.binary(op, base, b), try Naive.binary(op, base, b), rtol: 1e-6, atol: 1e-6, "\(op) \(sa) \(sb)")
            }
        }
    }

    @Test func binaryRejectsIncompatibleShapes() {
        #expect(throws: TensorError.self) { try cpu.add(Tensor(zeros: [2, 3]), Tensor(zeros: [4])) }
        do { _ = try cpu.mul(Tensor(zeros: [2, 3]), Tensor(zeros: [3, 2])); Issue.record("no error") } catch {
            #expect("\(error)".contains("mul") && "\(error)".contains("[2, 3]") && "\(error)".contains("[3, 2]"))
        }
    }

    @Test func unaryMatchesNaive() {
        let x = randomTensor([3, 1037], seed: 5, -3, 3)
        for op in UnaryOp.allCases {
            let input = [.log, .sqrt].contains(op) ? cpu.affine(cpu.unary(.abs, x), scale: 1, shift: 0.1) : x
            expectClose(cpu.unary(op, input), Naive.unary(op, input), rtol: 1e-6, atol: 1e-6, "\(op)")
        }
    }

    static let parametric: [ParametricUnaryOp] = [
        .leakyRelu(alpha: 0.2), .leakyRelu(alpha: -0.5), .elu(alpha: 0.5), .celu(alpha: 0.7), .celu(alpha: 1.5),
        .selu(alpha: 1.6732632, gamma: 1.050701), .hardSigmoid(alpha: 1 / 6, beta: 0.5), .hardSigmoid(alpha: 0.2, beta: 0.4),
    ]

    @Test func parametricUnaryMatchesNaive() {
        let x = randomTensor([3, 1037], seed: 6, -5, 5)
        for op in Self.parametric {
            expectClose(cpu.unary(op, x), Naive.unary(op, x), rtol: 1e-6, atol: 1e-6, "\(op)")
            let copy = x.copy()
            _ = cpu.unary(op, copy, into: copy)  // in place
            expectSameBits(copy, cpu.unary(op, x), "\(op) in place")
        }
    }

    /// Softplus and mish far out on both sides: no overflow, no cancellation.
    @Test func softplusAndMishExtremes() {
        let x = Tensor(shape: [8], scalars: [-100, -30, -1e-3, 0, 1e-3, 15, 30, 100])
        for op in [UnaryOp.softplus, .mish, .hardSwish] {
            let y = cpu.unary(op, x)
            let finite = y.scalars.allSatisfy { $0.isFinite }
            #expect(finite, "\(op): \(y.scalars)")
            expectClose(y, Naive.unary(op, x), rtol: 1e-6, atol: 1e-7, "\(op) extremes")
        }
    }

    @Test func binaryGradients() throws {
        for (i, (sa, sb)) in Self.shapePairs.prefix(6).enumerated() {
            let a = randomTensor(sa, seed: UInt64(i), 0.5, 1.5), b = randomTensor(sb, seed: UInt64(50 + i), 0.5, 1.5)
            for op in BinaryOp.allCases where op != .maximum && op != .minimum {
                try expectGradientsMatch("\(op) \(sa) \(sb)", inputs: [a, b]) { t, v in try t.binary(op, v[0], v[1]) }
            }
        }
        // max/min away from ties
        let a = randomTensor([4, 6], seed: 1), gap = randomTensor([4, 6], seed: 2, 0.1, 0.5)
        for i in 0..<gap.count where i % 3 == 0 { gap.pointer[i] = -gap.pointer[i] }
        let b = try cpu.add(a, gap)  // |a - b| >= 0.1 everywhere, so no tie is within eps
        for op in [BinaryOp.maximum, .minimum] {
            try expectGradientsMatch("\(op)", inputs: [a, b]) { t, v in try t.binary(op, v[0], v[1]) }
        }
    }

    @Test func unaryGradients() throws {
        var x = randomTensor([5, 13], seed: 9, -2, 2)
        // keep away from the kinks of relu/abs
        x = cpu.unary(.neg, cpu.affine(x, scale: 1, shift: 0))
        for i in 0..<x.count where abs(x.pointer[i]) < 0.05 { x.pointer[i] = 0.3 }
        for op in UnaryOp.allCases {
            let input = [.log, .sqrt, .reciprocal].contains(op) ? cpu.affine(cpu.unary(.abs, x), scale: 1, shift: 0.5) : x
            try expectGradientsMatch("\(op)", inputs: [input]) { t, v in t.unary(op, v[0]) }
        }
        for op in Self.parametric {
            try expectGradientsMatch("\(op)", inputs: [x]) { t, v in t.unary(op, v[0]) }
        }
        try expectGradientsMatch("affine", inputs: [x]) { t, v in t.affine(v[0], scale: -2.5, shift: 1) }
        try expectGradientsMatch("pow 3", inputs: [x]) { t, v in t.pow(v[0], 3) }
        try expectGradientsMatch("clamp", inputs: [x]) { t, v in t.clamp(v[0], min: -1, max: 1.2) }
    }
}

// Normalization kernels: GroupNorm (± SiLU), InstanceNorm, LayerNorm, BatchNorm, RMS norms
// against their naive twins (odd channel counts, spatial sizes with SIMD tails, thread counts 1
// and 2, bit-identical repeats), every backward by finite differences, BatchNorm's running-stat
// update against hand-computed numbers, and errors that name the op and shapes.

import Foundation
import Testing
@testable import Tensors

@Suite struct NormalizationTests {
    static let groupCases: [(Shape, Int)] = [
        ([2, 6, 7], 3), ([3, 9, 17], 3), ([1, 5, 1], 5), ([2, 12, 33], 4), ([2, 4, 3, 11], 2),
        ([2, 8, 16], 2), ([1, 10, 4, 4], 1), ([2, 3, 1, 1], 1),
    ]

    @Test func groupNormMatchesNaive() throws {
        for threads in [1, 2] {
            let cpu = CPU(threads: threads)
            for (i, (shape, groups)) in Self.groupCases.enumerated() {
                let c = shape[1]
                let x = randomTensor(shape, seed: UInt64(i), -2, 3)
                let w = randomTensor([c], seed: UInt64(10 + i), 0.5, 1.5), b = randomTensor([c], seed: UInt64(20 + i))
                for silu in [false, true] {
                    for (wt, bt) in [(w, b), (nil, nil), (w, nil)] as [(Tensor?, Tensor?)] {
                        let fast = silu ? try cpu.groupNormSiLU(x, groups: groups, weight: wt, bias: bt)
                                        : try cpu.groupNorm(x, groups: groups, weight: wt, bias: bt)
                        let slow = Naive.groupNorm(x, groups: groups, weight: wt, bias: bt, silu: silu)
                        expectClose(fast, slow, rtol: 1e-5, atol: 2e-6, "groupNorm silu=\(silu) \(shape) g\(groups) t\(threads)")
                    }
                }
            }
        }
    }

    @Test func groupNormIsAccurateWithLargeMean() throws {
        let cpu = CPU(threads: 2)
        let x = cpu.affine(randomTensor([2, 8, 33], seed: 3), scale: 1, shift: 100)
        expectClose(try cpu.groupNorm(x, groups: 4), Naive.groupNorm(x, groups: 4, weight: nil, bias: nil),
                    rtol: 1e-5, atol: 2e-5, "offset 100")
        let big = randomTensor([1, 4, 64, 64], seed: 4, -1, 1)  // rows of 16384 elements
        expectClose(try cpu.groupNorm(big, groups: 1), Naive.groupNorm(big, groups: 1, weight: nil, bias: nil),
                    rtol: 1e-5, atol: 2e-6, "long rows")
    }

    @Test func resultsAreBitIdenticalAcrossRunsAndThreads() throws {
        let x = randomTensor([3, 12, 17, 5], seed: 8), w = randomTensor([12], seed: 9), b = randomTensor([12], seed: 10)
        let reference = try CPU(threads: 1).groupNormSiLU(x, groups: 4, weight: w, bias: b).scalars
        for threads in [1, 2] {
            let cpu = CPU(threads: threads)
            for _ in 0..<3 {
                #expect(try cpu.groupNormSiLU(x, groups: 4, weight: w, bias: b).scalars == reference)
            }
            let rm1 = Tensor(zeros: [12]), rv1 = Tensor(shape: [12], repeating: 1)
            let rm2 = Tensor(zeros: [12]), rv2 = Tensor(shape: [12], repeating: 1)
            let y1 = try cpu.batchNorm(x, weight: w, bias: b, runningMean: rm1, runningVar: rv1, training: true)
            let y2 = try cpu.batchNorm(x, weight: w, bias: b, runningMean: rm2, runningVar: rv2, training: true)
            #expect(y1.scalars == y2.scalars && rm1.scalars == rm2.scalars && rv1.scalars == rv2.scalars)
            #expect(try cpu.rmsNorm(x, axis: 1, weight: w).scalars == cpu.rmsNorm(x, axis: 1, weight: w).scalars)
        }
    }

    @Test func instanceAndLayerNormMatchNaive() throws {
        for threads in [1, 2] {
            let cpu = CPU(threads: threads)
            for (i, shape) in ([[2, 5, 7], [1, 3, 17], [2, 4, 1], [2, 3, 5, 7]] as [Shape]).enumerated() {
                let x = randomTensor(shape, seed: UInt64(30 + i)), c = shape[1]
                let w = randomTensor([c], seed: 1, 0.5, 1.5), b = randomTensor([c], seed: 2)
                expectClose(try cpu.instanceNorm(x, weight: w, bias: b), Naive.instanceNorm(x, weight: w, bias: b),
                            rtol: 1e-5, atol: 2e-6, "instanceNorm \(shape)")
            }
            for (i, (shape, k)) in ([([3, 17], 1), ([2, 3, 33], 1), ([2, 3, 7], 2), ([5, 1], 1), ([4, 16], 1), ([2, 2, 3, 5], 3)]
                                    as [(Shape, Int)]).enumerated() {
                let x = randomTensor(shape, seed: UInt64(40 + i))
                let ns = Shape(shape.suffix(k))
                let w = randomTensor(ns, seed: 3, 0.5, 1.5), b = randomTensor(ns, seed: 4)
                expectClose(try cpu.layerNorm(x, normalizedRank: k, weight: w, bias: b),
                            Naive.layerNorm(x, normalizedRank: k, weight: w, bias: b), rtol: 1e-5, atol: 2e-6, "layerNorm \(shape) k\(k)")
                expectClose(try cpu.layerNorm(x, normalizedRank: k), Naive.layerNorm(x, normalizedRank: k, weight: nil, bias: nil),
                            rtol: 1e-5, atol: 2e-6, "layerNorm no affine \(shape)")
            }
        }
    }

    @Test func batchNormMatchesNaive() throws {
        for threads in [1, 2] {
            let cpu = CPU(threads: threads)
            for (i, shape) in ([[2, 5, 7], [3, 3, 17], [4, 6], [2, 4, 3, 11], [2, 2, 33]] as [Shape]).enumerated() {
                let x = randomTensor(shape, seed: UInt64(50 + i), -1, 2), c = shape[1]
                let w = randomTensor([c], seed: 5, 0.5, 1.5), b = randomTensor([c], seed: 6)
                for training in [true, false] {
                    let rm = randomTensor([c], seed: 7), rv = randomTensor([c], seed: 8, 0.5, 2)
                    let rmN = rm.copy(), rvN = rv.copy()
                    let fast = try cpu.batchNorm(x, weight: w, bias: b, runningMean: rm, runningVar: rv, training: training)
                    let slow = Naive.batchNorm(x, weight: w, bias: b, runningMean: rmN, runningVar: rvN, training: training)
                    expectClose(fast, slow, rtol: 1e-5, atol: 2e-6, "batchNorm \(shape) training=\(training)")
                    expectClose(rm, rmN, rtol: 1e-6, atol: 1e-7, "running mean")
                    expectClose(rv, rvN, rtol: 1e-6, atol: 1e-7, "running var")
                }
            }
        }
    }

    @Test func batchNormRunningStatsByHand() throws {
        let cpu = CPU(threads: 2)
        // channel 0: [1, 2 | 3, 6] → mean 3, biased var 3.5, unbiased 14/3
        // channel 1: [0, 0 | 2, 2] → mean 1, biased var 1, unbiased 4/3
        let x = Tensor(shape: [2, 2, 2], scalars: [1, 2, 0, 0, 3, 6, 2, 2])
        let rm = Tensor(shape: [2], scalars: [0, 10]), rv = Tensor(shape: [2], scalars: [1, 2])
        let y = try cpu.batchNorm(x, runningMean: rm, runningVar: rv, training: true, momentum: 0.1, eps: 1e-5)
        expectClose(rm, Tensor(shape: [2], scalars: [0.3, 9.1]), rtol: 1e-6, atol: 1e-6, "running mean")
        expectClose(rv, Tensor(shape: [2], scalars: [0.9 + 0.1 * 14 / 3, 1.8 + 0.1 * 4 / 3]), rtol: 1e-6, atol: 1e-6, "running var")
        let s0 = Float(1 / (3.5 + 1e-5).squareRoot()), s1 = Float(1 / (1 + 1e-5).squareRoot())
        expectClose(y, Tensor(shape: [2, 2, 2], scalars: [-2 * s0, -1 * s0, -s1, -s1, 0, 3 * s0, s1, s1]),
                    rtol: 1e-6, atol: 1e-6, "output")
        // eval uses the (updated) running statistics and leaves them alone
        let e = try cpu.batchNorm(x, runningMean: rm, runningVar: rv, training: false)
        #expect(abs(e.pointer[0] - (1 - 0.3) / (rv.pointer[0] + 1e-5).squareRoot()) < 1e-6)
        expectClose(rm, Tensor(shape: [2], scalars: [0.3, 9.1]), rtol: 1e-6, atol: 1e-6, "eval keeps running mean")
    }

    @Test func rmsNormMatchesNaive() throws {
        for threads in [1, 2] {
            let cpu = CPU(threads: threads)
            for (i, (shape, axis)) in ([([2, 5, 7], 1), ([3, 33], -1), ([4, 3], 0), ([2, 6, 17, 19], 1), ([1, 9, 1], 1)]
                                       as [(Shape, Int)]).enumerated() {
                let x = randomTensor(shape, seed: UInt64(60 + i)), len = shape[shape.normalizedAxis(axis)!]
                let w = randomTensor([len], seed: 9, 0.5, 1.5)
                for kind in [RMSNormKind.meanSquare, .l2Scaled] {
                    let eps: Float = kind == .meanSquare ? 1e-6 : 1e-12
                    expectClose(try cpu.rmsNorm(x, axis: axis, weight: w, eps: eps, kind: kind),
                                Naive.rmsNorm(x, axis: axis, weight: w, eps: eps, kind: kind), rtol: 1e-5, atol: 1e-6,
                                "rmsNorm \(kind) \(shape) axis \(axis)")
                }
            }
        }
    }

    @Test func fusedGroupNormSiLUMatchesUnfusedGraph() throws {
        let cpu = CPU(threads: 2)
        let x = randomTensor([2, 6, 5], seed: 70), w = randomTensor([6], seed: 71, 0.5, 1.5), b = randomTensor([6], seed: 72)
        let g = randomTensor([2, 6, 5], seed: 73)
        let t1 = Tape(cpu: cpu)
        let v1 = [t1.parameter(x), t1.parameter(w), t1.parameter(b)]
        let fused = try t1.groupNormSiLU(v1[0], groups: 3, weight: v1[1], bias: v1[2])
        let gf = try t1.backward(from: fused, seed: g)
        let t2 = Tape(cpu: cpu)
        let v2 = [t2.parameter(x), t2.parameter(w), t2.parameter(b)]
        let unfused = t2.silu(try t2.groupNorm(v2[0], groups: 3, weight: v2[1], bias: v2[2]))
        let gu = try t2.backward(from: unfused, seed: g)
        expectClose(t1[fused], t2[unfused], rtol: 1e-5, atol: 1e-6, "forward")
        for k in 0..<3 { expectClose(gf[v1[k]]!, gu[v2[k]]!, rtol: 1e-4, atol: 1e-5, "grad \(k)") }
        let pub = try cpu.groupNormBackward(x, grad: g, groups: 3, weight: w, bias: b, silu: true)
        expectClose(pub.input!, gu[v2[0]]!, rtol: 1e-4, atol: 1e-5, "public backward")
        expectClose(pub.weight!, gu[v2[1]]!, rtol: 1e-4, atol: 1e-5, "public backward weight")
    }

    @Test func groupNormSiLUMatchesPyTorch() throws {
        // /work/venv/bin/python: i = arange(24, float64); x = (sin(0.37 i)·2).reshape(2, 4, 3).float();
        // w = 1 + 0.1·arange(4); b = 0.05·arange(4); F.silu(F.group_norm(x, 2, w, b, 1e-5))  (torch 2.x CPU)
        let x = Tensor(shape: [2, 4, 3], scalars: (0..<24).map { Float(sin(0.37 * Double($0)) * 2) })
        let w = Tensor(shape: [4], scalars: (0..<4).map { 1 + 0.1 * Float($0) })
        let b = Tensor(shape: [4], scalars: (0..<4).map { 0.05 * Float($0) })
        let expected = Tensor(shape: [2, 4, 3], scalars: [
            -0.2557964, -0.2470452, 0.0375171, 0.5552451, 0.8337281, 0.7342623, 1.550236, 0.9456822, 0.3047019,
            -0.1192397, -0.2731805, -0.2629969, -0.257413, -0.2660563, -0.2288602, -0.01181938, 0.6624873, 1.78293,
            -0.2164489, -0.1833871, 0.5129572, 1.179049, 0.9501823, 0.1167354])
        expectClose(try CPU(threads: 2).groupNormSiLU(x, groups: 2, weight: w, bias: b), expected, rtol: 1e-5, atol: 1e-6, "vs PyTorch")
    }

    @Test func gradients() throws {
        let x = randomTensor([2, 4, 3], seed: 80, -1, 2), w = randomTensor([4], seed: 81, 0.5, 1.5), b = randomTensor([4], seed: 82)
        try expectGradientsMatch("groupNorm", inputs: [x, w, b]) { t, v in try t.groupNorm(v[0], groups: 2, weight: v[1], bias: v[2]) }
        try expectGradientsMatch("groupNorm no affine", inputs: [x]) { t, v in try t.groupNorm(v[0], groups: 4) }
        try expectGradientsMatch("groupNorm bias only", inputs: [x, b]) { t, v in try t.groupNorm(v[0], groups: 1, bias: v[1]) }
        try expectGradientsMatch("groupNormSiLU", inputs: [x, w, b]) { t, v in try t.groupNormSiLU(v[0], groups: 2, weight: v[1], bias: v[2]) }
        try expectGradientsMatch("instanceNorm", inputs: [x, w, b]) { t, v in try t.instanceNorm(v[0], weight: v[1], bias: v[2]) }
        let x4 = randomTensor([2, 3, 2, 3], seed: 83)
        let w6 = randomTensor([2, 3], seed: 84, 0.5, 1.5), b6 = randomTensor([2, 3], seed: 85)
        try expectGradientsMatch("layerNorm k2", inputs: [x4, w6, b6]) { t, v in try t.layerNorm(v[0], normalizedRank: 2, weight: v[1], bias: v[2]) }
        let w3 = randomTensor([3], seed: 86, 0.5, 1.5), b3 = randomTensor([3], seed: 87)
        try expectGradientsMatch("batchNorm training", inputs: [x4, w3, b3]) { t, v in
            try t.batchNorm(v[0], weight: v[1], bias: v[2], runningMean: Tensor(zeros: [3]), runningVar: Tensor(shape: [3], repeating: 1), training: true)
        }
        let rm = randomTensor([3], seed: 88), rv = randomTensor([3], seed: 89, 0.5, 2)
        try expectGradientsMatch("batchNorm eval", inputs: [x4, w3, b3]) { t, v in
            try t.batchNorm(v[0], weight: v[1], bias: v[2], runningMean: rm, runningVar: rv, training: false)
        }
        for kind in [RMSNormKind.meanSquare, .l2Scaled] {
            try expectGradientsMatch("rmsNorm \(kind) axis 1", inputs: [x4, w3]) { t, v in try t.rmsNorm(v[0], axis: 1, weight: v[1], kind: kind) }
            try expectGradientsMatch("rmsNorm \(kind) last", inputs: [x]) { t, v in try t.rmsNorm(v[0], axis: -1, kind: kind) }
        }
    }

    @Test func errorsNameOpAndShapes() {
        let cpu = CPU(threads: 1)
        func expectError(_ parts: [String], _ body: () throws -> Tensor) {
            do { _ = try body(); Issue.record("no error for \(parts)") } catch {
                for p in parts { #expect("\(error)".contains(p), "\(error) should mention \(p)") }
            }
        }
        let x = Tensor(zeros: [2, 6, 4])
        expectError(["groupNorm", "[2, 6, 4]", "groups 4"]) { try cpu.groupNorm(x, groups: 4) }
        expectError(["groupNormSiLU", "[2, 6, 4]", "[5]"]) { try cpu.groupNormSiLU(x, groups: 3, weight: Tensor(zeros: [5])) }
        expectError(["layerNorm", "[2, 6, 4]", "[6]"]) { try cpu.layerNorm(x, weight: Tensor(zeros: [6])) }
        expectError(["batchNorm", "[2, 6, 4]", "[5]"]) {
            try cpu.batchNorm(x, runningMean: Tensor(zeros: [6]), runningVar: Tensor(zeros: [5]), training: false)
        }
        expectError(["batchNorm", "[1, 6, 1]"]) {
            try cpu.batchNorm(Tensor(zeros: [1, 6, 1]), runningMean: Tensor(zeros: [6]), runningVar: Tensor(zeros: [6]), training: true)
        }
        expectError(["rmsNorm", "[2, 6, 4]", "[4]"]) { try cpu.rmsNorm(x, axis: 1, weight: Tensor(zeros: [4])) }
        expectError(["instanceNorm", "[6]"]) { try cpu.instanceNorm(Tensor(zeros: [6])) }
    }
}

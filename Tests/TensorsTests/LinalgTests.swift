// GEMM-based kernels and reductions against their naive twins; their backward rules by finite differences.

import Testing
@testable import Tensors

@Suite struct LinalgTests {
    @Test(arguments: [1, 2]) func matmulMatchesNaive(threads: Int) throws {
        let cpu = CPU(threads: threads)
        let cases: [(Shape, Shape, Bool, Bool)] = [
            ([3, 5], [5, 7], false, false), ([17, 33], [33, 1], false, false), ([2, 4, 9], [9, 6], false, false),
            ([2, 1, 4, 9], [3, 6, 9], false, true), ([5, 3], [5, 8], true, false), ([2, 7, 3], [2, 5, 7], true, true),
            ([64, 65], [65, 63], false, false),
        ]
        for (i, (sa, sb, ta, tb)) in cases.enumerated() {
            let a = randomTensor(sa, seed: UInt64(i)), b = randomTensor(sb, seed: UInt64(i + 10))
            expectClose(try cpu.matmul(a, b, transposeA: ta, transposeB: tb),
                        try Naive.matmul(a, b, transposeA: ta, transposeB: tb), rtol: 1e-5, atol: 1e-5, "matmul \(sa) \(sb)")
        }
        #expect(throws: TensorError.self) { try cpu.matmul(Tensor(zeros: [2, 3]), Tensor(zeros: [4, 5])) }
        #expect(throws: TensorError.self) { try cpu.matmul(Tensor(zeros: [2, 2, 3]), Tensor(zeros: [3, 3, 5])) }
    }

    /// Every element of `sgemm` is one fused multiply-add chain over k, in order, so it equals
    /// that chain computed here bit for bit — whatever the sizes, transposes, the element's
    /// position (ragged edges included), the K blocking (K > 256) or the thread split.
    /// Every micro-kernel this CPU has (portable, AVX2, AVX-512) computes the same chain.
    @Test func sgemmIsOneFMAChainPerElement() throws {
        let best = selectGEMMKernel(2)
        defer { selectGEMMKernel(best) }
        for level in 0...best {
            #expect(selectGEMMKernel(level) == level)
            try checkFMAChains(level: level)
        }
    }

    private func checkFMAChains(level: Int) throws {
        for (m, n, k, ta, tb) in [(37, 201, 300, false, false), (7, 9, 5, true, false), (130, 17, 513, false, true), (6, 16, 1, true, true), (13, 47, 40, false, false), (25, 16, 40, false, false), (24, 12, 9, true, false)] {
            let a = randomTensor(ta ? [k, m] : [m, k], seed: 1), b = randomTensor(tb ? [n, k] : [k, n], seed: 2)
            let c0 = randomTensor([m, n], seed: 3)
            for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (2, 0.25)] {
                var expected = [Float](repeating: 0, count: m * n)
                for i in 0..<m {
                    for j in 0..<n {
                        var acc: Float = beta == 0 ? 0 : beta * c0.pointer[i * n + j]
                        for p in 0..<k {
                            let av = ta ? a.pointer[p * m + i] : a.pointer[i * k + p]
                            let bv = tb ? b.pointer[j * k + p] : b.pointer[p * n + j]
                            acc = acc.addingProduct(alpha == 1 ? av : alpha * av, bv)
                        }
                        expected[i * n + j] = acc
                    }
                }
                for threads in [1, 2] {
                    let c = c0.copy()
                    sgemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: alpha, a: a.pointer, lda: ta ? m : k,
                          b: b.pointer, ldb: tb ? k : n, beta: beta, c: c.pointer, ldc: n, threads: threads)
                    #expect(c.scalars == expected, "kernel \(level) m\(m) n\(n) k\(k) ta \(ta) tb \(tb) alpha \(alpha) beta \(beta) threads \(threads)")
                }
                // One column alone (n = 1) and one row alone (m = 1) give the same bits as in the full product.
                let j = n / 2, i = m / 2
                let column = Tensor(uninitialized: [m, 1]), row = Tensor(uninitialized: [1, n])
                for r in 0..<m { column.pointer[r] = c0.pointer[r * n + j] }
                row.pointer.update(from: c0.pointer + i * n, count: n)
                sgemm(transposeA: ta, transposeB: tb, m: m, n: 1, k: k, alpha: alpha, a: a.pointer, lda: ta ? m : k,
                      b: b.pointer + (tb ? j * k : j), ldb: tb ? k : n, beta: beta, c: column.pointer, ldc: 1)
                sgemm(transposeA: ta, transposeB: tb, m: 1, n: n, k: k, alpha: alpha, a: a.pointer + (ta ? i : i * k), lda: ta ? m : k,
                      b: b.pointer, ldb: tb ? k : n, beta: beta, c: row.pointer, ldc: n)
                #expect(column.scalars == (0..<m).map { expected[$0 * n + j] }, "column \(j) of m\(m) n\(n) k\(k)")
                #expect(row.scalars == Array(expected[(i * n)..<(i * n + n)]), "row \(i) of m\(m) n\(n) k\(k)")
                withExtendedLifetime((a, b)) {}
            }
        }
    }

    @Test func linearMatchesMatmulPlusBias() throws {
        let cpu = CPU(threads: 2)
        let x = randomTensor([2, 3, 17], seed: 1), w = randomTensor([9, 17], seed: 2), b = randomTensor([9], seed: 3)
        let ref = try cpu.add(Naive.matmul(x, w, transposeB: true), b)
        expectClose(try cpu.linear(x, weight: w, bias: b), ref, rtol: 1e-5, atol: 1e-5, "linear")
        do { _ = try cpu.linear(x, weight: randomTensor([9, 16], seed: 1), bias: nil); Issue.record("no error") } catch {
            #expect("\(error)".contains("linear") && "\(error)".contains("[2, 3, 17]") && "\(error)".contains("[9, 16]"))
        }
    }

    @Test(arguments: [1, 2]) func reductionsMatchNaive(threads: Int) throws {
        let cpu = CPU(threads: threads)
        let x = randomTensor([3, 5, 7, 17], seed: 3)
        for axes in [[0], [1], [3], [0, 2], [1, 2, 3], [-1], [0, 1, 2, 3]] {
            for keep in [true, false] {
                let ref = Naive.sum(x, axes: axes, keepDims: keep)
                expectClose(try cpu.sum(x, axes: axes, keepDims: keep), ref, rtol: 1e-5, atol: 1e-5, "sum \(axes)")
                let n = Float(x.count / ref.count)
                expectClose(try cpu.mean(x, axes: axes, keepDims: keep), cpu.affine(ref, scale: 1 / n), rtol: 1e-5, atol: 1e-6, "mean \(axes)")
            }
        }
        // variance against a two-pass definition
        let v = try cpu.variance(x, axes: [1, 3], correction: 1, keepDims: true)
        let m = try cpu.mean(x, axes: [1, 3], keepDims: true)
        let d = try cpu.sub(x, m)
        expectClose(v, cpu.affine(Naive.sum(try cpu.mul(d, d), axes: [1, 3], keepDims: true), scale: 1 / Float(5 * 17 - 1)),
                    rtol: 1e-5, atol: 1e-6, "variance")
        #expect(throws: TensorError.self) { try cpu.sum(x, axes: [4]) }
    }

    @Test func bitIdenticalAcrossRuns() throws {
        let cpu = CPU(threads: 2)
        let x = randomTensor([4, 64, 33], seed: 8), w = randomTensor([33, 40], seed: 9)
        #expect(try cpu.matmul(x, w).scalars == cpu.matmul(x, w).scalars)
        #expect(try cpu.mean(x, axes: [0, 2]).scalars == CPU(threads: 1).mean(x, axes: [0, 2]).scalars)
    }

    @Test func gradients() throws {
        let a = randomTensor([2, 3, 4], seed: 1), b = randomTensor([4, 5], seed: 2), bt = randomTensor([2, 5, 4], seed: 3)
        try expectGradientsMatch("matmul broadcast", inputs: [a, b]) { t, v in try t.matmul(v[0], v[1]) }
        try expectGradientsMatch("matmul transposeB", inputs: [a, bt]) { t, v in try t.matmul(v[0], v[1], transposeB: true) }
        let at = randomTensor([2, 4, 3], seed: 4)
        try expectGradientsMatch("matmul transposeA", inputs: [at, b]) { t, v in try t.matmul(v[0], v[1], transposeA: true) }
        try expectGradientsMatch("matmul both", inputs: [at, bt]) { t, v in try t.matmul(v[0], v[1], transposeA: true, transposeB: true) }
        let x = randomTensor([3, 2, 6], seed: 5), w = randomTensor([4, 6], seed: 6), bias = randomTensor([4], seed: 7)
        try expectGradientsMatch("linear", inputs: [x, w, bias]) { t, v in try t.linear(v[0], weight: v[1], bias: v[2]) }
        try expectGradientsMatch("linear no bias", inputs: [x, w]) { t, v in try t.linear(v[0], weight: v[1], bias: nil) }
        let r = randomTensor([3, 4, 5], seed: 8)
        try expectGradientsMatch("sum", inputs: [r]) { t, v in try t.sum(v[0], axes: [0, 2]) }
        try expectGradientsMatch("mean keep", inputs: [r]) { t, v in try t.mean(v[0], axes: [1], keepDims: true) }
        try expectGradientsMatch("variance", inputs: [r]) { t, v in try t.variance(v[0], axes: [2], correction: 1) }
        try expectGradientsMatch("mse", inputs: [r, randomTensor([3, 4, 5], seed: 9)]) { t, v in try t.mseLoss(v[0], v[1]) }
    }

    @Test func lossesRefuseToBroadcast() throws {
        let tape = Tape(cpu: CPU(threads: 1))
        let a = tape.parameter(Tensor(zeros: [2, 3, 4, 4])), b = tape.constant(Tensor(zeros: [2, 1, 4, 4]))
        #expect(throws: TensorError.self) { try tape.mseLoss(a, b) }
        #expect(throws: TensorError.self) { try tape.l1Loss(a, b) }
    }

    @Test func gradientsAccumulateOverReuse() throws {
        // y = x*x + x: dy/dx = 2x + 1, through two uses of the same variable.
        let cpu = CPU(threads: 1)
        let tape = Tape(cpu: cpu)
        let x = tape.parameter(Tensor(shape: [3], scalars: [1, -2, 0.5]))
        let y = try tape.sumAll(tape.add(tape.mul(x, x), x))
        #expect(try tape.backward(from: y)[x]!.scalars == [3, -3, 2])
        #expect(tape.requiresGrad(y) && !tape.requiresGrad(tape.constant(Tensor(scalar: 1))))
    }
}

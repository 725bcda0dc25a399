// Layout kernels: concat/split/slice/pad/permute against their naive twins (odd sizes, widths
// 1/7/17/33, thread counts 1 and 2, bit-identical repeats), errors naming op and shapes, and
// every tape rule (concat, split, slice, pad, permute, reshape, expand) by finite differences.

import Testing
@testable import Tensors

/// Runs `f` on 1 and 2 threads, twice each; expects exact agreement with `expected` and
/// bit-identical repeats.
func expectExactOnThreads(_ what: String, _ expected: Tensor, sourceLocation: SourceLocation = #_sourceLocation,
                          _ f: (CPU) throws -> Tensor) rethrows {
    for threads in [1, 2] {
        let cpu = CPU(threads: threads)
        let a = try f(cpu), b = try f(cpu)
        #expect(a.scalars == b.scalars, "\(what): repeat differs on \(threads) threads", sourceLocation: sourceLocation)
        expectClose(a, expected, rtol: 0, atol: 0, "\(what) threads \(threads)", sourceLocation: sourceLocation)
    }
}

/// Expects `body` to throw a TensorError whose description contains every string in `parts`.
func expectTensorError(_ parts: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected an error mentioning \(parts)", sourceLocation: sourceLocation)
    } catch let error as TensorError {
        let text = "\(error)"
        for p in parts where !text.contains(p) {
            Issue.record("error \"\(text)\" does not mention \(p)", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct LayoutTests {
    let cpu = CPU(threads: 2)

    @Test func concatAndSplitMatchNaive() throws {
        let cases: [([Shape], Int)] = [
            ([[2, 3, 7], [2, 5, 7], [2, 1, 7]], 1), ([[3, 17], [3, 33]], -1), ([[1, 4], [6, 4]], 0),
            ([[2, 3, 4, 5], [2, 3, 4, 5]], 3), ([[5], [1], [7]], 0), ([[2, 0, 3], [2, 4, 3]], 1),
            ([[1, 64, 33, 33], [1, 32, 33, 33]], 1),
        ]
        for (k, (shapes, axis)) in cases.enumerated() {
            let xs = shapes.enumerated().map { randomTensor($0.element, seed: UInt64(10 * k + $0.offset)) }
            let expected = try Naive.concat(xs, axis: axis)
            try expectExactOnThreads("concat \(shapes)", expected) { try $0.concat(xs, axis: axis) }
            let a = try expected.shape.axis(axis, op: "")
            let sizes = shapes.map { $0[a] }
            let naiveParts = try Naive.split(expected, axis: axis, sizes: sizes)
            for i in sizes.indices {
                try expectExactOnThreads("split \(shapes) part \(i)", naiveParts[i]) { try $0.split(expected, axis: axis, sizes: sizes)[i] }
                expectClose(naiveParts[i], xs[i], rtol: 0, atol: 0, "split inverts concat")
            }
        }
    }

    @Test func sliceMatchesNaive() throws {
        let shapes: [Shape] = [[7], [3, 17], [2, 33, 5], [4, 1, 6, 7], [2, 3, 40, 9]]
        let bounds: [(Int, Int, Int)] = [
            (0, 3, 1), (1, 100, 2), (-3, -1, 1), (-100, 5, 3), (2, 1, 1), (5, Int.max, 1), (0, Int.max, 4),
            (Int.min, -2, 2), (-1, Int.max, 7),
        ]
        for (k, shape) in shapes.enumerated() {
            let x = randomTensor(shape, seed: UInt64(k))
            for axis in -shape.rank..<shape.rank {
                for (s, e, step) in bounds {
                    let expected = try Naive.slice(x, axis: axis, start: s, end: e, step: step)
                    try expectExactOnThreads("slice \(shape) axis \(axis) \(s):\(e):\(step)", expected) {
                        try $0.slice(x, axis: axis, start: s, end: e, step: step)
                    }
                    let g = randomTensor(expected.shape, seed: 99)
                    let back = try Naive.sliceBackward(g, inputShape: shape, axis: axis, start: s, end: e, step: step)
                    try expectExactOnThreads("sliceBackward \(shape) axis \(axis) \(s):\(e):\(step)", back) {
                        try $0.sliceBackward(g, inputShape: shape, axis: axis, start: s, end: e, step: step)
                    }
                }
            }
        }
        // Python semantics spot checks: x[-3:-1], x[1:100:2], x[5:2] (empty)
        let v = Tensor(shape: [7], scalars: (0..<7).map(Float.init))
        #expect(try cpu.slice(v, axis: 0, start: -3, end: -1).scalars == [4, 5])
        #expect(try cpu.slice(v, axis: 0, start: 1, end: 100, step: 2).scalars == [1, 3, 5])
        #expect(try cpu.slice(v, axis: 0, start: 5, end: 2).shape == [0])
    }

    @Test func padMatchesNaive() throws {
        let cases: [(Shape, [PadWidth])] = [
            ([7], [[2, 3]]), ([3, 17], [[1, 0], [4, 5]]), ([2, 3, 5, 7], [[0, 0], [0, 0], [1, 1], [1, 1]]),
            ([2, 3, 5, 7], [[0, 0], [1, 2], [-1, 2], [3, -2]]), ([1, 2, 33, 1], [[0, 0], [0, 0], [2, 2], [0, 0]]),
            ([4, 6], [[9, 8], [13, 2]]), ([5, 33], [[-2, -1], [-3, 0]]), ([2, 3, 4], [[0, 1], [2, 0], [0, 0]]),
        ]
        for (k, (shape, pads)) in cases.enumerated() {
            let x = randomTensor(shape, seed: UInt64(k))
            for mode in [PadMode.constant(0), .constant(-1.5), .reflect, .edge] {
                let expected = try Naive.pad(x, pads: pads, mode: mode)
                try expectExactOnThreads("pad \(shape) \(pads) \(mode)", expected) { try $0.pad(x, pads: pads, mode: mode) }
                let g = randomTensor(expected.shape, seed: 7)
                let back = Naive.padBackward(g, inputShape: shape, pads: pads, mode: mode)
                for threads in [1, 2] {
                    let c = CPU(threads: threads)
                    let a = try c.padBackward(g, inputShape: shape, pads: pads, mode: mode)
                    #expect(a.scalars == (try c.padBackward(g, inputShape: shape, pads: pads, mode: mode)).scalars)
                    expectClose(a, back, rtol: 1e-6, atol: 1e-6, "padBackward \(shape) \(pads) \(mode)")
                }
            }
        }
        // ONNX Pad examples: reflect [1,2,3] by 2 → [3,2,1,2,3,2,1]; edge → [1,1,1,2,3,3,3]
        let v = Tensor(shape: [3], scalars: [1, 2, 3])
        #expect(try cpu.pad(v, pads: [[2, 2]], mode: .reflect).scalars == [3, 2, 1, 2, 3, 2, 1])
        #expect(try cpu.pad(v, pads: [[2, 2]], mode: .edge).scalars == [1, 1, 1, 2, 3, 3, 3])
        #expect(try cpu.pad(v, pads: [[1, -1]], mode: .constant(9)).scalars == [9, 1, 2])
    }

    @Test func permuteMatchesNaive() throws {
        let cases: [(Shape, [Int])] = [
            ([3, 17], [1, 0]), ([2, 33, 7], [0, 2, 1]), ([1, 7, 1], [2, 1, 0]), ([2, 5, 17, 33], [0, 2, 3, 1]),
            ([2, 64, 33], [0, 2, 1]), ([2, 3, 4, 5], [0, 2, 1, 3]), ([2, 3, 4, 5], [3, 2, 1, 0]),
            ([2, 3, 4, 5], [1, 0, 2, 3]), ([2, 3, 4, 5, 6], [4, 0, 3, 1, 2]), ([1, 1], [1, 0]), ([33, 1, 7], [-1, 0, 1]),
            ([2, 4, 2, 8, 2, 3], [0, 1, 4, 2, 5, 3]), ([1, 40, 70], [0, 2, 1]), ([7], [0]),
        ]
        for (k, (shape, perm)) in cases.enumerated() {
            let x = randomTensor(shape, seed: UInt64(k))
            let expected = try Naive.permute(x, perm)
            try expectExactOnThreads("permute \(shape) \(perm)", expected) { try $0.permute(x, perm) }
        }
        let x = randomTensor([2, 3, 5], seed: 1)
        expectClose(try cpu.transpose(x, 0, -1), try Naive.permute(x, [2, 1, 0]), rtol: 0, atol: 0, "transpose")
    }

    @Test func errorsNameOpAndShapes() {
        let a = Tensor(zeros: [2, 3, 4]), b = Tensor(zeros: [2, 5, 5])
        expectTensorError(["concat", "[2, 3, 4]", "[2, 5, 5]"]) { _ = try cpu.concat([a, b], axis: 1) }
        expectTensorError(["concat", "axis 3", "[2, 3, 4]"]) { _ = try cpu.concat([a, a], axis: 3) }
        expectTensorError(["split", "[2, 3, 4]", "[1, 1]"]) { _ = try cpu.split(a, axis: 1, sizes: [1, 1]) }
        expectTensorError(["slice", "axis -4", "[2, 3, 4]"]) { _ = try cpu.slice(a, axis: -4, start: 0, end: 1) }
        expectTensorError(["slice", "step 0", "[2, 3, 4]"]) { _ = try cpu.slice(a, axis: 0, start: 0, end: 1, step: 0) }
        expectTensorError(["permute", "[0, 0, 1]", "[2, 3, 4]"]) { _ = try cpu.permute(a, [0, 0, 1]) }
        expectTensorError(["permute", "[1, 0]", "[2, 3, 4]"]) { _ = try cpu.permute(a, [1, 0]) }
        expectTensorError(["pad", "2 pad widths", "[2, 3, 4]"]) { _ = try cpu.pad(a, pads: [[1, 1], [1, 1]]) }
        expectTensorError(["pad", "axis 1", "[2, 3, 4]"]) { _ = try cpu.pad(a, pads: [[0, 0], [-2, -2], [0, 0]]) }
        expectTensorError(["pad", "empty axis 1", "[2, 0, 4]"]) {
            _ = try cpu.pad(Tensor(zeros: [2, 0, 4]), pads: [[0, 0], [1, 0], [0, 0]], mode: .edge)
        }
        expectTensorError(["broadcast", "[2, 3, 4]", "[5, 4]"]) {
            let t = Tape(cpu: cpu)
            _ = try t.expand(t.parameter(a), to: [5, 4])
        }
    }

    @Test func gradients() throws {
        let a = randomTensor([2, 3, 4], seed: 1), b = randomTensor([2, 2, 4], seed: 2)
        try expectGradientsMatch("concat", inputs: [a, b]) { t, v in try t.concat([v[0], v[1], v[0]], axis: 1) }
        try expectGradientsMatch("concat constant", inputs: [a, b], differentiable: [false, true]) { t, v in
            try t.concat([v[0], v[1]], axis: -2)
        }
        try expectGradientsMatch("split, several outputs used", inputs: [a]) { t, v in
            let parts = try t.split(v[0], axis: 2, sizes: [1, 2, 1])
            return try t.add(t.mul(parts[0], parts[2]), t.slice(parts[1], axis: 2, start: 0, end: 1))
        }
        try expectGradientsMatch("slice step", inputs: [randomTensor([3, 11], seed: 3)]) { t, v in
            try t.slice(v[0], axis: 1, start: -9, end: 100, step: 3)
        }
        for mode in [PadMode.constant(0.5), .reflect, .edge] {
            try expectGradientsMatch("pad \(mode)", inputs: [randomTensor([2, 4, 5], seed: 4)]) { t, v in
                try t.pad(v[0], pads: [[0, 1], [3, 2], [-1, 4]], mode: mode)
            }
        }
        try expectGradientsMatch("permute", inputs: [randomTensor([2, 3, 4, 5], seed: 5)]) { t, v in
            try t.permute(v[0], [0, 2, 3, 1])
        }
        try expectGradientsMatch("transpose", inputs: [randomTensor([3, 7], seed: 6)]) { t, v in try t.transpose(v[0], 0, 1) }
        // take with repeated and skipped indices (a gather with duplicates, a reversed slice).
        try expectGradientsMatch("take", inputs: [randomTensor([2, 5], seed: 8)]) { t, v in
            try t.take(v[0], indices: [9, 0, 0, 4, 7, 7, 7, 1], shape: [2, 4])
        }
        try expectGradientsMatch("reshape", inputs: [randomTensor([2, 6], seed: 7)]) { t, v in
            try t.mul(t.reshape(v[0], [3, 4]), t.reshape(v[0], [3, 4]))
        }
        try expectGradientsMatch("expand", inputs: [randomTensor([3, 1], seed: 8)]) { t, v in try t.expand(v[0], to: [2, 3, 5]) }
    }
}

// Forward kernels writing into a caller's output (`into:`), as a compiled plan's arena slots:
// for every kernel, the result written into a view at a non-zero offset of a larger storage
// filled with garbage equals the allocating result bit for bit, leaves the rest of the storage
// untouched, and is that view; a wrong output shape throws; elementwise kernels run in place.
// The conv2d epilogue (residual, activation) is tested in `ConvolutionTests.swift`.

import Testing
@testable import Tensors

/// What an arena holds outside the slot a kernel writes: any value a kernel must not leave behind.
private let garbage: Float = 7

/// Checks `kernel(out)` against `kernel(nil)`: bits equal, the slot returned is the given view,
/// nothing outside the view written. With `wrongShapeThrows`, also checks that an output of
/// the same element count but another shape throws a shape mismatch naming "output tensor".
func expectIntoMatches(_ what: String, wrongShapeThrows: Bool = true, sourceLocation: SourceLocation = #_sourceLocation,
                       _ kernel: (Tensor?) throws -> Tensor) throws {
    let expected = try kernel(nil)
    let lead = 5, tail = 3
    let storage = TensorStorage(capacity: lead + expected.count + tail, zeroed: false)
    storage.base.update(repeating: garbage, count: storage.capacity)
    let slot = Tensor(viewing: storage, offset: lead, shape: expected.shape)
    let got = try kernel(slot)
    #expect(got.storage === storage && got.offset == lead && got.shape == expected.shape,
            "\(what): returned \(got.shape) at offset \(got.offset), not the given view", sourceLocation: sourceLocation)
    expectSameBits(got, expected, "\(what) into a view", sourceLocation: sourceLocation)
    let outside = (0..<lead).map { storage.base[$0] } + (0..<tail).map { storage.base[lead + expected.count + $0] }
    #expect(outside.allSatisfy { $0 == garbage }, "\(what): wrote outside the view: \(outside)", sourceLocation: sourceLocation)
    guard wrongShapeThrows else { return }
    let wrong: Shape = expected.rank == 1 ? [1, expected.count] : [expected.count]
    do {
        _ = try kernel(Tensor(viewing: storage, offset: lead, shape: wrong))
        Issue.record("\(what): output \(wrong) for a \(expected.shape) result did not throw", sourceLocation: sourceLocation)
    } catch let error as TensorError {
        #expect("\(error)".contains("output tensor") && "\(error)".contains("\(expected.shape)"),
                "\(what): \(error)", sourceLocation: sourceLocation)
    }
}

/// Checks that `kernel(x)` with `out` = `x` itself (in place) gives the out-of-place result.
func expectInPlaceMatches(_ what: String, _ x: Tensor, sourceLocation: SourceLocation = #_sourceLocation,
                          _ kernel: (Tensor, Tensor?) throws -> Tensor) throws {
    let expected = try kernel(x, nil)
    let inPlace = x.copy()
    let got = try kernel(inPlace, inPlace)
    #expect(got.storage === inPlace.storage && got.offset == inPlace.offset, "\(what): not in place", sourceLocation: sourceLocation)
    expectSameBits(got, expected, "\(what) in place", sourceLocation: sourceLocation)
}

@Suite struct OutputTensorTests {
    @Test func viewInitializerSharesStorage() {
        let storage = TensorStorage(capacity: 10)
        let view = Tensor(viewing: storage, offset: 4, shape: [2, 3])
        view.pointer[5] = 1.5
        #expect(view.storage === storage && view.offset == 4 && storage.base[9] == 1.5)
    }

    @Test(arguments: [1, 2]) func elementwise(threads: Int) throws {
        let cpu = CPU(threads: threads)
        let a = randomTensor([3, 5, 37], seed: 1, 0.5, 2), b = randomTensor([5, 1], seed: 2, 0.5, 2)
        for op in BinaryOp.allCases {
            try expectIntoMatches("binary \(op)") { try cpu.binary(op, a, b, into: $0) }
            try expectIntoMatches("binary \(op) swapped") { try cpu.binary(op, b, a, into: $0) }
        }
        try expectIntoMatches("add") { try cpu.add(a, b, into: $0) }
        try expectIntoMatches("sub") { try cpu.sub(a, b, into: $0) }
        try expectIntoMatches("mul") { try cpu.mul(a, b, into: $0) }
        try expectIntoMatches("div") { try cpu.div(a, b, into: $0) }
        try expectIntoMatches("broadcast") { try cpu.broadcast(b, to: [2, 5, 4], into: $0) }
        let x = randomTensor([4, 1029], seed: 3, -3, 3)
        for op in UnaryOp.allCases {
            try expectIntoMatches("unary \(op)", wrongShapeThrows: false) { cpu.unary(op, x, into: $0) }
        }
        try expectIntoMatches("affine", wrongShapeThrows: false) { cpu.affine(x, scale: -1.5, shift: 0.25, into: $0) }
        try expectIntoMatches("clamp", wrongShapeThrows: false) { cpu.clamp(x, min: -1, max: 0.5, into: $0) }
        for e: Float in [2, 3, 0.5] {
            let base = cpu.unary(.abs, x)
            try expectIntoMatches("pow \(e)", wrongShapeThrows: false) { cpu.pow(base, e, into: $0) }
        }
    }

    @Test func elementwiseInPlace() throws {
        let cpu = CPU(threads: 2)
        let a = randomTensor([3, 5, 37], seed: 1, 0.5, 2), b = randomTensor([5, 1], seed: 2, 0.5, 2)
        let full = randomTensor([3, 5, 37], seed: 4, 0.5, 2)
        for op in BinaryOp.allCases {
            try expectInPlaceMatches("binary \(op) into a", a) { try cpu.binary(op, $0, b, into: $1) }
            try expectInPlaceMatches("binary \(op) into b", a) { try cpu.binary(op, full, $0, into: $1) }
            try expectInPlaceMatches("binary \(op) into b, a broadcast", a) { try cpu.binary(op, b, $0, into: $1) }
            try expectInPlaceMatches("binary \(op) of a with itself", a) { try cpu.binary(op, $0, $0, into: $1) }
        }
        let x = randomTensor([4, 1029], seed: 3, -3, 3)
        for op in UnaryOp.allCases {
            let input = [.log, .sqrt].contains(op) ? cpu.unary(.abs, x) : x
            try expectInPlaceMatches("unary \(op)", input) { cpu.unary(op, $0, into: $1) }
        }
        try expectInPlaceMatches("affine", x) { cpu.affine($0, scale: -1.5, shift: 0.25, into: $1) }
        try expectInPlaceMatches("clamp", x) { cpu.clamp($0, min: -1, max: 0.5, into: $1) }
        try expectInPlaceMatches("pow", cpu.unary(.abs, x)) { cpu.pow($0, 1.5, into: $1) }
    }

    @Test(arguments: [1, 2]) func linalgAndReductions(threads: Int) throws {
        let cpu = CPU(threads: threads)
        let a = randomTensor([2, 1, 7, 33], seed: 1), b = randomTensor([3, 33, 20], seed: 2)
        try expectIntoMatches("matmul") { try cpu.matmul(a, b, into: $0) }
        let bt = randomTensor([3, 20, 33], seed: 3)
        try expectIntoMatches("matmul transposed") { try cpu.matmul(a, bt, transposeB: true, into: $0) }
        let big = randomTensor([160, 96], seed: 4), big2 = randomTensor([96, 150], seed: 5)  // GEMM split into panels
        try expectIntoMatches("matmul panels") { try cpu.matmul(big, big2, into: $0) }
        let x = randomTensor([2, 5, 33], seed: 6), w = randomTensor([17, 33], seed: 7), bias = randomTensor([17], seed: 8)
        try expectIntoMatches("linear") { try cpu.linear(x, weight: w, bias: bias, into: $0) }
        try expectIntoMatches("linear without bias") { try cpu.linear(x, weight: w, bias: nil, into: $0) }
        let r = randomTensor([3, 4, 5, 6], seed: 9)
        for (axes, keep) in [([1], false), ([0, 2, 3], true), ([-1], true), ([0, 1, 2, 3], false)] as [([Int], Bool)] {
            try expectIntoMatches("sum \(axes) keepDims \(keep)") { try cpu.sum(r, axes: axes, keepDims: keep, into: $0) }
            try expectIntoMatches("mean \(axes) keepDims \(keep)") { try cpu.mean(r, axes: axes, keepDims: keep, into: $0) }
        }
    }

    @Test func linearWithEmptyInputFeaturesIsTheBias() throws {
        let cpu = CPU(threads: 1)
        let y = try cpu.linear(Tensor(zeros: [3, 0]), weight: Tensor(zeros: [2, 0]), bias: Tensor(shape: [2], scalars: [1, -2]))
        #expect(y.shape == [3, 2] && y.scalars == [1, -2, 1, -2, 1, -2])
    }

    @Test(arguments: [1, 2]) func normalization(threads: Int) throws {
        let cpu = CPU(threads: threads)
        let x = randomTensor([3, 8, 5, 7], seed: 1, -2, 3)
        let w = randomTensor([8], seed: 2, 0.5, 1.5), b = randomTensor([8], seed: 3)
        try expectIntoMatches("groupNorm") { try cpu.groupNorm(x, groups: 4, weight: w, bias: b, into: $0) }
        try expectIntoMatches("groupNormSiLU") { try cpu.groupNormSiLU(x, groups: 2, weight: w, bias: b, into: $0) }
        try expectIntoMatches("instanceNorm") { try cpu.instanceNorm(x, weight: w, bias: b, into: $0) }
        let lw = randomTensor([5, 7], seed: 4, 0.5, 1.5), lb = randomTensor([5, 7], seed: 5)
        try expectIntoMatches("layerNorm") { try cpu.layerNorm(x, normalizedRank: 2, weight: lw, bias: lb, into: $0) }
        try expectIntoMatches("layerNorm rank 1") { try cpu.layerNorm(x, into: $0) }
        for training in [false, true] {
            // Training updates the running statistics: each call starts from the same copies.
            let mean = randomTensor([8], seed: 6), variance = randomTensor([8], seed: 7, 0.5, 2)
            try expectIntoMatches("batchNorm training \(training)") {
                try cpu.batchNorm(x, weight: w, bias: b, runningMean: mean.copy(), runningVar: variance.copy(),
                                  training: training, into: $0)
            }
        }
        for kind in [RMSNormKind.meanSquare, .l2Scaled] {
            try expectIntoMatches("rmsNorm \(kind)") { try cpu.rmsNorm(x, axis: 1, weight: w, kind: kind, into: $0) }
            try expectIntoMatches("rmsNorm last axis \(kind)") { try cpu.rmsNorm(x, axis: -1, kind: kind, into: $0) }
        }
    }

    @Test(arguments: [1, 2]) func attention(threads: Int) throws {
        let cpu = CPU(threads: threads)
        let x = randomTensor([3, 6, 37], seed: 1, -3, 3)
        try expectIntoMatches("softmax last axis") { try cpu.softmax(x, into: $0) }
        try expectIntoMatches("softmax strided axis") { try cpu.softmax(x, axis: 1, into: $0) }
        let q = randomTensor([2, 3, 7, 8], seed: 2), k = randomTensor([2, 3, 33, 8], seed: 3)
        let v = randomTensor([2, 3, 33, 5], seed: 4), mask = randomTensor([2, 1, 7, 33], seed: 5, -2, 2)
        try expectIntoMatches("attention") { try cpu.scaledDotProductAttention(q, k, v, into: $0) }
        try expectIntoMatches("attention with mask and scale") {
            try cpu.scaledDotProductAttention(q, k, v, scale: 0.3, mask: mask, into: $0)
        }
    }

    @Test(arguments: [1, 2]) func layoutAndResampling(threads: Int) throws {
        let cpu = CPU(threads: threads)
        let x = randomTensor([2, 3, 5, 7], seed: 1), y = randomTensor([2, 4, 5, 7], seed: 2)
        try expectIntoMatches("concat") { try cpu.concat([x, y, x], axis: 1, into: $0) }
        try expectIntoMatches("concat last axis") { try cpu.concat([x, x], axis: -1, into: $0) }
        for perm in [[0, 2, 3, 1], [3, 2, 1, 0], [1, 0, 2, 3], [0, 1, 2, 3]] {
            try expectIntoMatches("permute \(perm)") { try cpu.permute(x, perm, into: $0) }
        }
        try expectIntoMatches("slice") { try cpu.slice(y, axis: 1, start: 1, end: -1, into: $0) }
        try expectIntoMatches("slice with step") { try cpu.slice(x, axis: 3, start: 0, end: 7, step: 3, into: $0) }
        let widths: [PadWidth] = [[0, 0], [1, 0], [2, -1], [1, 3]]
        for mode in [PadMode.constant(-0.5), .reflect, .edge] {
            try expectIntoMatches("pad \(mode)") { try cpu.pad(x, pads: widths, mode: mode, into: $0) }
        }
        try expectIntoMatches("upsampleNearest size") { try cpu.upsampleNearest(x, outputSize: (9, 14), into: $0) }
        try expectIntoMatches("upsampleNearest scale") { try cpu.upsampleNearest(x, scale: (2, 3), into: $0) }
        for align in [false, true] {
            try expectIntoMatches("upsampleBilinear align \(align)") {
                try cpu.upsampleBilinear(x, outputSize: (11, 6), alignCorners: align, into: $0)
            }
        }
        let s = randomTensor([2, 8, 3, 5], seed: 3)
        try expectIntoMatches("pixelShuffle") { try cpu.pixelShuffle(s, factor: 2, into: $0) }
        try expectIntoMatches("pixelUnshuffle") { try cpu.pixelUnshuffle(randomTensor([2, 3, 6, 9], seed: 4), factor: 3, into: $0) }
    }

    @Test(arguments: [1, 2]) func convolution(threads: Int) throws {
        let cpu = CPU(threads: threads)
        let geometries: [(Shape, Shape, Conv2dOptions)] = [
            ([3, 5, 7, 9], [6, 5, 3, 3], Conv2dOptions(padding: 1)),
            ([2, 6, 6, 5], [4, 6, 1, 1], Conv2dOptions()),
            ([1, 4, 9, 8], [6, 2, 3, 3], Conv2dOptions(stride: 2, padding: 1, groups: 2)),
            ([1, 40, 3, 130], [72, 40, 3, 3], Conv2dOptions()),
        ]
        for (i, (xs, ws, o)) in geometries.enumerated() {
            let x = randomTensor(xs, seed: UInt64(i)), w = randomTensor(ws, seed: UInt64(10 + i))
            let b = randomTensor([ws[0]], seed: UInt64(20 + i))
            try expectIntoMatches("conv2d \(i)") { try cpu.conv2d(x, weight: w, bias: b, o, into: $0) }
            try expectIntoMatches("conv2d \(i) without bias") { try cpu.conv2d(x, weight: w, o, into: $0) }
            let r = randomTensor(try cpu.conv2d(x, weight: w, o).shape, seed: UInt64(30 + i))
            try expectIntoMatches("conv2d \(i) epilogue") {
                try cpu.conv2d(x, weight: w, bias: b, o, residual: r, activation: .silu, into: $0)
            }
            let tw = randomTensor([xs[1], 3, ws[2], ws[3]], seed: UInt64(40 + i)), tb = randomTensor([3], seed: UInt64(50 + i))
            let to = Conv2dOptions(stride: 2, padding: ws[2] / 2)
            try expectIntoMatches("convTranspose2d \(i)") {
                try cpu.convTranspose2d(x, weight: tw, bias: tb, to, outputPadding: (1, 1), into: $0)
            }
            try expectIntoMatches("convTranspose2d \(i) pointwise") {
                try cpu.convTranspose2d(x, weight: randomTensor([xs[1], 3, 1, 1], seed: 9), into: $0)
            }
        }
    }
}

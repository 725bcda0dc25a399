// OpConformanceTable+Layout: the conformance entries of the layout, shape and source ops (see
// `OpConformanceTable.swift` for the table and its rules). Data movement is checked bit-exact
// against the naive layout twins or the index references in `OpConformanceReferences.swift`;
// int64 shape parameters are constants, as after import.

import Foundation
@testable import Graphs
import Tensors
import TestSupport

extension OpConformance {
    static let noGradientForShapes = BackwardCheck.none(reason: "shape arithmetic is int64 data without gradients")

    /// A reshape of `x`'s elements to `shape` (the reference of every view op).
    static func sameElements(_ v: [Value?], _ shape: Shape) -> [Value] {
        [.float(Tensor(shape: shape, scalars: v[0]!.floatTensor.scalars))]
    }

    static func reshape() -> [OpCase] {
        [
            OpCase("reshape with 0 (copy a dim) and -1 (infer)", reference: .naive(.bitExact) { sameElements($0, [2, 12]) },
                   backward: .finiteDifferences()) { b in
                (.reshape(allowZero: false), [b.input([2, 3, 4]), b.ints([0, -1])])
            },
            OpCase("reshape with allowZero to an explicit shape", reference: .naive(.bitExact) { sameElements($0, [4, 3, 2]) },
                   backward: .finiteDifferences()) { b in
                (.reshape(allowZero: true), [b.input([2, 3, 4]), b.ints([4, 3, 2])])
            },
        ]
    }

    static func transpose() -> [OpCase] {
        [([2, 0, 1], false), ([2, 1, 0], true)].map { perm, reversed in
            OpCase(reversed ? "transpose without perm (reverse axes)" : "transpose \(perm)", reference: .naive(.bitExact) { v in
                [.float(try Naive.permute(v[0]!.floatTensor, perm))]
            }, backward: .finiteDifferences()) { b in
                (.transpose(perm: reversed ? nil : perm), [b.input([2, 3, 4])])
            }
        }
    }

    static func concat() -> [OpCase] {
        let floats = [(1, [[2, 3, 4], [2, 1, 4], [2, 2, 4]] as [Shape]), (-1, [[3, 2], [3, 5]])].map { axis, shapes in
            OpCase("concat \(shapes.count) inputs along axis \(axis)", reference: .naive(.bitExact) { v in
                [.float(try Naive.concat(v.map { $0!.floatTensor }, axis: axis))]
            }, backward: .finiteDifferences()) { b in
                (.concat(axis: axis), shapes.map { b.input($0) })
            }
        }
        let ints = OpCase("concat int64 (shape arithmetic)", reference: .naive(.bitExact) { _ in [.int(IntTensor([2, -1, 7]))] },
                          backward: intData) { b in
            (.concat(axis: 0), [b.input(.int(IntTensor([2, -1]))), b.input(.int(IntTensor([7])))])
        }
        return floats + [ints]
    }

    static func split() -> [OpCase] {
        [
            OpCase("split sizes [1, 3] (attribute) along axis 1", reference: .naive(.bitExact) { v in
                try Naive.split(v[0]!.floatTensor, axis: 1, sizes: [1, 3]).map { .float($0) }
            }, backward: .finiteDifferences(), outputs: 2) { b in
                (.split(axis: 1, sizes: [1, 3], outputs: 2), [b.input([2, 4, 3])])
            },
            OpCase("split sizes from input 1 along axis -1", reference: .naive(.bitExact) { v in
                try Naive.split(v[0]!.floatTensor, axis: 2, sizes: [2, 3]).map { .float($0) }
            }, backward: .finiteDifferences(), outputs: 2) { b in
                (.split(axis: -1, sizes: nil, outputs: 2), [b.input([2, 3, 5]), b.ints([2, 3])])
            },
            OpCase("split 7 rows into 3 equal parts (the last one shorter)", reference: .naive(.bitExact) { v in
                try Naive.split(v[0]!.floatTensor, axis: 0, sizes: [3, 3, 1]).map { .float($0) }
            }, backward: .finiteDifferences(), outputs: 3) { b in
                (.split(axis: 0, sizes: nil, outputs: 3), [b.input([7, 2])])
            },
        ]
    }

    static func slice() -> [OpCase] {
        [
            OpCase("slice two axes with steps 2 and 3", reference: .naive(.bitExact) { v in
                let rows = try Naive.slice(v[0]!.floatTensor, axis: 0, start: 1, end: 4, step: 2)
                return [.float(try Naive.slice(rows, axis: 2, start: 0, end: 100, step: 3))]
            }, backward: .finiteDifferences()) { b in
                (.slice, [b.input([4, 5, 6]), b.ints([1, 0]), b.ints([4, 100]), b.ints([0, 2]), b.ints([2, 3])])
            },
            OpCase("slice with a negative step from the end", reference: .naive(.bitExact) { v in
                [.float(sliceReference(v[0]!.floatTensor, starts: [-1], ends: [-100], axes: [1], steps: [-2]))]
            }, backward: .finiteDifferences()) { b in
                (.slice, [b.input([4, 5]), b.ints([-1]), b.ints([-100]), b.ints([1]), b.ints([-2])])
            },
            OpCase("slice with axes and steps omitted", reference: .naive(.bitExact) { v in
                let rows = try Naive.slice(v[0]!.floatTensor, axis: 0, start: 1, end: 3, step: 1)
                return [.float(try Naive.slice(rows, axis: 1, start: 1, end: -1, step: 1))]
            }, backward: .finiteDifferences()) { b in
                (.slice, [b.input([4, 5]), b.ints([1, 1]), b.ints([3, -1])])
            },
        ]
    }

    static func gather() -> [OpCase] {
        let cases: [(Int, Shape, IntTensor)] = [(1, [2, 3, 4], IntTensor([2, 0, 2, -1])),
                                               (0, [2, 3], IntTensor(shape: [3, 2], values: [0, 1, 1, 0, 1, 1]))]
        return cases.map { axis, shape, indices in
            OpCase("gather along axis \(axis) with indices \(indices.shape)", reference: .naive(.bitExact) { v in
                [.float(gatherReference(v[0]!.floatTensor, v[1]!.intTensor, axis: axis))]
            }, backward: .finiteDifferences()) { b in
                (.gather(axis: axis), [b.input(shape), b.constant(.int(indices))])
            }
        }
    }

    static func gatherND() -> [OpCase] {
        let cases: [(String, Int, Shape, IntTensor)] = [
            ("index pairs into [2, 3, 4] (negative too)", 0, [2, 3, 4], IntTensor(shape: [3, 2], values: [1, -1, 0, 2, 1, 0])),
            ("rows per batch (batch_dims 1)", 1, [2, 3, 4], IntTensor(shape: [2, 2, 1], values: [2, 0, 1, 1])),
            ("a nearest-exact table over [H, W, N, C] (the dynamo exporter's)", 0, [3, 4, 1, 2],
             IntTensor(shape: [2, 3, 2], values: [0, 0, 0, 1, 0, 3, 2, 0, 2, 2, 2, 3])),
        ]
        let floats = cases.map { name, batchDims, shape, indices in
            OpCase("gatherND \(name)", reference: .naive(.bitExact) { v in
                [.float(gatherNDReference(v[0]!.floatTensor, v[1]!.intTensor, batchDims: batchDims))]
            }, backward: .finiteDifferences()) { b in
                (.gatherND(batchDims: batchDims), [b.input(shape), b.constant(.int(indices))])
            }
        }
        let ints = OpCase("gatherND int64 data", reference: .naive(.bitExact) { _ in [.int(IntTensor([5, 2]))] }, backward: intData) { b in
            (.gatherND(batchDims: 0), [b.input(.int(IntTensor(shape: [2, 2], values: [1, 2, 3, 5]))), b.constant(.int(IntTensor(shape: [2, 2], values: [1, 1, 0, 1])))])
        }
        return floats + [ints]
    }

    static func unsqueeze() -> [OpCase] {
        [
            OpCase("unsqueeze axes [0, 3] (attribute)", reference: .naive(.bitExact) { sameElements($0, [1, 2, 3, 1]) },
                   backward: .finiteDifferences()) { b in
                (.unsqueeze(axes: [0, 3]), [b.input([2, 3])])
            },
            OpCase("unsqueeze axes [-1] from input 1", reference: .naive(.bitExact) { sameElements($0, [2, 3, 1]) },
                   backward: .finiteDifferences()) { b in
                (.unsqueeze(axes: nil), [b.input([2, 3]), b.ints([-1])])
            },
        ]
    }

    static func squeeze() -> [OpCase] {
        [
            OpCase("squeeze axis 1 (attribute)", reference: .naive(.bitExact) { sameElements($0, [2, 3, 1]) },
                   backward: .finiteDifferences()) { b in
                (.squeeze(axes: [1]), [b.input([2, 1, 3, 1])])
            },
            OpCase("squeeze every axis of size 1 (no axes)", reference: .naive(.bitExact) { sameElements($0, [2, 3]) },
                   backward: .finiteDifferences()) { b in
                (.squeeze(axes: nil), [b.input([2, 1, 3, 1])])
            },
        ]
    }

    static func flatten() -> [OpCase] {
        [(2, [6, 20] as Shape), (0, [1, 120]), (-1, [24, 5])].map { axis, flat in
            OpCase("flatten from axis \(axis)", reference: .naive(.bitExact) { sameElements($0, flat) },
                   backward: .finiteDifferences()) { b in
                (.flatten(axis: axis), [b.input([2, 3, 4, 5])])
            }
        }
    }

    static func expand() -> [OpCase] {
        [([3, 1] as Shape, [2, 3, 4] as [Int64], [2, 3, 4] as Shape), ([1, 4], [3, 1], [3, 4])].map { shape, target, result in
            OpCase("expand \(shape) by \(target)", reference: .naive(.bitExact) { v in
                [.float(broadcastReference(v[0]!.floatTensor, to: result))]
            }, backward: .finiteDifferences()) { b in
                (.expand, [b.input(shape), b.ints(target)])
            }
        }
    }

    static func tile() -> [OpCase] {
        [([2, 3] as Shape, [2, 3]), ([2, 1, 3], [1, 4, 2])].map { shape, repeats in
            OpCase("tile \(shape) by \(repeats)", reference: .naive(.bitExact) { v in
                [.float(tileReference(v[0]!.floatTensor, repeats: repeats))]
            }, backward: .finiteDifferences()) { b in
                (.tile, [b.input(shape), b.ints(repeats.map(Int64.init))])
            }
        }
    }

    static func pad() -> [OpCase] {
        [
            OpCase("pad constant 0.5 on every axis", reference: .naive(.bitExact) { v in
                [.float(try Naive.pad(v[0]!.floatTensor, pads: [[0, 0], [1, 2], [2, 1]], mode: .constant(0.5)))]
            }, backward: .finiteDifferences()) { b in
                (.pad(.constant), [b.input([2, 3, 4]), b.ints([0, 1, 2, 0, 2, 1]), b.scalar(0.5)])
            },
            OpCase("pad reflect on axes [2, -1]", reference: .naive(.bitExact) { v in
                [.float(try Naive.pad(v[0]!.floatTensor, pads: [[0, 0], [0, 0], [1, 2], [2, 1]], mode: .reflect))]
            }, backward: .finiteDifferences()) { b in
                (.pad(.reflect), [b.input([1, 2, 4, 5]), b.ints([1, 2, 2, 1]), nil, b.ints([2, -1])])
            },
            OpCase("pad edge", reference: .naive(.bitExact) { v in
                [.float(try Naive.pad(v[0]!.floatTensor, pads: [[0, 0], [0, 0], [2, 3]], mode: .edge))]
            }, backward: .finiteDifferences()) { b in
                (.pad(.edge), [b.input([2, 3, 4]), b.ints([0, 0, 2, 0, 0, 3])])
            },
            OpCase("pad with negative widths crops", reference: .naive(.bitExact) { v in
                [.float(try Naive.pad(v[0]!.floatTensor, pads: [[0, 1], [-1, -2]], mode: .constant(0)))]
            }, backward: .finiteDifferences()) { b in
                (.pad(.constant), [b.input([3, 5]), b.ints([0, -1, 1, -2])])
            },
        ]
    }

    static func resize() -> [OpCase] {
        let scales = { (h: Float, w: Float) in Tensor(shape: [4], scalars: [1, 1, h, w]) }
        return [
            OpCase("resize nearest by scales 2x2", reference: .naive(.bitExact) { v in
                [.float(try Naive.upsampleNearest(v[0]!.floatTensor, outputSize: (6, 8), scaleFactor: (2, 2)))]
            }, backward: .finiteDifferences()) { b in
                (.resize(.nearest), [b.input([1, 2, 3, 4]), nil, b.constant(scales(2, 2))])
            },
            OpCase("resize nearest down to sizes 2x3", reference: .naive(.bitExact) { v in
                [.float(try Naive.upsampleNearest(v[0]!.floatTensor, outputSize: (2, 3)))]
            }, backward: .finiteDifferences()) { b in
                (.resize(.nearest), [b.input([1, 2, 5, 7]), nil, nil, b.ints([1, 2, 2, 3])])
            },
            OpCase("resize linear (half pixel) by scales 2 x 1.5", reference: .naive(.bilinear) { v in
                [.float(try Naive.upsampleBilinear(v[0]!.floatTensor, outputSize: (6, 6), alignCorners: false, scaleFactor: (2, 1.5)))]
            }, backward: .finiteDifferences()) { b in
                (.resize(.linear(alignCorners: false)), [b.input([1, 2, 3, 4]), nil, b.constant(scales(2, 1.5))])
            },
            OpCase("resize linear (align corners) to sizes 5x7", reference: .naive(.bilinear) { v in
                [.float(try Naive.upsampleBilinear(v[0]!.floatTensor, outputSize: (5, 7), alignCorners: true))]
            }, backward: .finiteDifferences()) { b in
                (.resize(.linear(alignCorners: true)), [b.input([1, 2, 3, 4]), nil, nil, b.ints([1, 2, 5, 7])])
            },
            OpCase("resize nearest, half pixel, halves up (nearest-exact) to sizes 5x3", reference: .naive(.bitExact) { v in
                [.float(try Naive.upsampleNearest(v[0]!.floatTensor, outputSize: (5, 3), sampling: nearestExact))]
            }, backward: .finiteDifferences()) { b in
                (.resize(.nearestSampled(nearestExact)), [b.input([1, 2, 3, 6]), nil, nil, b.ints([1, 2, 5, 3])])
            },
            OpCase("resize nearest, align corners, ceil, by scales 1.5 x 2", reference: .naive(.bitExact) { v in
                [.float(try Naive.upsampleNearest(v[0]!.floatTensor, outputSize: (4, 8), scaleFactor: (1.5, 2), sampling: alignCeil))]
            }, backward: .finiteDifferences()) { b in
                (.resize(.nearestSampled(alignCeil)), [b.input([2, 1, 3, 4]), nil, b.constant(scales(1.5, 2))])
            },
            OpCase("resize cubic (half pixel) by scales 2x2", reference: .naive(.bilinear) { v in
                [.float(try Naive.upsampleBicubic(v[0]!.floatTensor, outputSize: (6, 8), alignCorners: false, scaleFactor: (2, 2)))]
            }, backward: .finiteDifferences()) { b in
                (.resize(.cubic(alignCorners: false)), [b.input([1, 2, 3, 4]), nil, b.constant(scales(2, 2))])
            },
            OpCase("resize cubic (align corners) down to sizes 3x4", reference: .naive(.bilinear) { v in
                [.float(try Naive.upsampleBicubic(v[0]!.floatTensor, outputSize: (3, 4), alignCorners: true))]
            }, backward: .finiteDifferences()) { b in
                (.resize(.cubic(alignCorners: true)), [b.input([1, 2, 5, 7]), nil, nil, b.ints([1, 2, 3, 4])])
            },
        ]
    }

    static let nearestExact = NearestSampling(coordinates: .halfPixel, rounding: .roundPreferCeil)
    static let alignCeil = NearestSampling(coordinates: .alignCorners, rounding: .ceil)

    /// [2, 3, 5, 6] of distinct values 0.05 apart: a ±0.01 step never changes a window's maximum.
    static func spacedImage(_ b: inout CaseBuilder) -> Tensor {
        Tensor(shape: [2, 3, 5, 6], scalars: (0..<180).map { Float($0) * 0.05 - 4.5 }.shuffled(using: &b.rng))
    }

    static func averagePool() -> [OpCase] {
        let cases: [(String, Pool2dWindow, Bool)] = [
            ("2x2 (a U-Net's downsampling)", Pool2dWindow(kernel: (2, 2)), true),
            ("3x3, stride 2, padding 1, ceil mode, padding not counted", Pool2dWindow(kernel: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true), false),
            ("3x2, stride (2, 1), padding (1, 1), ceil mode, padding counted", Pool2dWindow(kernel: (3, 2), stride: (2, 1), padding: (1, 1), ceilMode: true), true),
        ]
        return cases.map { name, window, countIncludePad in
            OpCase("averagePool \(name)", reference: .naive(.bitExact) { v in
                [.float(try Naive.avgPool2d(v[0]!.floatTensor, window, countIncludePad: countIncludePad))]
            }, backward: .finiteDifferences()) { b in
                (.averagePool(window, countIncludePad: countIncludePad), [b.input([2, 3, 5, 6])])
            }
        }
    }

    static func maxPool() -> [OpCase] {
        let cases: [(String, Pool2dWindow)] = [
            ("2x2", Pool2dWindow(kernel: (2, 2))),
            ("3x3, stride 2, padding 1, ceil mode", Pool2dWindow(kernel: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true)),
            ("2x3, stride 1, padding 1, dilation (2, 1)", Pool2dWindow(kernel: (2, 3), stride: (1, 1), padding: (1, 1), dilation: (2, 1))),
        ]
        return cases.map { name, window in
            OpCase("maxPool \(name)", reference: .naive(.bitExact) { v in
                [.float(try Naive.maxPool2d(v[0]!.floatTensor, window))]
            }, backward: .finiteDifferences()) { b in
                let x = spacedImage(&b)
                return (.maxPool(window), [b.input(x)])
            }
        }
    }

    static func depthToSpace() -> [OpCase] {
        [
            OpCase("depthToSpace CRD (PixelShuffle)", reference: .naive(.bitExact) { v in
                [.float(try Naive.pixelShuffle(v[0]!.floatTensor, factor: 2))]
            }, backward: .finiteDifferences()) { b in
                (.depthToSpace(blockSize: 2, crd: true), [b.input([1, 8, 2, 3])])
            },
            OpCase("depthToSpace DCR", reference: .naive(.bitExact) { v in
                [.float(depthToSpaceDCRReference(v[0]!.floatTensor, blockSize: 2))]
            }, backward: .finiteDifferences()) { b in
                (.depthToSpace(blockSize: 2, crd: false), [b.input([2, 8, 2, 3])])
            },
        ]
    }

    static func spaceToDepth() -> [OpCase] {
        [
            OpCase("spaceToDepth block 2", reference: .naive(.bitExact) { v in
                [.float(spaceToDepthReference(v[0]!.floatTensor, blockSize: 2))]
            }, backward: .finiteDifferences()) { b in
                (.spaceToDepth(blockSize: 2), [b.input([1, 2, 4, 6])])
            },
        ]
    }

    // MARK: shapes and sources

    static func shape() -> [OpCase] {
        let folded = PlanCheck.folded(reason: "input shapes are fixed when the plan compiles, so specialization folds shape")
        return [(0, nil as Int?, [2, 3, 4, 5] as [Int64]), (1, -1, [3, 4])].map { start, end, dims in
            OpCase("shape from \(start) to \(end.map(String.init) ?? "the end")", reference: .naive(.bitExact) { _ in [.int(IntTensor(dims))] },
                   plan: folded, backward: .none(reason: "a shape is int64 data without gradient")) { b in
                (.shape(start: start, end: end), [b.input([2, 3, 4, 5])])
            }
        }
    }

    static func constantOfShape() -> [OpCase] {
        let folded = PlanCheck.folded(reason: "its shape input is a constant, as every exporter writes it")
        return [
            OpCase("constantOfShape float 1.5", reference: .naive(.bitExact) { _ in [.float(Tensor(shape: [2, 3], repeating: 1.5))] },
                   plan: folded, backward: .none(reason: "a source op: nothing to differentiate")) { b in
                (.constantOfShape(.float(Tensor(scalar: 1.5))), [b.ints([2, 3])])
            },
            OpCase("constantOfShape int64 7", reference: .naive(.bitExact) { _ in [.int(IntTensor([7, 7, 7, 7]))] },
                   plan: folded, backward: noGradientForShapes) { b in
                (.constantOfShape(.int(IntTensor([7]))), [b.ints([4])])
            },
        ]
    }

    static func range() -> [OpCase] {
        let folded = PlanCheck.folded(reason: "start, limit and delta are constants, so its length is known only by folding")
        return [
            OpCase("range float 0.5 ..< 3 by 0.75", reference: .naive(.bitExact) { _ in [.float(Tensor(shape: [4], scalars: [0.5, 1.25, 2, 2.75]))] },
                   plan: folded, backward: .none(reason: "a source op over constants: nothing to differentiate")) { b in
                (.range, [b.scalar(0.5), b.scalar(3), b.scalar(0.75)])
            },
            OpCase("range int64 10 down to 0 by -3", reference: .naive(.bitExact) { _ in [.int(IntTensor([10, 7, 4, 1]))] },
                   plan: folded, backward: noGradientForShapes) { b in
                (.range, [b.constant(.int(IntTensor(scalar: 10))), b.constant(.int(IntTensor(scalar: 0))), b.constant(.int(IntTensor(scalar: -3)))])
            },
        ]
    }

    static func identity() -> [OpCase] {
        [
            OpCase("identity", reference: .naive(.bitExact) { v in [v[0]!] }, backward: .finiteDifferences()) { b in
                (.identity, [b.input([2, 3])])
            },
        ]
    }
}

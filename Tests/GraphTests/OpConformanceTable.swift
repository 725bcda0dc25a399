// OpConformanceTable: the conformance entry of every `OpKind` — a few one-node cases per kind,
// each with its reference (check A), what the compiled plan does with it (check B) and its
// backward expectation (check C). `cases(for:)` switches over `OpKind` without a default, so a new
// op kind does not compile until it has an entry here, and a kind cannot have two. Reference
// tolerances are the ones the tensor-core tests state for the same kernel against its naive twin.
// Data: seeded per case name; inputs kept away from kinks, ties and poles where check C perturbs.

import Foundation
@testable import Graphs
import Tensors
import TestSupport

/// The einsum op for an equation; the only place the table spells einsum's parameters.
func einsumOp(_ equation: String) -> Op { .einsum(try! EinsumSpec(equation)) }

/// Kernel vs naive-twin tolerances, as the tensor-core tests state them for the same kernels.
extension Tolerance {
    static let convolution = Tolerance.close(rtol: 1e-5, atol: 1e-5)
    static let matmul = Tolerance.close(rtol: 1e-5, atol: 1e-5)
    static let attention = Tolerance.close(rtol: 1e-4, atol: 1e-5)
    static let softmax = Tolerance.close(rtol: 1e-5, atol: 1e-7)
    static let normalization = Tolerance.close(rtol: 1e-5, atol: 2e-6)
    static let elementwise = Tolerance.close(rtol: 1e-6, atol: 1e-6)
    static let bilinear = Tolerance.close(rtol: 1e-6, atol: 1e-6)
    static let reduction = Tolerance.close(rtol: 1e-5, atol: 1e-5)
}

enum OpConformance {
    /// Int64 values carry no gradient: the tape computes them on the host and cannot return them.
    static let intData = BackwardCheck.none(reason: "int64 values are host data without gradients")

    /// The cases of `kind` (never empty; every case's node has this kind).
    static func cases(for kind: OpKind) -> [OpCase] {
        switch kind {
        case .conv: return conv()
        case .winogradConv: return winogradConv()
        case .convTranspose: return convTranspose()
        case .gemm: return gemm()
        case .matMul: return matMul()
        case .einsum: return einsum()
        case .attention: return attention()
        case .attentionInterleaved: return attentionInterleaved()
        case .binary: return binary()
        case .unary: return unary()
        case .parametricUnary: return parametricUnary()
        case .clip: return clip()
        case .compare: return compare()
        case .not: return not()
        case .select: return select()
        case .cast: return cast()
        case .softmax: return softmax()
        case .instanceNorm: return instanceNorm()
        case .groupNorm: return groupNorm()
        case .batchNorm: return batchNorm()
        case .layerNorm: return layerNorm()
        case .rmsNorm: return rmsNorm()
        case .reduce: return reduce()
        case .reshape: return reshape()
        case .transpose: return transpose()
        case .concat: return concat()
        case .split: return split()
        case .slice: return slice()
        case .gather: return gather()
        case .gatherND: return gatherND()
        case .unsqueeze: return unsqueeze()
        case .squeeze: return squeeze()
        case .flatten: return flatten()
        case .expand: return expand()
        case .tile: return tile()
        case .pad: return pad()
        case .resize: return resize()
        case .averagePool: return averagePool()
        case .maxPool: return maxPool()
        case .depthToSpace: return depthToSpace()
        case .spaceToDepth: return spaceToDepth()
        case .shape: return shape()
        case .constantOfShape: return constantOfShape()
        case .range: return range()
        case .identity: return identity()
        }
    }

    // MARK: dense compute

    static func conv() -> [OpCase] {
        let pad1 = Conv2dOptions(padding: 1)
        let odd = Conv2dOptions(stride: (2, 1), padding: (1, 0, 2, 1), dilation: (2, 1), groups: 2)
        // 16 → 16 channels on a 7x7 output with constant weights: the plan lowers it to Winograd.
        let w16 = randomTensor([16, 16, 3, 3], seed: 16, -0.2, 0.2)
        return [
            OpCase("conv 3x3, padding 1, bias", reference: .naive(.convolution) { v in
                [.float(try Naive.conv2d(v[0]!.floatTensor, weight: v[1]!.floatTensor, bias: v[2]!.floatTensor, pad1))]
            }, backward: .finiteDifferences()) { b in
                (.conv(pad1, activation: nil), [b.input([2, 3, 5, 6]), b.input([4, 3, 3, 3]), b.input([4])])
            },
            OpCase("conv stride (2, 1), dilation (2, 1), 2 groups, asymmetric padding", reference: .naive(.convolution) { v in
                [.float(try Naive.conv2d(v[0]!.floatTensor, weight: v[1]!.floatTensor, odd))]
            }, backward: .finiteDifferences()) { b in
                (.conv(odd, activation: nil), [b.input([1, 4, 7, 8]), b.input([6, 2, 3, 2])])
            },
            OpCase("conv with fused residual and SiLU", reference: .naive(.convolution) { v in
                let y = try Naive.conv2d(v[0]!.floatTensor, weight: v[1]!.floatTensor, bias: v[2]!.floatTensor, pad1)
                return [.float(Naive.unary(.silu, try Naive.binary(.add, y, v[3]!.floatTensor)))]
            }, backward: .finiteDifferences()) { b in
                (.conv(pad1, activation: .silu), [b.input([1, 2, 4, 5]), b.input([3, 2, 3, 3]), b.input([3]), b.input([1, 3, 4, 5])])
            },
            OpCase("conv 3x3 16 → 16 with constant weights (the plan uses Winograd)", reference: .naive(.convolution) { v in
                [.float(try Naive.conv2d(v[0]!.floatTensor, weight: v[1]!.floatTensor, bias: v[2]!.floatTensor, pad1))]
            // The tape's forward takes Winograd by the plan's rule too: it rounds as the plan does.
            }, plan: .runs(as: .winogradConv, .convolution), backward: .finiteDifferences(forward: .matchesInterpreter(.convolution))) { b in
                let bias = b.random([16])
                return (.conv(pad1, activation: nil), [b.input([1, 16, 7, 7]), b.constant(w16), b.constant(bias)])
            },
        ]
    }

    static func winogradConv() -> [OpCase] {
        let pad1 = Conv2dOptions(padding: 1), cpu = CPU(threads: 1)
        let w = randomTensor([4, 3, 3, 3], seed: 3), u = try! cpu.winogradWeights(w)
        let refused = BackwardCheck.none(reason: "inference only: the plan lowers convs after training; the tape refuses it by name")
        return [
            OpCase("winograd F(2x2, 3x3), bias, partial tiles", reference: .naive(.convolution) { v in
                [.float(try Naive.conv2d(v[0]!.floatTensor, weight: w, bias: v[2]!.floatTensor, pad1))]
            }, backward: refused) { b in
                (.winogradConv(pad1, activation: nil), [b.input([2, 3, 5, 7]), b.constant(u), b.input([4])])
            },
            OpCase("winograd with residual and ReLU epilogue", reference: .naive(.convolution) { v in
                let y = try Naive.conv2d(v[0]!.floatTensor, weight: w, Conv2dOptions())
                return [.float(Naive.unary(.relu, try Naive.binary(.add, y, v[3]!.floatTensor)))]
            }, backward: refused) { b in
                (.winogradConv(Conv2dOptions(), activation: .relu), [b.input([1, 3, 6, 6]), b.constant(u), nil, b.input([1, 4, 4, 4])])
            },
        ]
    }

    static func convTranspose() -> [OpCase] {
        let s2 = Conv2dOptions(stride: 2, padding: 1), grouped = Conv2dOptions(dilation: 2, groups: 2)
        return [
            OpCase("convTranspose stride 2, padding 1, output padding 1, bias", reference: .naive(.convolution) { v in
                [.float(try Naive.convTranspose2d(v[0]!.floatTensor, weight: v[1]!.floatTensor, bias: v[2]!.floatTensor, s2, outputPadding: (1, 1)))]
            }, backward: .finiteDifferences()) { b in
                (.convTranspose(s2, outputPaddingH: 1, outputPaddingW: 1), [b.input([1, 3, 4, 5]), b.input([3, 2, 3, 3]), b.input([2])])
            },
            OpCase("convTranspose dilation 2, 2 groups", reference: .naive(.convolution) { v in
                [.float(try Naive.convTranspose2d(v[0]!.floatTensor, weight: v[1]!.floatTensor, grouped))]
            }, backward: .finiteDifferences()) { b in
                (.convTranspose(grouped, outputPaddingH: 0, outputPaddingW: 0), [b.input([2, 4, 3, 3]), b.input([4, 3, 2, 2])])
            },
        ]
    }

    static func gemm() -> [OpCase] {
        [
            OpCase("gemm as nn.Linear (B transposed, bias [N])", reference: .naive(.matmul) { v in
                [.float(try Naive.binary(.add, Naive.matmul(v[0]!.floatTensor, v[1]!.floatTensor, transposeB: true), v[2]!.floatTensor))]
            }, backward: .finiteDifferences()) { b in
                (.gemm(transA: false, transB: true, alpha: 1, beta: 1), [b.input([3, 5]), b.input([4, 5]), b.input([4])])
            },
            OpCase("gemm A transposed, alpha 0.5, beta 2, C [M, N]", reference: .naive(.matmul) { v in
                let ab = try Naive.matmul(v[0]!.floatTensor, v[1]!.floatTensor, transposeA: true)
                let scaledC = try Naive.binary(.mul, v[2]!.floatTensor, Tensor(scalar: 2))
                return [.float(try Naive.binary(.add, Naive.binary(.mul, ab, Tensor(scalar: 0.5)), scaledC))]
            }, backward: .finiteDifferences()) { b in
                (.gemm(transA: true, transB: false, alpha: 0.5, beta: 2), [b.input([5, 3]), b.input([5, 4]), b.input([3, 4])])
            },
        ]
    }

    static func matMul() -> [OpCase] {
        [
            OpCase("matMul with broadcast batch axes", reference: .naive(.matmul) { v in
                [.float(try Naive.matmul(v[0]!.floatTensor, v[1]!.floatTensor))]
            }, backward: .finiteDifferences()) { b in
                (.matMul, [b.input([2, 1, 3, 5]), b.input([4, 5, 2])])
            },
            OpCase("matMul vector times batched matrix", reference: .naive(.matmul) { v in
                [.float(try Naive.matmul(v[0]!.floatTensor.reshaped([1, 5]), v[1]!.floatTensor).reshaped([2, 3]))]
            }, backward: .finiteDifferences()) { b in
                (.matMul, [b.input([5]), b.input([2, 5, 3])])
            },
        ]
    }

    static func einsum() -> [OpCase] {
        let equations: [(String, [Shape])] = [
            ("bij,bjk->bik", [[2, 3, 4], [2, 4, 5]]),
            ("bhid,bhjd->bhij", [[1, 2, 3, 4], [1, 2, 5, 4]]),
            ("ki,kj->ij", [[4, 3], [4, 5]]),
            ("ijk->ki", [[2, 3, 4]]),
        ]
        return equations.map { equation, shapes in
            OpCase("einsum \(equation)", reference: .naive(.matmul) { v in
                [.float(einsumReference(equation, v.map { $0!.floatTensor }))]
            }, backward: .finiteDifferences()) { b in
                (einsumOp(equation), shapes.map { b.input($0) })
            }
        }
    }

    static func attention() -> [OpCase] {
        [
            OpCase("attention, scale 0.3", reference: .naive(.attention) { v in
                [.float(Naive.scaledDotProductAttention(v[0]!.floatTensor, v[1]!.floatTensor, v[2]!.floatTensor, scale: 0.3))]
            }, backward: .finiteDifferences()) { b in
                (.attention(scale: 0.3, keyTransposed: false), [b.input([2, 3, 4, 5]), b.input([2, 3, 6, 5]), b.input([2, 3, 6, 4])])
            },
            OpCase("attention with the key given transposed [.., D, Lk]", reference: .naive(.attention) { v in
                let k = try Naive.permute(v[1]!.floatTensor, [0, 2, 1])
                return [.float(Naive.scaledDotProductAttention(v[0]!.floatTensor, k, v[2]!.floatTensor, scale: 0.5))]
            }, backward: .finiteDifferences()) { b in
                (.attention(scale: 0.5, keyTransposed: true), [b.input([3, 4, 5]), b.input([3, 5, 6]), b.input([3, 6, 2])])
            },
        ]
    }

    static func attentionInterleaved() -> [OpCase] {
        let heads = [0, 2, 1, 3]
        return [
            OpCase("attention with heads interleaved [B, L, H, D]", reference: .naive(.attention) { v in
                let (q, k, x) = try (Naive.permute(v[0]!.floatTensor, heads), Naive.permute(v[1]!.floatTensor, heads),  // [B, H, L, D]
                                     Naive.permute(v[2]!.floatTensor, heads))
                return [.float(try Naive.permute(Naive.scaledDotProductAttention(q, k, x, scale: 0.4), heads))]  // [B, Lq, H, Dv]
            }, backward: .finiteDifferences()) { b in
                (.attentionInterleaved(scale: 0.4), [b.input([2, 4, 3, 5]), b.input([2, 6, 3, 5]), b.input([2, 6, 3, 4])])
            },
        ]
    }

    // MARK: elementwise

    static func binary() -> [OpCase] {
        let shapes: [(Shape, Shape)] = [([2, 3, 4], [3, 1]), ([3, 4], []), ([2, 1, 5], [1, 3, 1]), ([3, 5], [5])]
        let floats = BinaryOp.allCases.enumerated().map { i, op in
            let (sa, sb) = shapes[i % shapes.count]
            return OpCase("binary \(op.rawValue) \(sa) \(sb)", reference: .naive(.elementwise) { v in
                [.float(try Naive.binary(op, v[0]!.floatTensor, v[1]!.floatTensor))]
            }, backward: .finiteDifferences()) { b in
                switch op {
                case .maximum, .minimum:  // b = a ± [0.1, 0.5): no tie within a step
                    let a = b.random(sa), gap = b.random(sa, 0.1, 0.5)
                    let other = Tensor(shape: sa, scalars: (0..<a.count).map { a.pointer[$0] + (($0 % 3 == 0) ? -1 : 1) * gap.pointer[$0] })
                    return (.binary(op), [b.input(a), b.input(other)])
                default:  // positive operands: pow's base, div's divisor
                    return (.binary(op), [b.input(sa, 0.5, 1.5), b.input(sb, 0.5, 1.5)])
                }
            }
        }
        let ints = OpCase("binary int64 mul (shape arithmetic)", reference: .naive(.bitExact) { v in
            let a = v[0]!.intTensor, c = v[1]!.intTensor
            return [.int(IntTensor(shape: [2, 3], values: (0..<6).map { a.values[$0] * c.values[$0 % 3] }))]
        }, backward: intData) { b in
            (.binary(.mul), [b.input(.int(IntTensor(shape: [2, 3], values: [1, -2, 3, 4, 5, -6]))), b.input(.int(IntTensor([7, 0, -1])))])
        }
        return floats + [ints]
    }

    static func unary() -> [OpCase] {
        let floats = UnaryOp.allCases.map { op in
            OpCase("unary \(op.rawValue)", reference: .naive(.elementwise) { v in
                [.float(Naive.unary(op, v[0]!.floatTensor))]
            }, backward: .finiteDifferences()) { b in
                // |x| ≥ 0.1 keeps relu and abs off their kink; log, sqrt, reciprocal get x ≥ 0.5.
                let x = b.random([3, 7], -2, 2)
                for i in 0..<x.count where abs(x.pointer[i]) < 0.1 { x.pointer[i] = 0.3 }
                let positive = [.log, .sqrt, .reciprocal].contains(op)
                return (.unary(op), [b.input(positive ? Tensor(shape: x.shape, scalars: x.scalars.map { abs($0) + 0.5 }) : x)])
            }
        }
        let ints = OpCase("unary int64 neg", reference: .naive(.bitExact) { v in
            [.int(IntTensor(shape: [4], values: v[0]!.intTensor.values.map { -$0 }))]
        }, backward: intData) { b in
            (.unary(.neg), [b.input(.int(IntTensor([3, -1, 0, 8])))])
        }
        return floats + [ints]
    }

    static func parametricUnary() -> [OpCase] {
        let ops: [ParametricUnaryOp] = [.leakyRelu(alpha: 0.2), .elu(alpha: 0.5), .celu(alpha: 0.7),
                                        .selu(alpha: 1.6732632, gamma: 1.050701), .hardSigmoid(alpha: 1 / 6, beta: 0.5)]
        return ops.map { op in
            OpCase("parametricUnary \(op)", reference: .naive(.elementwise) { v in
                [.float(Naive.unary(op, v[0]!.floatTensor))]
            }, backward: .finiteDifferences()) { b in
                // |x| ≥ 0.1 keeps leaky ReLU and CELU off their kink; hard sigmoid's are at ±3.
                let x = b.random([3, 7], -2.5, 2.5)
                for i in 0..<x.count where abs(x.pointer[i]) < 0.1 { x.pointer[i] = 0.3 }
                return (.parametricUnary(op), [b.input(x)])
            }
        }
    }

    static func clip() -> [OpCase] {
        /// x in [-2, 2) kept ≥ 0.05 from both bounds, so a ±0.01 step never crosses one.
        func awayFrom(_ bounds: [Float], _ b: inout CaseBuilder) -> Tensor {
            let x = b.random([4, 5], -2, 2)
            for i in 0..<x.count where bounds.contains(where: { abs(x.pointer[i] - $0) < 0.05 }) { x.pointer[i] += 0.1 }
            return x
        }
        return [
            OpCase("clip min -0.5, max 0.8", reference: .naive(.bitExact) { v in
                [.float(Tensor(shape: [4, 5], scalars: v[0]!.floatTensor.scalars.map { min(max($0, -0.5), 0.8) }))]
            }, backward: .finiteDifferences()) { b in
                let x = awayFrom([-0.5, 0.8], &b)
                return (.clip, [b.input(x), b.scalar(-0.5), b.scalar(0.8)])
            },
            OpCase("clip max only (min omitted)", reference: .naive(.bitExact) { v in
                [.float(Tensor(shape: [4, 5], scalars: v[0]!.floatTensor.scalars.map { min($0, 0.25) }))]
            }, backward: .finiteDifferences()) { b in
                let x = awayFrom([0.25], &b)
                return (.clip, [b.input(x), nil, b.scalar(0.25)])
            },
            OpCase("clip int64", reference: .naive(.bitExact) { _ in
                [.int(IntTensor([0, 0, 2, 5, 5]))]
            }, backward: intData) { b in
                (.clip, [b.input(.int(IntTensor([-3, 0, 2, 5, 9]))), b.ints([0]), b.ints([5])])
            },
        ]
    }

    static func compare() -> [OpCase] {
        let tests: [(Comparison, (Float, Float) -> Bool)] = [(.equal, { $0 == $1 }), (.less, { $0 < $1 }), (.greater, { $0 > $1 }),
                                                            (.lessOrEqual, { $0 <= $1 }), (.greaterOrEqual, { $0 >= $1 })]
        return tests.map { comparison, holds in
            OpCase("compare \(comparison.rawValue)", reference: .naive(.bitExact) { v in
                let a = v[0]!.floatTensor, c = v[1]!.floatTensor
                return [.int(IntTensor(shape: [3, 4], values: (0..<12).map { holds(a.pointer[$0], c.pointer[$0 % 4]) ? 1 : 0 }))]
            }, backward: .none(reason: "comparisons are piecewise constant: int64 0/1 without gradient")) { b in
                let a = b.random([3, 4]), c = b.random([4])
                c.pointer[1] = a.pointer[1]  // ties, so equal and the ≤/≥ forms meet both outcomes
                c.pointer[2] = a.pointer[6]
                return (.compare(comparison), [b.input(a), b.input(c)])
            }
        }
    }

    static func not() -> [OpCase] {
        [
            OpCase("not", reference: .naive(.bitExact) { v in
                [.int(IntTensor(shape: [2, 3], values: v[0]!.intTensor.values.map { $0 == 0 ? 1 : 0 }))]
            }, backward: .none(reason: "boolean (int64 0/1) data without gradient")) { b in
                (.not, [b.input(.int(IntTensor(shape: [2, 3], values: [1, 0, 0, 1, 1, 0])))])
            },
        ]
    }

    static func select() -> [OpCase] {
        [
            OpCase("select (where) with broadcast condition and branch", reference: .naive(.bitExact) { v in
                let c = v[0]!.intTensor.values, x = v[1]!.floatTensor, y = v[2]!.floatTensor
                return [.float(Tensor(shape: [3, 4], scalars: (0..<12).map { c[$0 / 4] != 0 ? x.pointer[$0] : y.pointer[$0 % 4] }))]
            }, backward: .finiteDifferences()) { b in
                (.select, [b.input(.int(IntTensor(shape: [3, 1], values: [1, 0, 1]))), b.input([3, 4]), b.input([4])])
            },
        ]
    }

    static func cast() -> [OpCase] {
        [
            OpCase("cast float32 → int64 truncates toward zero", reference: .naive(.bitExact) { v in
                [.int(IntTensor(shape: [2, 5], values: v[0]!.floatTensor.scalars.map { Int64($0) }))]
            }, backward: .none(reason: "truncation to integers carries no gradient")) { b in
                (.cast(.int64), [b.input([2, 5], -3, 3)])
            },
            OpCase("cast int64 → float32", reference: .naive(.bitExact) { v in
                [.float(Tensor(shape: [4], scalars: v[0]!.intTensor.values.map { Float($0) }))]
            }, backward: intData) { b in
                (.cast(.float32), [b.input(.int(IntTensor([-2, 0, 7, 1 << 20])))])
            },
            OpCase("cast float32 → float32 passes through", reference: .naive(.bitExact) { v in [v[0]!] },
                   backward: .finiteDifferences()) { b in
                (.cast(.float32), [b.input([2, 3])])
            },
        ]
    }

    // MARK: normalization

    static func softmax() -> [OpCase] {
        [(-1, [3, 7] as Shape), (1, [2, 4, 3])].map { axis, shape in
            OpCase("softmax axis \(axis) of \(shape)", reference: .naive(.softmax) { v in
                [.float(Naive.softmax(v[0]!.floatTensor, axis: axis))]
            }, backward: .finiteDifferences()) { b in
                (.softmax(axis: axis), [b.input(shape, -2, 2)])
            }
        }
    }

    static func instanceNorm() -> [OpCase] {
        [
            OpCase("instanceNorm with scale and bias", reference: .naive(.normalization) { v in
                [.float(Naive.instanceNorm(v[0]!.floatTensor, weight: v[1]!.floatTensor, bias: v[2]!.floatTensor, eps: 1e-5))]
            }, backward: .finiteDifferences()) { b in
                (.instanceNorm(eps: 1e-5), [b.input([2, 3, 4, 5], -1, 2), b.input([3], 0.5, 1.5), b.input([3])])
            },
        ]
    }

    static func groupNorm() -> [OpCase] {
        let plain = [false, true].map { silu in
            OpCase("groupNorm 3 groups of 2 channels\(silu ? " + SiLU" : "")", reference: .naive(.normalization) { v in
                [.float(Naive.groupNorm(v[0]!.floatTensor, groups: 3, weight: v[1]!.floatTensor, bias: v[2]!.floatTensor, eps: 1e-5, silu: silu))]
            }, backward: .finiteDifferences()) { b in
                (.groupNorm(groups: 3, eps: 1e-5, silu: silu), [b.input([2, 6, 3, 4], -1, 2), b.input([6], 0.5, 1.5), b.input([6])])
            }
        }
        let perGroup = OpCase("groupNorm with per-group scale and bias (GroupNormalization-18)", reference: .naive(.normalization) { v in
            let perChannel = { (t: Tensor) in Tensor(shape: [6], scalars: (0..<6).map { t.pointer[$0 / 3] }) }
            return [.float(Naive.groupNorm(v[0]!.floatTensor, groups: 2, weight: perChannel(v[1]!.floatTensor),
                                           bias: perChannel(v[2]!.floatTensor), eps: 1e-5))]
        }, backward: .none(reason: "the tape refuses per-group scale and bias (GroupNormalization-18 is imported for inference)")) { b in
            (.groupNorm(groups: 2, eps: 1e-5, silu: false), [b.input([2, 6, 5]), b.input([2], 0.5, 1.5), b.input([2])])
        }
        return plain + [perGroup]
    }

    static func batchNorm() -> [OpCase] {
        [
            OpCase("batchNorm with running statistics", reference: .naive(.normalization) { v in
                [.float(Naive.batchNorm(v[0]!.floatTensor, weight: v[1]!.floatTensor, bias: v[2]!.floatTensor, runningMean: v[3]!.floatTensor.copy(),
                                        runningVar: v[4]!.floatTensor.copy(), training: false, eps: 1e-5))]
            }, backward: .finiteDifferences(forward: .differs(reason: "training normalizes by batch statistics (PyTorch train mode)"))) { b in
                let mean = b.random([3]), variance = b.random([3], 0.5, 2)
                return (.batchNorm(eps: 1e-5), [b.input([4, 3, 2, 2]), b.input([3], 0.5, 1.5), b.input([3]), b.constant(mean), b.constant(variance)])
            },
        ]
    }

    static func layerNorm() -> [OpCase] {
        [(-1, [3, 4, 5] as Shape, [5] as Shape), (1, [2, 3, 4], [3, 4])].map { axis, shape, affine in
            OpCase("layerNorm from axis \(axis) of \(shape)", reference: .naive(.normalization) { v in
                [.float(Naive.layerNorm(v[0]!.floatTensor, normalizedRank: affine.rank, weight: v[1]!.floatTensor,
                                        bias: v[2]!.floatTensor, eps: 1e-5))]
            }, backward: .finiteDifferences()) { b in
                (.layerNorm(axis: axis, eps: 1e-5), [b.input(shape, -1, 2), b.input(affine, 0.5, 1.5), b.input(affine)])
            }
        }
    }

    static func rmsNorm() -> [OpCase] {
        [
            OpCase("rmsNorm l2-scaled along axis 1 with weight", reference: .naive(.normalization) { v in
                [.float(Naive.rmsNorm(v[0]!.floatTensor, axis: 1, weight: v[1]!.floatTensor, eps: 1e-12, kind: .l2Scaled))]
            }, backward: .finiteDifferences()) { b in
                (.rmsNorm(axis: 1, eps: 1e-12, kind: .l2Scaled), [b.input([2, 4, 3]), b.input([4], 0.5, 1.5)])
            },
            OpCase("rmsNorm mean-square along the last axis with weight", reference: .naive(.normalization) { v in
                [.float(Naive.rmsNorm(v[0]!.floatTensor, axis: -1, weight: v[1]!.floatTensor, eps: 1e-6, kind: .meanSquare))]
            }, backward: .finiteDifferences()) { b in
                (.rmsNorm(axis: -1, eps: 1e-6, kind: .meanSquare), [b.input([3, 5]), b.input([5], 0.5, 1.5)])
            },
        ]
    }

    static func reduce() -> [OpCase] {
        /// [3, 4, 5] of distinct values 0.05 apart (shuffled): a ±0.01 step never changes which element is extreme.
        func spaced(_ b: inout CaseBuilder) -> Tensor {
            Tensor(shape: [3, 4, 5], scalars: (0..<60).map { Float($0) * 0.05 - 1.5 }.shuffled(using: &b.rng))
        }
        func reduceOp(_ kind: ReduceKind, _ axes: [Int]?, keepDims: Bool, noop: Bool = false) -> Op {
            .reduce(kind, axes: axes, keepDims: keepDims, noopWithEmptyAxes: noop)
        }
        return [
            OpCase("reduce sum over axes [0, 2], keepDims", reference: .naive(.reduction) { v in
                [.float(Naive.sum(v[0]!.floatTensor, axes: [0, 2], keepDims: true))]
            }, backward: .finiteDifferences()) { b in
                (reduceOp(.sum, [0, 2], keepDims: true), [b.input([3, 4, 5])])
            },
            OpCase("reduce mean over axes given as input 1", reference: .naive(.reduction) { v in
                [.float(reduceReference(v[0]!.floatTensor, axes: [-1], keepDims: false, initial: 0, +) { $0 / Double($1) })]
            }, backward: .finiteDifferences()) { b in
                (reduceOp(.mean, nil, keepDims: false), [b.input([3, 4, 5]), b.ints([-1])])
            },
            OpCase("reduce max over axis 1", reference: .naive(.bitExact) { v in
                [.float(reduceReference(v[0]!.floatTensor, axes: [1], keepDims: false, initial: -.infinity, max))]
            }, backward: .finiteDifferences()) { b in
                let x = spaced(&b)
                return (reduceOp(.max, [1], keepDims: false), [b.input(x)])
            },
            OpCase("reduce min over axes [0, 2], keepDims", reference: .naive(.bitExact) { v in
                [.float(reduceReference(v[0]!.floatTensor, axes: [0, 2], keepDims: true, initial: .infinity, min))]
            }, backward: .finiteDifferences()) { b in
                let x = spaced(&b)
                return (reduceOp(.min, [0, 2], keepDims: true), [b.input(x)])
            },
            OpCase("reduce l2 over axis 2, keepDims", reference: .naive(.reduction) { v in
                [.float(reduceReference(v[0]!.floatTensor, axes: [2], keepDims: true, initial: 0, { $0 + $1 * $1 }) { v, _ in v.squareRoot() })]
            }, backward: .finiteDifferences()) { b in
                (reduceOp(.l2, [2], keepDims: true), [b.input([3, 4, 5])])
            },
            OpCase("reduce sum of squares over axis 1", reference: .naive(.reduction) { v in
                [.float(reduceReference(v[0]!.floatTensor, axes: [1], keepDims: false, initial: 0) { $0 + $1 * $1 })]
            }, backward: .finiteDifferences()) { b in
                (reduceOp(.sumSquare, [1], keepDims: false), [b.input([3, 4, 5])])
            },
            OpCase("reduce prod over axis 1", reference: .naive(.reduction) { v in
                [.float(reduceReference(v[0]!.floatTensor, axes: [1], keepDims: false, initial: 1, *))]
            }, backward: .none(reason: "reduce prod has no backward rule")) { b in
                (reduceOp(.prod, [1], keepDims: false), [b.input([3, 4, 5], 0.5, 1.5)])
            },
            OpCase("reduce sum with axes absent: every axis", reference: .naive(.reduction) { v in
                [.float(Naive.sum(v[0]!.floatTensor, axes: [0, 1, 2], keepDims: false))]
            }, backward: .finiteDifferences()) { b in
                (reduceOp(.sum, nil, keepDims: false), [b.input([3, 4, 5])])
            },
            OpCase("reduce mean with an empty axes input: every axis", reference: .naive(.reduction) { v in
                [.float(reduceReference(v[0]!.floatTensor, axes: [0, 1, 2], keepDims: true, initial: 0, +) { $0 / Double($1) })]
            }, backward: .finiteDifferences()) { b in
                (reduceOp(.mean, nil, keepDims: true), [b.input([3, 4, 5]), b.ints([])])
            },
            OpCase("reduce mean with axes absent and noopWithEmptyAxes: identity", reference: .naive(.bitExact) { v in [v[0]!] },
                   backward: .finiteDifferences()) { b in
                (reduceOp(.mean, nil, keepDims: true, noop: true), [b.input([3, 4, 5])])
            },
        ]
    }
}

// NativeFormatGraphs: the hand-built graphs the native-format tests write and read — a small
// runnable model that exercises a spread of ops and attributes (the golden file and the
// version-1 fixture `Fixtures/native/v1-small`), and one node per op case with non-default
// parameters (the round-trip table and the version-1 fixture `Fixtures/native/v1-all-ops`).
// Changing either graph changes what the committed fixtures must contain.

import Foundation
import Graphs
import ModelIO
import Tensors
import TestSupport

enum NativeFormatGraphs {
    /// A runnable model: x `[batch, 4, 6, 6]` → (y `[batch, 4, 14, 14]`, m2t `[1, 1, 3, batch]`).
    static func smallModel() -> DiffusionModel {
        var rng = TestRNG(seed: 11)
        func random(_ shape: Shape) -> Tensor { Tensor(shape: shape, scalars: (0..<shape.elementCount).map { _ in rng.uniform() }) }
        var g = Graph()
        let x = g.addValue(ValueInfo(name: "x", dims: [.symbol("batch"), .fixed(4), .fixed(6), .fixed(6)]))
        g.inputs = [x]
        let w = g.addConstant(.float(random([4, 4, 3, 3])), name: "conv.weight")
        let b = g.addConstant(.float(random([4])), name: "conv.bias")
        let gamma = g.addConstant(.float(random([4])), name: "norm.weight")
        let beta = g.addConstant(.float(random([4])), name: "norm.bias")
        let scales = g.addConstant(.float(Tensor(shape: [4], scalars: [1, 1, 2, 2])), name: "up.scales")
        let pads = g.addConstant(.int(IntTensor([0, 0, 1, 1, 0, 0, 1, 1])), name: "pad.pads")
        func node(_ op: Op, _ inputs: [ValueID?], _ name: String, outputs: Int = 1, type: ElementType = .float32) -> [ValueID] {
            let outs = (0..<outputs).map { g.addValue(ValueInfo(name: outputs == 1 ? name : "\(name).\($0)", type: type)) }
            g.nodes.append(Node(op, inputs: inputs, outputs: outs, name: name))
            return outs
        }
        let h1 = node(.conv(Conv2dOptions(stride: 1, padding: 1), activation: .silu), [x, w, b, nil], "conv")[0]   // [N, 4, 6, 6]
        let h2 = node(.groupNorm(groups: 2, eps: 1e-5, silu: false), [h1, gamma, beta], "norm")[0]                // [N, 4, 6, 6]
        let h3 = node(.resize(.linear(alignCorners: false)), [h2, nil, scales], "up")[0]                           // [N, 4, 12, 12]
        let h4 = node(.pad(.reflect), [h3, pads], "pad")[0]                                                        // [N, 4, 14, 14]
        let m = node(.reduce(.mean, axes: [2, 3], keepDims: true, noopWithEmptyAxes: false), [h4], "mean")[0]      // [N, 4, 1, 1]
        let parts = node(.split(axis: 1, sizes: [1, 3], outputs: 2), [m], "split", outputs: 2)                   // [N, 1, 1, 1], [N, 3, 1, 1]
        let h5 = node(.transpose(perm: [0, 1, 3, 2]), [h4], "swap")[0]                                             // [N, 4, 14, 14]
        let s = node(.shape(start: 0, end: nil), [h5], "shape", type: .int64)[0]                                   // [4]
        let half = node(.constantOfShape(.float(Tensor(scalar: 0.5))), [s], "half")[0]                             // [N, 4, 14, 14]
        let h6 = node(.binary(.mul), [h5, half], "scale")[0]                                                       // [N, 4, 14, 14]
        let m1i = node(.cast(.int64), [parts[0]], "truncate", type: .int64)[0]                                     // [N, 1, 1, 1]
        let m1f = node(.cast(.float32), [m1i], "back")[0]                                                          // [N, 1, 1, 1]
        let y = node(.binary(.add), [h6, m1f], "y")[0]                                                             // [N, 4, 14, 14]
        let m2t = node(.transpose(perm: nil), [parts[1]], "m2t")[0]                                                // [1, 1, 3, N]
        g.outputs = [y, m2t]
        g.metadata = ["producer": "NativeFormatTests"]
        // Through the schedule's own JSON, which stays put while its Swift property types may change.
        let schedule = try! JSONDecoder().decode(ScheduleConfig.self, from: Data(#"{"num_train_timesteps": 500, "prediction_type": "v_prediction"}"#.utf8))
        return DiffusionModel(graph: g, schedule: schedule, imageShape: [4, 6, 6])
    }

    /// One or more ops per ``OpKind``, with parameters away from the defaults.
    static let allOps: [Op] = version1Ops + laterOps

    /// Ops that have been added since (version 1 files cannot hold them; format version 2 reads them).
    static let laterOps: [Op] = [
        .gatherND(batchDims: 1),
        .parametricUnary(.leakyRelu(alpha: 0.2)),
        .parametricUnary(.selu(alpha: 1.6732632, gamma: 1.050701)),
        .parametricUnary(.hardSigmoid(alpha: 0.16666667, beta: 0.5)),
        .resize(.nearestSampled(NearestSampling(coordinates: .halfPixel, rounding: .roundPreferCeil))),
        .resize(.cubic(alignCorners: false)),
        .averagePool(Pool2dWindow(kernel: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true), countIncludePad: false),
        .averagePool(Pool2dWindow(kernel: (2, 2)), countIncludePad: true),
        .maxPool(Pool2dWindow(kernel: (3, 2), stride: (1, 2), padding: (1, 0), dilation: (2, 1), ceilMode: false)),
    ]

    /// One node per op of the version-1 fixture `v1-all-ops`, in its order.
    static let version1Ops: [Op] = [
        .conv(Conv2dOptions(stride: (2, 1), padding: (1, 2, 3, 4), dilation: (1, 2), groups: 2), activation: .silu),
        .conv(Conv2dOptions(), activation: nil),
        .winogradConv(Conv2dOptions(stride: 1, padding: 1), activation: .relu),
        .convTranspose(Conv2dOptions(stride: 2, padding: 1, dilation: 1, groups: 4), outputPaddingH: 1, outputPaddingW: 0),
        .gemm(transA: true, transB: false, alpha: 0.5, beta: 2),
        .matMul,
        .einsum(try! EinsumSpec("bij,bjk->bik")),
        .attention(scale: 0.125, keyTransposed: true),
        .attentionInterleaved(scale: 0.35355338),
        .binary(.pow),
        .unary(.geluTanh),
        .clip,
        .compare(.lessOrEqual),
        .not,
        .select,
        .cast(.int64),
        .softmax(axis: -1),
        .instanceNorm(eps: 1e-5),
        .groupNorm(groups: 32, eps: 1e-6, silu: true),
        .batchNorm(eps: 0.001),
        .layerNorm(axis: -1, eps: 1e-5),
        .rmsNorm(axis: 1, eps: 1e-12, kind: .l2Scaled),
        .reduce(.sumSquare, axes: [1, -1], keepDims: false, noopWithEmptyAxes: true),
        .reduce(.max, axes: nil, keepDims: true, noopWithEmptyAxes: false),
        .reshape(allowZero: true),
        .transpose(perm: nil),
        .transpose(perm: [0, 2, 1, 3]),
        .concat(axis: -3),
        .split(axis: 1, sizes: nil, outputs: 3),
        .split(axis: -1, sizes: [2, 5], outputs: 2),
        .slice,
        .gather(axis: 0),
        .unsqueeze(axes: [0, 3]),
        .unsqueeze(axes: nil),
        .squeeze(axes: nil),
        .squeeze(axes: [-1]),
        .flatten(axis: 1),
        .expand,
        .tile,
        .pad(.edge),
        .pad(.constant),
        .resize(.nearest),
        .resize(.linear(alignCorners: true)),
        .depthToSpace(blockSize: 2, crd: true),
        .depthToSpace(blockSize: 3, crd: false),
        .spaceToDepth(blockSize: 3),
        .shape(start: 1, end: nil),
        .shape(start: 0, end: -1),
        .constantOfShape(.int(IntTensor(scalar: -7))),
        .constantOfShape(.float(Tensor(shape: [1], scalars: [0.1]))),
        .range,
        .identity,
    ]

    /// Outputs a node of `op` writes.
    static func outputCount(_ op: Op) -> Int {
        if case .split(_, _, let n) = op { return n }
        return 1
    }

    /// A graph with one node per entry of `ops`, each reading the input x (not runnable).
    static func allOpsModel(_ ops: [Op] = allOps) -> DiffusionModel {
        var g = Graph()
        let x = g.addValue(ValueInfo(name: "x", dims: [.symbol("batch"), .fixed(4)]))
        g.inputs = [x]
        for (i, op) in ops.enumerated() {
            let outs = (0..<outputCount(op)).map { g.addValue(ValueInfo(name: "\(op.kind.rawValue).\(i).\($0)")) }
            g.nodes.append(Node(op, inputs: [x], outputs: outs, name: "\(op.kind.rawValue).\(i)"))
        }
        g.outputs = [g.nodes.last!.outputs[0]]
        return DiffusionModel(graph: g, schedule: ScheduleConfig(), imageShape: [1, 1, 1])
    }
}

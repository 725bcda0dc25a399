// ModelDocumentV1: reads `model.json` format version 1 — what denoise wrote before the format was
// written by hand: Swift's synthesized Codable of the graph IR as it was then (an op is
// `{"cast":{"_0":"float32"}}`, `{"conv":{"_0":{"strideH":1,…},"activation":"silu"}}`, an absent
// optional is a missing key; top-level keys `version`, `intConstants`, `writeID`). A frozen copy:
// private mirror types with the v1 case names and labels, decoded by the same synthesized rules,
// then converted to today's IR, so renaming anything in the IR never changes what this reads.
// Read only: denoise writes version 2 (`denoise import OLD --out NEW` rewrites a folder).
// Never edit the mirrors to follow the IR; add a conversion in `converted()` instead.

import Foundation
import Graphs
import Tensors

enum ModelDocumentV1 {
    /// Reads a version-1 `model.json` (its format and version already checked).
    static func read(_ data: Data, path: String) throws -> ModelDocument {
        let doc: V1Document
        do { doc = try JSONDecoder().decode(V1Document.self, from: data) } catch {
            throw ModelFileError(path: path, problem: "not a valid version-1 native model description: \(error)")
        }
        func id(_ key: String, _ what: String) throws -> Int {
            guard let id = Int(key) else { throw ModelFileError(path: path, problem: "\(what): '\(key)' is not a value id") }
            return id
        }
        return ModelDocument(
            image: doc.image, schedule: doc.schedule, metadata: doc.metadata,
            values: doc.values.map { ValueInfo(name: $0.name, type: $0.type.converted, dims: $0.dims?.map(\.converted)) },
            inputs: doc.inputs.map(ValueID.init), outputs: doc.outputs.map(ValueID.init),
            nodes: try doc.nodes.map { Node(try $0.op.converted(), inputs: $0.inputs.map { $0.map(ValueID.init) }, outputs: $0.outputs.map(ValueID.init), name: $0.name) },
            weights: Dictionary(try doc.weights.map { (try id($0.key, "weights"), $0.value) }, uniquingKeysWith: { _, last in last }),
            intConstants: Dictionary(try doc.intConstants.map { (try id($0.key, "intConstants"), $0.value.converted) }, uniquingKeysWith: { _, last in last }),
            writeID: doc.writeID)
    }
}

// MARK: the version-1 document, frozen

private struct V1Document: Decodable {
    var format: String
    var version: Int
    var image: [Int]
    var schedule: ScheduleConfig
    var metadata: [String: String]
    var values: [V1ValueInfo]
    var inputs: [Int]
    var outputs: [Int]
    var nodes: [V1Node]
    var weights: [String: String]
    var intConstants: [String: V1Tensor]
    var writeID: String
}

private struct V1ValueInfo: Decodable {
    var name: String
    var type: V1ElementType
    var dims: [V1Dim]?
}

private struct V1Node: Decodable {
    var op: V1Op
    var inputs: [Int?]
    var outputs: [Int]
    var name: String
}

/// A number, or a name for a symbolic dim.
private struct V1Dim: Decodable {
    var converted: Dim
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int.self) { converted = .fixed(n) } else { converted = .symbol(try c.decode(String.self)) }
    }
}

/// `{"type", "shape", "values"}`.
private struct V1Tensor: Decodable {
    var converted: Value
    private enum Keys: String, CodingKey { case type, shape, values }
    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let dims = try c.decode([Int].self, forKey: .shape)
        guard dims.count <= Shape.maxRank, dims.allSatisfy({ $0 >= 0 }) else {
            throw DecodingError.dataCorruptedError(forKey: .shape, in: c, debugDescription: "\(dims) is not a shape")
        }
        let shape = Shape(dims)
        switch try c.decode(V1ElementType.self, forKey: .type) {
        case .float32:
            let values = try c.decode([Float].self, forKey: .values)
            guard values.count == shape.elementCount else {
                throw DecodingError.dataCorruptedError(forKey: .values, in: c, debugDescription: "\(values.count) values for shape \(shape)")
            }
            converted = .float(Tensor(shape: shape, scalars: values))
        case .int64:
            let values = try c.decode([Int64].self, forKey: .values)
            guard values.count == shape.elementCount else {
                throw DecodingError.dataCorruptedError(forKey: .values, in: c, debugDescription: "\(values.count) values for shape \(shape)")
            }
            converted = .int(IntTensor(shape: shape, values: values))
        }
    }
}

private enum V1ElementType: String, Decodable {
    case float32, int64
    var converted: ElementType {
        switch self {
        case .float32: return .float32
        case .int64: return .int64
        }
    }
}

private struct V1ConvOptions: Decodable {
    var strideH: Int, strideW: Int
    var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    var dilationH: Int, dilationW: Int
    var groups: Int
    var converted: Conv2dOptions {
        Conv2dOptions(stride: (strideH, strideW), padding: (padTop, padLeft, padBottom, padRight), dilation: (dilationH, dilationW), groups: groups)
    }
}

private enum V1Unary: String, Decodable {
    case neg, abs, exp, log, sqrt, sin, cos, erf, tanh, sigmoid, relu, silu, gelu, geluTanh, square, reciprocal
    var converted: UnaryOp {
        switch self {
        case .neg: return .neg
        case .abs: return .abs
        case .exp: return .exp
        case .log: return .log
        case .sqrt: return .sqrt
        case .sin: return .sin
        case .cos: return .cos
        case .erf: return .erf
        case .tanh: return .tanh
        case .sigmoid: return .sigmoid
        case .relu: return .relu
        case .silu: return .silu
        case .gelu: return .gelu
        case .geluTanh: return .geluTanh
        case .square: return .square
        case .reciprocal: return .reciprocal
        }
    }
}

private enum V1Binary: String, Decodable {
    case add, sub, mul, div, pow, maximum, minimum
    var converted: BinaryOp {
        switch self {
        case .add: return .add
        case .sub: return .sub
        case .mul: return .mul
        case .div: return .div
        case .pow: return .pow
        case .maximum: return .maximum
        case .minimum: return .minimum
        }
    }
}

private enum V1Reduce: String, Decodable {
    case sum, mean, max, min, l2, sumSquare, prod
    var converted: ReduceKind {
        switch self {
        case .sum: return .sum
        case .mean: return .mean
        case .max: return .max
        case .min: return .min
        case .l2: return .l2
        case .sumSquare: return .sumSquare
        case .prod: return .prod
        }
    }
}

private enum V1Comparison: String, Decodable {
    case equal, less, greater, lessOrEqual, greaterOrEqual
    var converted: Comparison {
        switch self {
        case .equal: return .equal
        case .less: return .less
        case .greater: return .greater
        case .lessOrEqual: return .lessOrEqual
        case .greaterOrEqual: return .greaterOrEqual
        }
    }
}

private enum V1PadFill: String, Decodable {
    case constant, reflect, edge
    var converted: PadFill {
        switch self {
        case .constant: return .constant
        case .reflect: return .reflect
        case .edge: return .edge
        }
    }
}

private enum V1ResizeMode: Decodable {
    case nearest
    case linear(alignCorners: Bool)
    var converted: ResizeMode {
        switch self {
        case .nearest: return .nearest
        case .linear(let alignCorners): return .linear(alignCorners: alignCorners)
        }
    }
}

/// `Op` as it was when version 1 was written: same case names, labels and order of parameters.
private enum V1Op: Decodable {
    case conv(V1ConvOptions, activation: V1Unary?)
    case winogradConv(V1ConvOptions, activation: V1Unary?)
    case convTranspose(V1ConvOptions, outputPaddingH: Int, outputPaddingW: Int)
    case gemm(transA: Bool, transB: Bool, alpha: Float, beta: Float)
    case matMul
    case einsum(equation: String)
    case attention(scale: Float, keyTransposed: Bool)
    case attentionInterleaved(scale: Float)
    case binary(V1Binary)
    case unary(V1Unary)
    case clip
    case compare(V1Comparison)
    case not
    case select
    case cast(V1ElementType)
    case softmax(axis: Int)
    case instanceNorm(eps: Float)
    case groupNorm(groups: Int, eps: Float, silu: Bool)
    case batchNorm(eps: Float)
    case layerNorm(axis: Int, eps: Float)
    case l2Norm(axis: Int, eps: Float)
    case reduce(V1Reduce, axes: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool)
    case reshape(allowZero: Bool)
    case transpose(perm: [Int]?)
    case concat(axis: Int)
    case split(axis: Int, sizes: [Int]?, outputs: Int)
    case slice
    case gather(axis: Int)
    case unsqueeze(axes: [Int]?)
    case squeeze(axes: [Int]?)
    case flatten(axis: Int)
    case expand
    case tile
    case pad(V1PadFill)
    case resize(V1ResizeMode)
    case depthToSpace(blockSize: Int, crd: Bool)
    case spaceToDepth(blockSize: Int)
    case shape(start: Int, end: Int?)
    case constantOfShape(V1Tensor)
    case range
    case identity

    func converted() throws -> Op {
        switch self {
        case let .conv(o, activation): return .conv(o.converted, activation: activation?.converted)
        case let .winogradConv(o, activation): return .winogradConv(o.converted, activation: activation?.converted)
        case let .convTranspose(o, h, w): return .convTranspose(o.converted, outputPaddingH: h, outputPaddingW: w)
        case let .gemm(transA, transB, alpha, beta): return .gemm(transA: transA, transB: transB, alpha: alpha, beta: beta)
        case .matMul: return .matMul
        case .einsum(let equation): return .einsum(try EinsumSpec(equation))
        case let .attention(scale, keyTransposed): return .attention(scale: scale, keyTransposed: keyTransposed)
        case .attentionInterleaved(let scale): return .attentionInterleaved(scale: scale)
        case .binary(let b): return .binary(b.converted)
        case .unary(let u): return .unary(u.converted)
        case .clip: return .clip
        case .compare(let c): return .compare(c.converted)
        case .not: return .not
        case .select: return .select
        case .cast(let t): return .cast(t.converted)
        case .softmax(let axis): return .softmax(axis: axis)
        case .instanceNorm(let eps): return .instanceNorm(eps: eps)
        case let .groupNorm(groups, eps, silu): return .groupNorm(groups: groups, eps: eps, silu: silu)
        case .batchNorm(let eps): return .batchNorm(eps: eps)
        case let .layerNorm(axis, eps): return .layerNorm(axis: axis, eps: eps)
        case let .l2Norm(axis, eps): return .rmsNorm(axis: axis, eps: eps, kind: .l2Scaled)  // version 1's name
        case let .reduce(kind, axes, keepDims, noop): return .reduce(kind.converted, axes: axes, keepDims: keepDims, noopWithEmptyAxes: noop)
        case .reshape(let allowZero): return .reshape(allowZero: allowZero)
        case .transpose(let perm): return .transpose(perm: perm)
        case .concat(let axis): return .concat(axis: axis)
        case let .split(axis, sizes, outputs): return .split(axis: axis, sizes: sizes, outputs: outputs)
        case .slice: return .slice
        case .gather(let axis): return .gather(axis: axis)
        case .unsqueeze(let axes): return .unsqueeze(axes: axes)
        case .squeeze(let axes): return .squeeze(axes: axes)
        case .flatten(let axis): return .flatten(axis: axis)
        case .expand: return .expand
        case .tile: return .tile
        case .pad(let fill): return .pad(fill.converted)
        case .resize(let mode): return .resize(mode.converted)
        case let .depthToSpace(blockSize, crd): return .depthToSpace(blockSize: blockSize, crd: crd)
        case .spaceToDepth(let blockSize): return .spaceToDepth(blockSize: blockSize)
        case let .shape(start, end): return .shape(start: start, end: end)
        case .constantOfShape(let value): return .constantOfShape(value.converted)
        case .range: return .range
        case .identity: return .identity
        }
    }
}

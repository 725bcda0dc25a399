// OpAttributes: how each graph op is spelled in the native format (`model.json`, version 2) — its
// name is `OpKind`'s raw value, its parameters are attributes with explicit names, written and
// read here in one exhaustive switch each (no `default:`), so a new op does not compile until it
// has an encoding. The spellings of the parameter enums (unary and binary functions, reductions,
// comparisons, pad fills, element types) are tables here too. Every string in this file is part
// of the file format: never change one; add a format version instead. Documented in
// docs/model-formats.md (the op table there lists the same names).
// Not here: the document around the nodes (`ModelDocument.swift`), version 1 (`ModelDocumentV1.swift`).

import Graphs
import Tensors

/// The native format's names for the values of the IR's parameter enums.
enum NativeNames {
    static func unary(_ u: UnaryOp) -> String {
        switch u {
        case .neg: return "neg"
        case .abs: return "abs"
        case .exp: return "exp"
        case .log: return "log"
        case .sqrt: return "sqrt"
        case .sin: return "sin"
        case .cos: return "cos"
        case .erf: return "erf"
        case .tanh: return "tanh"
        case .sigmoid: return "sigmoid"
        case .relu: return "relu"
        case .silu: return "silu"
        case .gelu: return "gelu"
        case .geluTanh: return "geluTanh"
        case .square: return "square"
        case .reciprocal: return "reciprocal"
        case .softplus: return "softplus"
        case .mish: return "mish"
        case .hardSwish: return "hardSwish"
        }
    }

    /// `parametricUnary`'s `function` attribute: which activation (its parameters are attributes of their own).
    enum ParametricUnaryKind: CaseIterable { case leakyRelu, elu, celu, selu, hardSigmoid }
    static func parametricUnary(_ k: ParametricUnaryKind) -> String {
        switch k {
        case .leakyRelu: return "leakyRelu"
        case .elu: return "elu"
        case .celu: return "celu"
        case .selu: return "selu"
        case .hardSigmoid: return "hardSigmoid"
        }
    }

    static func binary(_ b: BinaryOp) -> String {
        switch b {
        case .add: return "add"
        case .sub: return "sub"
        case .mul: return "mul"
        case .div: return "div"
        case .pow: return "pow"
        case .maximum: return "maximum"
        case .minimum: return "minimum"
        }
    }

    static func reduce(_ k: ReduceKind) -> String {
        switch k {
        case .sum: return "sum"
        case .mean: return "mean"
        case .max: return "max"
        case .min: return "min"
        case .l2: return "l2"
        case .sumSquare: return "sumSquare"
        case .prod: return "prod"
        }
    }

    static func comparison(_ c: Comparison) -> String {
        switch c {
        case .equal: return "equal"
        case .less: return "less"
        case .greater: return "greater"
        case .lessOrEqual: return "lessOrEqual"
        case .greaterOrEqual: return "greaterOrEqual"
        }
    }

    static func padFill(_ p: PadFill) -> String {
        switch p {
        case .constant: return "constant"
        case .reflect: return "reflect"
        case .edge: return "edge"
        }
    }

    static func elementType(_ t: ElementType) -> String {
        switch t {
        case .float32: return "float32"
        case .int64: return "int64"
        }
    }

    static func rmsNormKind(_ k: RMSNormKind) -> String {
        switch k {
        case .meanSquare: return "mean_square"
        case .l2Scaled: return "l2_scaled"
        }
    }

    /// `resize`'s `mode` attribute.
    enum ResizeKind: CaseIterable { case nearest, linear, cubic }
    static func resizeKind(_ k: ResizeKind) -> String {
        switch k {
        case .nearest: return "nearest"
        case .linear: return "linear"
        case .cubic: return "cubic"
        }
    }

    /// `resize`'s `coordinates` attribute (mode `nearest`; ONNX's spelling of the transform).
    static func nearestCoordinates(_ c: NearestSampling.Coordinates) -> String {
        switch c {
        case .asymmetric: return "asymmetric"
        case .halfPixel: return "half_pixel"
        case .pytorchHalfPixel: return "pytorch_half_pixel"
        case .alignCorners: return "align_corners"
        }
    }

    /// `resize`'s `rounding` attribute (mode `nearest`; ONNX's `nearest_mode` spelling).
    static func nearestRounding(_ r: NearestSampling.Rounding) -> String {
        switch r {
        case .floor: return "floor"
        case .ceil: return "ceil"
        case .roundPreferFloor: return "round_prefer_floor"
        case .roundPreferCeil: return "round_prefer_ceil"
        }
    }

    /// `depthToSpace`'s `mode` attribute (ONNX's spelling): CRD is PyTorch's PixelShuffle order.
    enum DepthToSpaceOrder: CaseIterable { case crd, dcr }
    static func depthToSpaceOrder(_ o: DepthToSpaceOrder) -> String {
        switch o {
        case .crd: return "CRD"
        case .dcr: return "DCR"
        }
    }
}

/// A tensor inside `model.json` (int64 constants, `constantOfShape`'s value):
/// `{"type": "int64", "shape": [2], "values": [-1, 16]}`, row-major.
enum NativeTensor {
    static func json(_ value: Value) -> JSONValue {
        let values: [JSONValue]
        switch value {
        case .float(let t): values = t.scalars.map(JSONValue.float32)
        case .int(let t): values = t.values.map(JSONValue.integer)
        }
        return .object([("type", .string(NativeNames.elementType(value.elementType))), ("shape", .ints(Array(value.shape))),
                        ("values", .array(values))])
    }

    /// Reads the tensor at member `key` of `fields`.
    static func read(_ key: String, in fields: JSONFields, _ value: JSONValue) throws -> Value {
        var t = try JSONFields(value, path: fields.path, context: "\(fields.context): \(fields.noun) '\(key)'")
        let type: ElementType = try t.name("type", NativeNames.elementType)
        let dims = try t.ints("shape")
        var count = 1
        for d in dims where d >= 0 {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            count = overflow ? .max : product
        }
        guard dims.count <= Shape.maxRank, dims.allSatisfy({ $0 >= 0 }), count <= 1 << 24 else {
            throw t.fail("shape", "\(dims) is not a shape of at most \(Shape.maxRank) non-negative dims and 2^24 elements")
        }
        let shape = Shape(dims)
        guard case .array(let items) = try t.required("values") else { throw t.fail("values", "must be an array") }
        guard items.count == shape.elementCount else { throw t.fail("values", "has \(items.count) values for shape \(dims)") }
        try t.finish()
        switch type {
        case .float32: return .float(Tensor(shape: shape, scalars: try items.map { try t.float("values", $0) }))
        case .int64:
            return .int(IntTensor(shape: shape, values: try items.map { item in
                guard case .integer(let n) = item else { throw t.fail("values", "must hold integers for type int64, got \(item.kindDescription)") }
                return n
            }))
        }
    }
}

extension Op {
    /// The attributes of this op in `model.json`, sorted by name; nil parameters are left out.
    var nativeAttributes: [(String, JSONValue)] {
        var a: [String: JSONValue] = [:]
        func pool(_ w: Pool2dWindow) {
            a["kernel"] = .ints([w.kernel.h, w.kernel.w])
            a["stride"] = .ints([w.stride.h, w.stride.w])
            a["padding"] = .ints([w.padding.h, w.padding.w, w.padding.h, w.padding.w])
            a["ceil_mode"] = .bool(w.ceilMode)
        }
        func conv(_ o: Conv2dOptions) {
            a["stride"] = .ints([o.strideH, o.strideW])
            a["padding"] = .ints([o.padTop, o.padLeft, o.padBottom, o.padRight])
            a["dilation"] = .ints([o.dilationH, o.dilationW])
            a["groups"] = .int(o.groups)
        }
        switch self {
        case let .conv(o, activation), let .winogradConv(o, activation):
            conv(o)
            a["activation"] = activation.map { .string(NativeNames.unary($0)) }
        case let .convTranspose(o, ph, pw):
            conv(o)
            a["output_padding"] = .ints([ph, pw])
        case let .gemm(transA, transB, alpha, beta):
            a = ["trans_a": .bool(transA), "trans_b": .bool(transB), "alpha": .float32(alpha), "beta": .float32(beta)]
        case .matMul, .clip, .not, .select, .slice, .expand, .tile, .range, .identity: break
        case .einsum(let spec): a["equation"] = .string(spec.equation)
        case let .attention(scale, keyTransposed): a = ["scale": .float32(scale), "key_transposed": .bool(keyTransposed)]
        case .attentionInterleaved(let scale): a["scale"] = .float32(scale)
        case .binary(let b): a["function"] = .string(NativeNames.binary(b))
        case .unary(let u): a["function"] = .string(NativeNames.unary(u))
        case .parametricUnary(.leakyRelu(let alpha)):
            a = ["function": .string(NativeNames.parametricUnary(.leakyRelu)), "alpha": .float32(alpha)]
        case .parametricUnary(.elu(let alpha)): a = ["function": .string(NativeNames.parametricUnary(.elu)), "alpha": .float32(alpha)]
        case .parametricUnary(.celu(let alpha)): a = ["function": .string(NativeNames.parametricUnary(.celu)), "alpha": .float32(alpha)]
        case let .parametricUnary(.selu(alpha, gamma)):
            a = ["function": .string(NativeNames.parametricUnary(.selu)), "alpha": .float32(alpha), "gamma": .float32(gamma)]
        case let .parametricUnary(.hardSigmoid(alpha, beta)):
            a = ["function": .string(NativeNames.parametricUnary(.hardSigmoid)), "alpha": .float32(alpha), "beta": .float32(beta)]
        case .compare(let c): a["comparison"] = .string(NativeNames.comparison(c))
        case .cast(let type): a["to"] = .string(NativeNames.elementType(type))
        case .softmax(let axis): a["axis"] = .int(axis)
        case .instanceNorm(let eps), .batchNorm(let eps): a["eps"] = .float32(eps)
        case let .groupNorm(groups, eps, silu): a = ["groups": .int(groups), "eps": .float32(eps), "silu": .bool(silu)]
        case let .layerNorm(axis, eps): a = ["axis": .int(axis), "eps": .float32(eps)]
        case let .rmsNorm(axis, eps, kind): a = ["axis": .int(axis), "eps": .float32(eps), "kind": .string(NativeNames.rmsNormKind(kind))]
        case let .reduce(kind, axes, keepDims, noop):
            a = ["kind": .string(NativeNames.reduce(kind)), "keep_dims": .bool(keepDims), "noop_with_empty_axes": .bool(noop)]
            a["axes"] = axes.map(JSONValue.ints)
        case .reshape(let allowZero): a["allow_zero"] = .bool(allowZero)
        case .transpose(let perm): a["perm"] = perm.map(JSONValue.ints)
        case .concat(let axis), .gather(let axis), .flatten(let axis): a["axis"] = .int(axis)
        case .gatherND(let batchDims): a["batch_dims"] = .int(batchDims)
        case let .split(axis, sizes, outputs):
            a = ["axis": .int(axis), "outputs": .int(outputs)]
            a["sizes"] = sizes.map(JSONValue.ints)
        case .unsqueeze(let axes), .squeeze(let axes): a["axes"] = axes.map(JSONValue.ints)
        case .pad(let fill): a["mode"] = .string(NativeNames.padFill(fill))
        case .resize(.nearest): a["mode"] = .string(NativeNames.resizeKind(.nearest))
        case .resize(.nearestSampled(let s)):
            a = ["mode": .string(NativeNames.resizeKind(.nearest)), "coordinates": .string(NativeNames.nearestCoordinates(s.coordinates)),
                 "rounding": .string(NativeNames.nearestRounding(s.rounding))]
        case .resize(.linear(let alignCorners)):
            a = ["mode": .string(NativeNames.resizeKind(.linear)), "align_corners": .bool(alignCorners)]
        case .resize(.cubic(let alignCorners)):
            a = ["mode": .string(NativeNames.resizeKind(.cubic)), "align_corners": .bool(alignCorners)]
        case let .averagePool(window, countIncludePad):
            pool(window)
            a["count_include_pad"] = .bool(countIncludePad)
        case .maxPool(let window):
            pool(window)
            a["dilation"] = .ints([window.dilation.h, window.dilation.w])
        case let .depthToSpace(blockSize, crd):
            a = ["block_size": .int(blockSize), "mode": .string(NativeNames.depthToSpaceOrder(crd ? .crd : .dcr))]
        case .spaceToDepth(let blockSize): a["block_size"] = .int(blockSize)
        case let .shape(start, end):
            a["start"] = .int(start)
            a["end"] = end.map(JSONValue.int)
        case .constantOfShape(let value): a["value"] = NativeTensor.json(value)
        }
        return a.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The op of kind `kind` with the attributes in `a` (which the caller then `finish()`es, so
    /// attributes this op does not take are refused).
    static func native(_ kind: OpKind, _ a: inout JSONFields) throws -> Op {
        func pool(dilated: Bool) throws -> Pool2dWindow {
            let kernel = try a.ints("kernel", count: 2), stride = try a.ints("stride", count: 2), padding = try a.ints("padding", count: 4)
            guard padding[0] == padding[2], padding[1] == padding[3] else {
                throw a.fail("padding", "\(padding) is not symmetric (top = bottom, left = right): pooling pads both sides alike")
            }
            let dilation = dilated ? try a.ints("dilation", count: 2) : [1, 1]
            return Pool2dWindow(kernel: (kernel[0], kernel[1]), stride: (stride[0], stride[1]), padding: (padding[0], padding[1]),
                                dilation: (dilation[0], dilation[1]), ceilMode: try a.bool("ceil_mode"))
        }
        func conv() throws -> Conv2dOptions {
            let stride = try a.ints("stride", count: 2), padding = try a.ints("padding", count: 4), dilation = try a.ints("dilation", count: 2)
            return Conv2dOptions(stride: (stride[0], stride[1]), padding: (padding[0], padding[1], padding[2], padding[3]),
                                 dilation: (dilation[0], dilation[1]), groups: try a.int("groups"))
        }
        switch kind {
        case .conv: return .conv(try conv(), activation: try a.optionalName("activation", NativeNames.unary))
        case .winogradConv: return .winogradConv(try conv(), activation: try a.optionalName("activation", NativeNames.unary))
        case .convTranspose:
            let o = try conv(), outputPadding = try a.ints("output_padding", count: 2)
            return .convTranspose(o, outputPaddingH: outputPadding[0], outputPaddingW: outputPadding[1])
        case .gemm:
            return .gemm(transA: try a.bool("trans_a"), transB: try a.bool("trans_b"), alpha: try a.float("alpha"), beta: try a.float("beta"))
        case .matMul: return .matMul
        case .einsum:
            let equation = try a.string("equation")
            do { return .einsum(try EinsumSpec(equation)) } catch { throw a.fail("equation", "is not a supported einsum: \(error)") }
        case .attention: return .attention(scale: try a.float("scale"), keyTransposed: try a.bool("key_transposed"))
        case .attentionInterleaved: return .attentionInterleaved(scale: try a.float("scale"))
        case .binary: return .binary(try a.name("function", NativeNames.binary))
        case .unary: return .unary(try a.name("function", NativeNames.unary))
        case .parametricUnary:
            switch try a.name("function", NativeNames.parametricUnary) {
            case .leakyRelu: return .parametricUnary(.leakyRelu(alpha: try a.float("alpha")))
            case .elu: return .parametricUnary(.elu(alpha: try a.float("alpha")))
            case .celu: return .parametricUnary(.celu(alpha: try a.float("alpha")))
            case .selu: return .parametricUnary(.selu(alpha: try a.float("alpha"), gamma: try a.float("gamma")))
            case .hardSigmoid: return .parametricUnary(.hardSigmoid(alpha: try a.float("alpha"), beta: try a.float("beta")))
            }
        case .clip: return .clip
        case .compare: return .compare(try a.name("comparison", NativeNames.comparison))
        case .not: return .not
        case .select: return .select
        case .cast: return .cast(try a.name("to", NativeNames.elementType))
        case .softmax: return .softmax(axis: try a.int("axis"))
        case .instanceNorm: return .instanceNorm(eps: try a.float("eps"))
        case .groupNorm: return .groupNorm(groups: try a.int("groups"), eps: try a.float("eps"), silu: try a.bool("silu"))
        case .batchNorm: return .batchNorm(eps: try a.float("eps"))
        case .layerNorm: return .layerNorm(axis: try a.int("axis"), eps: try a.float("eps"))
        case .rmsNorm: return .rmsNorm(axis: try a.int("axis"), eps: try a.float("eps"), kind: try a.name("kind", NativeNames.rmsNormKind))
        case .reduce:
            return .reduce(try a.name("kind", NativeNames.reduce), axes: try a.optionalInts("axes"), keepDims: try a.bool("keep_dims"),
                           noopWithEmptyAxes: try a.bool("noop_with_empty_axes"))
        case .reshape: return .reshape(allowZero: try a.bool("allow_zero"))
        case .transpose: return .transpose(perm: try a.optionalInts("perm"))
        case .concat: return .concat(axis: try a.int("axis"))
        case .split: return .split(axis: try a.int("axis"), sizes: try a.optionalInts("sizes"), outputs: try a.int("outputs"))
        case .slice: return .slice
        case .gather: return .gather(axis: try a.int("axis"))
        case .gatherND: return .gatherND(batchDims: try a.int("batch_dims"))
        case .unsqueeze: return .unsqueeze(axes: try a.optionalInts("axes"))
        case .squeeze: return .squeeze(axes: try a.optionalInts("axes"))
        case .flatten: return .flatten(axis: try a.int("axis"))
        case .expand: return .expand
        case .tile: return .tile
        case .pad: return .pad(try a.name("mode", NativeNames.padFill))
        case .resize:
            switch try a.name("mode", NativeNames.resizeKind) {
            case .nearest:
                let coordinates = try a.optionalName("coordinates", NativeNames.nearestCoordinates)
                let rounding = try a.optionalName("rounding", NativeNames.nearestRounding)
                switch (coordinates, rounding) {
                case (nil, nil): return .resize(.nearest)
                case let (c?, r?):
                    let sampling = NearestSampling(coordinates: c, rounding: r)
                    return .resize(sampling == .pytorch ? .nearest : .nearestSampled(sampling))
                case (nil, _?): throw a.fail("coordinates", "is missing (rounding is given; give both or neither)")
                case (_?, nil): throw a.fail("rounding", "is missing (coordinates is given; give both or neither)")
                }
            case .linear: return .resize(.linear(alignCorners: try a.bool("align_corners")))
            case .cubic: return .resize(.cubic(alignCorners: try a.bool("align_corners")))
            }
        case .averagePool: return .averagePool(try pool(dilated: false), countIncludePad: try a.bool("count_include_pad"))
        case .maxPool: return .maxPool(try pool(dilated: true))
        case .depthToSpace:
            return .depthToSpace(blockSize: try a.int("block_size"), crd: try a.name("mode", NativeNames.depthToSpaceOrder) == .crd)
        case .spaceToDepth: return .spaceToDepth(blockSize: try a.int("block_size"))
        case .shape: return .shape(start: try a.int("start"), end: try a.optionalInt("end"))
        case .constantOfShape:
            let value = try a.required("value")
            return .constantOfShape(try NativeTensor.read("value", in: a, value))
        case .range: return .range
        case .identity: return .identity
        }
    }
}

// ONNXImporter: turns a decoded ONNX model into the graph IR. This is the one place where ONNX
// op-type strings become typed `Op`s (`op(for:)`); attributes are checked here, so the IR only
// holds what the executors support. Opsets 13–21 of the default domain, plus com.microsoft's
// GroupNorm. `Constant` nodes become graph constants; Dropout becomes identity; GroupNorm's
// contrib NHWC form becomes transposes around the IR's NCHW group norm; the global pools become a
// reduction over axes Range(2, rank) (folded when shapes are fixed). Padding given as auto_pad SAME
// or ConvTranspose's output_shape becomes explicit pads, from the input's spatial size as the
// file states it (graph inputs, value_info).
// An unsupported op names the op type, node, opset and the supported set.

import Foundation
import Graphs
import Tensors

/// Imports ONNX files into ``Graph``s.
public enum ONNXImporter {
    /// The default-domain opsets accepted.
    public static let supportedOpsets = 13...21

    /// ONNX op types (default domain) the importer maps to the IR.
    public static let supportedOps: [String] = [
        "Abs", "Add", "AveragePool", "BatchNormalization", "Cast", "Celu", "Clip", "Concat", "Constant", "ConstantOfShape",
        "Conv", "ConvTranspose", "Cos", "DepthToSpace", "Div", "Dropout", "Einsum", "Elu", "Equal", "Erf", "Exp", "Expand",
        "Flatten", "Gather", "GatherND", "Gelu", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater", "GreaterOrEqual",
        "GroupNormalization", "HardSigmoid", "HardSwish", "Identity", "InstanceNormalization", "LayerNormalization",
        "LeakyRelu", "Less", "LessOrEqual", "Log", "MatMul", "Max", "MaxPool", "Min", "Mish", "Mul", "Neg", "Not", "Pad",
        "Pow", "Range", "Reciprocal", "ReduceL2", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum",
        "ReduceSumSquare", "Relu", "Reshape", "Resize", "Selu", "Shape", "Sigmoid", "Sin", "Slice", "Softmax", "Softplus",
        "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tanh", "Tile", "Transpose", "Unsqueeze", "Where",
    ]

    /// Reads and imports the ONNX file at `path`.
    public static func load(_ path: String) throws -> Graph {
        try importModel(ONNXModel(contentsOf: path))
    }

    /// Imports ONNX bytes; `path` names them in errors and anchors external data.
    public static func load(data: Data, path: String) throws -> Graph {
        try importModel(ONNXModel(data: data, path: path))
    }

    static func importModel(_ model: ONNXModel) throws -> Graph {
        let opset = model.opsets[""] ?? model.opsets["ai.onnx"] ?? 0
        guard supportedOpsets.contains(opset) else {
            throw ModelFileError(path: model.path, problem: "opset \(opset) is not supported (supported: \(supportedOpsets.lowerBound)–\(supportedOpsets.upperBound); re-export with opset_version=17)")
        }
        var b = Builder(model: model, opset: opset)
        for (name, value) in model.initializers { b.ids[name] = b.graph.addConstant(value, name: name) }
        for input in model.inputs where b.ids[input.name] == nil {
            let id = b.graph.addValue(ValueInfo(name: input.name, type: input.type, dims: input.dims))
            b.ids[input.name] = id
            b.graph.inputs.append(id)
        }
        for node in model.nodes { try b.add(node) }
        for output in model.outputs {
            guard let id = b.ids[output.name] else {
                throw ModelFileError(path: model.path, problem: "graph output '\(output.name)' is produced by no node")
            }
            b.graph.values[id.index].dims = output.dims
            b.graph.outputs.append(id)
        }
        b.graph.metadata = model.metadata
        b.graph.metadata["onnx.opset"] = "\(opset)"
        if !model.producer.isEmpty { b.graph.metadata["onnx.producer"] = model.producer }
        return b.graph
    }

    /// Builds the graph node by node, resolving ONNX value names to ids.
    struct Builder {
        let model: ONNXModel
        let opset: Int
        var graph = Graph()
        var ids: [String: ValueID] = [:]

        init(model: ONNXModel, opset: Int) {
            self.model = model
            self.opset = opset
        }

        func fail(_ node: ONNXNode, _ problem: String) -> ModelFileError {
            ModelFileError(path: model.path, problem: "node '\(node.name)' (\(node.opType), opset \(opset)): \(problem)")
        }

        /// The id of input `name` ("" is an omitted optional input).
        func input(_ node: ONNXNode, _ name: String) throws -> ValueID? {
            if name.isEmpty { return nil }
            guard let id = ids[name] else {
                throw fail(node, "input '\(name)' is neither an initializer, a graph input nor an earlier node's output")
            }
            return id
        }

        mutating func output(_ name: String, type: ElementType = .float32) -> ValueID {
            let id = graph.addValue(ValueInfo(name: name, type: type))
            ids[name] = id
            return id
        }

        mutating func add(_ node: ONNXNode) throws {
            let inputs = try node.inputs.map { try input(node, $0) }
            if node.domain == "com.microsoft" && node.opType == "GroupNorm" { return try addContribGroupNorm(node, inputs) }
            guard node.domain.isEmpty || node.domain == "ai.onnx" else {
                throw fail(node, "domain '\(node.domain)' is not supported (only the default ONNX domain and com.microsoft GroupNorm)")
            }
            switch node.opType {
            case "Constant":
                guard let value = try constantValue(node), let name = node.outputs.first else { throw fail(node, "has no value attribute") }
                ids[name] = graph.addConstant(value, name: name)
                return
            case "Max", "Min", "Sum":
                // Variadic: fold left into binary nodes.
                guard var acc = inputs.first ?? nil else { throw fail(node, "needs at least one input") }
                let op: BinaryOp = node.opType == "Max" ? .maximum : (node.opType == "Min" ? .minimum : .add)
                for (k, next) in inputs.dropFirst().enumerated() {
                    let last = k == inputs.count - 2
                    let out = last ? output(node.outputs[0]) : graph.addValue(ValueInfo(name: "\(node.name)/\(k)"))
                    graph.nodes.append(Node(.binary(op), inputs: [acc, next], outputs: [out], name: node.name))
                    acc = out
                }
                if inputs.count == 1 { ids[node.outputs[0]] = acc }
                return
            case "GlobalAveragePool", "GlobalMaxPool":
                // Reduce over every spatial axis, 2..<rank, whatever the rank: the axes come from
                // Range(2, rank(x)), which specialization folds to a constant.
                guard let x = inputs.first ?? nil else { throw fail(node, "needs an input") }
                let shape = graph.addValue(ValueInfo(name: "\(node.name)/shape", type: .int64))
                let rank = graph.addValue(ValueInfo(name: "\(node.name)/rank", type: .int64))
                let axes = graph.addValue(ValueInfo(name: "\(node.name)/axes", type: .int64))
                let two = graph.addConstant(.int(IntTensor(scalar: 2)), name: "\(node.name)/two")
                let one = graph.addConstant(.int(IntTensor(scalar: 1)), name: "\(node.name)/one")
                graph.nodes.append(Node(.shape(start: 0, end: nil), inputs: [x], outputs: [shape], name: node.name))
                graph.nodes.append(Node(.shape(start: 0, end: nil), inputs: [shape], outputs: [rank], name: node.name))
                graph.nodes.append(Node(.range, inputs: [two, rank, one], outputs: [axes], name: node.name))
                let kind: ReduceKind = node.opType == "GlobalAveragePool" ? .mean : .max
                graph.nodes.append(Node(.reduce(kind, axes: nil, keepDims: true, noopWithEmptyAxes: false), inputs: [x, axes],
                                        outputs: [output(node.outputs[0])], name: node.name))
                return
            case "Cast" where node.attributes["to"]?.int == 9:
                // To bool: x != 0.
                let zero = graph.addConstant(.float(Tensor(scalar: 0)), name: "\(node.name)/zero")
                let eq = graph.addValue(ValueInfo(name: "\(node.name)/eq", type: .int64))
                graph.nodes.append(Node(.compare(.equal), inputs: [inputs[0], zero], outputs: [eq], name: node.name))
                graph.nodes.append(Node(.not, inputs: [eq], outputs: [output(node.outputs[0], type: .int64)], name: node.name))
                return
            default: break
            }
            let op = try self.op(for: node, inputs: inputs)
            var outs = node.outputs
            switch node.opType {
            case "Dropout", "LayerNormalization", "BatchNormalization", "MaxPool":
                outs = Array(outs.prefix(1))  // optional mask / statistics outputs are not produced (MaxPool refuses Indices)
            default: break
            }
            let outputIDs = outs.map { output($0, type: resultType(op, inputs)) }
            graph.nodes.append(Node(op, inputs: inputs, outputs: outputIDs, name: node.name))
        }

        func resultType(_ op: Op, _ inputs: [ValueID?]) -> ElementType {
            switch op {
            case .shape, .compare, .not: return .int64
            case .cast(let t): return t
            default:
                guard let first = inputs.first ?? nil else { return .float32 }
                return graph[first].type
            }
        }

        func constantValue(_ node: ONNXNode) throws -> Value? {
            let a = node.attributes
            if let t = a["value"]?.tensor { return t }
            if let f = a["value_float"]?.float { return .float(Tensor(scalar: f)) }
            if let f = a["value_floats"] { return .float(Tensor(shape: [f.floats.count], scalars: f.floats)) }
            if let i = a["value_int"]?.int { return .int(IntTensor(scalar: Int64(i))) }
            if let i = a["value_ints"] { return .int(IntTensor(i.ints.map { Int64($0) })) }
            return nil
        }

        /// `com.microsoft` GroupNorm: NHWC (channels_last=1) input, per-channel gamma/beta, optional SiLU.
        mutating func addContribGroupNorm(_ node: ONNXNode, _ inputs: [ValueID?]) throws {
            let a = node.attributes
            guard let groups = a["groups"]?.int, groups >= 1 else { throw fail(node, "needs a 'groups' attribute ≥ 1") }
            let op = Op.groupNorm(groups: groups, eps: a["epsilon"]?.float ?? 1e-5, silu: (a["activation"]?.int ?? 0) == 1)
            guard inputs.count == 3 else { throw fail(node, "needs inputs X, gamma, beta") }
            if (a["channels_last"]?.int ?? 1) == 0 {
                graph.nodes.append(Node(op, inputs: inputs, outputs: [output(node.outputs[0])], name: node.name))
                return
            }
            let nchw = graph.addValue(ValueInfo(name: "\(node.name)/nchw")), normed = graph.addValue(ValueInfo(name: "\(node.name)/normed"))
            graph.nodes.append(Node(.transpose(perm: [0, 3, 1, 2]), inputs: [inputs[0]], outputs: [nchw], name: node.name))
            graph.nodes.append(Node(op, inputs: [nchw, inputs[1], inputs[2]], outputs: [normed], name: node.name))
            graph.nodes.append(Node(.transpose(perm: [0, 2, 3, 1]), inputs: [normed], outputs: [output(node.outputs[0])], name: node.name))
        }

        /// `(H, W)` of the value `name` when the file states it as a fixed 4-D shape: a graph input
        /// or output, an intermediate's `value_info`, or an initializer.
        func staticSpatialSize(_ name: String) -> (Int, Int)? {
            if let (_, value) = model.initializers.first(where: { $0.name == name }) {
                return value.shape.rank == 4 ? (value.shape[2], value.shape[3]) : nil
            }
            let info = (model.inputs + model.valueInfos + model.outputs).first { $0.name == name }
            guard let dims = info?.dims, dims.count == 4, case .fixed(let h) = dims[2], case .fixed(let w) = dims[3] else { return nil }
            return (h, w)
        }

        /// The kernel's `(KH, KW)`: the `kernel_shape` attribute, else the weight initializer's shape.
        func kernelSize(_ node: ONNXNode) throws -> (Int, Int) {
            if let k = node.attributes["kernel_shape"]?.ints, k.count == 2 { return (k[0], k[1]) }
            if node.inputs.count > 1, let (_, w) = model.initializers.first(where: { $0.name == node.inputs[1] }), w.shape.rank == 4 {
                return (w.shape[2], w.shape[3])
            }
            throw fail(node, "needs kernel_shape (or a constant 4-D weight) to compute its padding")
        }

        /// Explicit `[top, left, bottom, right]` pads of a Conv or ConvTranspose whose padding is given
        /// another way — `auto_pad` SAME_UPPER / SAME_LOWER, or ConvTranspose's `output_shape` —
        /// computed per the ONNX spec from the input's static spatial size; and for ConvTranspose
        /// the output padding that reaches an output_shape past the pads' reach. Nil when the pads
        /// attribute (or VALID) says it all.
        func derivedPads(_ node: ONNXNode, stride s: [Int], dilation d: [Int], outputPadding: [Int])
            throws -> (pads: [Int], outputPadding: [Int])? {
            let a = node.attributes
            let autoPad = a["auto_pad"]?.string ?? "NOTSET"
            let outputShape = a["output_shape"]?.ints
            guard autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" || outputShape != nil else { return nil }
            guard let (h, w) = staticSpatialSize(node.inputs[0]) else {
                throw fail(node, "\(outputShape != nil ? "output_shape" : "auto_pad \(autoPad)") needs the input's fixed spatial size, which the file does not state (run onnx.shape_inference.infer_shapes on it, or export with explicit pads)")
            }
            let (kh, kw) = try kernelSize(node), input = [h, w], kernel = [kh, kw]
            var head = [0, 0], tail = [0, 0], extra = outputPadding
            for i in 0..<2 {
                let span = (kernel[i] - 1) * d[i] + 1
                let total: Int
                if node.opType == "Conv" {
                    total = max(0, ((input[i] + s[i] - 1) / s[i] - 1) * s[i] + span - input[i])
                } else {
                    var out = input[i] * s[i]
                    if let o = outputShape {
                        guard o.count == 2 || o.count == 4 else { throw fail(node, "output_shape \(o) must give 2 spatial sizes") }
                        out = o[o.count - 2 + i]
                    }
                    total = s[i] * (input[i] - 1) + outputPadding[i] + span - out
                }
                if total < 0 {
                    extra[i] += -total  // the output reaches past the last tap: more output padding
                } else if autoPad == "SAME_UPPER" {
                    (head[i], tail[i]) = (total / 2, total - total / 2)
                } else {
                    (head[i], tail[i]) = (total - total / 2, total / 2)
                }
            }
            return ([head[0], head[1], tail[0], tail[1]], extra)
        }

        /// The IR op of one default-domain node.
        func op(for node: ONNXNode, inputs: [ValueID?]) throws -> Op {
            let a = node.attributes
            func int(_ name: String, _ d: Int) -> Int { a[name]?.int ?? d }
            func float(_ name: String, _ d: Float) -> Float { a[name]?.float ?? d }
            func ints(_ name: String) -> [Int]? { a[name].map(\.ints) }
            let unary: [String: UnaryOp] = ["Relu": .relu, "Sigmoid": .sigmoid, "Tanh": .tanh, "Exp": .exp, "Log": .log,
                                            "Sqrt": .sqrt, "Sin": .sin, "Cos": .cos, "Erf": .erf, "Neg": .neg, "Abs": .abs,
                                            "Reciprocal": .reciprocal, "Softplus": .softplus, "Mish": .mish, "HardSwish": .hardSwish]
            let binary: [String: BinaryOp] = ["Add": .add, "Sub": .sub, "Mul": .mul, "Div": .div, "Pow": .pow]
            let compare: [String: Comparison] = ["Equal": .equal, "Less": .less, "Greater": .greater,
                                                 "LessOrEqual": .lessOrEqual, "GreaterOrEqual": .greaterOrEqual]
            let reduce: [String: ReduceKind] = ["ReduceSum": .sum, "ReduceMean": .mean, "ReduceMax": .max, "ReduceMin": .min,
                                                "ReduceL2": .l2, "ReduceSumSquare": .sumSquare, "ReduceProd": .prod]
            if let u = unary[node.opType] { return .unary(u) }
            if let b = binary[node.opType] { return .binary(b) }
            if let c = compare[node.opType] { return .compare(c) }
            if let r = reduce[node.opType] {
                // ReduceSum takes axes as an input from opset 13, the others from 18.
                let axesAsInput = node.opType == "ReduceSum" || opset >= 18
                return .reduce(r, axes: axesAsInput ? nil : (ints("axes") ?? []), keepDims: int("keepdims", 1) != 0,
                               noopWithEmptyAxes: int("noop_with_empty_axes", 0) != 0)
            }
            switch node.opType {
            case "Conv", "ConvTranspose":
                let kernel = ints("kernel_shape")
                guard kernel == nil || kernel!.count == 2 else { throw fail(node, "only 2-D convolutions are supported (kernel_shape \(kernel!))") }
                let autoPad = a["auto_pad"]?.string ?? "NOTSET"
                guard ["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"].contains(autoPad) else { throw fail(node, "auto_pad \(autoPad) is not supported") }
                let s = ints("strides") ?? [1, 1], d = ints("dilations") ?? [1, 1]
                var p = autoPad == "VALID" ? [0, 0, 0, 0] : (ints("pads") ?? [0, 0, 0, 0])
                var op = ints("output_padding") ?? [0, 0]
                guard s.count == 2, d.count == 2, p.count == 4, op.count == 2 else {
                    throw fail(node, "strides \(s), dilations \(d), pads \(p), output_padding \(op) must describe 2 axes")
                }
                if let derived = try derivedPads(node, stride: s, dilation: d, outputPadding: op) { (p, op) = derived }
                let o = Conv2dOptions(stride: (s[0], s[1]), padding: (p[0], p[1], p[2], p[3]), dilation: (d[0], d[1]), groups: int("group", 1))
                if node.opType == "Conv" { return .conv(o, activation: nil) }
                return .convTranspose(o, outputPaddingH: op[0], outputPaddingW: op[1])
            case "AveragePool", "MaxPool":
                guard let k = ints("kernel_shape"), k.count == 2 else { throw fail(node, "only 2-D pooling is supported (kernel_shape \(ints("kernel_shape") ?? []))") }
                let autoPad = a["auto_pad"]?.string ?? "NOTSET"
                guard autoPad == "NOTSET" || autoPad == "VALID" else { throw fail(node, "auto_pad \(autoPad) is not supported (use explicit pads)") }
                let s = ints("strides") ?? [1, 1], d = ints("dilations") ?? [1, 1]
                let p = autoPad == "VALID" ? [0, 0, 0, 0] : (ints("pads") ?? [0, 0, 0, 0])
                guard s.count == 2, d.count == 2, p.count == 4 else { throw fail(node, "strides \(s), dilations \(d), pads \(p) must describe 2 axes") }
                guard p[0] == p[2], p[1] == p[3] else { throw fail(node, "asymmetric pads \(p) are not supported (PyTorch exports begin = end)") }
                for i in 0..<2 where p[i] > ((k[i] - 1) * d[i] + 1) / 2 {
                    throw fail(node, "pads \(p) wider than half the kernel \(k) are not supported (PyTorch's limit)")
                }
                let window = Pool2dWindow(kernel: (k[0], k[1]), stride: (s[0], s[1]), padding: (p[0], p[1]), dilation: (d[0], d[1]),
                                          ceilMode: int("ceil_mode", 0) != 0)
                if node.opType == "AveragePool" {
                    guard d == [1, 1] else { throw fail(node, "dilations \(d) are not supported for AveragePool") }
                    return .averagePool(window, countIncludePad: int("count_include_pad", 0) != 0)
                }
                if node.outputs.count > 1, !node.outputs[1].isEmpty {
                    throw fail(node, "the Indices output '\(node.outputs[1])' is not supported (only the pooled values)")
                }
                return .maxPool(window)
            case "LeakyRelu": return .parametricUnary(.leakyRelu(alpha: float("alpha", 0.01)))
            case "Elu": return .parametricUnary(.elu(alpha: float("alpha", 1)))
            case "Celu": return .parametricUnary(.celu(alpha: float("alpha", 1)))
            case "Selu": return .parametricUnary(.selu(alpha: float("alpha", 1.67326319217681884765625), gamma: float("gamma", 1.05070102214813232421875)))
            case "HardSigmoid": return .parametricUnary(.hardSigmoid(alpha: float("alpha", 0.2), beta: float("beta", 0.5)))
            case "Gemm":
                return .gemm(transA: int("transA", 0) != 0, transB: int("transB", 0) != 0, alpha: float("alpha", 1), beta: float("beta", 1))
            case "MatMul": return .matMul
            case "Einsum":
                guard let eq = a["equation"]?.string else { throw fail(node, "has no equation") }
                do { return .einsum(try EinsumSpec(eq)) } catch GraphError.badInput(let problem) { throw fail(node, problem) }
            case "Gelu":
                let approx = a["approximate"]?.string ?? "none"
                guard approx == "none" || approx == "tanh" else { throw fail(node, "approximate '\(approx)' is not supported") }
                return .unary(approx == "tanh" ? .geluTanh : .gelu)
            case "Clip": return .clip
            case "Not": return .not
            case "Where": return .select
            case "Cast":
                guard let to = a["to"]?.int, let t = ONNXModel.elementType(Int32(to)) else {
                    throw fail(node, "cast to \(ONNXModel.dataTypeName(Int32(a["to"]?.int ?? 0))) is not supported")
                }
                return .cast(t)
            case "Softmax": return .softmax(axis: int("axis", -1))
            case "InstanceNormalization": return .instanceNorm(eps: float("epsilon", 1e-5))
            case "GroupNormalization":
                guard let g = a["num_groups"]?.int, g >= 1 else { throw fail(node, "needs num_groups ≥ 1") }
                return .groupNorm(groups: g, eps: float("epsilon", 1e-5), silu: false)
            case "BatchNormalization":
                guard int("training_mode", 0) == 0 else { throw fail(node, "training_mode=1 is not supported for inference") }
                return .batchNorm(eps: float("epsilon", 1e-5))
            case "LayerNormalization": return .layerNorm(axis: int("axis", -1), eps: float("epsilon", 1e-5))
            case "Reshape": return .reshape(allowZero: int("allowzero", 0) != 0)
            case "Transpose": return .transpose(perm: ints("perm"))
            case "Concat":
                guard let axis = a["axis"]?.int else { throw fail(node, "has no axis") }
                return .concat(axis: axis)
            case "Split":
                return .split(axis: int("axis", 0), sizes: ints("split"), outputs: node.outputs.count)
            case "Slice": return .slice
            case "Gather": return .gather(axis: int("axis", 0))
            case "GatherND": return .gatherND(batchDims: int("batch_dims", 0))
            case "Unsqueeze": return .unsqueeze(axes: nil)
            case "Squeeze": return .squeeze(axes: nil)
            case "Flatten": return .flatten(axis: int("axis", 1))
            case "Expand": return .expand
            case "Tile": return .tile
            case "Pad":
                let mode = a["mode"]?.string ?? "constant"
                guard let fill = PadFill(rawValue: mode) else { throw fail(node, "pad mode '\(mode)' is not supported") }
                return .pad(fill)
            case "Resize":
                let mode = a["mode"]?.string ?? "nearest"
                let transform = a["coordinate_transformation_mode"]?.string ?? "half_pixel"
                guard int("antialias", 0) == 0 else { throw fail(node, "antialias is not supported") }
                let policy = a["keep_aspect_ratio_policy"]?.string ?? "stretch"
                guard policy == "stretch" else { throw fail(node, "keep_aspect_ratio_policy '\(policy)' is not supported (stretch)") }
                if let axes = ints("axes"), axes.map({ $0 < 0 ? $0 + 4 : $0 }) != [0, 1, 2, 3] {
                    throw fail(node, "axes \(axes) are not supported (scales or sizes must cover all 4 axes)")
                }
                switch mode {
                case "nearest":
                    let coordinates: [String: NearestSampling.Coordinates] = ["asymmetric": .asymmetric, "half_pixel": .halfPixel,
                                                                              "pytorch_half_pixel": .pytorchHalfPixel, "align_corners": .alignCorners]
                    let roundings: [String: NearestSampling.Rounding] = ["floor": .floor, "ceil": .ceil, "round_prefer_floor": .roundPreferFloor,
                                                                         "round_prefer_ceil": .roundPreferCeil]
                    let rounding = a["nearest_mode"]?.string ?? "round_prefer_floor"
                    guard let c = coordinates[transform], let r = roundings[rounding] else {
                        throw fail(node, "nearest resize with \(transform) / \(rounding) is not supported (coordinate_transformation_mode: \(coordinates.keys.sorted().joined(separator: ", ")); nearest_mode: \(roundings.keys.sorted().joined(separator: ", ")))")
                    }
                    let sampling = NearestSampling(coordinates: c, rounding: r)
                    return .resize(sampling == .pytorch ? .nearest : .nearestSampled(sampling))
                case "linear", "cubic":
                    let alignCorners: Bool
                    switch transform {
                    case "align_corners": alignCorners = true
                    case "half_pixel", "pytorch_half_pixel": alignCorners = false
                    default: throw fail(node, "\(mode) resize with coordinate_transformation_mode '\(transform)' is not supported (align_corners, half_pixel, pytorch_half_pixel)")
                    }
                    if mode == "linear" { return .resize(.linear(alignCorners: alignCorners)) }
                    let coefficient = float("cubic_coeff_a", -0.75)
                    guard coefficient == -0.75 else { throw fail(node, "cubic_coeff_a \(coefficient) is not supported (PyTorch's -0.75)") }
                    guard int("exclude_outside", 0) == 0 else { throw fail(node, "exclude_outside=1 is not supported") }
                    return .resize(.cubic(alignCorners: alignCorners))
                default: throw fail(node, "resize mode '\(mode)' is not supported (nearest, linear, cubic)")
                }
            case "DepthToSpace":
                guard let b = a["blocksize"]?.int, b >= 1 else { throw fail(node, "needs blocksize ≥ 1") }
                return .depthToSpace(blockSize: b, crd: (a["mode"]?.string ?? "DCR") == "CRD")
            case "SpaceToDepth":
                guard let b = a["blocksize"]?.int, b >= 1 else { throw fail(node, "needs blocksize ≥ 1") }
                return .spaceToDepth(blockSize: b)
            case "Shape": return .shape(start: int("start", 0), end: a["end"]?.int)
            case "ConstantOfShape": return .constantOfShape(a["value"]?.tensor ?? .float(Tensor(scalar: 0)))
            case "Range": return .range
            case "Identity", "Dropout": return .identity
            default:
                throw fail(node, "op type '\(node.opType)' is not supported; supported: \(supportedOps.joined(separator: ", ")), com.microsoft.GroupNorm")
            }
        }
    }
}

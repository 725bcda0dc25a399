// ONNXExporter: a graph IR back to an ONNX file (opset 21, IR version 10), so a model trained or
// fine-tuned here runs in onnxruntime. Each IR op maps to its ONNX op (fused forms are expanded:
// conv's residual and activation, GroupNorm+SiLU, attention); parameters the IR keeps as
// attributes but ONNX takes as inputs (reduce and squeeze axes) become int64 initializers.
// Weights go inline as raw_data. The bytes are protobuf, written by the small encoder below
// (field numbers from proto/onnx.proto); reading goes through protobuf-c in ONNXModel.

import Foundation
import Graphs
import Tensors

/// Protobuf wire format: varints, fixed32 and length-delimited fields.
struct ProtoWriter {
    var bytes = Data()

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { bytes.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    mutating func tag(_ field: Int, _ wire: Int) { varint(UInt64(field << 3 | wire)) }
    mutating func int(_ field: Int, _ v: Int) { tag(field, 0); varint(UInt64(bitPattern: Int64(v))) }
    mutating func float(_ field: Int, _ v: Float) {
        tag(field, 5)
        withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }
    mutating func data(_ field: Int, _ d: Data) { tag(field, 2); varint(UInt64(d.count)); bytes.append(d) }
    mutating func string(_ field: Int, _ s: String) { data(field, Data(s.utf8)) }
    mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void) {
        var inner = ProtoWriter()
        build(&inner)
        data(field, inner.bytes)
    }
}

public enum ONNXExporter {
    public static let opset = 21

    /// The ONNX bytes of `graph`. `shapes` (from a specialization, any batch) give the ranks
    /// some expansions need (attention's key transpose).
    public static func export(_ graph: Graph, shapes: [ValueID: Shape] = [:], producer: String = "denoise") throws -> Data {
        var e = Emitter(graph: graph, shapes: shapes)
        for node in graph.nodes { try e.emit(node) }
        var w = ProtoWriter()
        w.int(1, 10)  // ir_version
        w.string(2, producer)
        w.message(8) { $0.string(1, ""); $0.int(2, opset) }  // opset_import
        for (k, v) in graph.metadata.sorted(by: { $0.key < $1.key }) where k.hasPrefix("denoise.") {
            w.message(14) { $0.string(1, k); $0.string(2, v) }  // metadata_props
        }
        w.message(7) { g in
            for n in e.nodes { g.data(1, n) }
            g.string(2, "denoise")
            for (id, value) in graph.constants.sorted(by: { $0.key < $1.key }) { g.data(5, tensor(value, name: e.name(id))) }
            for t in e.extraInitializers { g.data(5, t) }
            for id in graph.inputs { g.data(11, valueInfo(graph, id, name: e.name(id))) }
            for id in graph.outputs { g.data(12, valueInfo(graph, id, name: e.name(id))) }
        }
        return w.bytes
    }

    /// The ONNX bytes of a model: its graph, with the schedule in the metadata and the ranks
    /// that expansions need taken from a batch-1 specialization.
    public static func export(_ model: DiffusionModel) throws -> Data {
        var graph = model.graph
        for (k, v) in model.schedule.metadata { graph.metadata[k] = v }
        for (k, v) in model.classes?.metadata ?? [:] { graph.metadata[k] = v }
        var inputShapes = try ModelLoader.inputShapes(graph, batch: 1)
        inputShapes[try graph.diffusionInputs().image] = Shape([1] + model.imageShape)
        return try export(graph, shapes: try graph.specialized(inputShapes: inputShapes, cpu: CPU(threads: 1)).shapes)
    }

    /// Writes `model` to `path` atomically.
    public static func write(_ model: DiffusionModel, to path: String) throws {
        try AtomicFile.write(try export(model), to: URL(fileURLWithPath: path))
    }

    static func tensor(_ value: Value, name: String) -> Data {
        var w = ProtoWriter()
        for d in value.shape { w.int(1, d) }
        switch value {
        case .float(let t):
            w.int(2, 1)
            w.string(8, name)
            w.data(9, t.withUnsafeBufferPointer { Data(buffer: $0) })
        case .int(let t):
            w.int(2, 7)
            w.string(8, name)
            w.data(9, t.values.withUnsafeBufferPointer { Data(buffer: $0) })
        }
        return w.bytes
    }

    static func valueInfo(_ graph: Graph, _ id: ValueID, name: String) -> Data {
        var w = ProtoWriter()
        w.string(1, name)
        w.message(2) { type in
            type.message(1) { t in
                t.int(1, graph[id].type == .int64 ? 7 : 1)
                if let dims = graph[id].dims {
                    t.message(2) { shape in
                        for d in dims {
                            shape.message(1) { dim in
                                switch d {
                                case .fixed(let n): dim.int(1, n)
                                case .symbol(let s): dim.string(2, s)
                                }
                            }
                        }
                    }
                }
            }
        }
        return w.bytes
    }
}

/// Turns IR nodes into ONNX NodeProto bytes.
private struct Emitter {
    let graph: Graph
    let shapes: [ValueID: Shape]
    var nodes: [Data] = []
    var extraInitializers: [Data] = []
    var counter = 0
    var names: [ValueID: String] = [:]

    init(graph: Graph, shapes: [ValueID: Shape]) {
        self.graph = graph
        self.shapes = shapes
        var used = Set<String>()
        for i in graph.values.indices {
            var n = graph.values[i].name.isEmpty ? "v\(i)" : graph.values[i].name
            if used.contains(n) { n += "_\(i)" }
            used.insert(n)
            names[ValueID(i)] = n
        }
    }

    func name(_ id: ValueID) -> String { names[id]! }

    mutating func fresh(_ hint: String) -> String {
        counter += 1
        return "\(hint)__\(counter)"
    }

    /// An int64 initializer holding `values` ([count]).
    mutating func ints(_ values: [Int], hint: String) -> String {
        let n = fresh(hint)
        extraInitializers.append(ONNXExporter.tensor(.int(IntTensor(shape: [values.count], values: values.map(Int64.init))), name: n))
        return n
    }

    /// A float scalar initializer.
    mutating func scalar(_ v: Float, hint: String) -> String {
        let n = fresh(hint)
        extraInitializers.append(ONNXExporter.tensor(.float(Tensor(shape: [], scalars: [v])), name: n))
        return n
    }

    enum Attribute {
        case int(Int), float(Float), string(String), ints([Int]), tensor(Value)
    }

    mutating func node(_ op: String, _ inputs: [String], _ outputs: [String], _ attributes: [(String, Attribute)] = [], name: String) {
        var w = ProtoWriter()
        for i in inputs { w.string(1, i) }
        for o in outputs { w.string(2, o) }
        w.string(3, name)
        w.string(4, op)
        for (key, value) in attributes {
            w.message(5) { a in
                a.string(1, key)
                switch value {
                case .float(let f): a.float(2, f); a.int(20, 1)
                case .int(let i): a.int(3, i); a.int(20, 2)
                case .string(let s): a.string(4, s); a.int(20, 3)
                case .ints(let list): for i in list { a.int(8, i) }; a.int(20, 7)
                case .tensor(let v): a.data(5, ONNXExporter.tensor(v, name: key)); a.int(20, 4)
                }
            }
        }
        nodes.append(w.bytes)
    }

    mutating func unary(_ op: UnaryOp, _ x: String, _ y: String, name: String) throws {
        func one(_ type: String) { node(type, [x], [y], name: name) }
        switch op {
        case .neg: one("Neg")
        case .abs: one("Abs")
        case .exp: one("Exp")
        case .log: one("Log")
        case .sqrt: one("Sqrt")
        case .sin: one("Sin")
        case .cos: one("Cos")
        case .erf: one("Erf")
        case .tanh: one("Tanh")
        case .sigmoid: one("Sigmoid")
        case .relu: one("Relu")
        case .reciprocal: one("Reciprocal")
        case .softplus: one("Softplus")
        case .mish: one("Mish")
        case .hardSwish: one("HardSwish")
        case .silu:
            let s = fresh(name + "_sigmoid")
            node("Sigmoid", [x], [s], name: s)
            node("Mul", [x, s], [y], name: name)
        case .square: node("Mul", [x, x], [y], name: name)
        case .gelu: one("Gelu")
        case .geluTanh: node("Gelu", [x], [y], [("approximate", .string("tanh"))], name: name)
        }
    }

    mutating func emit(_ n: Node) throws {
        let ins = n.inputs.map { $0.map(name) ?? "" }, outs = n.outputs.map(name), label = n.name.isEmpty ? fresh("node") : n.name
        func trimmed(_ list: [String]) -> [String] {  // absent trailing optional inputs are dropped
            var l = list
            while l.last == "" { l.removeLast() }
            return l
        }
        switch n.op {
        case let .conv(o, activation), let .winogradConv(o, activation):
            if case .winogradConv = n.op { throw GraphError.invalid("ONNX export: '\(n.name)' is a Winograd conv (export the uncompiled model)") }
            let residual = ins.count > 3 ? ins[3] : ""
            var y = outs[0]
            if !residual.isEmpty || activation != nil { y = fresh(label + "_conv") }
            node("Conv", trimmed(Array(ins.prefix(3))), [y], [("strides", .ints([o.strideH, o.strideW])),
                 ("pads", .ints([o.padTop, o.padLeft, o.padBottom, o.padRight])), ("dilations", .ints([o.dilationH, o.dilationW])),
                 ("group", .int(o.groups))], name: label)
            if !residual.isEmpty {
                let sum = activation == nil ? outs[0] : fresh(label + "_residual")
                node("Add", [y, residual], [sum], name: label + "_residual")
                y = sum
            }
            if let activation { try unary(activation, y, outs[0], name: label + "_act") }
        case let .convTranspose(o, ph, pw):
            node("ConvTranspose", trimmed(ins), outs, [("strides", .ints([o.strideH, o.strideW])),
                 ("pads", .ints([o.padTop, o.padLeft, o.padBottom, o.padRight])), ("dilations", .ints([o.dilationH, o.dilationW])),
                 ("group", .int(o.groups)), ("output_padding", .ints([ph, pw]))], name: label)
        case let .gemm(ta, tb, alpha, beta):
            node("Gemm", trimmed(ins), outs, [("transA", .int(ta ? 1 : 0)), ("transB", .int(tb ? 1 : 0)), ("alpha", .float(alpha)), ("beta", .float(beta))], name: label)
        case .matMul: node("MatMul", ins, outs, name: label)
        case .einsum(let spec): node("Einsum", ins, outs, [("equation", .string(spec.equation))], name: label)
        case let .attention(scale, keyTransposed):
            var k = ins[1]
            if !keyTransposed {
                guard let id = n.inputs[1], let rank = shapes[id]?.rank ?? graph[id].dims?.count else {
                    throw GraphError.invalid("ONNX export: attention '\(n.name)' needs its key's rank")
                }
                k = fresh(label + "_kt")
                node("Transpose", [ins[1]], [k], [("perm", .ints(Array(0..<(rank - 2)) + [rank - 1, rank - 2]))], name: k)
            }
            let scores = fresh(label + "_scores"), scaled = fresh(label + "_scaled"), probs = fresh(label + "_probs")
            node("MatMul", [ins[0], k], [scores], name: scores)
            node("Mul", [scores, scalar(scale, hint: label + "_scale")], [scaled], name: scaled)
            node("Softmax", [scaled], [probs], [("axis", .int(-1))], name: probs)
            node("MatMul", [probs, ins[2]], outs, name: label)
        case .attentionInterleaved(let scale):
            // Transposes to [B, H, L, D] (k straight to [B, H, D, L]), attention, and back.
            let q = fresh(label + "_q"), k = fresh(label + "_kt"), v = fresh(label + "_v")
            node("Transpose", [ins[0]], [q], [("perm", .ints([0, 2, 1, 3]))], name: q)
            node("Transpose", [ins[1]], [k], [("perm", .ints([0, 2, 3, 1]))], name: k)
            node("Transpose", [ins[2]], [v], [("perm", .ints([0, 2, 1, 3]))], name: v)
            let scores = fresh(label + "_scores"), scaled = fresh(label + "_scaled"), probs = fresh(label + "_probs")
            let heads = fresh(label + "_heads")
            node("MatMul", [q, k], [scores], name: scores)
            node("Mul", [scores, scalar(scale, hint: label + "_scale")], [scaled], name: scaled)
            node("Softmax", [scaled], [probs], [("axis", .int(-1))], name: probs)
            node("MatMul", [probs, v], [heads], name: heads)
            node("Transpose", [heads], outs, [("perm", .ints([0, 2, 1, 3]))], name: label)
        case .binary(let op):
            let map: [BinaryOp: String] = [.add: "Add", .sub: "Sub", .mul: "Mul", .div: "Div", .pow: "Pow", .maximum: "Max", .minimum: "Min"]
            node(map[op]!, ins, outs, name: label)
        case .unary(let op): try unary(op, ins[0], outs[0], name: label)
        case .parametricUnary(let op):
            switch op {
            case .leakyRelu(let alpha): node("LeakyRelu", ins, outs, [("alpha", .float(alpha))], name: label)
            case .elu(let alpha): node("Elu", ins, outs, [("alpha", .float(alpha))], name: label)
            case .celu(let alpha): node("Celu", ins, outs, [("alpha", .float(alpha))], name: label)
            case let .selu(alpha, gamma): node("Selu", ins, outs, [("alpha", .float(alpha)), ("gamma", .float(gamma))], name: label)
            case let .hardSigmoid(alpha, beta): node("HardSigmoid", ins, outs, [("alpha", .float(alpha)), ("beta", .float(beta))], name: label)
            }
        case .clip: node("Clip", trimmed(ins), outs, name: label)
        case .compare(let c):
            let map: [Comparison: String] = [.equal: "Equal", .less: "Less", .greater: "Greater", .lessOrEqual: "LessOrEqual", .greaterOrEqual: "GreaterOrEqual"]
            node(map[c]!, ins, outs, name: label)
        case .not: node("Not", ins, outs, name: label)
        case .select: node("Where", ins, outs, name: label)
        case .cast(let type): node("Cast", ins, outs, [("to", .int(type == .int64 ? 7 : 1))], name: label)
        case .softmax(let axis): node("Softmax", ins, outs, [("axis", .int(axis))], name: label)
        case .instanceNorm(let eps): node("InstanceNormalization", ins, outs, [("epsilon", .float(eps))], name: label)
        case let .groupNorm(groups, eps, silu):
            let y = silu ? fresh(label + "_norm") : outs[0]
            node("GroupNormalization", ins, [y], [("num_groups", .int(groups)), ("epsilon", .float(eps))], name: label)
            if silu { try unary(.silu, y, outs[0], name: label + "_silu") }
        case .batchNorm(let eps): node("BatchNormalization", ins, outs, [("epsilon", .float(eps))], name: label)
        case let .layerNorm(axis, eps): node("LayerNormalization", trimmed(ins), outs, [("axis", .int(axis)), ("epsilon", .float(eps))], name: label)
        case .rmsNorm: throw GraphError.invalid("ONNX export: '\(n.name)' is a fused rmsNorm (export the uncompiled model)")
        case let .reduce(kind, axes, keepDims, noop):
            let map: [ReduceKind: String] = [.sum: "ReduceSum", .mean: "ReduceMean", .max: "ReduceMax", .min: "ReduceMin",
                                             .l2: "ReduceL2", .sumSquare: "ReduceSumSquare", .prod: "ReduceProd"]
            var inputs = Array(ins.prefix(1))
            if let axes { inputs.append(ints(axes, hint: label + "_axes")) } else if ins.count > 1 { inputs.append(ins[1]) }
            node(map[kind]!, trimmed(inputs), outs, [("keepdims", .int(keepDims ? 1 : 0)), ("noop_with_empty_axes", .int(noop ? 1 : 0))], name: label)
        case .reshape(let allowZero): node("Reshape", ins, outs, [("allowzero", .int(allowZero ? 1 : 0))], name: label)
        case .transpose(let perm): node("Transpose", ins, outs, perm.map { [("perm", .ints($0))] } ?? [], name: label)
        case .concat(let axis): node("Concat", ins, outs, [("axis", .int(axis))], name: label)
        case let .split(axis, sizes, count):
            var inputs = Array(ins.prefix(1))
            if let sizes { inputs.append(ints(sizes, hint: label + "_split")) } else if ins.count > 1 { inputs.append(ins[1]) }
            let attributes: [(String, Attribute)] = trimmed(inputs).count > 1 ? [("axis", .int(axis))] : [("axis", .int(axis)), ("num_outputs", .int(count))]
            node("Split", trimmed(inputs), outs, attributes, name: label)
        case .slice: node("Slice", trimmed(ins), outs, name: label)
        case .gather(let axis): node("Gather", ins, outs, [("axis", .int(axis))], name: label)
        case .gatherND(let batchDims): node("GatherND", ins, outs, [("batch_dims", .int(batchDims))], name: label)
        case .unsqueeze(let axes): node("Unsqueeze", axes.map { [ins[0], ints($0, hint: label + "_axes")] } ?? ins, outs, name: label)
        case .squeeze(let axes): node("Squeeze", trimmed(axes.map { [ins[0], ints($0, hint: label + "_axes")] } ?? ins), outs, name: label)
        case .flatten(let axis): node("Flatten", ins, outs, [("axis", .int(axis))], name: label)
        case .expand: node("Expand", ins, outs, name: label)
        case .tile: node("Tile", ins, outs, name: label)
        case .pad(let fill): node("Pad", trimmed(ins), outs, [("mode", .string(fill.rawValue))], name: label)
        case .resize(let mode):
            var attributes: [(String, Attribute)]
            switch mode {
            case .nearest: attributes = [("mode", .string("nearest")), ("coordinate_transformation_mode", .string("asymmetric")), ("nearest_mode", .string("floor"))]
            case .nearestSampled(let s):
                let coordinates: String, rounding: String
                switch s.coordinates {
                case .asymmetric: coordinates = "asymmetric"
                case .halfPixel: coordinates = "half_pixel"
                case .pytorchHalfPixel: coordinates = "pytorch_half_pixel"
                case .alignCorners: coordinates = "align_corners"
                }
                switch s.rounding {
                case .floor: rounding = "floor"
                case .ceil: rounding = "ceil"
                case .roundPreferFloor: rounding = "round_prefer_floor"
                case .roundPreferCeil: rounding = "round_prefer_ceil"
                }
                attributes = [("mode", .string("nearest")), ("coordinate_transformation_mode", .string(coordinates)), ("nearest_mode", .string(rounding))]
            case .linear(let align): attributes = [("mode", .string("linear")), ("coordinate_transformation_mode", .string(align ? "align_corners" : "half_pixel"))]
            case .cubic(let align):
                attributes = [("mode", .string("cubic")), ("coordinate_transformation_mode", .string(align ? "align_corners" : "half_pixel")),
                              ("cubic_coeff_a", .float(-0.75)), ("exclude_outside", .int(0))]
            }
            node("Resize", trimmed(ins), outs, attributes, name: label)
        case let .averagePool(w, countIncludePad):
            node("AveragePool", ins, outs, [("kernel_shape", .ints([w.kernel.h, w.kernel.w])), ("strides", .ints([w.stride.h, w.stride.w])),
                 ("pads", .ints([w.padding.h, w.padding.w, w.padding.h, w.padding.w])), ("ceil_mode", .int(w.ceilMode ? 1 : 0)),
                 ("count_include_pad", .int(countIncludePad ? 1 : 0))], name: label)
        case .maxPool(let w):
            node("MaxPool", ins, outs, [("kernel_shape", .ints([w.kernel.h, w.kernel.w])), ("strides", .ints([w.stride.h, w.stride.w])),
                 ("pads", .ints([w.padding.h, w.padding.w, w.padding.h, w.padding.w])), ("dilations", .ints([w.dilation.h, w.dilation.w])),
                 ("ceil_mode", .int(w.ceilMode ? 1 : 0))], name: label)
        case let .depthToSpace(b, crd): node("DepthToSpace", ins, outs, [("blocksize", .int(b)), ("mode", .string(crd ? "CRD" : "DCR"))], name: label)
        case .spaceToDepth(let b): node("SpaceToDepth", ins, outs, [("blocksize", .int(b))], name: label)
        case let .shape(start, end):
            var attributes: [(String, Attribute)] = [("start", .int(start))]
            if let end { attributes.append(("end", .int(end))) }
            node("Shape", ins, outs, attributes, name: label)
        case .constantOfShape(let value): node("ConstantOfShape", ins, outs, [("value", .tensor(value.reshaped1()))], name: label)
        case .range: node("Range", ins, outs, name: label)
        case .identity: node("Identity", ins, outs, name: label)
        }
    }
}

private extension Value {
    /// The one-element tensor ConstantOfShape's `value` attribute holds.
    func reshaped1() -> Value {
        switch self {
        case .float(let t): return .float(Tensor(shape: [1], scalars: [t.scalars.first ?? 0]))
        case .int(let t): return .int(IntTensor(shape: [1], values: [t.values.first ?? 0]))
        }
    }
}

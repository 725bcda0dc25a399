// ONNXModel: an ONNX file decoded by protobuf-c (Sources/CONNX) into plain Swift values — nodes
// with their attributes, initializers as graph `Value`s, declared inputs and outputs, opsets and
// metadata. The C message is freed before returning; no C type leaves this file. Tensors are
// validated (element type, byte counts against dims); external data is read only from files
// inside the model's own folder. Mapping nodes to IR ops is `ONNXImporter.swift`'s job.

import CONNX
import Foundation
import Graphs
import Tensors

/// One attribute of a node.
struct ONNXAttribute {
    var int: Int?
    var float: Float?
    var string: String?
    var ints: [Int] = []
    var floats: [Float] = []
    var tensor: Value?
}

/// One node as the file states it.
struct ONNXNode {
    var opType: String
    var domain: String
    var name: String
    var inputs: [String]
    var outputs: [String]
    var attributes: [String: ONNXAttribute]
}

/// A declared graph input or output.
struct ONNXValueInfo {
    var name: String
    var type: ElementType
    var dims: [Dim]?
}

/// A decoded ONNX model.
struct ONNXModel {
    var path: String
    /// Opset version per domain ("" is the default ONNX domain).
    var opsets: [String: Int]
    var nodes: [ONNXNode]
    var initializers: [(name: String, value: Value)]
    var inputs: [ONNXValueInfo]
    var outputs: [ONNXValueInfo]
    /// Shapes the file states for intermediate values (`value_info`, written by shape inference);
    /// entries that are not float or int tensors are left out.
    var valueInfos: [ONNXValueInfo] = []
    var metadata: [String: String]
    var producer: String

    /// Reads and decodes the file at `path`.
    init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError(path: path, problem: "cannot read the file (missing, unreadable or a folder)")
        }
        try self.init(data: data, path: path)
    }

    /// Decodes `data`; `path` names it in errors and anchors external data.
    init(data: Data, path: String) throws {
        let message: UnsafeMutablePointer<Onnx__ModelProto>? = data.withUnsafeBytes { raw in
            guard let base = raw.bindMemory(to: UInt8.self).baseAddress, raw.count > 0 else { return nil }
            return onnx__model_proto__unpack(nil, raw.count, base)
        }
        guard let message else {
            throw ModelFileError(path: path, problem: "not a valid ONNX protobuf (truncated or corrupted; \(data.count) bytes)")
        }
        defer { onnx__model_proto__free_unpacked(message, nil) }
        let m = message.pointee
        self.path = path
        producer = [string(m.producer_name), string(m.producer_version)].filter { !$0.isEmpty }.joined(separator: " ")
        opsets = [:]
        for o in buffer(m.opset_import, m.n_opset_import) {
            opsets[string(o.pointee.domain)] = Int(o.pointee.version)
        }
        metadata = [:]
        for e in buffer(m.metadata_props, m.n_metadata_props) { metadata[string(e.pointee.key)] = string(e.pointee.value) }
        guard let g = m.graph?.pointee else { throw ModelFileError(path: path, problem: "the model has no graph") }
        let folder = (path as NSString).deletingLastPathComponent
        nodes = try buffer(g.node, g.n_node).map { try Self.node($0.pointee, path: path, folder: folder) }
        initializers = try buffer(g.initializer, g.n_initializer).map { t in
            (string(t.pointee.name), try Self.tensor(t.pointee, path: path, folder: folder))
        }
        guard g.n_sparse_initializer == 0 else { throw ModelFileError(path: path, problem: "sparse initializers are not supported") }
        inputs = try buffer(g.input, g.n_input).map { try Self.valueInfo($0.pointee, path: path) }
        outputs = try buffer(g.output, g.n_output).map { try Self.valueInfo($0.pointee, path: path) }
        valueInfos = buffer(g.value_info, g.n_value_info).compactMap { try? Self.valueInfo($0.pointee, path: path) }
    }

    private static func node(_ n: Onnx__NodeProto, path: String, folder: String) throws -> ONNXNode {
        var attributes: [String: ONNXAttribute] = [:]
        for a in buffer(n.attribute, n.n_attribute) {
            let p = a.pointee
            var attr = ONNXAttribute()
            if p.has_i != 0 { attr.int = Int(p.i) }
            if p.has_f != 0 { attr.float = p.f }
            if p.has_s != 0 { attr.string = String(decoding: UnsafeBufferPointer(start: p.s.data, count: p.s.len), as: UTF8.self) }
            if p.n_ints > 0 { attr.ints = UnsafeBufferPointer(start: p.ints, count: p.n_ints).map { Int(clamping: $0) } }
            if p.n_floats > 0 { attr.floats = Array(UnsafeBufferPointer(start: p.floats, count: p.n_floats)) }
            if let t = p.t { attr.tensor = try tensor(t.pointee, path: path, folder: folder) }
            attributes[string(p.name)] = attr
        }
        return ONNXNode(opType: string(n.op_type), domain: string(n.domain), name: string(n.name),
                        inputs: strings(n.input, n.n_input), outputs: strings(n.output, n.n_output), attributes: attributes)
    }

    private static func valueInfo(_ v: Onnx__ValueInfoProto, path: String) throws -> ONNXValueInfo {
        let name = string(v.name)
        guard let type = v.type?.pointee, type.value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE,
              let tensorType = type.tensor_type?.pointee else {
            throw ModelFileError(path: path, problem: "graph input/output '\(name)' is not a tensor")
        }
        guard let element = elementType(tensorType.elem_type) else {
            throw ModelFileError(path: path, problem: "graph input/output '\(name)' has unsupported element type \(dataTypeName(tensorType.elem_type))")
        }
        var dims: [Dim]?
        if let shape = tensorType.shape?.pointee {
            dims = buffer(shape.dim, shape.n_dim).map { d in
                let p = d.pointee
                if p.value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE { return .fixed(Int(p.dim_value)) }
                if p.value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM { return .symbol(string(p.dim_param)) }
                return .symbol("?")
            }
        }
        return ONNXValueInfo(name: name, type: element, dims: dims)
    }

    /// A TensorProto as a graph value: float types become float32, integer and bool types int64.
    static func tensor(_ t: Onnx__TensorProto, path: String, folder: String) throws -> Value {
        let name = string(t.name)
        let fail = { (problem: String) in ModelFileError(path: path, problem: "tensor '\(name)': \(problem)") }
        let dims = UnsafeBufferPointer(start: t.dims, count: t.n_dims).map { Int(clamping: $0) }
        guard dims.count <= Shape.maxRank, dims.allSatisfy({ $0 >= 0 }) else { throw fail("unsupported dims \(dims)") }
        var count = 1
        for d in dims {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, p <= 1 << 34 else { throw fail("dims \(dims) are too large") }
            count = p
        }
        let shape = Shape(dims)
        let type = t.data_type
        guard let element = elementType(type) else { throw fail("unsupported element type \(dataTypeName(type))") }
        let width = elementWidth(type)
        // Where the bytes are: external file, raw_data, or a typed repeated field.
        var raw: Data?
        if t.has_data_location != 0 && t.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL {
            raw = try externalData(t, name: name, path: path, folder: folder, bytes: count * width)
        } else if t.has_raw_data != 0 {
            raw = Data(bytes: t.raw_data.data ?? UnsafeMutablePointer(bitPattern: 1)!, count: t.raw_data.len)
        }
        if let raw {
            guard raw.count == count * width else { throw fail("\(raw.count) bytes of data for shape \(dims) (\(count * width) expected)") }
            return raw.withUnsafeBytes { bytes in decode(bytes, type: type, count: count, shape: shape, element: element) }
        }
        func need(_ n: Int) throws { guard n == count else { throw fail("\(n) values for shape \(dims) (\(count) expected)") } }
        switch type {
        case 1:
            try need(t.n_float_data)
            return .float(Tensor(shape: shape, scalars: Array(UnsafeBufferPointer(start: t.float_data, count: count))))
        case 11:
            try need(t.n_double_data)
            return .float(Tensor(shape: shape, scalars: UnsafeBufferPointer(start: t.double_data, count: count).map { Float($0) }))
        case 7:
            try need(t.n_int64_data)
            return .int(IntTensor(shape: shape, values: Array(UnsafeBufferPointer(start: t.int64_data, count: count))))
        case 10, 16:
            try need(t.n_int32_data)  // fp16/bf16 bits stored in int32_data
            let bits = UnsafeBufferPointer(start: t.int32_data, count: count).map { UInt16(truncatingIfNeeded: $0) }
            return .float(Tensor(shape: shape, scalars: bits.map { type == 10 ? Float(Float16(bitPattern: $0)) : Float(bitPattern: UInt32($0) << 16) }))
        default:
            try need(t.n_int32_data)
            return .int(IntTensor(shape: shape, values: UnsafeBufferPointer(start: t.int32_data, count: count).map { Int64($0) }))
        }
    }

    /// Little-endian raw bytes of `count` elements of ONNX type `type`.
    private static func decode(_ bytes: UnsafeRawBufferPointer, type: Int32, count: Int, shape: Shape, element: ElementType) -> Value {
        func load<T>(_: T.Type, _ i: Int) -> T { bytes.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.stride, as: T.self) }
        switch type {
        case 1:
            let out = Tensor(uninitialized: shape)
            if count > 0 { UnsafeMutableRawPointer(out.pointer).copyMemory(from: bytes.baseAddress!, byteCount: count * 4) }
            return .float(out)
        case 11: return .float(Tensor(shape: shape, scalars: (0..<count).map { Float(load(Double.self, $0)) }))
        case 10: return .float(Tensor(shape: shape, scalars: (0..<count).map { Float(Float16(bitPattern: load(UInt16.self, $0))) }))
        case 16: return .float(Tensor(shape: shape, scalars: (0..<count).map { Float(bitPattern: UInt32(load(UInt16.self, $0)) << 16) }))
        case 7: return .int(IntTensor(shape: shape, values: (0..<count).map { load(Int64.self, $0) }))
        case 6: return .int(IntTensor(shape: shape, values: (0..<count).map { Int64(load(Int32.self, $0)) }))
        case 5: return .int(IntTensor(shape: shape, values: (0..<count).map { Int64(load(Int16.self, $0)) }))
        case 3: return .int(IntTensor(shape: shape, values: (0..<count).map { Int64(load(Int8.self, $0)) }))
        default: return .int(IntTensor(shape: shape, values: (0..<count).map { Int64(load(UInt8.self, $0)) }))  // uint8, bool
        }
    }

    /// Reads external data, refusing paths that leave the model's folder.
    private static func externalData(_ t: Onnx__TensorProto, name: String, path: String, folder: String, bytes: Int) throws -> Data {
        var entries: [String: String] = [:]
        for e in buffer(t.external_data, t.n_external_data) { entries[string(e.pointee.key)] = string(e.pointee.value) }
        let fail = { (problem: String) in ModelFileError(path: path, problem: "tensor '\(name)': external data \(problem)") }
        guard let location = entries["location"], !location.isEmpty else { throw fail("has no location") }
        let root = URL(fileURLWithPath: folder.isEmpty ? "." : folder).standardizedFileURL.resolvingSymlinksInPath()
        let file = root.appendingPathComponent(location).standardizedFileURL.resolvingSymlinksInPath()
        guard !location.hasPrefix("/"), file.path.hasPrefix(root.path + "/") else {
            throw fail("'\(location)' is outside the model's folder \(root.path)")
        }
        let offset = Int(entries["offset"] ?? "0") ?? -1, length = Int(entries["length"] ?? "\(bytes)") ?? -1
        guard offset >= 0, length == bytes else { throw fail("offset \(entries["offset"] ?? "") / length \(entries["length"] ?? "") do not fit \(bytes) bytes") }
        guard let handle = FileHandle(forReadingAtPath: file.path) else { throw fail("file '\(location)' cannot be opened") }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        let data = try handle.read(upToCount: length) ?? Data()
        guard data.count == length else { throw fail("file '\(location)' holds \(data.count) of \(length) bytes at offset \(offset)") }
        return data
    }

    static func elementType(_ type: Int32) -> ElementType? {
        switch type {
        case 1, 10, 11, 16: return .float32
        case 2, 3, 5, 6, 7, 9: return .int64
        default: return nil
        }
    }

    private static func elementWidth(_ type: Int32) -> Int {
        switch type {
        case 11, 7: return 8
        case 1, 6: return 4
        case 10, 16, 5: return 2
        default: return 1
        }
    }

    static func dataTypeName(_ type: Int32) -> String {
        let names = [1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64", 8: "STRING", 9: "BOOL",
                     10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 14: "COMPLEX64", 15: "COMPLEX128", 16: "BFLOAT16"]
        return names[Int(type)] ?? "type \(type)"
    }
}

/// A C string as Swift (empty for NULL).
private func string(_ p: UnsafeMutablePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }

/// A protobuf-c repeated message field as a Swift array of pointers.
private func buffer<T>(_ p: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ n: Int) -> [UnsafeMutablePointer<T>] {
    guard let p, n > 0 else { return [] }
    return UnsafeBufferPointer(start: p, count: n).compactMap { $0 }
}

/// A protobuf-c repeated string field.
private func strings(_ p: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ n: Int) -> [String] {
    guard let p, n > 0 else { return [] }
    return UnsafeBufferPointer(start: p, count: n).map { string($0) }
}

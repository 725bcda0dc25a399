// Graph: the IR every model format imports into and every executor runs — values (named, typed
// edges, some holding constant tensors such as weights), nodes (a typed `Op` over input and
// output values) in topological order, and the graph's inputs and outputs. The loaders build
// it, passes rewrite it, the interpreter and the compiled plan run it, and the TapeExecutor
// differentiates it for training. A graph is a value type: passes return new graphs.

import Tensors

/// Index of a value in a ``Graph``.
public struct ValueID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let index: Int
    public init(_ index: Int) { self.index = index }
    public static func < (a: ValueID, b: ValueID) -> Bool { a.index < b.index }
    public var description: String { "%\(index)" }
}

/// One dimension of a declared input or output shape.
public enum Dim: Sendable, Equatable, CustomStringConvertible {
    case fixed(Int)
    /// A named dimension fixed only at run time (e.g. `batch`).
    case symbol(String)

    public var description: String {
        switch self {
        case .fixed(let n): return "\(n)"
        case .symbol(let s): return s
        }
    }
}

/// What the graph knows about a value.
public struct ValueInfo: Sendable {
    public var name: String
    public var type: ElementType
    /// Declared shape (graph inputs and outputs), or nil where unknown.
    public var dims: [Dim]?

    public init(name: String, type: ElementType = .float32, dims: [Dim]? = nil) {
        self.name = name
        self.type = type
        self.dims = dims
    }
}

/// One operation: `outputs = op(inputs)`. A nil input is an omitted optional input.
public struct Node: Sendable {
    public var op: Op
    public var inputs: [ValueID?]
    public var outputs: [ValueID]
    /// The name it had in the source model, for messages.
    public var name: String

    public init(_ op: Op, inputs: [ValueID?], outputs: [ValueID], name: String = "") {
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
        self.name = name
    }
}

/// A dataflow graph over float32 and int64 tensors.
public struct Graph: Sendable {
    public var values: [ValueInfo] = []
    /// Nodes in topological order.
    public var nodes: [Node] = []
    public var inputs: [ValueID] = []
    public var outputs: [ValueID] = []
    /// Values known before running: weights, folded shape arithmetic.
    public var constants: [ValueID: Value] = [:]
    /// Free-form model metadata (ONNX `metadata_props`, producer, opset).
    public var metadata: [String: String] = [:]

    public init() {}

    /// Adds a value and returns its id.
    @discardableResult
    public mutating func addValue(_ info: ValueInfo) -> ValueID {
        values.append(info)
        return ValueID(values.count - 1)
    }

    /// Adds a constant value.
    public mutating func addConstant(_ value: Value, name: String) -> ValueID {
        let id = addValue(ValueInfo(name: name, type: value.elementType))
        constants[id] = value
        return id
    }

    public subscript(id: ValueID) -> ValueInfo { values[id.index] }

    /// Number of weight elements: float constants that feed nodes.
    public var parameterCount: Int {
        var used = Set<ValueID>()
        for n in nodes { for case let i? in n.inputs { used.insert(i) } }
        return constants.reduce(0) { acc, kv in
            if case .float(let t) = kv.value, used.contains(kv.key) { return acc + t.count }
            return acc
        }
    }

    /// Nodes per op name, e.g. `["conv": 22, "add": 31]`.
    public var opHistogram: [String: Int] {
        nodes.reduce(into: [:]) { $0[$1.op.name, default: 0] += 1 }
    }

    /// The input named `name`, if any.
    public func input(named name: String) -> ValueID? { inputs.first { values[$0.index].name == name } }
}

/// A failure while importing, checking or running a graph; names the node and op where it can.
public enum GraphError: Error, CustomStringConvertible, Sendable {
    /// A node failed: its name, op, and what went wrong.
    case node(name: String, op: String, underlying: String)
    /// An input value was missing or had the wrong type or shape.
    case badInput(String)
    /// Anything else about the graph's structure.
    case invalid(String)

    public var description: String {
        switch self {
        case let .node(name, op, underlying): return "node '\(name)' (\(op)): \(underlying)"
        case let .badInput(message): return "input: \(message)"
        case let .invalid(message): return "graph: \(message)"
        }
    }
}

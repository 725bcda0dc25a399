// ParameterSet: the trainable tensors of a model, by name, in a fixed order. Optimizers update
// these tensors in place; safetensors files save and load them by the same names.

/// Named trainable tensors in a stable order (the order they were added).
public final class ParameterSet {
    public private(set) var names: [String] = []
    public private(set) var tensors: [Tensor] = []
    private var index: [String: Int] = [:]

    public init() {}

    /// Creates a set from `(name, tensor)` pairs; names must be unique.
    public init(_ pairs: [(String, Tensor)]) throws {
        for (n, t) in pairs { try add(n, t) }
    }

    /// Adds a tensor under a new name.
    public func add(_ name: String, _ tensor: Tensor) throws {
        guard index[name] == nil else {
            throw TensorError.invalidArgument(op: "ParameterSet.add", "duplicate parameter name '\(name)'")
        }
        index[name] = names.count
        names.append(name)
        tensors.append(tensor)
    }

    public var count: Int { names.count }

    /// Total number of scalar parameters.
    public var scalarCount: Int { tensors.reduce(0) { $0 + $1.count } }

    public subscript(name: String) -> Tensor? { index[name].map { tensors[$0] } }

    /// Position of `name` in the order.
    public func position(of name: String) -> Int? { index[name] }

    /// The parameters as a dictionary (for saving).
    public var dictionary: [String: Tensor] {
        Dictionary(uniqueKeysWithValues: zip(names, tensors))
    }

    /// Copies values from `source` into these tensors: every name must be present with the same shape.
    public func load(_ source: [String: Tensor], context: String = "parameters") throws {
        for (n, t) in zip(names, tensors) {
            guard let s = source[n] else {
                throw TensorError.invalidArgument(op: "ParameterSet.load", "\(context): missing tensor '\(n)' (shape \(t.shape))")
            }
            guard s.shape == t.shape else {
                throw TensorError.shapeMismatch(op: "ParameterSet.load", t.shape, s.shape, detail: "\(context): tensor '\(n)'")
            }
            t.assign(s)
        }
    }
}

// Value: what flows along a graph edge — a float32 tensor (activations, weights) or a small
// int64 tensor (shapes, indices, integer timesteps, booleans as 0/1). Int tensors live on the
// host as Swift arrays: they exist for shape arithmetic and lookups, and after specialization a
// compiled plan sees float tensors only (an integer timestep input is cast at the entry).

import Tensors

/// Element type of a graph value.
public enum ElementType: String, Sendable, CaseIterable {
    case float32, int64
}

/// A small int64 tensor, row-major.
public struct IntTensor: Equatable, Sendable {
    public var shape: Shape
    public var values: [Int64]

    public init(shape: Shape, values: [Int64]) {
        precondition(values.count == shape.elementCount, "IntTensor: \(values.count) values for shape \(shape)")
        self.shape = shape
        self.values = values
    }

    /// A rank-1 tensor.
    public init(_ values: [Int64]) { self.init(shape: [values.count], values: values) }

    /// A rank-0 tensor.
    public init(scalar: Int64) { self.init(shape: [], values: [scalar]) }
}

/// A value of the graph at run time.
public enum Value: Sendable {
    case float(Tensor)
    case int(IntTensor)

    public var shape: Shape {
        switch self {
        case .float(let t): return t.shape
        case .int(let t): return t.shape
        }
    }

    public var elementType: ElementType {
        switch self {
        case .float: return .float32
        case .int: return .int64
        }
    }

    /// The same elements with another shape (element counts must agree).
    func reshaped(_ shape: Shape) throws -> Value {
        switch self {
        case .float(let t): return .float(try t.reshaped(shape))
        case .int(let t):
            guard t.values.count == shape.elementCount else {
                throw TensorError.shapeMismatch(op: "reshape", t.shape, shape, detail: "element counts differ")
            }
            return .int(IntTensor(shape: shape, values: t.values))
        }
    }

    /// Elements as Int64 (floats truncated toward zero, as ONNX Cast does).
    var intValues: [Int64] {
        switch self {
        case .int(let t): return t.values
        case .float(let t): return t.scalars.map { $0.isFinite ? Int64($0) : 0 }
        }
    }

    /// Elements as Float.
    var floatValues: [Float] {
        switch self {
        case .float(let t): return t.scalars
        case .int(let t): return t.values.map { Float($0) }
        }
    }
}

// TensorError: the one error type tensor ops throw for bad shapes, axes and parameters.
// Every message names the op and the shapes involved, so a user can find the call that failed.

/// A failed tensor operation: invalid shapes, axes or parameters, named after the op.
public enum TensorError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Two shapes that must agree (or broadcast) do not.
    case shapeMismatch(op: String, Shape, Shape, detail: String = "")
    /// An axis outside `-rank..<rank`.
    case badAxis(op: String, axis: Int, shape: Shape)
    /// Any other invalid argument.
    case invalidArgument(op: String, String)

    public var description: String {
        switch self {
        case let .shapeMismatch(op, a, b, detail):
            return "\(op): shapes \(a) and \(b) do not match" + (detail.isEmpty ? "" : " (\(detail))")
        case let .badAxis(op, axis, shape):
            return "\(op): axis \(axis) is out of range for shape \(shape)"
        case let .invalidArgument(op, message):
            return "\(op): \(message)"
        }
    }
}

extension Shape {
    /// The axis normalized to `0..<rank`, or a ``TensorError/badAxis(op:axis:shape:)``.
    public func axis(_ axis: Int, op: String) throws -> Int {
        guard let a = normalizedAxis(axis) else { throw TensorError.badAxis(op: op, axis: axis, shape: self) }
        return a
    }

    /// Throws unless this shape has exactly `rank` axes.
    public func requireRank(_ rank: Int, op: String, _ what: String = "input") throws {
        guard self.rank == rank else {
            throw TensorError.invalidArgument(op: op, "\(what) must have \(rank) axes, got shape \(self)")
        }
    }
}

// Shape: the dimensions of a tensor, stored inline (up to 6 axes) so that shape arithmetic in
// kernels never touches the heap. Row-major (C order); axis 0 is the batch axis for NCHW data.
// Not a tensor: it owns no storage and knows nothing about element types.

/// The dimensions of a tensor, at most ``Shape/maxRank`` axes, stored without heap allocation.
public struct Shape: Hashable, Sendable, RandomAccessCollection, ExpressibleByArrayLiteral,
    CustomStringConvertible
{
    public static let maxRank = 6
    private var d: (Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0)
    /// Number of axes.
    public private(set) var rank: Int = 0

    /// Creates a shape; every dimension must be non-negative and there may be at most 6.
    public init(_ dims: some Sequence<Int>) {
        for x in dims {
            precondition(rank < Shape.maxRank, "Shape: more than \(Shape.maxRank) axes")
            precondition(x >= 0, "Shape: negative dimension \(x)")
            self[rank] = x
            rank += 1
        }
    }

    public init(arrayLiteral elements: Int...) { self.init(elements) }

    /// A shape of `rank` axes, all equal to `value`.
    public init(rank: Int, repeating value: Int) {
        self.init(repeatElement(value, count: rank))
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { rank }

    public subscript(i: Int) -> Int {
        get {
            precondition(i >= 0 && i < rank, "Shape: axis \(i) out of range for rank \(rank)")
            switch i {
            case 0: return d.0
            case 1: return d.1
            case 2: return d.2
            case 3: return d.3
            case 4: return d.4
            default: return d.5
            }
        }
        set {
            precondition(i >= 0 && i < Shape.maxRank, "Shape: axis \(i) out of range")
            switch i {
            case 0: d.0 = newValue
            case 1: d.1 = newValue
            case 2: d.2 = newValue
            case 3: d.3 = newValue
            case 4: d.4 = newValue
            default: d.5 = newValue
            }
        }
    }

    /// Total number of elements (1 for a scalar shape `[]`).
    public var elementCount: Int {
        var n = 1
        for i in 0..<rank { n *= self[i] }
        return n
    }

    /// Row-major strides of a contiguous tensor of this shape, in elements.
    public var contiguousStrides: Shape {
        var s = self
        var acc = 1
        for i in stride(from: rank - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= self[i]
        }
        return s
    }

    /// Product of dimensions in `axes` (half-open range).
    public func product(_ axes: Range<Int>) -> Int {
        var n = 1
        for i in axes { n *= self[i] }
        return n
    }

    /// This shape with axis `i` replaced by `value`.
    public func replacing(axis i: Int, with value: Int) -> Shape {
        var s = self
        s[i] = value
        return s
    }

    /// This shape with axis `i` removed.
    public func removing(axis i: Int) -> Shape {
        var s = Shape()
        for j in 0..<rank where j != i { s.append(self[j]) }
        return s
    }

    /// Appends one axis.
    public mutating func append(_ x: Int) {
        precondition(rank < Shape.maxRank, "Shape: more than \(Shape.maxRank) axes")
        precondition(x >= 0, "Shape: negative dimension \(x)")
        self[rank] = x
        rank += 1
    }

    /// Normalizes a possibly negative axis (Python style) or returns nil when out of range.
    public func normalizedAxis(_ axis: Int) -> Int? {
        let a = axis < 0 ? axis + rank : axis
        return (a >= 0 && a < rank) ? a : nil
    }

    public static func == (a: Shape, b: Shape) -> Bool {
        guard a.rank == b.rank else { return false }
        for i in 0..<a.rank where a[i] != b[i] { return false }
        return true
    }

    public func hash(into h: inout Hasher) {
        h.combine(rank)
        for i in 0..<rank { h.combine(self[i]) }
    }

    public var description: String { "[" + map(String.init).joined(separator: ", ") + "]" }
}

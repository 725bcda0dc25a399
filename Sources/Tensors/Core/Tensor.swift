// Tensor: a contiguous, row-major float32 array with a shape. Storage is a 64-byte aligned
// buffer shared by views; a view is the same storage at an element offset with another shape
// (reshape, a range of the first axis). Anything else (transpose, strided slice) copies.
// Tensors are values whose storage is shared: writing through one view is seen by the others,
// as in PyTorch. Forward kernels write into a fresh output, or into the caller's `into:` tensor
// (a view into an inference plan's arena) after checking its shape (`Tensor+Output.swift`).

import Foundation

/// Heap storage for tensor elements: one aligned allocation, freed when the last tensor goes.
public final class TensorStorage: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let capacity: Int

    /// Allocates `capacity` floats, 64-byte aligned, zero-filled unless `zeroed` is false (then
    /// the caller must write every element before reading any).
    public init(capacity: Int, zeroed: Bool = true) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1) * 4, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(capacity, 1))
        self.capacity = capacity
        if zeroed { base.initialize(repeating: 0, count: max(capacity, 1)) }
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }
}

/// A contiguous float32 tensor: `shape` elements in row-major order.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    public let shape: Shape
    public let storage: TensorStorage
    public let offset: Int

    /// A tensor of zeros.
    public init(zeros shape: Shape) {
        self.shape = shape
        storage = TensorStorage(capacity: shape.elementCount)
        offset = 0
    }

    /// A tensor whose elements are unspecified: for kernels that overwrite their whole output.
    public init(uninitialized shape: Shape) {
        self.shape = shape
        storage = TensorStorage(capacity: shape.elementCount, zeroed: false)
        offset = 0
    }

    /// A tensor filled with `value`.
    public init(shape: Shape, repeating value: Float) {
        self.init(zeros: shape)
        if value != 0 { pointer.update(repeating: value, count: count) }
    }

    /// A tensor holding `scalars` in row-major order; their count must equal the shape's.
    public init(shape: Shape, scalars: [Float]) {
        precondition(scalars.count == shape.elementCount,
                     "Tensor: \(scalars.count) values for shape \(shape) (\(shape.elementCount) elements)")
        self.init(zeros: shape)
        scalars.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    /// A rank-0 tensor.
    public init(scalar: Float) { self.init(shape: [], scalars: [scalar]) }

    /// A view of `shape` elements of `storage` starting at element `offset` (an arena slot):
    /// shares the storage, copies nothing. `offset + shape.elementCount` must fit the capacity.
    public init(viewing storage: TensorStorage, offset: Int, shape: Shape) {
        self.init(shape: shape, storage: storage, offset: offset)
    }

    init(shape: Shape, storage: TensorStorage, offset: Int) {
        precondition(offset >= 0 && offset + shape.elementCount <= storage.capacity,
                     "Tensor: view of \(shape) at offset \(offset) out of storage bounds (capacity \(storage.capacity))")
        self.shape = shape
        self.storage = storage
        self.offset = offset
    }

    /// Number of elements.
    @inlinable public var count: Int { shape.elementCount }
    public var rank: Int { shape.rank }

    /// The first element. Valid while the tensor (its storage) is alive.
    public var pointer: UnsafeMutablePointer<Float> { storage.base + offset }

    /// All elements, row-major.
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// The single element of a one-element tensor.
    public var scalar: Float {
        precondition(count == 1, "Tensor.scalar: tensor of shape \(shape) has \(count) elements")
        return pointer[0]
    }

    /// Calls `body` with the elements; the pointer must not escape.
    @inlinable public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) { try body(UnsafeBufferPointer(start: pointer, count: count)) }
    }

    /// Calls `body` with mutable elements (shared with every view of the same storage).
    @inlinable public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) { try body(UnsafeMutableBufferPointer(start: pointer, count: count)) }
    }

    /// A view with another shape of the same element count.
    public func reshaped(_ newShape: Shape) throws -> Tensor {
        guard newShape.elementCount == count else {
            throw TensorError.shapeMismatch(op: "reshape", shape, newShape, detail: "element counts differ")
        }
        return Tensor(shape: newShape, storage: storage, offset: offset)
    }

    /// A view of rows `range` of the first axis.
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "Tensor.rows: \(range) out of range for shape \(shape)")
        let inner = shape.product(1..<rank)
        return Tensor(shape: shape.replacing(axis: 0, with: range.count), storage: storage,
                      offset: offset + range.lowerBound * inner)
    }

    /// A new tensor with the same elements and its own storage.
    public func copy() -> Tensor {
        let out = Tensor(zeros: shape)
        out.pointer.update(from: pointer, count: count)
        return out
    }

    /// Copies elements from `source`, which must have the same element count, into this storage.
    public func assign(_ source: Tensor) {
        precondition(source.count == count, "Tensor.assign: \(source.shape) into \(shape)")
        pointer.update(from: source.pointer, count: count)
        withExtendedLifetime(source) {}
    }

    public var description: String {
        let head = scalars.prefix(8).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor\(shape)[\(head)\(count > 8 ? ", …" : "")]"
    }
}

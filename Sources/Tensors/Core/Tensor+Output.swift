// Kernel outputs: the one place a forward kernel's `into out: Tensor?` parameter is checked.
// A compiled inference plan hands every kernel a preassigned view into its arena; eager code
// passes nil and gets a fresh tensor. Owns only the shape check: kernels that accumulate into
// their output zero-fill it themselves, and whether `out` may alias an input is each kernel's
// contract, stated in its doc comment (elementwise kernels allow exactly one input, in place;
// all others no overlap, unchecked).

extension Tensor {
    /// The tensor a kernel writes its `shape` result into: `out` itself when given (its shape
    /// must equal `shape` exactly), else a new uninitialized tensor (the kernel writes every element).
    /// - Throws: ``TensorError/shapeMismatch(op:_:_:detail:)`` naming `op`, `out.shape` and `shape`.
    static func output(_ out: Tensor?, shape: Shape, op: @autoclosure () -> String) throws -> Tensor {
        guard let out else { return Tensor(uninitialized: shape) }
        guard out.shape == shape else {
            throw TensorError.shapeMismatch(op: op(), out.shape, shape, detail: "output tensor")
        }
        return out
    }

    /// ``output(_:shape:op:)`` for kernels that do not throw: a wrong shape traps with the
    /// same message.
    static func checkedOutput(_ out: Tensor?, shape: Shape, op: @autoclosure () -> String) -> Tensor {
        do { return try output(out, shape: shape, op: op()) } catch { preconditionFailure("\(error)") }
    }
}

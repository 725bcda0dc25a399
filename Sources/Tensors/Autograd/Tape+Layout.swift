// Tape+Layout: the layout op family on the tape — recording methods and the family's backward rules.

/// Differentiable layout ops with their parameters and saved tensors.
enum LayoutOp {
}

extension LayoutOp {
    /// Gradients with respect to each input (see BackwardContext).
    func backward(_ c: BackwardContext) throws -> [Tensor?] {
        switch self {}
    }
}

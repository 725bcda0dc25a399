// Tape+Normalization: the normalization op family on the tape — recording methods and the family's backward rules.

/// Differentiable normalization ops with their parameters and saved tensors.
enum NormalizationOp {
}

extension NormalizationOp {
    /// Gradients with respect to each input (see BackwardContext).
    func backward(_ c: BackwardContext) throws -> [Tensor?] {
        switch self {}
    }
}

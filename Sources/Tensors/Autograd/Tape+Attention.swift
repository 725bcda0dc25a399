// Tape+Attention: the attention op family on the tape — recording methods and the family's backward rules.

/// Differentiable attention ops with their parameters and saved tensors.
enum AttentionOp {
}

extension AttentionOp {
    /// Gradients with respect to each input (see BackwardContext).
    func backward(_ c: BackwardContext) throws -> [Tensor?] {
        switch self {}
    }
}

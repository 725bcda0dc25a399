// Tape+Resampling: the resampling op family on the tape — recording methods and the family's backward rules.

/// Differentiable resampling ops with their parameters and saved tensors.
enum ResamplingOp {
}

extension ResamplingOp {
    /// Gradients with respect to each input (see BackwardContext).
    func backward(_ c: BackwardContext) throws -> [Tensor?] {
        switch self {}
    }
}

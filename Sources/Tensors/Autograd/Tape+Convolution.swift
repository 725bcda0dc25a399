// Tape+Convolution: the convolution op family on the tape — recording methods and the family's backward rules.

/// Differentiable convolution ops with their parameters and saved tensors.
enum ConvolutionOp {
}

extension ConvolutionOp {
    /// Gradients with respect to each input (see BackwardContext).
    func backward(_ c: BackwardContext) throws -> [Tensor?] {
        switch self {}
    }
}

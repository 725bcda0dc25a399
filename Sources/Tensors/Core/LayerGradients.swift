// LayerGradients: what the backward kernel of a layer with parameters returns (normalization,
// convolution): the gradient of its input and of its weight and bias, each nil when not asked for
// or when the layer has no such parameter.

/// Gradients of a layer: input, and weight / bias when those were given and asked for.
public struct LayerGradients {
    public var input: Tensor?
    public var weight: Tensor?
    public var bias: Tensor?

    public init(input: Tensor? = nil, weight: Tensor? = nil, bias: Tensor? = nil) {
        self.input = input
        self.weight = weight
        self.bias = bias
    }
}

// Graph+DiffusionInputs: which graph input is the noisy image and which the timestep — the one
// rule every loader, executor and pass uses. A diffusion model takes an image (the first rank-4
// float input, or else the first input) and optionally a timestep (the other input).

extension Graph {
    /// The image input and the timestep input (nil when the model takes none); an error when the
    /// graph has no input or more than two.
    public func diffusionInputs() throws -> (image: ValueID, time: ValueID?) {
        guard !inputs.isEmpty, inputs.count <= 2 else {
            throw GraphError.invalid("a diffusion model takes an image and optionally a timestep; this one has \(inputs.count) inputs (\(inputs.map { self[$0].name }))")
        }
        let image = inputs.first { self[$0].dims?.count == 4 && self[$0].type == .float32 } ?? inputs[0]
        return (image, inputs.first { $0 != image })
    }
}

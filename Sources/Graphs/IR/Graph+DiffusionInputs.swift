// Graph+DiffusionInputs: which graph input is the noisy image, which the timestep and which the
// class labels — the one rule every loader, executor and pass uses. A diffusion model takes an
// image (the first rank-4 float input, or else the first input), optionally a timestep, and
// optionally class labels: the input whose name contains "class" or "label", or else the third
// input (diffusers' and torch exports' argument order: sample, timestep, class_labels).

/// The roles of a diffusion model's graph inputs.
public struct DiffusionInputs: Sendable, Equatable {
    /// The noisy image `[batch, C, H, W]`.
    public let image: ValueID
    /// The timestep `[batch]` (or one for the batch), when the model takes one.
    public let time: ValueID?
    /// The class labels `[batch]` (int64 class indices, or float for timestep-style class
    /// embeddings), when the model is class-conditional.
    public let classLabels: ValueID?
}

extension Graph {
    /// The role of every input; an error when the graph has no input or more than three.
    public func diffusionInputRoles() throws -> DiffusionInputs {
        guard !inputs.isEmpty, inputs.count <= 3 else {
            throw GraphError.invalid("a diffusion model takes an image, optionally a timestep and optionally class labels; this one has \(inputs.count) inputs (\(inputs.map { self[$0].name }))")
        }
        let image = inputs.first { self[$0].dims?.count == 4 && self[$0].type == .float32 } ?? inputs[0]
        let others = inputs.filter { $0 != image }
        let named = others.first { id in ["class", "label"].contains { self[id].name.lowercased().contains($0) } }
        let classLabels = named ?? (others.count == 2 ? others[1] : nil)
        return DiffusionInputs(image: image, time: others.first { $0 != classLabels }, classLabels: classLabels)
    }

    /// The image input and the timestep input (nil when the model takes none).
    public func diffusionInputs() throws -> (image: ValueID, time: ValueID?) {
        let roles = try diffusionInputRoles()
        return (roles.image, roles.time)
    }
}

extension Graph {
    /// The number of classes a class-conditional graph embeds: the rows of the constant table its
    /// class-label input indexes (an embedding lookup: `gather(axis: 0)` of a float constant by the
    /// labels, possibly after casts or reshapes). Nil when the graph takes no labels or uses them
    /// otherwise (e.g. projected like a timestep, where any integer is a label).
    public var classLabelCount: Int? {
        guard let labels = try? diffusionInputRoles().classLabels else { return nil }
        var aliases: Set<ValueID> = [labels]
        for node in nodes {
            let reads = node.inputs.indices.filter { node.inputs[$0].map(aliases.contains) ?? false }
            guard !reads.isEmpty else { continue }
            switch node.op {
            case .cast, .identity, .reshape, .unsqueeze, .squeeze, .flatten:
                if reads == [0] { aliases.formUnion(node.outputs) }
            case .gather(let axis) where reads == [1] && (axis == 0 || axis == -2):
                if let data = node.inputs[0], case .float(let table)? = constants[data], table.rank == 2 { return table.shape[0] }
            default:
                continue
            }
        }
        return nil
    }
}

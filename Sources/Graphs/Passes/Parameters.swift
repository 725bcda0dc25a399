// Which float constants of a graph are trainable parameters. Exporters do not keep PyTorch's
// parameter names for everything (TorchScript stores GroupNorm's affine as `onnx::Mul_*` /
// `onnx::Add_*` and Linear weights transposed as `onnx::MatMul_*`), so parameters are found by
// role: the weight and bias inputs of convolutions, GEMMs and normalizations, and any constant of
// two or more elements that meets image data — directly or after pure data movement (reshape,
// expand, gather, …) — in a combining op (elementwise, matmul, einsum, concat, where): a learned
// scale, an attention memory, a position embedding. Constants touching only the timestep
// (sinusoidal frequency tables) and BatchNorm's running statistics are buffers, not parameters;
// shapes read off the image are not image data. Constants named `*.weight` / `*.bias` always count.

extension Graph {
    /// The trainable constants, given the inputs that carry image data.
    public func trainableConstants(imageInputs: Set<ValueID>) -> Set<ValueID> {
        var fromImage = imageInputs
        // The float constant a value is, moved around without arithmetic.
        var origin: [ValueID: ValueID] = [:]
        for (id, value) in constants { if case .float(let t) = value, t.count >= 2 { origin[id] = id } }
        var result = Set<ValueID>()
        func add(_ node: Node, _ positions: [Int]) {
            for p in positions where p < node.inputs.count {
                if let id = node.inputs[p], case .float? = constants[id] { result.insert(id) }
            }
        }
        for node in nodes {
            let touchesImage = node.inputs.contains { $0.map(fromImage.contains) ?? false }
            switch node.op {
            case .shape, .constantOfShape, .range: continue  // shapes are not image data
            case .conv, .convTranspose, .winogradConv, .gemm: add(node, [1, 2])
            // InstanceNormalization only by name: exporters emit it with constant unit scale and zero
            // shift inside decomposed GroupNorms, which PyTorch does not train.
            case .groupNorm, .layerNorm, .batchNorm, .rmsNorm: add(node, [1, 2])
            case .binary, .matMul, .einsum, .concat, .select, .attention:
                if touchesImage {
                    for case let id? in node.inputs where !fromImage.contains(id) { if let o = origin[id] { result.insert(o) } }
                }
            case .reshape, .unsqueeze, .squeeze, .flatten, .expand, .tile, .gather, .gatherND, .slice, .transpose, .identity, .cast, .split:
                if let source = node.inputs.first ?? nil, let o = origin[source], !touchesImage {
                    for out in node.outputs { origin[out] = o }
                }
            case .attentionInterleaved, .unary, .parametricUnary, .clip, .compare, .not, .softmax, .instanceNorm, .reduce, .pad, .resize,
                 .averagePool, .maxPool, .depthToSpace, .spaceToDepth:
                break  // no parameter role
            }
            if touchesImage { fromImage.formUnion(node.outputs) }
        }
        for (id, value) in constants {
            guard case .float = value else { continue }
            let name = self[id].name
            if name.hasSuffix(".weight") || name.hasSuffix(".bias") { result.insert(id) }
        }
        return result
    }
}

// Tape: reverse-mode automatic differentiation over tensors. Ops called on a tape compute their
// value at once with the fast kernels of ``CPU`` and record a typed node; ``Tape/backward(from:seed:)``
// walks the nodes in reverse and applies each op family's backward rule (`Tape+<Family>.swift`,
// one `backward` function per family, every rule checked by finite differences in the tests).
// A tape is single-threaded and single-use: build one per training step. No graph optimization
// here; the Graph module's autograd executor drives a tape from the IR.

/// A value recorded on a ``Tape``.
public struct Var: Hashable, Sendable {
    public let id: Int
}

/// A recorded op: its typed payload (family enum with parameters and saved tensors) and inputs.
struct TapeNode {
    let op: TapeOp
    let inputs: [Var]
}

/// Every differentiable op, grouped by family; each family enum has one `backward` function.
enum TapeOp {
    case elementwise(ElementwiseOp)
    case reduction(ReductionOp)
    case linalg(LinalgOp)
    case convolution(ConvolutionOp)
    case normalization(NormalizationOp)
    case attention(AttentionOp)
    case layout(LayoutOp)
    case resampling(ResamplingOp)

    func backward(_ c: BackwardContext) throws -> [Tensor?] {
        switch self {
        case .elementwise(let op): return try op.backward(c)
        case .reduction(let op): return try op.backward(c)
        case .linalg(let op): return try op.backward(c)
        case .convolution(let op): return try op.backward(c)
        case .normalization(let op): return try op.backward(c)
        case .attention(let op): return try op.backward(c)
        case .layout(let op): return try op.backward(c)
        case .resampling(let op): return try op.backward(c)
        }
    }
}

/// What a backward rule sees: the input values, the output value, the incoming gradient
/// (same shape as the output) and which inputs need a gradient. It returns one gradient per
/// input (same shape as that input), or nil where `needsGrad[i]` is false.
struct BackwardContext {
    let cpu: CPU
    let inputs: [Tensor]
    let output: Tensor
    let grad: Tensor
    let needsGrad: [Bool]
}

/// Gradients of a backward pass, by variable.
public struct Gradients {
    var byID: [Int: Tensor] = [:]
    /// The gradient of the root with respect to `v`, or nil when `v` does not influence the root
    /// or does not require a gradient.
    public subscript(v: Var) -> Tensor? { byID[v.id] }
}

/// A reverse-mode autograd tape over float32 tensors.
public final class Tape {
    public let cpu: CPU
    private var values: [Tensor] = []
    private var requires: [Bool] = []
    private var nodes: [TapeNode?] = []

    public init(cpu: CPU) { self.cpu = cpu }

    /// A leaf that receives a gradient (a trainable parameter or an input under test).
    public func parameter(_ value: Tensor) -> Var { push(value, requiresGrad: true, node: nil) }

    /// A leaf that receives no gradient (data, targets, masks).
    public func constant(_ value: Tensor) -> Var { push(value, requiresGrad: false, node: nil) }

    /// The value of `v`.
    public subscript(v: Var) -> Tensor { values[v.id] }

    /// Whether `v` depends on a parameter.
    public func requiresGrad(_ v: Var) -> Bool { requires[v.id] }

    /// Number of recorded values.
    public var count: Int { values.count }

    /// Records an op's output. Ops that no parameter feeds are stored as constants (no node).
    func record(_ value: Tensor, _ op: TapeOp, _ inputs: [Var]) -> Var {
        let needs = inputs.contains { requires[$0.id] }
        return push(value, requiresGrad: needs, node: needs ? TapeNode(op: op, inputs: inputs) : nil)
    }

    private func push(_ value: Tensor, requiresGrad: Bool, node: TapeNode?) -> Var {
        values.append(value)
        requires.append(requiresGrad)
        nodes.append(node)
        return Var(id: values.count - 1)
    }

    /// Back-propagates from `root`. `seed` is d(loss)/d(root); by default ones (for a scalar
    /// loss, 1). Returns the gradient of every value that requires one.
    public func backward(from root: Var, seed: Tensor? = nil) throws -> Gradients {
        let rootValue = values[root.id]
        var grads = [Tensor?](repeating: nil, count: root.id + 1)
        if let seed {
            guard seed.shape == rootValue.shape else {
                throw TensorError.shapeMismatch(op: "backward", rootValue.shape, seed.shape, detail: "seed must match the root")
            }
            grads[root.id] = seed
        } else {
            grads[root.id] = Tensor(shape: rootValue.shape, repeating: 1)
        }
        var result = Gradients()
        for id in stride(from: root.id, through: 0, by: -1) {
            guard let g = grads[id], requires[id] else { continue }
            guard let node = nodes[id] else {
                result.byID[id] = g
                continue
            }
            grads[id] = nil  // free intermediate gradients as soon as they are consumed
            let inputValues = node.inputs.map { values[$0.id] }
            let needs = node.inputs.map { requires[$0.id] }
            let context = BackwardContext(cpu: cpu, inputs: inputValues, output: values[id], grad: g, needsGrad: needs)
            let inputGrads = try node.op.backward(context)
            precondition(inputGrads.count == node.inputs.count, "backward of \(node.op): wrong gradient count")
            for (k, input) in node.inputs.enumerated() where needs[k] {
                guard let gi = inputGrads[k] else { continue }
                precondition(gi.shape == values[input.id].shape,
                             "backward of \(node.op): gradient \(gi.shape) for input \(values[input.id].shape)")
                if let existing = grads[input.id] {
                    grads[input.id] = try cpu.add(existing, gi)
                } else {
                    grads[input.id] = gi
                }
            }
        }
        return result
    }
}

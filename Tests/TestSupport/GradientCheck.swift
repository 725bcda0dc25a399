// GradientCheck: the one central-difference gradient check of the test suite. A caller names a
// scalar loss of one float tensor (usually Σ y ⊙ R for a fixed random R, so every output element
// matters), the analytic gradient its tape gave, and which elements to perturb; the check
// returns every element where the two disagree. It owns the step, the tolerance formula and the
// Double accumulation; it does not pick elements, build tapes or record issues (callers do, so
// each test keeps its own sampling and message). `expectGradientsMatch` is the tape-closure form
// the tensor-core tests use.

import Testing
import Tensors

/// Σ y ⊙ r accumulated in Double: the scalar a gradient check differentiates.
/// - Parameters: y, r: the same element count (shapes are not compared).
public func projectedSum(_ y: Tensor, _ r: Tensor) -> Double {
    precondition(y.count == r.count, "projectedSum: \(y.shape) vs \(r.shape)")
    var acc = 0.0
    for i in 0..<y.count { acc += Double(y.pointer[i]) * Double(r.pointer[i]) }
    return acc
}

/// One element whose analytic derivative disagrees with central differences.
public struct GradientMismatch: CustomStringConvertible, Sendable {
    public let element: Int
    public let analytic: Float
    public let numeric: Float
    public var description: String { "element \(element): analytic \(analytic), numeric \(numeric)" }
}

/// A central-difference check: numeric = (loss(x + eps·eᵢ) − loss(x − eps·eᵢ)) / 2eps, and each
/// analytic derivative must satisfy |analytic − numeric| ≤ atol + rtol · max(|analytic|, |numeric|).
public struct GradientCheck: Sendable {
    public var eps: Float
    public var rtol: Float
    public var atol: Float

    public init(eps: Float = 1e-2, rtol: Float = 1e-2, atol: Float = 1e-3) {
        self.eps = eps
        self.rtol = rtol
        self.atol = atol
    }

    /// Elements of `x` (from `elements`) where `analytic` disagrees with central differences of `loss`.
    /// - Parameters:
    ///   - analytic: d loss / d x, shape of `x`.
    ///   - x: the point; never modified (`loss` receives perturbed copies).
    ///   - loss: the scalar, evaluated in Double.
    public func mismatches(_ analytic: Tensor, at x: Tensor, elements: some Sequence<Int>,
                           loss: (Tensor) throws -> Double) rethrows -> [GradientMismatch] {
        precondition(analytic.count == x.count, "GradientCheck: gradient \(analytic.shape) for input \(x.shape)")
        var found: [GradientMismatch] = []
        for i in elements {
            let plus = x.copy(), minus = x.copy()
            plus.pointer[i] += eps
            minus.pointer[i] -= eps
            let numeric = Float((try loss(plus) - loss(minus)) / Double(2 * eps)), derivative = analytic.pointer[i]
            if !(abs(derivative - numeric) <= atol + rtol * max(abs(derivative), abs(numeric))) {
                found.append(GradientMismatch(element: i, analytic: derivative, numeric: numeric))
            }
        }
        return found
    }
}

/// Checks the tape's gradients of `f` against central finite differences.
///
/// The scalar checked is L = Σ f(inputs) ⊙ R for a fixed random R, so every output element
/// matters. Up to `samples` elements of each input marked in `differentiable` are perturbed by
/// ±`eps`; analytic and numeric derivatives must agree within `atol + rtol * max(|a|, |n|)`.
public func expectGradientsMatch(_ what: String, inputs: [Tensor], differentiable: [Bool]? = nil,
                                 eps: Float = 1e-2, rtol: Float = 1e-2, atol: Float = 1e-3, samples: Int = 40,
                                 cpu: CPU = CPU(threads: 2),
                                 sourceLocation: SourceLocation = #_sourceLocation,
                                 _ f: (Tape, [Var]) throws -> Var) throws {
    let diff = differentiable ?? inputs.map { _ in true }
    func run(_ xs: [Tensor]) throws -> (Tape, [Var], Var) {
        let tape = Tape(cpu: cpu)
        let vars = zip(xs, diff).map { $1 ? tape.parameter($0) : tape.constant($0) }
        return (tape, vars, try f(tape, vars))
    }
    let (tape, vars, out) = try run(inputs)
    let projection = randomTensor(tape[out].shape, seed: 977, -1, 1)
    let grads = try tape.backward(from: out, seed: projection)
    let check = GradientCheck(eps: eps, rtol: rtol, atol: atol)
    var rng = TestRNG(seed: 4242)
    for (k, x) in inputs.enumerated() where diff[k] {
        guard let g = grads[vars[k]] else {
            Issue.record("\(what): no gradient for input \(k)", sourceLocation: sourceLocation)
            continue
        }
        let picks = x.count <= samples ? Array(0..<x.count) : (0..<samples).map { _ in rng.int(0...(x.count - 1)) }
        let failures = try check.mismatches(g, at: x, elements: picks) { xk in
            var xs = inputs
            xs[k] = xk
            let (t, _, o) = try run(xs)
            return projectedSum(t[o], projection)
        }
        if !failures.isEmpty {
            let summary = failures.prefix(4).map { "input \(k)\(x.shape) \($0)" }.joined(separator: "; ")
            Issue.record("\(what): \(failures.count) of \(picks.count) gradient checks failed: \(summary)",
                         sourceLocation: sourceLocation)
        }
    }
}

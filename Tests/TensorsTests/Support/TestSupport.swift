// Test helpers for the tensor core: deterministic random tensors, closeness checks, and the
// finite-difference gradient checker every backward rule is tested with.

import Foundation
import Testing
@_exported import TestSupport
@testable import Tensors

/// A tensor of uniform values in [low, high), reproducible from `seed`.
func randomTensor(_ shape: Shape, seed: UInt64, _ low: Float = -1, _ high: Float = 1) -> Tensor {
    var rng = TestRNG(seed: seed)
    return Tensor(shape: shape, scalars: (0..<shape.elementCount).map { _ in rng.uniform(low, high) })
}

/// Expects `actual` and `expected` to have the same shape and agree elementwise within
/// `atol + rtol * |expected|`.
func expectClose(_ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-5, atol: Float = 1e-5,
                 _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    guard actual.shape == expected.shape else {
        Issue.record("\(what): shape \(actual.shape) != expected \(expected.shape)", sourceLocation: sourceLocation)
        return
    }
    var bad = 0, first = ""
    for i in 0..<actual.count {
        let a = actual.pointer[i], e = expected.pointer[i]
        if !(abs(a - e) <= atol + rtol * abs(e)) {
            if bad == 0 { first = "index \(i): \(a) vs expected \(e)" }
            bad += 1
        }
    }
    if bad > 0 {
        Issue.record("\(what): \(bad) of \(actual.count) elements differ; first at \(first)", sourceLocation: sourceLocation)
    }
}

/// Expects `actual` and `expected` to have the same shape and the same bits in every element.
func expectSameBits(_ actual: Tensor, _ expected: Tensor, _ what: String = "",
                    sourceLocation: SourceLocation = #_sourceLocation) {
    guard actual.shape == expected.shape else {
        Issue.record("\(what): shape \(actual.shape) != expected \(expected.shape)", sourceLocation: sourceLocation)
        return
    }
    let bad = (0..<actual.count).filter { actual.pointer[$0].bitPattern != expected.pointer[$0].bitPattern }
    if let i = bad.first {
        let first = "index \(i): \(actual.pointer[i]) vs expected \(expected.pointer[i])"
        Issue.record("\(what): \(bad.count) of \(actual.count) elements differ in bits; first at \(first)", sourceLocation: sourceLocation)
    }
}

/// Checks the tape's gradients of `f` against central finite differences.
///
/// The scalar checked is L = Σ f(inputs) ⊙ R for a fixed random R, so every output element
/// matters. Up to `samples` elements of each input marked in `differentiable` are perturbed by
/// ±`eps`; analytic and numeric derivatives must agree within `atol + rtol * max(|a|, |n|)`.
func expectGradientsMatch(_ what: String, inputs: [Tensor], differentiable: [Bool]? = nil,
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
    func loss(_ xs: [Tensor]) throws -> Double {
        let (t, _, o) = try run(xs)
        let y = t[o]
        var acc = 0.0
        for i in 0..<y.count { acc += Double(y.pointer[i]) * Double(projection.pointer[i]) }
        return acc
    }
    let grads = try tape.backward(from: out, seed: projection)
    var rng = TestRNG(seed: 4242)
    for (k, x) in inputs.enumerated() where diff[k] {
        guard let g = grads[vars[k]] else {
            Issue.record("\(what): no gradient for input \(k)", sourceLocation: sourceLocation)
            continue
        }
        let picks = x.count <= samples ? Array(0..<x.count) : (0..<samples).map { _ in rng.int(0...(x.count - 1)) }
        var failures: [String] = []
        for i in picks {
            var plus = inputs, minus = inputs
            plus[k] = x.copy(); minus[k] = x.copy()
            plus[k].pointer[i] += eps
            minus[k].pointer[i] -= eps
            let numeric = Float((try loss(plus) - loss(minus)) / Double(2 * eps))
            let analytic = g.pointer[i]
            if !(abs(analytic - numeric) <= atol + rtol * max(abs(analytic), abs(numeric))) {
                failures.append("input \(k)\(x.shape) element \(i): analytic \(analytic), numeric \(numeric)")
            }
        }
        if !failures.isEmpty {
            let summary = failures.prefix(4).joined(separator: "; ")
            Issue.record("\(what): \(failures.count) of \(picks.count) gradient checks failed: \(summary)",
                         sourceLocation: sourceLocation)
        }
    }
}

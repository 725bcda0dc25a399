// Test helpers for the tensor core: closeness checks. Random tensors and the finite-difference
// gradient check (`expectGradientsMatch`) live in the shared TestSupport target.

import Foundation
import Testing
@_exported import TestSupport
@testable import Tensors

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

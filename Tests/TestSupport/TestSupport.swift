// TestSupport: helpers shared by every test target — a seeded generator for test data (SplitMix64,
// independent of the product's Philox), closeness measures, temporary folders, and the
// finite-difference gradient check (`GradientCheck.swift`). Test-only: no product target depends on it.

import Foundation
import Tensors

/// A small deterministic generator (SplitMix64) for test data.
public struct TestRNG: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [low, high).
    public mutating func uniform(_ low: Float = -1, _ high: Float = 1) -> Float {
        low + (high - low) * Float(next() >> 40) / Float(1 << 24)
    }
    public mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }
    /// An index in 0..<n.
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    /// A generator whose first draw follows raw SplitMix64 state `state` (no seed offset), for
    /// sequences pinned before `init(seed:)` existed.
    public init(state: UInt64) { self.state = state }
}

/// A tensor of uniform values in [low, high), reproducible from `seed`.
public func randomTensor(_ shape: Shape, seed: UInt64, _ low: Float = -1, _ high: Float = 1) -> Tensor {
    var rng = TestRNG(seed: seed)
    return Tensor(shape: shape, scalars: (0..<shape.elementCount).map { _ in rng.uniform(low, high) })
}

/// max|a − b| / max|b| (the reference's scale).
public func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.count == b.count, "relativeError: \(a.shape) vs \(b.shape)")
    var worst: Float = 0, scale: Float = 1e-30
    for i in 0..<b.count {
        worst = max(worst, abs(a.pointer[i] - b.pointer[i]))
        scale = max(scale, abs(b.pointer[i]))
    }
    return worst / scale
}

/// A new, empty folder under the temporary directory.
public func temporaryFolder(_ prefix: String = "denoise-test") throws -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

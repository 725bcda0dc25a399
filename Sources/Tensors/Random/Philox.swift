// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011;
// the Random123 library): a counter-based generator. Output block = bijection of a 128-bit counter
// under a 64-bit key, so any element of any stream is computed directly, with no state to carry —
// which is what lets noise be generated in parallel chunks, per sample, and identically for any
// thread count or batch packing. Checked against Random123's known-answer vectors (RandomTests).
//
// How our inputs map onto Philox (the contract every seeded result in denoise depends on):
//   key     = (lo32(seed), hi32(seed))
//   counter = (lo32(block), hi32(block), lo32(stream), hi32(stream))
// where `stream` is a 64-bit stream id (e.g. the sample's index within its request) and `block` is
// the 128-bit block index. Element g of a stream (g counts from 0; `offset` in the fill functions
// shifts it) is word g % 4 of block g / 4, so element g depends only on (seed, stream, g).
//
// Word → number maps (in PhiloxMaps below):
//   uniform  u = (x >> 8) · 2^-24                in [0, 1): the top 24 bits, exact in Float.
//   normal   Box–Muller on words (x0, x1) and (x2, x3) of each block:
//            u1 = ((x0 >> 8) + 1) · 2^-24        in (0, 1], so log(u1) is finite
//            u2 = (x1 >> 8) · 2^-24              in [0, 1)
//            r = sqrt(-2 ln u1), θ = 2π u2;  element 4b+0 = r cos θ, 4b+1 = r sin θ,
//            and likewise 4b+2 (cos), 4b+3 (sin) from (x2, x3).
//            Computed in Double and rounded once to Float, so glibc and Apple's libm agree on
//            the Float result (a libm difference would have to cross a Float rounding boundary).
//            |z| <= sqrt(2 · 24 ln 2) ≈ 5.77: tails beyond that (probability ~8e-9) are cut.
// Not here: filling tensors (CPU+Random.swift).

import Foundation

/// The Philox4x32-10 counter-based generator for one (seed, stream).
public struct Philox: Sendable {
    @usableFromInline static let m0: UInt32 = 0xD251_1F53
    @usableFromInline static let m1: UInt32 = 0xCD9E_8D57
    @usableFromInline static let w0: UInt32 = 0x9E37_79B9
    @usableFromInline static let w1: UInt32 = 0xBB67_AE85

    /// The key: (lo32(seed), hi32(seed)).
    public let key: SIMD2<UInt32>
    /// The stream id: counter words 2 and 3.
    public let stream: UInt64
    /// The block index the next call to ``next()`` returns (counter words 0 and 1).
    public var position: UInt64

    /// A generator for `seed` and `stream`, positioned at block `position`.
    public init(seed: UInt64, stream: UInt64 = 0, position: UInt64 = 0) {
        key = SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        self.stream = stream
        self.position = position
    }

    /// The block at `position`, then advances by one block.
    public mutating func next() -> SIMD4<UInt32> {
        defer { position &+= 1 }
        return block(at: position)
    }

    /// The four words of block `index` of this stream; no state involved.
    @inlinable public func block(at index: UInt64) -> SIMD4<UInt32> {
        Philox.philox4x32_10(counter: SIMD4(UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: index >> 32),
                                            UInt32(truncatingIfNeeded: stream), UInt32(truncatingIfNeeded: stream >> 32)),
                             key: key)
    }

    /// The raw Philox4x32 bijection with 10 rounds, exactly as Random123's `philox4x32_R(10, ctr, key)`.
    @inlinable public static func philox4x32_10(counter: SIMD4<UInt32>, key: SIMD2<UInt32>) -> SIMD4<UInt32> {
        var c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3]
        var k0 = key[0], k1 = key[1]
        for r in 0..<10 {
            if r > 0 { k0 &+= w0; k1 &+= w1 }
            let p0 = UInt64(m0) &* UInt64(c0)
            let p1 = UInt64(m1) &* UInt64(c2)
            c0 = UInt32(truncatingIfNeeded: p1 >> 32) ^ c1 ^ k0
            c1 = UInt32(truncatingIfNeeded: p1)
            c2 = UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1
            c3 = UInt32(truncatingIfNeeded: p0)
        }
        return SIMD4(c0, c1, c2, c3)
    }
}

/// The documented maps from Philox words to numbers (see the file header).
public enum PhiloxMaps {
    /// Uniform in [0, 1): the top 24 bits of `x` times 2^-24.
    @inlinable public static func uniform(_ x: UInt32) -> Float { Float(x >> 8) * 0x1p-24 }

    /// Two standard normals (cos, sin) from two words by Box–Muller, with u1 in (0, 1].
    @inlinable public static func normalPair(_ a: UInt32, _ b: UInt32) -> (Float, Float) {
        let u1 = Double((a >> 8) + 1) * 0x1p-24
        let u2 = Double(b >> 8) * 0x1p-24
        let r = (-2 * Foundation.log(u1)).squareRoot()
        let theta = 2 * Double.pi * u2
        return (Float(r * Foundation.cos(theta)), Float(r * Foundation.sin(theta)))
    }

    /// The four normals of one block: elements 4b+0 ... 4b+3.
    @inlinable public static func normals(_ w: SIMD4<UInt32>) -> SIMD4<Float> {
        let (a, b) = normalPair(w[0], w[1])
        let (c, d) = normalPair(w[2], w[3])
        return SIMD4(a, b, c, d)
    }
}

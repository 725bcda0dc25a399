// SIMDMath: 16-lane float helpers shared by the normalization and attention kernels — unaligned
// loads/stores, a vectorized `exp` (Cephes polynomial, ≤ 2 ulp on [-87, 88]; 0 below -87) and
// SiLU on it. No rounding instructions or int conversions (they become libm calls on the
// x86-64 baseline): round-to-nearest uses the 1.5·2²³ trick. Not a general math library.
// By default these compile to SSE (4 ops per SIMD16); `-target-cpu znver4` makes them AVX-512.

typealias F16 = SIMD16<Float>

import CKernels

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> F16 {
    UnsafeRawPointer(p).loadUnaligned(as: F16.self)
}

@inline(__always) func load16(_ p: UnsafeMutablePointer<Float>) -> F16 {
    UnsafeRawPointer(p).loadUnaligned(as: F16.self)
}

@inline(__always) func store16(_ v: F16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F16.self)
}

/// e^x lane-wise; inputs below -87 give 0 (where the true value is a denormal), above 88.37 give ~2.4e38.
@inline(__always) func vexp(_ x0: F16) -> F16 {
    let lo = F16(repeating: -87.0), hi = F16(repeating: 88.37)
    var x = x0.replacing(with: lo, where: x0 .< lo)
    x.replace(with: hi, where: x .> hi)
    let t = x * 1.44269504088896341 + 12582912.0  // low mantissa bits hold round(x·log2 e)
    let n = t - 12582912.0
    var r = x - n * 0.693359375
    r = r + n * 2.12194440e-4
    var p = F16(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * (r * r) + r + 1
    let e = unsafeBitCast(t, to: SIMD16<Int32>.self) &- (0x4B40_0000 - 127)
    return p * unsafeBitCast(e &<< 23, to: F16.self)
}

/// x·σ(x) lane-wise.
@inline(__always) func vsilu(_ x: F16) -> F16 { x / (1 + vexp(-x)) }

/// Scalar SiLU matching ``vsilu`` closely (used for tails).
@inline(__always) func ssilu(_ x: Float) -> Float { vsilu(F16(repeating: x))[0] }

/// Scalar exp through the vector routine, so tails and bodies round identically.
@inline(__always) func sexp(_ x: Float) -> Float { vexp(F16(repeating: x))[0] }

/// Sum of `n` floats at `p`: 16-lane float partial sums per block of 1024, blocks added in Double.
@inline(__always) func blockedSum(_ p: UnsafePointer<Float>, _ n: Int) -> Double { dn_sum(p, n) }

/// Σ (p[i] - shift)² over `n` floats, blocked as in ``blockedSum(_:_:)``.
@inline(__always) func blockedSquaredDeviation(_ p: UnsafePointer<Float>, _ n: Int, _ shift: Float) -> Double {
    dn_sum_squared_deviation(p, n, shift)
}

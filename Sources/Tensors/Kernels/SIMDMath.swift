// SIMDMath: 16-lane float helpers shared by the normalization and attention kernels — unaligned
// loads/stores and blocked row sums (in C, see CKernels/reductions.c). Swift's SIMD16 compiles
// to SSE on the default x86-64 target; loops that must run at AVX-512 speed live in CKernels.

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

/// Sum of `n` floats at `p`: 32-lane float partial sums per block of 1024, blocks added in Double.
@inline(__always) func blockedSum(_ p: UnsafePointer<Float>, _ n: Int) -> Double { dn_sum(p, n) }

/// Σ (p[i] - shift)² over `n` floats, blocked as in ``blockedSum(_:_:)``.
@inline(__always) func blockedSquaredDeviation(_ p: UnsafePointer<Float>, _ n: Int, _ shift: Float) -> Double {
    dn_sum_squared_deviation(p, n, shift)
}

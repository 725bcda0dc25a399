// FastMath: branch-free scalar approximations that LLVM vectorizes inside plain loops (no libm
// calls), for the hot activations. `fastExp` is Cephes' expf scheme (range reduction by ln 2,
// degree-6 polynomial, exponent assembled from bits): within 2 ulp of libm on [-87.3, 88.3];
// 0 below that range and saturating at e^88.3 above (activations never get there). Tested against Foundation.exp in `FastMathTests`.

@inline(__always)
public func fastExp(_ x: Float) -> Float {
    let clamped = Swift.min(Swift.max(x, -87.33654), 88.3)
    // n = round(x / ln2) by the 1.5·2^23 magic add: t's low mantissa bits hold n exactly.
    let t = clamped * 1.442695040888963 + 12582912.0
    let n = t - 12582912.0
    var r = clamped - n * 0.693359375  // r = x - n ln2, ln2 split in two for exactness
    r = r + n * 2.12194440e-4
    let r2 = r * r
    var p: Float = 1.9875691500e-4
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let e = p * r2 + r + 1
    // 2^n from t's bits: (0x4B400000 + n + 127) << 23 leaves exactly (n + 127) << 23.
    let scale = Float(bitPattern: (t.bitPattern &+ 127) &<< 23)
    return x < -87.33654 ? 0 : e * scale
}

/// Logistic sigmoid 1 / (1 + e^-x) via ``fastExp``.
@inline(__always)
public func fastSigmoid(_ x: Float) -> Float { 1 / (1 + fastExp(-x)) }

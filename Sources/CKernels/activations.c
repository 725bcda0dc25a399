// Activations and GroupNorm's apply pass, vectorized by the compiler per target clone.
// See include/CKernels.h. The exp is the same scheme as Swift's `fastExp` (FastMath.swift).
#include "CKernels.h"
#include <stdint.h>
#include <string.h>

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

static inline float dn_expf(float x) {
    float c = x < -87.33654f ? -87.33654f : (x > 88.3f ? 88.3f : x);
    float t = c * 1.442695040888963f + 12582912.0f;  // round(x/ln2) in t's low mantissa bits
    float n = t - 12582912.0f;
    float r = c - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float e = p * r2 + r + 1.0f;
    uint32_t bits;
    memcpy(&bits, &t, 4);
    bits = (bits + 127u) << 23;  // (0x4B400000 + n + 127) << 23 == (n + 127) << 23
    float s;
    memcpy(&s, &bits, 4);
    return x < -87.33654f ? 0.0f : e * s;
}

CLONES void dn_silu(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v / (1.0f + dn_expf(-v));
    }
}

CLONES void dn_sigmoid(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + dn_expf(-x[i]));
}

CLONES void dn_exp(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = dn_expf(x[i]);
}

CLONES void dn_normalize_affine(const float *x, float *y, size_t n, float mean, float scale, float shift, int silu) {
    if (silu) {
        for (size_t i = 0; i < n; i++) {
            float v = (x[i] - mean) * scale + shift;
            y[i] = v / (1.0f + dn_expf(-v));
        }
    } else {
        for (size_t i = 0; i < n; i++) y[i] = (x[i] - mean) * scale + shift;
    }
}

const char *dn_isa(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "x86-64-v4 (AVX-512)";
    if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3 (AVX2)";
    return "x86-64 baseline (SSE2)";
}

// Activations and GroupNorm's apply pass, vectorized by the compiler per target clone.
// See include/CKernels.h. The exp is the same scheme as Swift's `fastExp` (FastMath.swift).
#include "CKernels.h"
#include "expf.h"

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

CLONES void dn_silu(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v / (1.0f + dn_expf(-v));
    }
}

CLONES void dn_silu_backward(const float *x, const float *g, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i], s = 1.0f / (1.0f + dn_expf(-v));
        out[i] = g[i] * (s * (1.0f + v * (1.0f - s)));
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

CLONES void dn_normalize_affine_vector(const float *x, float *y, size_t n, float mean, float rstd,
                                       const float *weight, const float *bias, int silu) {
    for (size_t i = 0; i < n; i++) {
        float v = (x[i] - mean) * rstd;
        if (weight) v *= weight[i];
        if (bias) v += bias[i];
        y[i] = silu ? v / (1.0f + dn_expf(-v)) : v;
    }
}

const char *dn_isa(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "x86-64-v4 (AVX-512)";
    if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3 (AVX2)";
    return "x86-64 baseline (SSE2)";
}

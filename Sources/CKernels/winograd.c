// Winograd F(2x2, 3x3) tile transforms, eight horizontally adjacent tiles per call, as vector
// code the compiler widens per target clone (AVX-512 / AVX2; the Swift SIMD types these replace
// compiled to SSE). Adds and subtracts only, in a fixed order, so every clone gives the same bits.
// Bᵀ = [[1,0,−1,0],[0,1,1,0],[0,−1,1,0],[0,1,0,−1]], Aᵀ = [[1,1,1,0],[0,1,−1,−1]]. The GEMMs between
// the transforms and the threading are the caller's (Tensors/Kernels/Winograd.swift).
#include "CKernels.h"
#include <string.h>

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

typedef float v8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64)));

// Unaligned vector loads and stores (macros: a vector-typed helper function would change the
// calling convention between clones).
#define LOAD(type, p) ({ type v_; memcpy(&v_, (p), sizeof v_); v_; })
#define STORE(p, value) do { __typeof__(value) v_ = (value); memcpy((p), &v_, sizeof v_); } while (0)

CLONES void dn_winograd_input_tiles8(const float *src, size_t width, float *v, size_t stride, size_t count) {
    // d[r][s]: row r, tile column s of the 8 tiles (tile t reads columns 2t + s).
    v8 d[4][4];
    for (int r = 0; r < 4; r++) {
        v16 a = LOAD(v16, src + r * width), b = LOAD(v16, src + r * width + 2);
        d[r][0] = __builtin_shufflevector(a, a, 0, 2, 4, 6, 8, 10, 12, 14);
        d[r][1] = __builtin_shufflevector(a, a, 1, 3, 5, 7, 9, 11, 13, 15);
        d[r][2] = __builtin_shufflevector(b, b, 0, 2, 4, 6, 8, 10, 12, 14);
        d[r][3] = __builtin_shufflevector(b, b, 1, 3, 5, 7, 9, 11, 13, 15);
    }
    for (int row = 0; row < 4; row++) {
        v8 t[4];  // (Bᵀ·d)[row][s]
        for (int s = 0; s < 4; s++) {
            switch (row) {
            case 0: t[s] = d[0][s] - d[2][s]; break;
            case 1: t[s] = d[1][s] + d[2][s]; break;
            case 2: t[s] = d[2][s] - d[1][s]; break;
            default: t[s] = d[1][s] - d[3][s]; break;
            }
        }
        v8 out[4] = {t[0] - t[2], t[1] + t[2], t[2] - t[1], t[1] - t[3]};  // ·B
        for (int c = 0; c < 4; c++) {
            float *dst = v + (size_t)(row * 4 + c) * stride;
            if (count == 8) STORE(dst, out[c]);
            else for (size_t i = 0; i < count; i++) dst[i] = out[c][i];
        }
    }
}

CLONES void dn_winograd_output_tiles8(const float *m, size_t plane, float *dst, size_t width, float shift,
                                      const float *residual, size_t columns, size_t rows) {
    v8 t0[4], t1[4];  // (Aᵀ·m)[0 and 1][s]
    for (int s = 0; s < 4; s++) {
        v8 m0 = LOAD(v8, m + s * plane), m1 = LOAD(v8, m + (4 + s) * plane), m2 = LOAD(v8, m + (8 + s) * plane), m3 = LOAD(v8, m + (12 + s) * plane);
        t0[s] = m0 + m1 + m2;
        t1[s] = m1 - m2 - m3;
    }
    v8 y[2][2] = {{t0[0] + t0[1] + t0[2], t0[1] - t0[2] - t0[3]}, {t1[0] + t1[1] + t1[2], t1[1] - t1[2] - t1[3]}};
    for (size_t r = 0; r < rows && r < 2; r++) {
        v16 out = __builtin_shufflevector(y[r][0], y[r][1], 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
        out += shift;
        float *o = dst + r * width;
        if (columns >= 16) {
            if (residual) out += LOAD(v16, residual + r * width);
            STORE(o, out);
        } else if (residual) {
            for (size_t i = 0; i < columns; i++) o[i] = out[i] + residual[r * width + i];
        } else {
            for (size_t i = 0; i < columns; i++) o[i] = out[i];
        }
    }
}

CLONES void dn_winograd_gradient_tile(const float *a, const float *b, const float *e, const float *f, size_t count,
                                      float *z, size_t stride) {
    // Rows of A·dY: (a, b), (a+e, b+f), (a−e, b−f), (−e, −f); each row (p, q)·Aᵀ = (p, p+q, p−q, −q).
    // One output row (k) per loop, each a contiguous run along the channels that vectorizes.
    const float *restrict pa = a, *restrict pb = b, *restrict pe = e, *restrict pf = f;
    for (int r = 0; r < 4; r++) {
        float *restrict z0 = z + (size_t)(4 * r) * stride, *restrict z1 = z0 + stride;
        float *restrict z2 = z1 + stride, *restrict z3 = z2 + stride;
        for (size_t o = 0; o < count; o++) {
            float p = r == 0 ? pa[o] : r == 1 ? pa[o] + pe[o] : r == 2 ? pa[o] - pe[o] : -pe[o];
            float q = r == 0 ? pb[o] : r == 1 ? pb[o] + pf[o] : r == 2 ? pb[o] - pf[o] : -pf[o];
            z0[o] = p;
            z1[o] = p + q;
            z2[o] = p - q;
            z3[o] = -q;
        }
    }
}

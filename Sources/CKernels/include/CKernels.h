// CKernels: the few inner loops that need AVX-512/AVX2 to reach memory bandwidth, in plain C.
// Each public function is compiled three times (x86-64-v4 = AVX-512, v3 = AVX2+FMA, baseline)
// with clang's target_clones; the loader picks the best one for the running CPU (ifunc), so the
// binary runs everywhere and uses the widest vectors available. No threading here: callers split
// work. Swift wrappers live in Sources/Tensors/Kernels; these names never appear in public API.
#ifndef DENOISE_CKERNELS_H
#define DENOISE_CKERNELS_H

#include <stddef.h>

/// y[i] = x[i] / (1 + exp(-x[i])). x and y may alias exactly.
void dn_silu(const float *x, float *y, size_t n);
/// out[i] = g[i] · SiLU'(x[i]) = g[i] · s·(1 + x[i]·(1 − s)), s = sigmoid(x[i]) (SiLU's backward).
void dn_silu_backward(const float *x, const float *g, float *out, size_t n);
/// y[i] = 1 / (1 + exp(-x[i])).
void dn_sigmoid(const float *x, float *y, size_t n);
/// y[i] = exp(x[i]) (Cephes polynomial, within 2 ulp on [-87.3, 88.3], 0 below, saturating above).
void dn_exp(const float *x, float *y, size_t n);
/// y[i] = (x[i] - mean) * scale + shift, then SiLU when silu != 0 (GroupNorm's apply pass).
void dn_normalize_affine(const float *x, float *y, size_t n, float mean, float scale, float shift, int silu);
/// y[i] = ((x[i] - mean) * rstd) * weight[i] + bias[i] (weight/bias may be NULL), then SiLU when
/// silu != 0 (LayerNorm's apply pass: per-element affine).
void dn_normalize_affine_vector(const float *x, float *y, size_t n, float mean, float rstd,
                                const float *weight, const float *bias, int silu);
/// Softmax (or log-softmax when log_softmax != 0) of row[0..<n] in place; max-subtracted.
void dn_softmax_row(float *row, size_t n, int log_softmax);
/// Softmax (or log-softmax) down each column of the [len, inner] row-major block `x`, in place:
/// the softmax axis is strided (not last). Each column's sum runs in double, in row order.
/// `scratch` holds 3·inner + 1 floats.
void dn_softmax_columns(float *x, size_t len, size_t inner, int log_softmax, float *scratch);
/// Σ p[i], summed in float lanes per 1024-block and in double across blocks (same bits on every clone).
double dn_sum(const float *p, size_t n);
/// Σ (p[i] - shift)², blocked like dn_sum.
double dn_sum_squared_deviation(const float *p, size_t n, float shift);
/// Keeps freed blocks up to 1 GiB in the heap instead of returning them to the kernel (glibc mallopt).
void dn_keep_freed_memory(void);
/// Row-major C[m,n] = alpha·op(A)·op(B) + beta·C where each element is one fused multiply-add
/// chain over k in order, so its bits do not depend on the matrix sizes, its position or any
/// split of the product (see gemm.c). Single-threaded; callers split the work.
void dn_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
              const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc);
/// Direct convolution of one image group `x` [channels, height, width] with `weight`
/// [out_channels, channels, kernel_h, kernel_w] into output rows first_row..<end_row of `y`
/// [out_channels, out_height, out_width]: each element is the GEMM path's FMA chain over
/// (c, kh, kw) in order, started from y's value when `accumulate` (bias/residual prologue) or 0.
/// `scratch` holds span + out_channels·out_width floats, span = (out_width−1)·stride_w + (kernel_w−1)·dilation_w + 1.
void dn_conv2d_direct_rows(const float *x, long channels, long height, long width,
                           const float *weight, long out_channels, long kernel_h, long kernel_w,
                           long stride_h, long stride_w, long pad_top, long pad_left, long dilation_h, long dilation_w,
                           float *y, long out_height, long out_width, long first_row, long end_row,
                           int accumulate, float *scratch);
/// Winograd F(2x2, 3x3) input transform V = Bᵀ·d·B of 8 horizontally adjacent tiles whose 4x18
/// input block starts at `src` (row stride `width`, all readable): element k (< 16) of tile t
/// (< `count` ≤ 8) goes to v[k·stride + t].
void dn_winograd_input_tiles8(const float *src, size_t width, float *v, size_t stride, size_t count);
/// Winograd F(2x2, 3x3) output transform Y = Aᵀ·m·A of 8 adjacent tiles, element k of tile t at
/// m[k·plane + t] (all eight readable): writes the first `columns` (≤ 16) of the first `rows`
/// (≤ 2) output rows at dst + r·width, each value + shift (+ residual[r·width + i] when given).
void dn_winograd_output_tiles8(const float *m, size_t plane, float *dst, size_t width, float shift,
                               const float *residual, size_t columns, size_t rows);
/// Winograd F(2x2, 3x3) backwards, one tile of `count` channels: with the tile's 2x2 output gradient
/// [[a,b],[e,f]] per channel o read from a[o], b[o], e[o], f[o], writes Z = A·dY·Aᵀ (A = Aᵀ's
/// transpose), element k (< 16) of channel o at z[k·stride + o].
void dn_winograd_gradient_tile(const float *a, const float *b, const float *e, const float *f, size_t count,
                               float *z, size_t stride);
/// Makes dn_sgemm use kernel level `level` (0 portable, 1 AVX2, 2 AVX-512), capped at what the
/// CPU supports, and returns the level now in use. Every level gives the same bits; for tests.
int dn_sgemm_select(int level);
/// The micro-kernel dn_sgemm runs on this CPU ("avx512 6x32", "avx2 6x16" or "portable fmaf 6x16").
const char *dn_sgemm_kernel(void);
/// The widest ISA level this CPU supports, which is the clone the loader picks.
const char *dn_isa(void);

#endif

// SGEMM whose every result element is one fixed chain of fused multiply-adds over k, in order:
//   acc = (beta == 0 ? 0 : beta·C[i,j]);  for k in 0..<K: acc = fma(alpha·A[i,k], B[k,j], acc)
// so an element's bits do not depend on M, N, where its row or column sits in the matrix, the
// blocking, or the caller's split over threads. OpenBLAS gives no such promise (its edge kernels
// and tile shapes change the rounding), which made a sample's output depend on the batch it
// shared. Goto-style blocking: B packed in KC×16 column panels per (N block, K block); A read in
// place when row-major and unscaled (six sequential row streams), else packed in 6×KC row panels
// per M block; a 6×16 AVX2/FMA register tile; K blocks continue the chain through C. Packing
// reads along memory (rows of B or of Bᵀ), never down a column. The AVX-512 path reads a
// row-major B in place instead of packing it (masked loads at its edges; measured 6–15% faster
// on the Winograd and conv products, whose B is used by few A panels). Ragged edges run the same
// micro-kernel on zero-padded panels into a scratch tile. With AVX-512 the tile is 6×32 (two B
// panels) and ragged edges use masked loads and stores of C instead. The portable path computes
// the same chain with fmaf, so every ISA gives the same bits. DENOISE_NO_AVX512 (set at start)
// keeps the AVX2 kernel on an AVX-512 machine, for comparison and for testing both paths.
#include "CKernels.h"
#include <math.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { MR = 6, NR = 16, KC = 256, MC = 120, NC = 1536 };

/// Per-thread packing buffers, allocated once at their largest size.
static _Thread_local float *packed_a, *packed_b;

static float *buffer(float **slot, size_t floats) {
    if (!*slot) *slot = aligned_alloc(64, floats * sizeof(float));
    return *slot;
}

/// Packs op(A)[i0..<i0+mc, p0..<p0+kc] (times alpha) into MR-row panels, zero-padded to MR.
/// Loops run along memory: p inner when A is stored row-major (non-transposed), r inner otherwise.
static void pack_a(int trans, const float *a, size_t lda, size_t i0, size_t p0, size_t mc, size_t kc, float alpha, float *out) {
    for (size_t i = 0; i < mc; i += MR, out += MR * kc) {
        size_t rows = mc - i < MR ? mc - i : MR;
        if (rows < MR) memset(out, 0, MR * kc * sizeof(float));
        if (trans && rows == MR) {  // a whole panel: six adjacent floats per k, a fixed-size copy
            for (size_t p = 0; p < kc; p++) {
                const float *src = a + (p0 + p) * lda + i0 + i;
                for (size_t r = 0; r < MR; r++) out[p * MR + r] = src[r];
            }
        } else if (trans) {
            for (size_t p = 0; p < kc; p++) {
                const float *src = a + (p0 + p) * lda + i0 + i;
                for (size_t r = 0; r < rows; r++) out[p * MR + r] = src[r];
            }
        } else {
            for (size_t r = 0; r < rows; r++) {
                const float *src = a + (i0 + i + r) * lda + p0;
                for (size_t p = 0; p < kc; p++) out[p * MR + r] = src[p];
            }
        }
        if (alpha != 1) for (size_t e = 0; e < MR * kc; e++) out[e] *= alpha;
    }
}

#if defined(__x86_64__)
/// dst[c·ldd + r] = src[r·lds + c] for an 8x8 block (unpack, shuffle, then swap 128-bit halves).
__attribute__((target("avx2"))) static void transpose8x8(const float *src, size_t lds, float *dst, size_t ldd) {
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
    for (int i = 0; i < 8; i += 2) { t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]); t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]); }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    }
}
#endif

/// Packs op(B)[p0..<p0+kc, j0..<j0+nc] into NR-column panels (panel q holds columns
/// j0+16q…, row p at offset p·NR), zero-padded to NR. Reads run along memory: whole rows of B
/// when it is stored row-major, whole rows of Bᵀ (B's columns) otherwise — with AVX2, eight rows
/// of Bᵀ at a time in 8x8 register transposes.
static void pack_b(int trans, int avx2, const float *b, size_t ldb, size_t p0, size_t j0, size_t kc, size_t nc, float *out) {
    size_t full = nc / NR, rest = nc - full * NR;
    if (rest) memset(out + full * NR * kc, 0, NR * kc * sizeof(float));
    if (trans) {
        size_t j = 0;
#if defined(__x86_64__)
        if (avx2) {
            for (; j + 8 <= nc; j += 8) {
                const float *src = b + (j0 + j) * ldb + p0;
                float *panel = out + (j / NR) * NR * kc + j % NR;
                size_t p = 0;
                for (; p + 8 <= kc; p += 8) transpose8x8(src + p, ldb, panel + p * NR, NR);
                for (; p < kc; p++) for (size_t r = 0; r < 8; r++) panel[p * NR + r] = src[r * ldb + p];
            }
        }
#else
        (void)avx2;
#endif
        for (; j < nc; j++) {
            const float *src = b + (j0 + j) * ldb + p0;
            float *panel = out + (j / NR) * NR * kc + j % NR;
            for (size_t p = 0; p < kc; p++) panel[p * NR] = src[p];
        }
    } else {
        for (size_t p = 0; p < kc; p++) {
            const float *src = b + (p0 + p) * ldb + j0;
            float *row = out + p * NR;
            for (size_t q = 0; q < full; q++) memcpy(row + q * NR * kc, src + q * NR, NR * sizeof(float));
            if (rest) memcpy(row + full * NR * kc, src + full * NR, rest * sizeof(float));
        }
    }
}

/// c[MR×NR] (row stride ldc) = chain continued over kc packed steps; starts from 0 unless load.
static void micro_portable(size_t kc, const float *pa, size_t step, size_t stride, const float *pb, float *c, size_t ldc, int load) {
    float acc[MR][NR];
    for (size_t r = 0; r < MR; r++) for (size_t q = 0; q < NR; q++) acc[r][q] = load ? c[r * ldc + q] : 0;
    for (size_t p = 0; p < kc; p++, pa += step, pb += NR) {
        for (size_t r = 0; r < MR; r++) for (size_t q = 0; q < NR; q++) acc[r][q] = fmaf(pa[r * stride], pb[q], acc[r][q]);
    }
    for (size_t r = 0; r < MR; r++) for (size_t q = 0; q < NR; q++) c[r * ldc + q] = acc[r][q];
}

#if defined(__x86_64__)
/// The AVX2 register tile: `rows` (≤ MR) rows by 8·`halves` columns of the packed panels, the
/// same chain per element as `micro_portable`. Instantiated per shape below so the accumulators
/// stay in registers; the narrow shapes serve ragged edges without wasted lanes.
__attribute__((always_inline, target("avx2,fma")))
static inline void micro_avx2_tile(size_t kc, const float *pa, size_t step, size_t stride, const float *pb, float *c, size_t ldc,
                                   int load, const int rows, const int halves) {
    __m256 acc[MR][2];
    for (int r = 0; r < rows; r++) for (int h = 0; h < halves; h++) {
        acc[r][h] = load ? _mm256_loadu_ps(c + r * ldc + 8 * h) : _mm256_setzero_ps();
    }
    for (size_t p = 0; p < kc; p++, pa += step, pb += NR) {
        __m256 b[2];
        for (int h = 0; h < halves; h++) b[h] = _mm256_load_ps(pb + 8 * h);
        for (int r = 0; r < rows; r++) {
            __m256 a = _mm256_broadcast_ss(pa + r * stride);
            for (int h = 0; h < halves; h++) acc[r][h] = _mm256_fmadd_ps(a, b[h], acc[r][h]);
        }
    }
    for (int r = 0; r < rows; r++) for (int h = 0; h < halves; h++) _mm256_storeu_ps(c + r * ldc + 8 * h, acc[r][h]);
}

#define TILE(R, H) \
    __attribute__((target("avx2,fma"))) static void micro_avx2_##R##x##H(size_t kc, const float *pa, size_t step, size_t stride, \
                                                                       const float *pb, float *c, size_t ldc, int load) { \
        if (step == MR && stride == 1) micro_avx2_tile(kc, pa, MR, 1, pb, c, ldc, load, R, H); \
        else micro_avx2_tile(kc, pa, step, stride, pb, c, ldc, load, R, H); \
    }
TILE(1, 1) TILE(2, 1) TILE(3, 1) TILE(4, 1) TILE(5, 1) TILE(6, 1)
TILE(1, 2) TILE(2, 2) TILE(3, 2) TILE(4, 2) TILE(5, 2) TILE(6, 2)
#undef TILE

/// The AVX-512 register tile: `rows` (≤ MR) rows by up to 32 columns — two adjacent 16-column B
/// panels (the second `bstride` floats after the first) — with masked loads and stores of C for
/// ragged column edges, so edges need no scratch tile. Same chain per element as above: the FMA
/// of a 16-lane register rounds each lane exactly as the 8-lane one and as fmaf.
__attribute__((always_inline, target("avx512f")))
static inline void micro_avx512_tile(size_t kc, const float *pa, size_t step, size_t stride, const float *pb, size_t bstep, size_t bstride,
                                     float *c, size_t ldc, int load, __mmask16 mask0, __mmask16 mask1, const int rows, const int halves) {
    __m512 acc[MR][2];
    const __mmask16 masks[2] = {mask0, mask1};
    for (int r = 0; r < rows; r++) for (int h = 0; h < halves; h++) {
        acc[r][h] = load ? _mm512_maskz_loadu_ps(masks[h], c + r * ldc + 16 * h) : _mm512_setzero_ps();
    }
    for (size_t p = 0; p < kc; p++, pa += step, pb += bstep) {
        __m512 b[2];
        for (int h = 0; h < halves; h++) b[h] = _mm512_maskz_loadu_ps(masks[h], pb + h * bstride);
        for (int r = 0; r < rows; r++) {
            __m512 a = _mm512_set1_ps(pa[r * stride]);
            for (int h = 0; h < halves; h++) acc[r][h] = _mm512_fmadd_ps(a, b[h], acc[r][h]);
        }
    }
    for (int r = 0; r < rows; r++) for (int h = 0; h < halves; h++) _mm512_mask_storeu_ps(c + r * ldc + 16 * h, masks[h], acc[r][h]);
}

/// (kc, A panel, A step, A stride, B, B step per k, B second-half offset, C, ldc, load, column
/// masks): B row p of the tile at pb + p·bstep — NR for packed panels (second half NR·kc on),
/// ldb for B read in place (second half 16 on; masked loads keep ragged edges inside B).
typedef void (*micro_kernel512)(size_t, const float *, size_t, size_t, const float *, size_t, size_t, float *, size_t, int, __mmask16, __mmask16);

#define TILE512(R, H) \
    __attribute__((target("avx512f"))) static void micro_avx512_##R##x##H(size_t kc, const float *pa, size_t step, size_t stride, \
        const float *pb, size_t bstep, size_t bstride, float *c, size_t ldc, int load, __mmask16 m0, __mmask16 m1) { \
        if (step == MR && stride == 1 && bstep == NR) micro_avx512_tile(kc, pa, MR, 1, pb, NR, bstride, c, ldc, load, m0, m1, R, H); \
        else if (bstep == NR) micro_avx512_tile(kc, pa, step, stride, pb, NR, bstride, c, ldc, load, m0, m1, R, H); \
        else micro_avx512_tile(kc, pa, step, stride, pb, bstep, bstride, c, ldc, load, m0, m1, R, H); \
    }
TILE512(1, 1) TILE512(2, 1) TILE512(3, 1) TILE512(4, 1) TILE512(5, 1) TILE512(6, 1)
TILE512(1, 2) TILE512(2, 2) TILE512(3, 2) TILE512(4, 2) TILE512(5, 2) TILE512(6, 2)
#undef TILE512

/// AVX-512 tiles by [rows − 1][halves − 1] (up to 16 or up to 32 columns).
static micro_kernel512 tiles512[MR][2];
#endif

/// (kc, A panel, A step per k, A stride per row, B panel, C, ldc, load): A element (r, p) is at
/// a[p·step + r·stride] — (MR, 1) for a packed panel, (1, lda) read in place.
typedef void (*micro_kernel)(size_t, const float *, size_t, size_t, const float *, float *, size_t, int);

/// Register tiles by [rows − 1][halves − 1] (8 or 16 columns); all the portable kernel when the
/// CPU lacks AVX2/FMA (it computes a full MR×NR tile, so the caller routes edges through scratch).
static micro_kernel tiles[MR][2];
/// What the CPU supports (set once at load) and the level in use (2 AVX-512, 1 AVX2, 0 portable),
/// which dn_sgemm_select can lower for tests and comparisons.
static int supported_level;
static _Atomic int active_level;

__attribute__((constructor)) static void pick_kernels(void) {
    for (int r = 0; r < MR; r++) tiles[r][0] = tiles[r][1] = micro_portable;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        micro_kernel t[MR][2] = {{micro_avx2_1x1, micro_avx2_1x2}, {micro_avx2_2x1, micro_avx2_2x2},
                                 {micro_avx2_3x1, micro_avx2_3x2}, {micro_avx2_4x1, micro_avx2_4x2},
                                 {micro_avx2_5x1, micro_avx2_5x2}, {micro_avx2_6x1, micro_avx2_6x2}};
        memcpy(tiles, t, sizeof t);
        supported_level = 1;
    }
    if (supported_level == 1 && __builtin_cpu_supports("avx512f")) {
        micro_kernel512 t[MR][2] = {{micro_avx512_1x1, micro_avx512_1x2}, {micro_avx512_2x1, micro_avx512_2x2},
                                    {micro_avx512_3x1, micro_avx512_3x2}, {micro_avx512_4x1, micro_avx512_4x2},
                                    {micro_avx512_5x1, micro_avx512_5x2}, {micro_avx512_6x1, micro_avx512_6x2}};
        memcpy(tiles512, t, sizeof t);
        supported_level = 2;
    }
#endif
    active_level = supported_level == 2 && getenv("DENOISE_NO_AVX512") ? 1 : supported_level;
}

int dn_sgemm_select(int level) {
    int chosen = level < 0 ? 0 : level > supported_level ? supported_level : level;
    atomic_store(&active_level, chosen);
    return chosen;
}

static const char *kernel_names[3] = {"portable fmaf 6x16", "avx2 6x16", "avx512 6x32"};

const char *dn_sgemm_kernel(void) {
    return kernel_names[atomic_load(&active_level)];
}

void dn_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
              const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    if (m == 0 || n == 0) return;
    if (beta != 0 && beta != 1) for (size_t i = 0; i < m; i++) for (size_t j = 0; j < n; j++) c[i * ldc + j] *= beta;
    if (k == 0) {
        if (beta == 0) for (size_t i = 0; i < m; i++) memset(c + i * ldc, 0, n * sizeof(float));
        return;
    }
    // Loop order: N blocks and K blocks (B packed once per block), then M blocks (A packed per
    // block, L2-resident), then B panels (L1-resident) against every A row panel.
    int level = atomic_load_explicit(&active_level, memory_order_relaxed), have_avx2 = level >= 1, have_avx512 = level >= 2;
    float *pb = buffer(&packed_b, (size_t)KC * NC), *pa = buffer(&packed_a, (size_t)MC * KC);
    float tile[MR * NR] = {0};
    for (size_t j0 = 0; j0 < n; j0 += NC) {
        size_t nc = n - j0 < NC ? n - j0 : NC;
        for (size_t p0 = 0; p0 < k; p0 += KC) {
            size_t kc = k - p0 < KC ? k - p0 : KC;
            int load = p0 > 0 || beta != 0;
            // With AVX-512, a row-major B is read in place (masked loads at ragged edges): packing
            // it costs a copy of B per product, most of a small product's overhead. Not at strides
            // of a multiple of 1 KiB, whose rows would share a few L1 sets.
            int b_direct = have_avx512 && !trans_b && ldb % 256 != 0;
            if (!b_direct) pack_b(trans_b, have_avx2, b, ldb, p0, j0, kc, nc, pb);
            for (size_t i0 = 0; i0 < m; i0 += MC) {
                size_t mc = m - i0 < MC ? m - i0 : MC;
                // A row-major and unscaled is read in place (six rows, each sequential in k):
                // no packing, which for a small N costs as much as the product.
                int direct = have_avx2 && !trans_a && alpha == 1;
                if (!direct) pack_a(trans_a, a, lda, i0, p0, mc, kc, alpha, pa);
                size_t step = direct ? 1 : MR, stride = direct ? lda : 1;
#if defined(__x86_64__)
                if (have_avx512) {
                    for (size_t j = 0; j < nc; j += 2 * NR) {
                        size_t cols = nc - j < 2 * NR ? nc - j : 2 * NR;
                        __mmask16 m0 = cols >= NR ? 0xFFFF : (__mmask16)((1u << cols) - 1);
                        __mmask16 m1 = cols >= 2 * NR ? 0xFFFF : cols > NR ? (__mmask16)((1u << (cols - NR)) - 1) : 0;
                        const float *panel_b = b_direct ? b + p0 * ldb + j0 + j : pb + j * kc;
                        size_t bstep = b_direct ? ldb : NR, bstride = b_direct ? NR : NR * kc;
                        for (size_t i = 0; i < mc; i += MR) {
                            size_t rows = mc - i < MR ? mc - i : MR;
                            const float *panel_a = direct ? a + (i0 + i) * lda + p0 : pa + i * kc;
                            tiles512[rows - 1][cols > NR](kc, panel_a, step, stride, panel_b, bstep, bstride,
                                                          c + (i0 + i) * ldc + j0 + j, ldc, load, m0, m1);
                        }
                    }
                    continue;
                }
#endif
                for (size_t j = 0; j < nc; j += NR) {
                    size_t cols = nc - j < NR ? nc - j : NR;
                    const float *panel_b = pb + j * kc;
                    for (size_t i = 0; i < mc; i += MR) {
                        size_t rows = mc - i < MR ? mc - i : MR;
                        float *cij = c + (i0 + i) * ldc + j0 + j;
                        const float *panel_a = direct ? a + (i0 + i) * lda + p0 : pa + i * kc;
                        size_t halves = cols > 8 ? 2 : 1;
                        if (have_avx2 && ((rows == MR && cols == NR) || cols == 8 * halves)) {
                            tiles[rows - 1][halves - 1](kc, panel_a, step, stride, panel_b, cij, ldc, load);
                            continue;
                        }
                        if (load) for (size_t r = 0; r < rows; r++) memcpy(tile + r * NR, cij + r * ldc, cols * sizeof(float));
                        (have_avx2 ? tiles[rows - 1][halves - 1] : micro_portable)(kc, panel_a, step, stride, panel_b, tile, NR, load);
                        for (size_t r = 0; r < rows; r++) memcpy(cij + r * ldc, tile + r * NR, cols * sizeof(float));
                    }
                }
            }
        }
    }
}

// Direct 2D convolution for layers with few output channels (a U-Net's last conv, 32 → 1 or 3),
// where im2col + GEMM writes and packs a column matrix of C·KH·KW rows to feed a GEMM of one or
// two rows. Here each output element is the same fused multiply-add chain as in the GEMM path
// (acc = start; for c, kh, kw in order: acc = fma(w, x, acc), zero-padded taps included), so the
// bits equal the lowered conv's; only the loop order around the chains differs. Vectorized along
// output columns by the compiler per target clone. No threading: the caller splits rows.
#include "CKernels.h"
#include <math.h>
#include <string.h>

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

CLONES void dn_conv2d_direct_rows(const float *x, long channels, long height, long width,
                                  const float *weight, long out_channels, long kernel_h, long kernel_w,
                                  long stride_h, long stride_w, long pad_top, long pad_left, long dilation_h, long dilation_w,
                                  float *y, long out_height, long out_width, long first_row, long end_row,
                                  int accumulate, float *scratch) {
    // scratch: one zero-padded input row (span floats), then out_channels accumulator rows.
    long span = (out_width - 1) * stride_w + (kernel_w - 1) * dilation_w + 1;
    float *padded = scratch, *acc = scratch + span;
    long plane = out_height * out_width;
    for (long r = first_row; r < end_row; r++) {
        for (long m = 0; m < out_channels; m++) {
            float *a = acc + m * out_width;
            if (accumulate) memcpy(a, y + m * plane + r * out_width, out_width * sizeof(float));
            else memset(a, 0, out_width * sizeof(float));
        }
        for (long c = 0; c < channels; c++) {
            for (long i = 0; i < kernel_h; i++) {
                long row = r * stride_h + i * dilation_h - pad_top;
                // The taps of this input row, zero outside the image.
                memset(padded, 0, span * sizeof(float));
                long lo = pad_left > 0 ? pad_left : 0, from = lo - pad_left;  // first tap inside the image, its column
                long count = width - from < span - lo ? width - from : span - lo;
                if (row >= 0 && row < height && count > 0) memcpy(padded + lo, x + (c * height + row) * width + from, count * sizeof(float));
                for (long m = 0; m < out_channels; m++) {
                    float *a = acc + m * out_width;
                    const float *wr = weight + ((m * channels + c) * kernel_h + i) * kernel_w;
                    for (long j = 0; j < kernel_w; j++) {
                        float wv = wr[j];
                        const float *src = padded + j * dilation_w;
                        if (stride_w == 1) for (long o = 0; o < out_width; o++) a[o] = fmaf(wv, src[o], a[o]);
                        else for (long o = 0; o < out_width; o++) a[o] = fmaf(wv, src[o * stride_w], a[o]);
                    }
                }
            }
        }
        for (long m = 0; m < out_channels; m++) memcpy(y + m * plane + r * out_width, acc + m * out_width, out_width * sizeof(float));
    }
}

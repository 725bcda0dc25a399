// Softmax / log-softmax of one contiguous row, in place. Sums use 16 float lanes added in a
// fixed order into a double, so every ISA clone gives the same bits. See include/CKernels.h.
#include "CKernels.h"
#include "expf.h"
#include <math.h>

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define LANES 16

CLONES void dn_softmax_row(float *row, size_t n, int log_softmax) {
    if (n == 0) return;
    float lane_max[LANES];
    for (int l = 0; l < LANES; l++) lane_max[l] = -INFINITY;
    size_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++) lane_max[l] = row[j + l] > lane_max[l] ? row[j + l] : lane_max[l];
    float mx = -INFINITY;
    for (int l = 0; l < LANES; l++) mx = lane_max[l] > mx ? lane_max[l] : mx;
    for (; j < n; j++) mx = row[j] > mx ? row[j] : mx;
    if (mx == -INFINITY) mx = 0;  // fully masked row: exp(-inf) = 0 everywhere -> NaN, as PyTorch

    float acc[LANES] = {0};
    double s = 0;
    j = 0;
    if (log_softmax) {
        for (; j + LANES <= n; j += LANES)
            for (int l = 0; l < LANES; l++) acc[l] += dn_expf(row[j + l] - mx);
        for (int l = 0; l < LANES; l++) s += acc[l];
        for (; j < n; j++) s += dn_expf(row[j] - mx);
        float shift = mx + (float)log(s);
        for (j = 0; j < n; j++) row[j] -= shift;
        return;
    }
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++) {
            float e = dn_expf(row[j + l] - mx);
            row[j + l] = e;
            acc[l] += e;
        }
    for (int l = 0; l < LANES; l++) s += acc[l];
    for (; j < n; j++) {
        float e = dn_expf(row[j] - mx);
        row[j] = e;
        s += e;
    }
    float inv = (float)(1.0 / s);
    for (j = 0; j < n; j++) row[j] *= inv;
}

CLONES void dn_softmax_columns(float *x, size_t len, size_t inner, int log_softmax, float *scratch) {
    if (len == 0 || inner == 0) return;
    float *mx = scratch;
    double *sum = (double *)(scratch + ((inner + 1) & ~(size_t)1));
    for (size_t i = 0; i < inner; i++) mx[i] = x[i];
    for (size_t a = 1; a < len; a++) {
        const float *row = x + a * inner;
        for (size_t i = 0; i < inner; i++) mx[i] = row[i] > mx[i] ? row[i] : mx[i];
    }
    for (size_t i = 0; i < inner; i++) {
        if (mx[i] == -INFINITY) mx[i] = 0;  // fully masked column, as dn_softmax_row
        sum[i] = 0;
    }
    for (size_t a = 0; a < len; a++) {
        float *row = x + a * inner;
        if (log_softmax) {
            for (size_t i = 0; i < inner; i++) sum[i] += dn_expf(row[i] - mx[i]);
        } else {
            for (size_t i = 0; i < inner; i++) {
                float e = dn_expf(row[i] - mx[i]);
                row[i] = e;
                sum[i] += e;
            }
        }
    }
    if (log_softmax) {
        for (size_t i = 0; i < inner; i++) mx[i] += (float)log(sum[i]);  // the shift
        for (size_t a = 0; a < len; a++) {
            float *row = x + a * inner;
            for (size_t i = 0; i < inner; i++) row[i] -= mx[i];
        }
        return;
    }
    for (size_t i = 0; i < inner; i++) mx[i] = (float)(1.0 / sum[i]);  // the scale
    for (size_t a = 0; a < len; a++) {
        float *row = x + a * inner;
        for (size_t i = 0; i < inner; i++) row[i] *= mx[i];
    }
}

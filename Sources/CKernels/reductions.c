// Row reductions for normalization statistics. Each sum runs over blocks of 1024 floats with 32
// independent float lanes (no reassociation: the same bits on every ISA clone), then adds the
// lanes in a fixed order into a double. See include/CKernels.h.
#include "CKernels.h"

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define LANES 32
#define BLOCK 1024

CLONES double dn_sum(const float *p, size_t n) {
    double total = 0;
    size_t i = 0;
    while (i < n) {
        size_t end = n - i > BLOCK ? i + BLOCK : n;
        float acc[LANES] = {0};
        for (; i + LANES <= end; i += LANES)
            for (int l = 0; l < LANES; l++) acc[l] += p[i + l];
        double s = 0;
        for (int l = 0; l < LANES; l++) s += acc[l];
        for (; i < end; i++) s += p[i];
        total += s;
    }
    return total;
}

CLONES double dn_sum_squared_deviation(const float *p, size_t n, float shift) {
    double total = 0;
    size_t i = 0;
    while (i < n) {
        size_t end = n - i > BLOCK ? i + BLOCK : n;
        float acc[LANES] = {0};
        for (; i + LANES <= end; i += LANES)
            for (int l = 0; l < LANES; l++) {
                float d = p[i + l] - shift;
                acc[l] += d * d;
            }
        double s = 0;
        for (int l = 0; l < LANES; l++) s += acc[l];
        for (; i < end; i++) {
            float d = p[i] - shift;
            s += (double)(d * d);
        }
        total += s;
    }
    return total;
}

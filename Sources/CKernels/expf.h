// Private: the one float exp all C kernels inline (Cephes expf scheme; same as Swift's
// `fastExp` in FastMath.swift): within 2 ulp on [-87.3, 88.3], 0 below, saturating above.
#ifndef DENOISE_EXPF_H
#define DENOISE_EXPF_H
#include <stdint.h>
#include <string.h>

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

#endif

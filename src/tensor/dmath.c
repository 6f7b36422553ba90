/*
 * dmath.c — plow's own transcendental functions and its counter-based RNG.
 *
 * libm's exp/log/sin/cos may differ between C libraries and versions, so a
 * result computed with them would not be reproducible everywhere. These are
 * built from IEEE-754 basic operations (+ - * / sqrt, fma, floor, ldexp),
 * which every conforming machine rounds identically. They aim to be accurate
 * (within a few ulp), but above all identical everywhere.
 */
#include "../base/plow.h"

#include "tensor_internal.h"

float tensor_expf(float x) { return tensor_expf_ref(x); }

static const double LN2_HI = 6.93147180369123816490e-01; /* high bits of ln 2 */
static const double LN2_LO = 1.90821492927058770002e-10; /* ln 2 - LN2_HI */
static const double LN2 = 0.6931471805599453094;

double tensor_exp_d(double x) {
    if (x != x) return x;
    if (x > 709.0) return INFINITY;
    if (x < -745.0) return 0.0;
    double n = floor(x * 1.4426950408889634074 + 0.5);
    double r = (x - n * LN2_HI) - n * LN2_LO;
    /* Taylor series to degree 13: |r| <= 0.35, truncation error < 1e-17. */
    double p = 1.0 / 6227020800.0;
    static const double c[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                               1.0 / 362880.0,    1.0 / 40320.0,    1.0 / 5040.0,
                               1.0 / 720.0,       1.0 / 120.0,      1.0 / 24.0,
                               1.0 / 6.0,         0.5,              1.0,
                               1.0};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) p = p * r + c[i];
    return ldexp(p, (int)n);
}

double tensor_log_d(double x) {
    if (x != x || x < 0) return NAN;
    if (x == 0) return -INFINITY;
    if (x == INFINITY) return x;
    int e;
    double m = frexp(x, &e); /* x = m * 2^e, m in [0.5, 1): exact */
    if (m < 0.70710678118654752440) {
        m *= 2.0;
        e -= 1;
    }
    /* log(m) = 2 atanh(f), f = (m-1)/(m+1), |f| <= 0.1716 */
    double f = (m - 1.0) / (m + 1.0), f2 = f * f;
    double s = 0.0;
    for (int k = 41; k >= 3; k -= 2) s = (s + 1.0 / k) * f2;
    double lm = 2.0 * f * (1.0 + s);
    return (double)e * LN2 + lm;
}

float tensor_logf(float x) { return (float)tensor_log_d((double)x); }

/* sin and cos: reduce by pi/2 with a three-part constant (accurate for
 * |x| < 1e6, far beyond what plow uses), then Taylor polynomials on
 * |r| <= pi/4. */
static const double PIO2_1 = 1.57079632673412561417e+00;
static const double PIO2_2 = 6.07710050650619224932e-11;
static const double PIO2_3 = 2.02226624879595063154e-21;

static double sin_poly(double r) {
    double r2 = r * r, p = 0.0;
    for (int k = 21; k >= 3; k -= 2) p = (p + 1.0) * (-r2 / ((double)k * (double)(k - 1)));
    return r * (1.0 + p);
}

static double cos_poly(double r) {
    double r2 = r * r, p = 0.0;
    for (int k = 22; k >= 2; k -= 2) p = (p + 1.0) * (-r2 / ((double)k * (double)(k - 1)));
    return 1.0 + p;
}

static double trig(double x, int shift) {
    if (x != x || x == INFINITY || x == -INFINITY) return NAN;
    double n = floor(x * 0.63661977236758134308 + 0.5);
    double r = ((x - n * PIO2_1) - n * PIO2_2) - n * PIO2_3;
    long q = ((long)fmod(n, 4.0) + 4 + shift) & 3;
    switch (q) {
    case 0: return sin_poly(r);
    case 1: return cos_poly(r);
    case 2: return -sin_poly(r);
    default: return -cos_poly(r);
    }
}

double tensor_sin_d(double x) { return trig(x, 0); }
double tensor_cos_d(double x) { return trig(x, 1); }

/* ---- Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3", SC'11) -------------------------------------------------------- */

void tensor_philox(tensor_rng_key key, uint64_t index, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)index, c1 = (uint32_t)(index >> 32), c2 = key.step, c3 = key.purpose;
    uint32_t k0 = (uint32_t)key.seed, k1 = (uint32_t)(key.seed >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

float tensor_uniform(tensor_rng_key key, uint64_t index) {
    uint32_t r[4];
    tensor_philox(key, index, r);
    return (float)(r[0] >> 8) * (1.0f / 16777216.0f);
}

typedef struct normal_job {
    float *x;
    size_t n;
    float std;
    tensor_rng_key key;
} normal_job;

/* Each value depends only on (key, index): chunks can go to any thread. */
static void normal_task(void *ctx, size_t c) {
    const normal_job *j = ctx;
    size_t o = c * PLOW_CHUNK, e = o + PLOW_CHUNK < j->n ? o + PLOW_CHUNK : j->n;
    for (size_t i = o; i < e; i++) {
        uint32_t r[4];
        tensor_philox(j->key, i, r);
        double u1 = ((double)(r[0] >> 8) + 1.0) * (1.0 / 16777216.0); /* (0, 1] */
        double u2 = (double)(r[1] >> 8) * (1.0 / 16777216.0);          /* [0, 1) */
        double z = sqrt(-2.0 * tensor_log_d(u1)) * tensor_cos_d(6.28318530717958647692 * u2);
        j->x[i] = (float)(z * (double)j->std);
    }
}

void tensor_normal_fill(float *x, size_t n, float std, tensor_rng_key key) {
    normal_job j = {x, n, std, key};
    tensor_parallel_for((n + PLOW_CHUNK - 1) / PLOW_CHUNK, normal_task, &j);
}

/* ---- exact fused multiply-add from double operations ----------------------- */

float tensor_fmaf_exact(float a, float b, float c) {
    double p = (double)a * (double)b; /* exact: 24 + 24 significant bits <= 53 */
    double z = (double)c;
    double s = p + z;
    if (s - s != 0.0) return (float)s; /* inf or NaN: an input was not finite; no rounding happened */
    /* Two-sum (Knuth): s + e == p + z exactly (no overflow: |p| <= 2^256). */
    double bb = s - p;
    double e = (p - (s - bb)) + (z - bb);
    if (e != 0.0) {
        /* Round to odd: the exact value lies strictly between s and its
         * neighbour towards e; of those two, take the one with an odd last
         * bit. s != 0 here (p + z rounding to 0 means it was exactly 0). */
        uint64_t bits;
        memcpy(&bits, &s, sizeof bits);
        if ((bits & 1) == 0) {
            if ((e > 0) == (s > 0))
                bits++;
            else
                bits--;
            memcpy(&s, &bits, sizeof bits);
        }
    }
    /* A round-to-odd value with >= 2 more bits than float rounds to the
     * float the exact value rounds to. */
    return (float)s;
}

/* mix.c: the mixing core (see mix.h). No cfg keys of its own; the layers that use it parse
 * alpha, beta, mode, pairing and seed and pass them in a mix_params.
 */
#include <math.h>
#include <string.h>

#include "mix.h"

const char *const mix_mode_names[2] = {"batch", "sample"};
const char *const mix_pairing_names[4] = {"shuffle", "same", "other", "self"};

/* ---- generator ------------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void mix_rng_seed(mix_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; ++i) r->s[i] = splitmix64(&seed);
}

uint64_t mix_derive_seed(uint64_t seed, uint64_t stream)
{
    uint64_t h = splitmix64(&seed);
    h ^= stream;
    return splitmix64(&h) % 2147483647u;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mix_rng_next(mix_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double mix_rng_uniform(mix_rng *r)
{
    /* 53 random bits, offset by half a step: strictly inside (0,1), so log() is always finite. */
    return ((double)(mix_rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

int mix_rng_below(mix_rng *r, int n)
{
    /* Lemire's multiply-shift with rejection: unbiased for every n. */
    uint64_t bound = (uint64_t)n;
    uint64_t threshold = (0 - bound) % bound;
    for (;;) {
        uint64_t x = mix_rng_next(r) >> 32;
        uint64_t m = x * bound;
        if ((m & 0xffffffffULL) >= threshold) return (int)(m >> 32);
    }
}

double mix_rng_normal(mix_rng *r)
{
    /* Marsaglia's polar method; the second value is dropped to keep the state simple. */
    for (;;) {
        double u = 2.0 * mix_rng_uniform(r) - 1.0, v = 2.0 * mix_rng_uniform(r) - 1.0;
        double s = u * u + v * v;
        if (s > 0.0 && s < 1.0) return u * sqrt(-2.0 * log(s) / s);
    }
}

/* ---- Beta sampler ---------------------------------------------------------------------------- */

double mix_sample_log_gamma(mix_rng *r, double a)
{
    /* Gamma(a) = Gamma(a+1) * U^(1/a) for a < 1; in logs the tiny factor never underflows. */
    double log_boost = 0.0;
    if (a < 1.0) {
        log_boost = log(mix_rng_uniform(r)) / a;
        a += 1.0;
    }
    /* Marsaglia & Tsang (2000), valid for a >= 1. */
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = mix_rng_normal(r), v = 1.0 + c * x;
        if (v <= 0.0) continue;
        v = v * v * v;
        double u = mix_rng_uniform(r);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) return log(d) + log(v) + log_boost;
    }
}

double mix_sample_beta(mix_rng *r, double a, double b)
{
    /* X/(X+Y) = 1/(1+exp(logY-logX)): finite for every pair of finite logs. */
    double lx = mix_sample_log_gamma(r, a), ly = mix_sample_log_gamma(r, b);
    double d = ly - lx;
    if (d > 0) { double e = exp(-d); return e / (1.0 + e); }
    return 1.0 / (1.0 + exp(d));
}

/* ---- pairing --------------------------------------------------------------------------------- */

void mix_classes(const float *truth, int truths, int batch, int *cls)
{
    for (int i = 0; i < batch; ++i) {
        const float *t = truth + (size_t)i * truths;
        int best = 0;
        for (int k = 1; k < truths; ++k) if (t[k] > t[best]) best = k;
        cls[i] = best;
    }
}

static void shuffle_partners(mix_rng *r, int batch, int *partner)
{
    for (int i = 0; i < batch; ++i) partner[i] = i;
    for (int i = batch - 1; i > 0; --i) {
        int j = mix_rng_below(r, i + 1);
        int t = partner[i]; partner[i] = partner[j]; partner[j] = t;
    }
}

/* For each i, a uniform pick among the j != i with (cls[j] == cls[i]) == want_same; when there is
 * none, SAME falls back to i itself and OTHER to any j != i (i itself when batch == 1).
 * candidates: batch ints. O(batch^2), which is nothing next to a forward pass. */
static void class_partners(mix_rng *r, const int *cls, int batch, int want_same, int *partner,
                           int *candidates)
{
    for (int i = 0; i < batch; ++i) {
        int n = 0;
        for (int j = 0; j < batch; ++j)
            if (j != i && (cls[j] == cls[i]) == want_same) candidates[n++] = j;
        if (n == 0 && !want_same)
            for (int j = 0; j < batch; ++j) if (j != i) candidates[n++] = j;
        partner[i] = n ? candidates[mix_rng_below(r, n)] : i;
    }
}

void mix_draw(mix_rng *r, const mix_params *p, const float *truth, int truths, int batch,
              float *lambda, int *partner, int *scratch)
{
    if (p->mode == MIX_MODE_BATCH) {
        float l = (float)mix_sample_beta(r, p->alpha, p->beta);
        for (int i = 0; i < batch; ++i) lambda[i] = l;
    } else {
        for (int i = 0; i < batch; ++i) lambda[i] = (float)mix_sample_beta(r, p->alpha, p->beta);
    }
    switch (p->pairing) {
    case MIX_PAIR_SHUFFLE:
        shuffle_partners(r, batch, partner);
        break;
    case MIX_PAIR_SAME:
    case MIX_PAIR_OTHER:
        mix_classes(truth, truths, batch, scratch);
        class_partners(r, scratch, batch, p->pairing == MIX_PAIR_SAME, partner, scratch + batch);
        break;
    case MIX_PAIR_SELF:
        for (int i = 0; i < batch; ++i) partner[i] = i;
        break;
    }
}

/* ---- kernels --------------------------------------------------------------------------------- */

void mix_forward(const float *a, const float *b, float *out, int n, int batch,
                 const float *lambda, const int *partner)
{
    for (int i = 0; i < batch; ++i) {
        const float l = lambda[i], m = 1.0f - lambda[i];
        /* restrict: out never overlaps a or b (mix.h), so the compiler vectorises the loop */
        const float *restrict ai = a + (size_t)i * n, *restrict bj = b + (size_t)partner[i] * n;
        float *restrict oi = out + (size_t)i * n;
        for (int k = 0; k < n; ++k) oi[k] = l * ai[k] + m * bj[k];
    }
}

void mix_backward(const float *delta, float *delta_a, float *delta_b, int n, int batch,
                  const float *lambda, const int *partner)
{
    for (int i = 0; i < batch; ++i) {
        const float l = lambda[i], m = 1.0f - lambda[i];
        /* each loop writes one buffer that delta does not overlap (delta_a and delta_b may be
         * the same buffer, but never in the same loop): restrict holds, the loops vectorise */
        const float *restrict di = delta + (size_t)i * n;
        if (delta_a) {
            float *restrict da = delta_a + (size_t)i * n;
            for (int k = 0; k < n; ++k) da[k] += l * di[k];
        }
        if (delta_b) {
            float *restrict db = delta_b + (size_t)partner[i] * n;
            for (int k = 0; k < n; ++k) db[k] += m * di[k];
        }
    }
}

void mix_labels(float *truth, int truths, int batch, const float *lambda, const int *partner,
                float *scratch)
{
    memcpy(scratch, truth, sizeof(float) * (size_t)truths * batch);
    mix_forward(scratch, scratch, truth, truths, batch, lambda, partner);
}

/* ---- CutMix ---------------------------------------------------------------------------------- */

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

void mix_cutmix_box(mix_rng *r, int w, int h, float lambda, int box[4])
{
    double cut = sqrt(1.0 - (double)lambda);
    int cut_w = (int)(w * cut), cut_h = (int)(h * cut);
    int cx = mix_rng_below(r, w), cy = mix_rng_below(r, h);
    box[0] = clampi(cx - cut_w / 2, 0, w);
    box[1] = clampi(cy - cut_h / 2, 0, h);
    box[2] = clampi(cx + cut_w / 2, 0, w);
    box[3] = clampi(cy + cut_h / 2, 0, h);
}

float mix_cutmix_lambda(const int box[4], int w, int h)
{
    return 1.0f - (float)((box[2] - box[0]) * (box[3] - box[1])) / (float)(w * h);
}

void mix_cutmix_forward(const float *x, float *out, int c, int h, int w, int batch,
                        const int *boxes, const int *partner)
{
    const size_t image = (size_t)c * h * w;
    memcpy(out, x, sizeof(float) * image * batch);
    for (int i = 0; i < batch; ++i) {
        const int *b = boxes + 4 * i;
        const float *src = x + image * partner[i];
        float *dst = out + image * i;
        for (int k = 0; k < c; ++k)
            for (int y = b[1]; y < b[3]; ++y)
                memcpy(dst + ((size_t)k * h + y) * w + b[0], src + ((size_t)k * h + y) * w + b[0],
                       sizeof(float) * (b[2] - b[0]));
    }
}

void mix_cutmix_backward(const float *delta, float *dx, int c, int h, int w, int batch,
                         const int *boxes, const int *partner)
{
    const size_t image = (size_t)c * h * w;
    for (int i = 0; i < batch; ++i) {
        const int *b = boxes + 4 * i;
        const float *d = delta + image * i;
        float *own = dx + image * i, *other = dx + image * partner[i];
        for (int k = 0; k < c; ++k)
            for (int y = 0; y < h; ++y) {
                const size_t row = ((size_t)k * h + y) * w;
                const int in_rows = y >= b[1] && y < b[3];
                for (int x = 0; x < w; ++x) {
                    if (in_rows && x >= b[0] && x < b[2]) other[row + x] += d[row + x];
                    else own[row + x] += d[row + x];
                }
            }
    }
}

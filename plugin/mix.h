/* mix.h: the mixing core shared by every mixing layer ([siamese], [mixup], [cutmix]).
 *
 * A seeded generator owned by each layer (never rand()), a Beta sampler that cannot return NaN,
 * partner selection within a batch, and the pure kernels that mix two activation buffers, their
 * backward pass and the labels. All kernels work on raw pointers with shapes (batch, n):
 * row i of a buffer is buf[i*n .. i*n+n).
 */
#ifndef PLUGIN_MIX_H
#define PLUGIN_MIX_H

#include <stdint.h>

/* xoshiro256** seeded by splitmix64: fast, 256-bit state, reproducible across platforms. */
typedef struct mix_rng { uint64_t s[4]; } mix_rng;

void     mix_rng_seed(mix_rng *r, uint64_t seed);
/* A seed for stream `stream` (e.g. a layer index) of a run seeded with `seed`: splitmix64 of both,
 * so neighbouring streams are unrelated. In [0, 2^31-1), so it can be written back as a seed= key. */
uint64_t mix_derive_seed(uint64_t seed, uint64_t stream);
uint64_t mix_rng_next(mix_rng *r);
double   mix_rng_uniform(mix_rng *r);         /* in (0,1): never 0, never 1 */
int      mix_rng_below(mix_rng *r, int n);    /* uniform in [0,n), n >= 1, unbiased */
double   mix_rng_normal(mix_rng *r);
/* Beta(a, b), a, b > 0. Always in [0,1] and never NaN, also for tiny a, b: both Gamma draws are
 * made in log space, so an underflowing Gamma(0.1) (about 1 in 6,000 float draws) cannot give 0/0. */
double   mix_sample_beta(mix_rng *r, double a, double b);
/* log of a Gamma(a, 1) draw, a > 0 (Marsaglia-Tsang; for a < 1 via Gamma(a+1) * U^(1/a)). */
double   mix_sample_log_gamma(mix_rng *r, double a);

typedef enum { MIX_MODE_BATCH, MIX_MODE_SAMPLE } mix_mode;
/* Partner of sample i: SHUFFLE a random permutation; SAME a random other sample of the same class
 * (itself when it is alone in its class); OTHER a random sample of another class (any other sample
 * when the whole batch is one class); SELF itself. */
typedef enum { MIX_PAIR_SHUFFLE, MIX_PAIR_SAME, MIX_PAIR_OTHER, MIX_PAIR_SELF } mix_pairing;

extern const char *const mix_mode_names[2];      /* "batch", "sample" */
extern const char *const mix_pairing_names[4];   /* "shuffle", "same", "other", "self" */

typedef struct mix_params {
    float alpha, beta;        /* lambda ~ Beta(alpha, beta) */
    mix_mode mode;
    mix_pairing pairing;
} mix_params;

/* Class of each row of truth (batch, truths): the argmax (first on ties). */
void mix_classes(const float *truth, int truths, int batch, int *cls);

/* One draw for a forward pass: lambda[batch] (all equal in batch mode) and partner[batch].
 * truth (batch, truths) is read only for SAME/OTHER pairing and may be NULL otherwise.
 * scratch: at least 2*batch ints. */
void mix_draw(mix_rng *r, const mix_params *p, const float *truth, int truths, int batch,
              float *lambda, int *partner, int *scratch);

/* out[i] = lambda[i]*a[i] + (1-lambda[i])*b[partner[i]]     a, b, out: (batch, n); out != a, b */
void mix_forward(const float *a, const float *b, float *out, int n, int batch,
                 const float *lambda, const int *partner);
/* The backward of mix_forward with Darknet's delta = -dL/dx, adding into the inputs' deltas:
 * delta_a[i] += lambda[i]*delta[i];  delta_b[partner[i]] += (1-lambda[i])*delta[i].
 * delta_a or delta_b may be NULL (that input takes no gradient); they may be the same buffer. */
void mix_backward(const float *delta, float *delta_a, float *delta_b, int n, int batch,
                  const float *lambda, const int *partner);
/* truth[i] <- lambda[i]*truth[i] + (1-lambda[i])*truth[partner[i]], in place.
 * scratch: batch*truths floats (the unmixed labels are read from a copy). */
void mix_labels(float *truth, int truths, int batch, const float *lambda, const int *partner,
                float *scratch);

/* ---- CutMix (Yun et al., 2019) on images (batch, c, h, w) --------------------------------------
 * A box covering about 1-lambda of the image, centred uniformly at random and clipped to it:
 * cut = (w*sqrt(1-lambda), h*sqrt(1-lambda)); box = {x1, y1, x2, y2}, x1 <= x < x2. */
void  mix_cutmix_box(mix_rng *r, int w, int h, float lambda, int box[4]);
/* The weight the labels get after clipping: 1 - box area / image area. */
float mix_cutmix_lambda(const int box[4], int w, int h);
/* out[i] = x[i] with the box of sample i taken from x[partner[i]]; out != x. boxes: 4 per sample. */
void mix_cutmix_forward(const float *x, float *out, int c, int h, int w, int batch,
                        const int *boxes, const int *partner);
/* Its backward, adding: dx[i] += delta[i] outside box i; dx[partner[i]] += delta[i] inside it. */
void mix_cutmix_backward(const float *delta, float *dx, int c, int h, int w, int batch,
                         const int *boxes, const int *partner);

#endif

/* test_fast_layers.c: the optimised CPU layers (patches 0015 OpenBLAS gemm, 0017 batched
 * convolution, fused batch norm + activation, im2col/col2im, pooling, thread pool) against a naive
 * double-precision reference written here from stock Darknet's formulas, one training step at a
 * time, layer by layer.
 *
 * Each layer is checked on the input it actually received: its forward output (and batch norm's
 * mean, variance and rolling statistics), then, walking backward as backward_network does, its
 * weight/bias/scale updates and the gradient it passes to the layer before (which holds small
 * random values first, so that adding and overwriting differ), from the delta it received; finally the SGD update and an inference pass (rolling statistics). Stock Darknet's
 * quirks are part of the reference: forward divides by sqrt(var) + 1e-6 but backward uses
 * 1/sqrt(var + 1e-5); variance over N - 1; a 1x1 convolution overwrites the previous layer's
 * delta where others add to it; max pooling pads by size-1 with windows offset by -pad/2.
 *
 * Tolerance: |got - ref| <= 1e-4 * (|ref| + rms(ref)) per value (float against double; sums over
 * up to 48k terms in another order). Seen: at most about 1e-6 relative. A perturbation of 1e-3 is
 * caught (test_compare_catches_errors), so the check can fail.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "test_util.h"

#include "darknet.h"
#include "mix.h"
#include "siamese.h"

#define RTOL 1e-4

static void fill_range(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    mix_rng r;
    mix_rng_seed(&r, seed);
    for (size_t i = 0; i < n; ++i) x[i] = lo + (hi - lo) * (float)mix_rng_uniform(&r);
}

static double *dalloc(size_t n) { double *p = calloc(n ? n : 1, sizeof(double)); assert_non_null(p); return p; }
static float *fdup(const float *x, size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(p);
    if (n) memcpy(p, x, n * sizeof(float));
    return p;
}

/* 1 when every got[i] is within RTOL*(|ref[i]| + rms(ref) + scale[i]) of ref[i], where scale[i]
 * (may be NULL) is the size of the terms that ref[i] sums, e.g. sum |w*x| for a dot product: a sum
 * that cancels to about 0 is only known to that precision in float. Prints the worst otherwise. */
static int close_enough(const char *what, const float *got, const double *ref, const double *scale, size_t n,
                        double *worst_rel)
{
    double ss = 0;
    for (size_t i = 0; i < n; ++i) ss += ref[i] * ref[i];
    double rms = n ? sqrt(ss / n) : 0;
    size_t bad = 0, worst = 0;
    double worst_excess = 0;
    for (size_t i = 0; i < n; ++i) {
        double tol = RTOL * (fabs(ref[i]) + rms + (scale ? scale[i] : 0)) + 1e-30;
        double err = fabs((double)got[i] - ref[i]);
        if (!(err <= tol)) ++bad;
        if (err / tol > worst_excess) { worst_excess = err / tol; worst = i; }
    }
    if (worst_rel && worst_excess * RTOL > *worst_rel) *worst_rel = worst_excess * RTOL;
    if (bad) {
        printf("  %s: %zu of %zu values off; worst [%zu] %.9g vs %.9g (rms %.3g)\n", what, bad, n, worst,
               n ? got[worst] : 0.0, n ? ref[worst] : 0.0, rms);
        return 0;
    }
    return 1;
}

static void expect_close(const char *what, int layer, const float *got, const double *ref, const double *scale,
                         size_t n, double *worst)
{
    char name[128];
    snprintf(name, sizeof name, "layer %d %s", layer, what);
    if (!close_enough(name, got, ref, scale, n, worst)) fail_msg("%s differs from the reference", name);
}

/* ---- the reference ---------------------------------------------------------------------------- */

static double act(double x, ACTIVATION a)
{
    switch (a) {
    case LINEAR: return x;
    case LEAKY: return x > 0 ? x : .1 * x;
    case RELU: return x > 0 ? x : 0;
    case LOGISTIC: return 1. / (1. + exp(-x));
    case TANH: return tanh(x);
    default: fail_msg("activation %d not in the reference", a);
    }
    return 0;
}

/* derivative from the output y, as Darknet's gradient() */
static double act_grad(double y, ACTIVATION a)
{
    switch (a) {
    case LINEAR: return 1;
    case LEAKY: return y > 0 ? 1 : .1;
    case RELU: return y > 0;
    case LOGISTIC: return (1 - y) * y;
    case TANH: return 1 - y * y;
    default: fail_msg("activation %d not in the reference", a);
    }
    return 0;
}

/* What the reference forward keeps for backward (per layer, double). */
typedef struct {
    double *x;      /* before batch norm (and activation) */
    double *xn;     /* normalised */
    double *y;      /* output */
    double *mean, *var;
    double *xabs, *yabs;   /* size of the terms behind x and y (see close_enough) */
} ref_state;

static void free_state(ref_state *s)
{
    free(s->x); free(s->xn); free(s->y); free(s->mean); free(s->var); free(s->xabs); free(s->yabs);
}

/* Sizes of the terms of the values computed in backward (see close_enough). */
typedef struct { double *wu, *bu, *su, *pd; } ref_scales;

/* Batch norm over (batch, c, spatial), training or with the rolling statistics. */
static void ref_bn_forward(const layer *l, int c, int spatial, int train, const float *rolling_mean,
                           const float *rolling_var, ref_state *s, double *y)
{
    int B = l->batch;
    s->mean = dalloc(c);
    s->var = dalloc(c);
    s->xn = dalloc((size_t)B * c * spatial);
    for (int f = 0; f < c; ++f) {
        double m = 0, v = 0;
        if (train) {
            for (int b = 0; b < B; ++b) for (int i = 0; i < spatial; ++i) m += s->x[((size_t)b * c + f) * spatial + i];
            m /= (double)B * spatial;
            for (int b = 0; b < B; ++b) for (int i = 0; i < spatial; ++i) {
                double d = s->x[((size_t)b * c + f) * spatial + i] - m;
                v += d * d;
            }
            v /= (double)B * spatial - 1;
        } else {
            m = rolling_mean[f];
            v = rolling_var[f];
        }
        s->mean[f] = m;
        s->var[f] = v;
        for (int b = 0; b < B; ++b) for (int i = 0; i < spatial; ++i) {
            size_t k = ((size_t)b * c + f) * spatial + i;
            s->xn[k] = (s->x[k] - m) / (sqrt(v) + 1e-6);
            y[k] = s->xn[k] * l->scales[f] + l->biases[f];
            s->yabs[k] = (s->xabs[k] + fabs(m)) / (sqrt(v) + 1e-6) * fabs(l->scales[f]) + fabs(l->biases[f]);
        }
    }
}

/* delta (batch, c, spatial) through batch norm, in place; adds into bias/scale updates */
static void ref_bn_backward(const layer *l, int c, int spatial, const ref_state *s, double *delta,
                            double *dabs, double *bias_up, double *scale_up, const ref_scales *sc)
{
    int B = l->batch;
    double N = (double)B * spatial;
    for (int f = 0; f < c; ++f) {
        double sd = 0, sdn = 0, sdx = 0;
        for (int b = 0; b < B; ++b) for (int i = 0; i < spatial; ++i) {
            size_t k = ((size_t)b * c + f) * spatial + i;
            sd += delta[k];
            sdn += delta[k] * s->xn[k];
            sc->bu[f] += dabs[k];
            sc->su[f] += dabs[k] * fabs(s->xn[k]);
        }
        bias_up[f] += sd;
        scale_up[f] += sdn;
        for (int b = 0; b < B; ++b) for (int i = 0; i < spatial; ++i) {
            size_t k = ((size_t)b * c + f) * spatial + i;
            delta[k] *= l->scales[f];
            sdx += delta[k] * (s->x[k] - s->mean[f]);
        }
        double md = sd * l->scales[f] * (-1. / sqrt(s->var[f] + 1e-5));
        double vd = sdx * (-.5 * pow(s->var[f] + 1e-5, -1.5));
        for (int b = 0; b < B; ++b) for (int i = 0; i < spatial; ++i) {
            size_t k = ((size_t)b * c + f) * spatial + i;
            double t1 = delta[k] / sqrt(s->var[f] + 1e-5), t2 = vd * 2 * (s->x[k] - s->mean[f]) / N, t3 = md / N;
            delta[k] = t1 + t2 + t3;
            dabs[k] = fabs(t1) + fabs(t2) + fabs(t3);
        }
    }
}

static double in_px(const float *in, const layer *l, int b, int c, int y, int x)
{
    if (y < 0 || x < 0 || y >= l->h || x >= l->w) return 0;
    return in[(((size_t)b * l->c + c) * l->h + y) * l->w + x];
}

/* Max pooling's window for output (oy, ox) of channel c of image b: Darknet pads by size-1 and
 * offsets windows by -pad/2; returns the maximum and (when at != NULL) its pixel y*w + x. */
static double ref_max_window(const float *in, const layer *l, int b, int c, int oy, int ox, size_t *at)
{
    int off = -l->pad / 2;
    double m = -INFINITY;
    for (int ky = 0; ky < l->size; ++ky) for (int kx = 0; kx < l->size; ++kx) {
        int yy = off + oy * l->stride + ky, xx = off + ox * l->stride + kx;
        if (yy >= 0 && xx >= 0 && yy < l->h && xx < l->w && in_px(in, l, b, c, yy, xx) > m) {
            m = in_px(in, l, b, c, yy, xx);
            if (at) *at = (size_t)yy * l->w + xx;
        }
    }
    return m;
}

/* Forward of one layer from its input; fills s and returns the output (batch*outputs doubles). */
static double *ref_forward(const layer *l, const float *in, int train, const float *rolling_mean,
                           const float *rolling_var, ref_state *s)
{
    int B = l->batch;
    size_t no = (size_t)B * l->outputs;
    double *y = dalloc(no);
    memset(s, 0, sizeof *s);
    s->x = dalloc(no);
    s->xabs = dalloc(no);
    s->yabs = dalloc(no);
    switch (l->type) {
    case CONVOLUTIONAL: {
        int sp = l->out_h * l->out_w;
        for (int b = 0; b < B; ++b) for (int f = 0; f < l->n; ++f)
            for (int oy = 0; oy < l->out_h; ++oy) for (int ox = 0; ox < l->out_w; ++ox) {
                double sum = 0, abs_sum = 0;
                for (int c = 0; c < l->c; ++c) for (int ky = 0; ky < l->size; ++ky) for (int kx = 0; kx < l->size; ++kx) {
                    double t = l->weights[((f * l->c + c) * l->size + ky) * l->size + kx]
                             * in_px(in, l, b, c, oy * l->stride - l->pad + ky, ox * l->stride - l->pad + kx);
                    sum += t;
                    abs_sum += fabs(t);
                }
                s->x[((size_t)b * l->n + f) * sp + oy * l->out_w + ox] = sum;
                s->xabs[((size_t)b * l->n + f) * sp + oy * l->out_w + ox] = abs_sum;
            }
        if (l->batch_normalize) ref_bn_forward(l, l->n, sp, train, rolling_mean, rolling_var, s, y);
        else for (size_t k = 0; k < no; ++k) {
            y[k] = s->x[k] + l->biases[(k / sp) % l->n];
            s->yabs[k] = s->xabs[k] + fabs(l->biases[(k / sp) % l->n]);
        }
        for (size_t k = 0; k < no; ++k) y[k] = act(y[k], l->activation);
        break;
    }
    case CONNECTED: {
        for (int b = 0; b < B; ++b) for (int o = 0; o < l->outputs; ++o) {
            double sum = 0, abs_sum = 0;
            for (int i = 0; i < l->inputs; ++i) {
                double t = (double)l->weights[(size_t)o * l->inputs + i] * in[(size_t)b * l->inputs + i];
                sum += t;
                abs_sum += fabs(t);
            }
            s->x[(size_t)b * l->outputs + o] = sum;
            s->xabs[(size_t)b * l->outputs + o] = abs_sum;
        }
        if (l->batch_normalize) ref_bn_forward(l, l->outputs, 1, train, rolling_mean, rolling_var, s, y);
        else for (size_t k = 0; k < no; ++k) {
            y[k] = s->x[k] + l->biases[k % l->outputs];
            s->yabs[k] = s->xabs[k] + fabs(l->biases[k % l->outputs]);
        }
        for (size_t k = 0; k < no; ++k) y[k] = act(y[k], l->activation);
        break;
    }

    case MAXPOOL:
        for (int b = 0; b < B; ++b) for (int c = 0; c < l->c; ++c)
            for (int oy = 0; oy < l->out_h; ++oy) for (int ox = 0; ox < l->out_w; ++ox)
                y[(((size_t)b * l->c + c) * l->out_h + oy) * l->out_w + ox] = ref_max_window(in, l, b, c, oy, ox, NULL);
        break;
    case AVGPOOL:
        for (int b = 0; b < B; ++b) for (int c = 0; c < l->c; ++c) {
            double sum = 0;
            for (int i = 0; i < l->h * l->w; ++i) sum += in[((size_t)b * l->c + c) * l->h * l->w + i];
            y[(size_t)b * l->c + c] = sum / (l->h * l->w);
        }
        break;
    default:
        fail_msg("layer type %d not in the reference", l->type);
    }
    if (l->type == MAXPOOL || l->type == AVGPOOL) for (size_t k = 0; k < no; ++k) s->yabs[k] = fabs(y[k]);
    /* an activation scales the error of its input by its slope (at most 1 for these) */
    s->y = y;
    return y;
}

/* Backward of one layer: delta_out (what it received) -> its updates and the delta it passes on
 * (added to prev_delta_before; for 1x1 convolutions replacing it). Returns the new previous delta
 * (NULL when there is none) and fills the updates (zero before). */
static double *ref_backward(const layer *l, const float *in, const ref_state *s, const float *delta_out,
                            const float *prev_delta_before, double *wu, double *bu, double *su, const ref_scales *sc)
{
    int B = l->batch;
    size_t no = (size_t)B * l->outputs, ni = (size_t)B * l->inputs;
    double *d = dalloc(no), *dabs = dalloc(no), *pd = NULL;
    for (size_t k = 0; k < no; ++k) d[k] = delta_out[k];
    if (prev_delta_before) {
        pd = dalloc(ni);
        for (size_t k = 0; k < ni; ++k) { pd[k] = prev_delta_before[k]; sc->pd[k] = fabs(pd[k]); }
    }
    /* The slope is taken at the layer's own (float) output, as Darknet does: a pre-activation
     * within float rounding of 0 may have the other sign in the double reference, and leaky's
     * slope jumps from 1 to 0.1 there (seen under -O2 vs -Ofast: 11 weight updates off by 2%). */
    switch (l->type) {
    case CONVOLUTIONAL: {
        int sp = l->out_h * l->out_w;
        for (size_t k = 0; k < no; ++k) { d[k] *= act_grad(l->output[k], l->activation); dabs[k] = fabs(d[k]); }
        if (l->batch_normalize) ref_bn_backward(l, l->n, sp, s, d, dabs, bu, su, sc);
        else for (size_t k = 0; k < no; ++k) { bu[(k / sp) % l->n] += d[k]; sc->bu[(k / sp) % l->n] += dabs[k]; }
        if (pd && l->size == 1) { memset(pd, 0, ni * sizeof(double)); memset(sc->pd, 0, ni * sizeof(double)); }
        for (int b = 0; b < B; ++b) for (int f = 0; f < l->n; ++f)
            for (int oy = 0; oy < l->out_h; ++oy) for (int ox = 0; ox < l->out_w; ++ox) {
                size_t ko = ((size_t)b * l->n + f) * sp + oy * l->out_w + ox;
                double g = d[ko], ga = dabs[ko];
                for (int c = 0; c < l->c; ++c) for (int ky = 0; ky < l->size; ++ky) for (int kx = 0; kx < l->size; ++kx) {
                    int yy = oy * l->stride - l->pad + ky, xx = ox * l->stride - l->pad + kx;
                    size_t wi = ((f * l->c + c) * l->size + ky) * l->size + kx;
                    double x = in_px(in, l, b, c, yy, xx);
                    wu[wi] += g * x;
                    sc->wu[wi] += ga * fabs(x);
                    if (pd && yy >= 0 && xx >= 0 && yy < l->h && xx < l->w) {
                        size_t ki = (((size_t)b * l->c + c) * l->h + yy) * l->w + xx;
                        pd[ki] += g * l->weights[wi];
                        sc->pd[ki] += ga * fabs(l->weights[wi]);
                    }
                }
            }
        break;
    }
    case CONNECTED:
        for (size_t k = 0; k < no; ++k) { d[k] *= act_grad(l->output[k], l->activation); dabs[k] = fabs(d[k]); }
        if (l->batch_normalize) ref_bn_backward(l, l->outputs, 1, s, d, dabs, bu, su, sc);
        else for (size_t k = 0; k < no; ++k) { bu[k % l->outputs] += d[k]; sc->bu[k % l->outputs] += dabs[k]; }
        for (int b = 0; b < B; ++b) for (int o = 0; o < l->outputs; ++o) {
            double g = d[(size_t)b * l->outputs + o], ga = dabs[(size_t)b * l->outputs + o];
            for (int i = 0; i < l->inputs; ++i) {
                double x = in[(size_t)b * l->inputs + i], w = l->weights[(size_t)o * l->inputs + i];
                wu[(size_t)o * l->inputs + i] += g * x;
                sc->wu[(size_t)o * l->inputs + i] += ga * fabs(x);
                if (pd) { pd[(size_t)b * l->inputs + i] += g * w; sc->pd[(size_t)b * l->inputs + i] += ga * fabs(w); }
            }
        }
        break;
    case MAXPOOL: {
        for (int b = 0; b < B; ++b) for (int c = 0; c < l->c; ++c)
            for (int oy = 0; oy < l->out_h; ++oy) for (int ox = 0; ox < l->out_w; ++ox) {
                size_t at;
                ref_max_window(in, l, b, c, oy, ox, &at);
                if (pd) {
                    size_t ki = (((size_t)b * l->c + c) * l->h) * l->w + at;
                    pd[ki] += d[(((size_t)b * l->c + c) * l->out_h + oy) * l->out_w + ox];
                    sc->pd[ki] += fabs(d[(((size_t)b * l->c + c) * l->out_h + oy) * l->out_w + ox]);
                }
            }
        break;
    }
    case AVGPOOL:
        if (pd) for (int b = 0; b < B; ++b) for (int c = 0; c < l->c; ++c)
            for (int i = 0; i < l->h * l->w; ++i) {
                pd[((size_t)b * l->c + c) * l->h * l->w + i] += d[(size_t)b * l->c + c] / (l->h * l->w);
                sc->pd[((size_t)b * l->c + c) * l->h * l->w + i] += fabs(d[(size_t)b * l->c + c]) / (l->h * l->w);
            }
        break;
    default:
        fail_msg("layer type %d not in the reference", l->type);
    }
    free(d);
    free(dabs);
    return pd;
}

static size_t weight_count(const layer *l)
{
    return l->type == CONVOLUTIONAL ? (size_t)l->nweights : l->type == CONNECTED ? (size_t)l->inputs * l->outputs : 0;
}
static int n_channels(const layer *l)
{
    return l->type == CONVOLUTIONAL ? l->n : l->type == CONNECTED ? l->outputs : 0;
}
static int has_bn(const layer *l) { return (l->type == CONVOLUTIONAL || l->type == CONNECTED) && l->batch_normalize; }
static int checked(const layer *l)
{
    return l->type == CONVOLUTIONAL || l->type == CONNECTED || l->type == MAXPOOL || l->type == AVGPOOL;
}

/* ---- one training step, layer by layer --------------------------------------------------------- */

static double check_training_step(const char *cfg, uint64_t seed)
{
    srand(7);
    network *net = parse_cfg_text(cfg);
    int n = net->n, B = net->batch;
    double worst = 0;
    /* non-trivial batch norm parameters; Darknet starts them at scale 1, bias 0, rolling 0 */
    for (int i = 0; i < n; ++i) {
        layer *l = &net->layers[i];
        int c = n_channels(l);
        if (c && l->biases) fill_range(l->biases, c, seed + 10 * i + 1, -.5f, .5f);
        if (has_bn(l)) {
            fill_range(l->scales, c, seed + 10 * i + 2, .5f, 1.5f);
            fill_range(l->rolling_mean, c, seed + 10 * i + 3, -.2f, .2f);
            fill_range(l->rolling_variance, c, seed + 10 * i + 4, .5f, 2.f);
        }
    }
    fill_range(net->input, (size_t)B * net->inputs, seed, -1, 1);
    memset(net->truth, 0, sizeof(float) * B * net->truths);
    for (int b = 0; b < B; ++b) net->truth[b * net->truths + (b * 7 + 3) % net->truths] = 1;

    /* snapshots before the step */
    float **rm = calloc(n, sizeof *rm), **rv = calloc(n, sizeof *rv), **w0 = calloc(n, sizeof *w0),
          **b0 = calloc(n, sizeof *b0), **s0 = calloc(n, sizeof *s0);
    for (int i = 0; i < n; ++i) {
        layer *l = &net->layers[i];
        int c = n_channels(l);
        if (has_bn(l)) { rm[i] = fdup(l->rolling_mean, c); rv[i] = fdup(l->rolling_variance, c); s0[i] = fdup(l->scales, c); }
        if (weight_count(l)) w0[i] = fdup(l->weights, weight_count(l));
        if (c && l->biases) b0[i] = fdup(l->biases, c);
    }

    net->train = 1;
    *net->seen += B;
    forward_network(net);

    /* forward, each layer from the input it received */
    ref_state *st = calloc(n, sizeof *st);
    for (int i = 0; i < n; ++i) {
        layer *l = &net->layers[i];
        if (!checked(l)) continue;
        const float *in = i ? net->layers[i - 1].output : net->input;
        double *y = ref_forward(l, in, 1, rm[i], rv[i], &st[i]);
        expect_close("forward output", i, l->output, y, st[i].yabs, (size_t)B * l->outputs, &worst);
        if (has_bn(l)) {
            int c = n_channels(l);
            double *r = dalloc(c);
            expect_close("batch mean", i, l->mean, st[i].mean, NULL, c, &worst);
            expect_close("batch variance", i, l->variance, st[i].var, NULL, c, &worst);
            for (int f = 0; f < c; ++f) r[f] = .99 * rm[i][f] + .01 * st[i].mean[f];
            expect_close("rolling mean", i, l->rolling_mean, r, NULL, c, &worst);
            for (int f = 0; f < c; ++f) r[f] = .99 * rv[i][f] + .01 * st[i].var[f];
            expect_close("rolling variance", i, l->rolling_variance, r, NULL, c, &worst);
            free(r);
        }
    }

    /* backward, as backward_network walks it, each layer from the delta it received */
    network orig = *net;
    for (int i = n - 1; i >= 0; --i) {
        layer l = net->layers[i];
        network nt = orig;
        if (i > 0) { nt.input = net->layers[i - 1].output; nt.delta = net->layers[i - 1].delta; }
        nt.index = i;
        size_t ni = (size_t)B * l.inputs;
        float *delta_out = fdup(l.delta, (size_t)B * l.outputs);
        /* something already in the previous layer's delta (as a [route] would leave there), so that
         * adding to it and overwriting it (1x1 convolutions) are told apart */
        if (nt.delta && checked(&l)) fill_range(nt.delta, ni, seed + 1000 + i, -.01f, .01f);
        float *prev_before = nt.delta ? fdup(nt.delta, ni) : NULL;
        l.backward(l, nt);
        if (!checked(&l)) { free(delta_out); free(prev_before); continue; }
        int c = n_channels(&l);
        size_t nw = weight_count(&l);
        double *wu = dalloc(nw), *bu = dalloc(c), *su = dalloc(c);
        ref_scales sc = {dalloc(nw), dalloc(c), dalloc(c), dalloc(ni)};
        double *pd = ref_backward(&l, nt.input, &st[i], delta_out, prev_before, wu, bu, su, &sc);
        if (nw) expect_close("weight updates", i, l.weight_updates, wu, sc.wu, nw, &worst);
        if (c && l.bias_updates) expect_close("bias updates", i, l.bias_updates, bu, sc.bu, c, &worst);
        if (has_bn(&l)) expect_close("scale updates", i, l.scale_updates, su, sc.su, c, &worst);
        if (pd) expect_close("delta to the previous layer", i, nt.delta, pd, sc.pd, ni, &worst);
        free(wu); free(bu); free(su); free(pd); free(delta_out); free(prev_before);
        free(sc.wu); free(sc.bu); free(sc.su); free(sc.pd);
    }

    /* SGD update (update_convolutional_layer / update_connected_layer) from the checked updates */
    float **wup = calloc(n, sizeof *wup), **bup = calloc(n, sizeof *bup), **sup = calloc(n, sizeof *sup);
    for (int i = 0; i < n; ++i) {
        layer *l = &net->layers[i];
        int c = n_channels(l);
        if (weight_count(l)) wup[i] = fdup(l->weight_updates, weight_count(l));
        if (c && l->bias_updates) bup[i] = fdup(l->bias_updates, c);
        if (has_bn(l) && l->scale_updates) sup[i] = fdup(l->scale_updates, c);
    }
    double lr = get_current_rate(net), mom = net->momentum, decay = net->decay;
    update_network(net);
    for (int i = 0; i < n; ++i) {
        layer *l = &net->layers[i];
        if (l->type != CONVOLUTIONAL && l->type != CONNECTED) continue;
        size_t nw = weight_count(l);
        int c = n_channels(l);
        double *w = dalloc(nw), *u = dalloc(nw), *bb = dalloc(c);
        for (size_t k = 0; k < nw; ++k) {
            double upd = wup[i][k] - decay * B * w0[i][k];
            w[k] = w0[i][k] + lr / B * upd;
            u[k] = mom * upd;
        }
        for (int f = 0; f < c; ++f) bb[f] = b0[i][f] + lr / B * bup[i][f];
        expect_close("updated weights", i, l->weights, w, NULL, nw, &worst);
        expect_close("weight momentum", i, l->weight_updates, u, NULL, nw, &worst);
        expect_close("updated biases", i, l->biases, bb, NULL, c, &worst);
        if (l->batch_normalize) {
            for (int f = 0; f < c; ++f) bb[f] = s0[i][f] + lr / B * sup[i][f];
            expect_close("updated scales", i, l->scales, bb, NULL, c, &worst);
        }
        free(w); free(u); free(bb);
    }

    /* inference: batch norm from the rolling statistics */
    net->train = 0;
    forward_network(net);
    for (int i = 0; i < n; ++i) {
        layer *l = &net->layers[i];
        if (!checked(l)) continue;
        ref_state s;
        const float *in = i ? net->layers[i - 1].output : net->input;
        double *y = ref_forward(l, in, 0, l->rolling_mean, l->rolling_variance, &s);
        expect_close("inference output", i, l->output, y, s.yabs, (size_t)B * l->outputs, &worst);
        free_state(&s);
    }

    for (int i = 0; i < n; ++i) {
        free_state(&st[i]);
        free(rm[i]); free(rv[i]); free(w0[i]); free(b0[i]); free(s0[i]); free(wup[i]); free(bup[i]); free(sup[i]);
    }
    free(st); free(rm); free(rv); free(w0); free(b0); free(s0); free(wup); free(bup); free(sup);
    free_network(net);
    return worst;
}

/* Every optimised path: 3x3 convolutions with batch norm and leaky (fused), the first layer (no
 * delta before it), stride 2 without batch norm (bias, relu), 1x1 (overwrites the delta before it),
 * no padding with logistic (not fused), an even kernel with tanh (generic activation), max pooling
 * with windows inside and across the border, average pooling, [connected] with batch norm.
 * (Not [batchnorm] on its own: make_batchnorm_layer allocates no x/x_norm, so stock Darknet's CPU
 * forward crashes on it, and so would a reference comparison.) */
static const char *const many_layers =
    "[net]\nbatch=4\nsubdivisions=1\nwidth=12\nheight=12\nchannels=3\n"
    "learning_rate=0.1\nmomentum=0.9\ndecay=0.0005\n"
    "[convolutional]\nbatch_normalize=1\nfilters=6\nsize=3\nstride=1\npad=1\nactivation=leaky\n"    /* 0: 12x12 */
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n"    /* 1 */
    "[convolutional]\nfilters=5\nsize=3\nstride=2\npad=1\nactivation=relu\n"                       /* 2: 6x6 */
    "[convolutional]\nbatch_normalize=1\nfilters=7\nsize=1\nstride=1\nactivation=linear\n"         /* 3: 1x1 */
    "[convolutional]\nbatch_normalize=1\nfilters=6\nsize=3\nstride=1\npad=0\nactivation=logistic\n" /* 4: 4x4 */
    "[convolutional]\nfilters=6\nsize=2\nstride=1\npad=1\nactivation=tanh\n"                       /* 5: 5x5 */
    "[maxpool]\nsize=2\nstride=2\n"                                                                  /* 6: 3x3, border */
    "[maxpool]\nsize=3\nstride=1\n"                                                                  /* 7: 3x3, padded */
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n"    /* 8 */
    "[avgpool]\n"                                                                                    /* 9 */
    "[connected]\noutput=6\nbatch_normalize=1\nactivation=leaky\n"                                   /* 10 */
    "[connected]\noutput=4\nactivation=linear\n"                                                     /* 11 */
    "[softmax]\n";

/* Batch 47 of 32x32x8: the convolutions' images do not fit one gemm's workspace chunk (1 MiB), so
 * they run in several chunks, the last one smaller (first layer: 23 of 2 images and 1 of 1; second
 * layer: one image per chunk). */
static const char *const chunked =
    "[net]\nbatch=47\nsubdivisions=1\nwidth=32\nheight=32\nchannels=8\n"
    "learning_rate=0.05\nmomentum=0.9\ndecay=0.0005\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[avgpool]\n"
    "[connected]\noutput=3\nactivation=linear\n"
    "[softmax]\n";

static void test_many_layers(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; ++seed) {
        double worst = check_training_step(many_layers, seed);
        printf("  seed %llu: worst error %.2e of the tolerance's scale (limit %.0e)\n", (unsigned long long)seed, worst, RTOL);
    }
}

static void test_chunked_batch(void **state)
{
    (void)state;
    double worst = check_training_step(chunked, 5);
    printf("  worst error %.2e (limit %.0e)\n", worst, RTOL);
}

/* The comparison itself: a 1e-3 relative error in one value is reported. */
static void test_compare_catches_errors(void **state)
{
    (void)state;
    double ref[100];
    float got[100];
    for (int i = 0; i < 100; ++i) { ref[i] = sin(i + 1.0); got[i] = (float)ref[i]; }
    assert_true(close_enough("exact", got, ref, NULL, 100, NULL));
    got[37] = (float)(ref[37] * (1 + 1e-3));
    assert_false(close_enough("perturbed (expected to be reported)", got, ref, NULL, 100, NULL));
}

/* ---- [branch]: sharing the input and skipping branch B's input gradient change nothing -------- */

static const char *const siamese_cfg =
    "[net]\nbatch=6\nsubdivisions=1\nwidth=8\nheight=8\nchannels=2\n"
    "learning_rate=0.1\nmomentum=0.9\ndecay=0.0005\n"
    "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n"   /* 0 */
    "[avgpool]\n"                                                                                   /* 1 */
    "[branch]\n"                                                                                    /* 2 */
    "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n"   /* 3 */
    "[avgpool]\n"                                                                                   /* 4 */
    "[siamese]\nseed=3\n"                                                                           /* 5 */
    "[connected]\noutput=3\nactivation=linear\n"                                                   /* 6 */
    "[softmax]\n";

static network *siamese_net(int force_copy)
{
    srand(11);
    network *net = parse_cfg_text(siamese_cfg);
    branch_state *st = net->layers[2].plugin_state;
    if (force_copy) {   /* what [branch] does where Darknet does not allow sharing */
        st->share = 0;
        st->no_delta = 0;
        net->layers[2].delta = calloc((size_t)net->batch * net->layers[2].outputs, sizeof(float));
    }
    fill_range(net->input, (size_t)net->batch * net->inputs, 99, -1, 1);
    for (int b = 0; b < net->batch; ++b) net->truth[b * net->truths + b % net->truths] = 1;
    return net;
}

static void test_branch_sharing_is_exact(void **state)
{
    (void)state;
    network *a = siamese_net(0), *b = siamese_net(1);
    /* the same weights in both (srand does not reset rand_normal's cached spare value) */
    for (int i = 0; i < a->n; ++i) {
        layer *x = &a->layers[i], *y = &b->layers[i];
        int c = n_channels(x);
        if (x->weights) memcpy(y->weights, x->weights, sizeof(float) * weight_count(x));
        if (c && x->biases) memcpy(y->biases, x->biases, sizeof(float) * c);
        if (has_bn(x)) memcpy(y->scales, x->scales, sizeof(float) * c);
    }
    const branch_state *sa = a->layers[2].plugin_state;
    assert_true(sa->share);
    assert_true(sa->no_delta);
    assert_null(a->layers[2].delta);
    for (int step = 0; step < 3; ++step) {
        float la = train_network_datum(a), lb = train_network_datum(b);
        if (!(la == lb)) fail_msg("step %d: loss %.9g shared, %.9g copied", step, la, lb);
        assert_ptr_equal(a->layers[2].output, a->input);   /* shared, not copied */
        for (int i = 0; i < a->n; ++i) {
            const layer *x = &a->layers[i], *y = &b->layers[i];
            assert_memory_equal(x->output, y->output, sizeof(float) * a->batch * x->outputs);
            if (x->weights) assert_memory_equal(x->weights, y->weights, sizeof(float) * weight_count(x));
        }
    }
    free_network(a);
    free_network(b);
}

/* Where the next layer writes into its input ([dropout]) or a later layer reads the [branch]
 * ([route]), it copies and keeps its delta. */
static void test_branch_copies_where_needed(void **state)
{
    (void)state;
    network *net = parse_cfg_text(
        "[net]\nbatch=2\ninputs=6\n"
        "[connected]\noutput=4\nactivation=linear\n"
        "[branch]\n"
        "[dropout]\nprobability=.5\n"
        "[connected]\noutput=4\nactivation=linear\n"
        "[siamese]\nseed=1\n"
        "[connected]\noutput=2\nactivation=linear\n[softmax]\n");
    const branch_state *st = net->layers[1].plugin_state;
    assert_false(st->share);
    assert_false(st->no_delta);
    assert_non_null(net->layers[1].delta);
    free_network(net);
    net = parse_cfg_text(
        "[net]\nbatch=2\ninputs=6\n"
        "[connected]\noutput=4\nactivation=linear\n"
        "[branch]\n"
        "[connected]\noutput=4\nactivation=linear\n"
        "[route]\nlayers=-2\n"
        "[connected]\noutput=4\nactivation=linear\n"
        "[siamese]\nlayers=0,4\nseed=1\n"
        "[connected]\noutput=2\nactivation=linear\n[softmax]\n");
    st = net->layers[1].plugin_state;
    assert_true(st->share);        /* [connected] after it only reads its input */
    assert_false(st->no_delta);    /* but the [route] reads its delta */
    assert_non_null(net->layers[1].delta);
    fill_range(net->input, (size_t)net->batch * net->inputs, 5, -1, 1);
    net->truth[0] = net->truth[3] = 1;
    train_network_datum(net);
    free_network(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare_catches_errors),
        cmocka_unit_test(test_many_layers),
        cmocka_unit_test(test_chunked_batch),
        cmocka_unit_test(test_branch_sharing_is_exact),
        cmocka_unit_test(test_branch_copies_where_needed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

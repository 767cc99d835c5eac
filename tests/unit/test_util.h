/* test_util.h: helpers shared by the unit tests (include after <cmocka.h>). */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "darknet.h"
#include "mixer.h"

/* Writes text to a fresh file in $TMPDIR (or /tmp); returns its path (malloc'ed: unlink, free). */
static inline char *write_temp_cfg(const char *text)
{
    const char *dir = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/test_cfg.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Darknet's own parser on a cfg given as text. */
static inline network *parse_cfg_text(const char *text)
{
    char *path = write_temp_cfg(text);
    network *net = parse_network_cfg(path);
    unlink(path);
    free(path);
    return net;
}

/* Uniform values in [-scale, scale] from a seeded generator. */
static inline void fill(float *x, int n, uint64_t seed, float scale)
{
    mix_rng r;
    mix_rng_seed(&r, seed);
    for (int i = 0; i < n; ++i) x[i] = scale * (float)(2 * mix_rng_uniform(&r) - 1);
}

static inline void set_one_hot(float *truth, const int *cls, int batch, int classes)
{
    memset(truth, 0, sizeof(float) * batch * classes);
    for (int i = 0; i < batch; ++i) truth[i * classes + cls[i]] = 1;
}

/* Loss -sum t*log p of a training forward, every mixing layer reseeded first (so each forward
 * repeats the same lambdas, partners and boxes), with the labels as the layers mixed them. */
static inline double network_loss(network *net, const float *x, const float *y, uint64_t seed)
{
    memcpy(net->input, x, sizeof(float) * net->batch * net->inputs);
    memcpy(net->truth, y, sizeof(float) * net->batch * net->truths);
    for (int i = 0; i < net->n; ++i) {
        mixer *m = mixer_of(&net->layers[i]);
        if (m) mixer_reseed(m, seed + i);
    }
    net->train = 1;
    forward_network(net);
    const layer *out = &net->layers[net->n - 1];
    double loss = 0;
    for (int k = 0; k < net->batch * out->outputs; ++k)
        if (net->truth[k] > 0) loss -= net->truth[k] * log((double)out->output[k]);
    return loss;
}

typedef struct { double max_abs, max_rel; int checked; } grad_report;

static inline void check_param(network *net, float *param, float analytic_minus, const float *x, const float *y,
                        uint64_t seed, grad_report *rep, const char *what, int k)
{
    const float h = 1e-2f;
    float saved = *param;
    *param = saved + h; double lp = network_loss(net, x, y, seed);
    *param = saved - h; double lm = network_loss(net, x, y, seed);
    *param = saved;
    double fd = (lp - lm) / (2 * h);
    double g = -analytic_minus;   /* Darknet accumulates -dL/dw */
    double err = fabs(g - fd);
    if (err > rep->max_abs) rep->max_abs = err;
    if (fabs(fd) > 1e-3 && err / fabs(fd) > rep->max_rel) rep->max_rel = err / fabs(fd);
    rep->checked++;
    if (err > 2e-4 + 1e-2 * fabs(fd)) fail_msg("%s[%d]: analytic %.6f vs finite difference %.6f", what, k, g, fd);
}

/* [connected] leaves nweights/nbiases at 0; its sizes are inputs*outputs and outputs. */
static inline int n_weights(const layer *l) { return l->nweights ? l->nweights : l->inputs * l->outputs; }
static inline int n_biases(const layer *l) { return l->nbiases ? l->nbiases : l->outputs; }

/* Checks -weight_updates and -bias_updates of check_layers (after one backward) against central
 * differences of the loss: h = 1e-2, |g - fd| <= 2e-4 + 1e-2*|fd|. mixing_layer: whose draws to print. */
static inline void gradient_check(const char *cfg, int mixing_layer, const int *check_layers, int n_check)
{
    network *net = parse_cfg_text(cfg);
    const int B = net->batch;
    float *x = malloc(sizeof(float) * B * net->inputs), *y = calloc(B * net->truths, sizeof(float));
    fill(x, B * net->inputs, 21, 1.0f);
    int cls[8] = {0, 1, 2, 1, 0, 2, 2, 0};
    set_one_hot(y, cls, B, net->truths);
    for (int c = 0; c < n_check; ++c) {   /* larger weights than the default init: a real signal */
        layer *l = &net->layers[check_layers[c]];
        fill(l->weights, n_weights(l), 30 + c, 0.8f);
        fill(l->biases, n_biases(l), 40 + c, 0.3f);
    }
    const uint64_t seed = 77;
    network_loss(net, x, y, seed);
    for (int c = 0; c < n_check; ++c) {
        layer *l = &net->layers[check_layers[c]];
        memset(l->weight_updates, 0, sizeof(float) * n_weights(l));
        memset(l->bias_updates, 0, sizeof(float) * n_biases(l));
    }
    net->delta = 0;
    backward_network(net);
    const mixer *mx = mixer_of(&net->layers[mixing_layer]);
    assert_non_null(mx);
    printf("    lambdas:");
    for (int i = 0; i < B; ++i) printf(" %.3f->%d", mx->lambda[i], mx->partner[i]);
    printf("\n");
    for (int c = 0; c < n_check; ++c) {
        layer *l = &net->layers[check_layers[c]];
        const int nw = n_weights(l), nb = n_biases(l);
        float *wu = malloc(sizeof(float) * nw), *bu = malloc(sizeof(float) * nb);
        memcpy(wu, l->weight_updates, sizeof(float) * nw);
        memcpy(bu, l->bias_updates, sizeof(float) * nb);
        grad_report rep = {0, 0, 0};
        char what[64];
        snprintf(what, sizeof what, "layer %d weights", check_layers[c]);
        for (int k = 0; k < nw; ++k) check_param(net, &l->weights[k], wu[k], x, y, seed, &rep, what, k);
        snprintf(what, sizeof what, "layer %d biases", check_layers[c]);
        for (int k = 0; k < nb; ++k) check_param(net, &l->biases[k], bu[k], x, y, seed, &rep, what, k);
        printf("    layer %d: %d parameters, max |g - fd| %.2e, max relative %.2e\n",
               check_layers[c], rep.checked, rep.max_abs, rep.max_rel);
        assert_int_equal(rep.checked, nw + nb);
        assert_true(rep.checked > 0);
        free(wu); free(bu);
    }
    free(x); free(y);
    free_network(net);
}

#endif

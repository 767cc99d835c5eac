/* test_siamese.c: the [branch] and [siamese] layers inside real Darknet networks.
 *
 * Forward values and label mixing against the contract (batch and sample mode, every pairing,
 * inference), the gradient of a whole network's loss with respect to the weights of both branches,
 * a shared stem (from=N) and the head against central finite differences, reproducibility by seed,
 * and a save -> load -> predict round trip.
 *
 * Finite differences: Darknet computes in float, so the loss is recomputed in double from the float
 * softmax output, the step is h = 1e-2 (central: truncation error O(h^2)), and an analytic gradient
 * g passes when |g - fd| <= 2e-4 + 1e-2*|fd| (seen: at most 5e-5).
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "test_util.h"

#include "darknet.h"
#include "siamese.h"

static siamese_state *siamese_at(network *net, int i)
{
    assert_int_equal(net->layers[i].type, PLUGIN);
    assert_string_equal(net->layers[i].plugin->name, "siamese");
    return net->layers[i].plugin_state;
}

/* Layers: 0 A=[connected], 1 [branch], 2 B=[connected], 3 [siamese], 4 head, 5 [softmax] */
static const char *two_connected_branches(const char *siamese_keys)
{
    static char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "[net]\nbatch=6\ninputs=5\n"
             "[connected]\noutput=4\nactivation=logistic\n"
             "[branch]\n"
             "[connected]\noutput=4\nactivation=tanh\n"
             "[siamese]\n%s\n"
             "[connected]\noutput=3\nactivation=linear\n"
             "[softmax]\n", siamese_keys);
    return cfg;
}

static void fill(float *x, int n, uint64_t seed, float scale)
{
    mix_rng r;
    mix_rng_seed(&r, seed);
    for (int i = 0; i < n; ++i) x[i] = scale * (float)(2 * mix_rng_uniform(&r) - 1);
}

static void set_one_hot(float *truth, const int *cls, int batch, int classes)
{
    memset(truth, 0, sizeof(float) * batch * classes);
    for (int i = 0; i < batch; ++i) truth[i * classes + cls[i]] = 1;
}

static const int classes6[6] = {0, 1, 2, 0, 1, 1};

/* ---- forward and labels ---------------------------------------------------------------------- */

static void check_training_forward(const char *keys, int expect_sample_mode, mix_pairing pairing)
{
    network *net = parse_cfg_text(two_connected_branches(keys));
    const int B = net->batch, n = 4, T = 3;
    fill(net->input, B * 5, 11, 1.0f);
    set_one_hot(net->truth, classes6, B, T);
    float y[6 * 3];
    memcpy(y, net->truth, sizeof y);
    net->train = 1;
    forward_network(net);

    siamese_state *st = siamese_at(net, 3);
    assert_int_equal(st->a, 0);
    assert_int_equal(st->b, 2);
    const float *ha = net->layers[0].output, *hb = net->layers[2].output, *out = net->layers[3].output;
    int lambda_varies = 0;
    for (int i = 0; i < B; ++i) {
        float l = st->m.lambda[i];
        int j = st->m.partner[i];
        assert_true(l >= 0 && l <= 1);
        assert_true(j >= 0 && j < B);
        lambda_varies |= l != st->m.lambda[0];
        for (int k = 0; k < n; ++k)
            assert_float_equal(out[i * n + k], l * ha[i * n + k] + (1 - l) * hb[j * n + k], 1e-6);
        for (int k = 0; k < T; ++k)
            assert_float_equal(net->truth[i * T + k], l * y[i * T + k] + (1 - l) * y[j * T + k], 1e-6);
        if (pairing == MIX_PAIR_SELF) assert_int_equal(j, i);
        if (pairing == MIX_PAIR_SAME) { assert_int_equal(classes6[j], classes6[i]); assert_true(j != i || classes6[i] == 2); }
        if (pairing == MIX_PAIR_OTHER) assert_true(classes6[j] != classes6[i]);
    }
    assert_int_equal(lambda_varies, expect_sample_mode);
    /* The head read the mixed activations, and the loss layer the mixed labels. */
    assert_ptr_equal(net->layers[4].output != NULL, 1);
    free_network(net);
}

static void test_forward_batch_shuffle(void **s) { (void)s; check_training_forward("seed=1", 0, MIX_PAIR_SHUFFLE); }
static void test_forward_sample_shuffle(void **s) { (void)s; check_training_forward("seed=2\nmode=sample", 1, MIX_PAIR_SHUFFLE); }
static void test_forward_same(void **s) { (void)s; check_training_forward("seed=3\npairing=same\nmode=sample", 1, MIX_PAIR_SAME); }
static void test_forward_other(void **s) { (void)s; check_training_forward("seed=4\npairing=other", 0, MIX_PAIR_OTHER); }
static void test_forward_self(void **s) { (void)s; check_training_forward("seed=5\npairing=self\nalpha=2", 0, MIX_PAIR_SELF); }

/* A fully hand-computed case: identity-like branch weights make hA = x and hB = 2x exactly. */
static void test_forward_hand_computed(void **state)
{
    (void)state;
    network *net = parse_cfg_text(
        "[net]\nbatch=2\ninputs=2\n"
        "[connected]\noutput=2\nactivation=linear\n"
        "[branch]\n"
        "[connected]\noutput=2\nactivation=linear\n"
        "[siamese]\nseed=9\npairing=shuffle\ntest_lambda=0.25\n"
        "[softmax]\n");
    layer *a = &net->layers[0], *b = &net->layers[2];
    const float wa[] = {1, 0, 0, 1}, wb[] = {2, 0, 0, 2};
    memcpy(a->weights, wa, sizeof wa); memcpy(b->weights, wb, sizeof wb);
    memset(a->biases, 0, 2 * sizeof(float)); memset(b->biases, 0, 2 * sizeof(float));
    const float x[] = {1, 2, 3, 4};
    memcpy(net->input, x, sizeof x);
    const float y[] = {1, 0, 0, 1};
    memcpy(net->truth, y, sizeof y);
    net->train = 1;
    forward_network(net);
    siamese_state *st = siamese_at(net, 3);
    float l = st->m.lambda[0];
    int p0 = st->m.partner[0], p1 = st->m.partner[1];
    const float *out = net->layers[3].output;
    /* out[i] = l*x[i] + (1-l)*2*x[p(i)] */
    assert_float_equal(out[0], l * 1 + (1 - l) * 2 * x[2 * p0], 1e-6);
    assert_float_equal(out[1], l * 2 + (1 - l) * 2 * x[2 * p0 + 1], 1e-6);
    assert_float_equal(out[2], l * 3 + (1 - l) * 2 * x[2 * p1], 1e-6);
    assert_float_equal(out[3], l * 4 + (1 - l) * 2 * x[2 * p1 + 1], 1e-6);
    assert_float_equal(net->truth[0], l * 1 + (1 - l) * y[2 * p0], 1e-6);

    /* Inference: out = 0.25*x + 0.75*2x = 1.75x, labels untouched. */
    memcpy(net->truth, y, sizeof y);
    net->train = 0;
    forward_network(net);
    for (int k = 0; k < 4; ++k) assert_float_equal(out[k], 1.75f * x[k], 1e-6);
    for (int k = 0; k < 4; ++k) assert_float_equal(net->truth[k], y[k], 0);
    free_network(net);
}

static void test_inference_leaves_truth(void **state)
{
    (void)state;
    network *net = parse_cfg_text(two_connected_branches("seed=1\ntest_lambda=0.3"));
    fill(net->input, net->batch * 5, 12, 1.0f);
    set_one_hot(net->truth, classes6, net->batch, 3);
    float y[18];
    memcpy(y, net->truth, sizeof y);
    net->train = 0;
    forward_network(net);
    assert_memory_equal(net->truth, y, sizeof y);
    const float *ha = net->layers[0].output, *hb = net->layers[2].output, *out = net->layers[3].output;
    for (int k = 0; k < net->batch * 4; ++k) assert_float_equal(out[k], 0.3f * ha[k] + 0.7f * hb[k], 1e-6);
    free_network(net);
}

/* [branch] hands the next layer exactly the batch layer 0 read. */
static void test_branch_outputs_network_input(void **state)
{
    (void)state;
    network *net = parse_cfg_text(two_connected_branches("seed=1"));
    fill(net->input, net->batch * 5, 13, 1.0f);
    net->train = 0;
    forward_network(net);
    assert_memory_equal(net->layers[1].output, net->input, sizeof(float) * net->batch * 5);
    free_network(net);
}

/* ---- gradients ------------------------------------------------------------------------------- */

static double network_loss(network *net, const float *x, const float *y, uint64_t seed, int siamese_index)
{
    memcpy(net->input, x, sizeof(float) * net->batch * net->inputs);
    memcpy(net->truth, y, sizeof(float) * net->batch * net->truths);
    siamese_layer_reseed(&net->layers[siamese_index], seed);
    net->train = 1;
    forward_network(net);
    /* -sum t*log p with the labels as the layer mixed them */
    const layer *out = &net->layers[net->n - 1];
    double loss = 0;
    for (int k = 0; k < net->batch * out->outputs; ++k)
        if (net->truth[k] > 0) loss -= net->truth[k] * log((double)out->output[k]);
    return loss;
}

typedef struct { double max_abs, max_rel; int checked; } grad_report;

static void check_param(network *net, float *param, float analytic_minus, const float *x, const float *y,
                        uint64_t seed, int si, grad_report *rep, const char *what, int k)
{
    const float h = 1e-2f;
    float saved = *param;
    *param = saved + h; double lp = network_loss(net, x, y, seed, si);
    *param = saved - h; double lm = network_loss(net, x, y, seed, si);
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
static int n_weights(const layer *l) { return l->nweights ? l->nweights : l->inputs * l->outputs; }
static int n_biases(const layer *l) { return l->nbiases ? l->nbiases : l->outputs; }

static void gradient_check(const char *cfg, int si, const int *check_layers, int n_check)
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
    network_loss(net, x, y, seed, si);
    for (int c = 0; c < n_check; ++c) {
        layer *l = &net->layers[check_layers[c]];
        memset(l->weight_updates, 0, sizeof(float) * n_weights(l));
        memset(l->bias_updates, 0, sizeof(float) * n_biases(l));
    }
    net->delta = 0;
    backward_network(net);
    siamese_state *st = siamese_at(net, si);
    printf("    lambdas:");
    for (int i = 0; i < B; ++i) printf(" %.3f->%d", st->m.lambda[i], st->m.partner[i]);
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
        for (int k = 0; k < nw; ++k) check_param(net, &l->weights[k], wu[k], x, y, seed, si, &rep, what, k);
        snprintf(what, sizeof what, "layer %d biases", check_layers[c]);
        for (int k = 0; k < nb; ++k) check_param(net, &l->biases[k], bu[k], x, y, seed, si, &rep, what, k);
        printf("    layer %d: %d parameters, max |g - fd| %.2e, max relative %.2e\n",
               check_layers[c], rep.checked, rep.max_abs, rep.max_rel);
        assert_int_equal(rep.checked, nw + nb);
        assert_true(rep.checked > 0);
        free(wu); free(bu);
    }
    free(x); free(y);
    free_network(net);
}

static void test_gradient_two_branches(void **state)
{
    (void)state;
    const char *cfg =
        "[net]\nbatch=6\ninputs=5\n"
        "[connected]\noutput=4\nactivation=logistic\n"        /* 0: branch A */
        "[branch]\n"                                            /* 1 */
        "[connected]\noutput=4\nactivation=tanh\n"            /* 2: branch B */
        "[siamese]\nalpha=0.7\nmode=sample\nseed=5\n"          /* 3 */
        "[connected]\noutput=3\nactivation=linear\n"          /* 4: head */
        "[softmax]\n";
    const int layers[] = {0, 2, 4};
    gradient_check(cfg, 3, layers, 3);
}

/* A shared stem feeds both branches through [branch] from=0: its gradient is the sum of both. */
static void test_gradient_shared_stem(void **state)
{
    (void)state;
    const char *cfg =
        "[net]\nbatch=8\ninputs=5\n"
        "[connected]\noutput=6\nactivation=tanh\n"            /* 0: stem */
        "[connected]\noutput=4\nactivation=logistic\n"        /* 1: branch A */
        "[branch]\nfrom=0\n"                                    /* 2 */
        "[connected]\noutput=4\nactivation=elu\n"             /* 3: branch B (smooth: no kink for FD) */
        "[siamese]\nalpha=1\npairing=other\nseed=6\n"          /* 4 */
        "[connected]\noutput=3\nactivation=linear\n"          /* 5: head */
        "[softmax]\n";
    const int layers[] = {0, 1, 3, 5};
    gradient_check(cfg, 4, layers, 4);
}

/* ---- reproducibility and weights ------------------------------------------------------------- */

static void test_same_seed_same_draws(void **state)
{
    (void)state;
    network *n1 = parse_cfg_text(two_connected_branches("seed=123\nmode=sample"));
    network *n2 = parse_cfg_text(two_connected_branches("seed=123\nmode=sample"));
    network *n3 = parse_cfg_text(two_connected_branches("seed=124\nmode=sample"));
    int differ = 0;
    for (int step = 0; step < 5; ++step) {
        network *nets[3] = {n1, n2, n3};
        for (int k = 0; k < 3; ++k) {
            fill(nets[k]->input, 6 * 5, 50 + step, 1.0f);
            set_one_hot(nets[k]->truth, classes6, 6, 3);
            nets[k]->train = 1;
            forward_network(nets[k]);
        }
        siamese_state *s1 = siamese_at(n1, 3), *s2 = siamese_at(n2, 3), *s3 = siamese_at(n3, 3);
        assert_memory_equal(s1->m.lambda, s2->m.lambda, 6 * sizeof(float));
        assert_memory_equal(s1->m.partner, s2->m.partner, 6 * sizeof(int));
        differ += memcmp(s1->m.lambda, s3->m.lambda, 6 * sizeof(float)) != 0;
    }
    assert_true(differ >= 4);
    free_network(n1); free_network(n2); free_network(n3);
}

static void test_save_load_predict_round_trip(void **state)
{
    (void)state;
    const char *cfg =
        "[net]\nbatch=1\nwidth=8\nheight=8\nchannels=3\n"
        "[convolutional]\nfilters=4\nsize=3\npad=1\nbatch_normalize=1\nactivation=leaky\n"
        "[avgpool]\n"
        "[branch]\n"
        "[convolutional]\nfilters=4\nsize=3\npad=1\nbatch_normalize=1\nactivation=leaky\n"
        "[avgpool]\n"
        "[siamese]\nseed=1\n"
        "[connected]\noutput=3\nactivation=linear\n"
        "[softmax]\n";
    network *a = parse_cfg_text(cfg);
    /* Own random initialisation per branch. */
    assert_true(a->layers[0].nweights > 0);
    assert_true(memcmp(a->layers[0].weights, a->layers[3].weights, sizeof(float) * a->layers[0].nweights) != 0);
    fill(a->layers[0].rolling_mean, 4, 3, 0.5f);   /* make the batch-norm statistics non-trivial */
    char path[] = "/tmp/test_siamese_w_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    save_weights(a, path);
    network *b = parse_cfg_text(cfg);
    load_weights(b, path);
    unlink(path);
    float x[8 * 8 * 3];
    fill(x, 8 * 8 * 3, 4, 1.0f);
    float *pa = network_predict(a, x), out_a[3];
    memcpy(out_a, pa, sizeof out_a);
    float *pb = network_predict(b, x);
    assert_memory_equal(out_a, pb, sizeof out_a);
    free_network(a); free_network(b);
}

/* random=1 and multi-scale validation resize the network: branch B restarts at the new size. */
static void test_resize_network(void **state)
{
    (void)state;
    network *net = parse_cfg_text(
        "[net]\nbatch=2\nwidth=8\nheight=8\nchannels=3\n"
        "[convolutional]\nfilters=4\nsize=3\npad=1\nactivation=leaky\n"
        "[branch]\n"
        "[convolutional]\nfilters=4\nsize=3\npad=1\nactivation=leaky\n"
        "[siamese]\nseed=1\n"
        "[avgpool]\n"
        "[connected]\noutput=3\nactivation=linear\n"
        "[softmax]\n");
    resize_network(net, 12, 10);
    assert_int_equal(net->layers[1].out_w, 12);
    assert_int_equal(net->layers[1].out_h, 10);
    assert_int_equal(net->layers[1].outputs, 12 * 10 * 3);
    assert_int_equal(net->layers[3].outputs, 12 * 10 * 4);
    assert_int_equal(net->layers[3].out_w, 12);
    float x[2 * 12 * 10 * 3];
    fill(x, 2 * 12 * 10 * 3, 5, 1.0f);
    memcpy(net->input, x, sizeof x);
    net->train = 0;
    forward_network(net);
    const float *ha = net->layers[0].output, *hb = net->layers[2].output, *out = net->layers[3].output;
    for (int k = 0; k < 2 * 12 * 10 * 4; ++k) assert_float_equal(out[k], 0.5f * ha[k] + 0.5f * hb[k], 1e-6);
    free_network(net);
}


/* Route and shortcut inside a branch, and two Siamese blocks in a row (the second starts its
 * branch B from the first block's output with from=N): they parse, and a training step runs
 * forward and backward with finite values and sends gradient into both blocks. */
static void test_route_shortcut_and_two_blocks(void **state)
{
    (void)state;
    network *net = parse_cfg_text(
        "[net]\nbatch=4\nwidth=6\nheight=6\nchannels=3\n"
        "[convolutional]\nfilters=4\nsize=3\npad=1\nactivation=leaky\n"      /* 0: A1 */
        "[convolutional]\nfilters=4\nsize=3\npad=1\nactivation=leaky\n"      /* 1 */
        "[shortcut]\nfrom=-2\nactivation=linear\n"                            /* 2 */
        "[branch]\n"                                                            /* 3 */
        "[convolutional]\nfilters=2\nsize=1\nactivation=leaky\n"             /* 4: B1 */
        "[convolutional]\nfilters=2\nsize=1\nactivation=leaky\n"             /* 5 */
        "[route]\nlayers=-2,-1\n"                                               /* 6: 6x6x4 */
        "[siamese]\nseed=1\n"                                                   /* 7: block 1 */
        "[convolutional]\nfilters=4\nsize=3\npad=1\nactivation=leaky\n"      /* 8: A2 */
        "[branch]\nfrom=7\n"                                                    /* 9 */
        "[convolutional]\nfilters=4\nsize=3\npad=1\nactivation=leaky\n"      /* 10: B2 */
        "[siamese]\nseed=2\nmode=sample\n"                                      /* 11: block 2 */
        "[avgpool]\n"
        "[connected]\noutput=3\nactivation=linear\n"
        "[softmax]\n");
    siamese_state *s1 = siamese_at(net, 7), *s2 = siamese_at(net, 11);
    assert_int_equal(s1->a, 2);
    assert_int_equal(s1->b, 6);
    assert_int_equal(s2->a, 8);
    assert_int_equal(s2->b, 10);
    fill(net->input, 4 * 6 * 6 * 3, 8, 1.0f);
    const int cls[4] = {0, 1, 2, 1};
    set_one_hot(net->truth, cls, 4, 3);
    net->train = 1;
    forward_network(net);
    net->delta = 0;
    backward_network(net);
    const int check[] = {0, 4, 8, 10};
    for (int c = 0; c < 4; ++c) {
        const layer *l = &net->layers[check[c]];
        double sum = 0;
        for (int k = 0; k < l->nweights; ++k) { assert_false(isnan(l->weight_updates[k])); sum += fabs(l->weight_updates[k]); }
        if (!(sum > 0)) fail_msg("layer %d received no gradient", check[c]);
    }
    free_network(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_batch_shuffle),
        cmocka_unit_test(test_forward_sample_shuffle),
        cmocka_unit_test(test_forward_same),
        cmocka_unit_test(test_forward_other),
        cmocka_unit_test(test_forward_self),
        cmocka_unit_test(test_forward_hand_computed),
        cmocka_unit_test(test_inference_leaves_truth),
        cmocka_unit_test(test_branch_outputs_network_input),
        cmocka_unit_test(test_gradient_two_branches),
        cmocka_unit_test(test_gradient_shared_stem),
        cmocka_unit_test(test_same_seed_same_draws),
        cmocka_unit_test(test_save_load_predict_round_trip),
        cmocka_unit_test(test_resize_network),
        cmocka_unit_test(test_route_shortcut_and_two_blocks),
    };
    return cmocka_run_group_tests_name("siamese", tests, NULL, NULL);
}

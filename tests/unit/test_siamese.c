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

/* Multi-GPU training (-gpus 0,1,...) parses one network per GPU with gpu_index set to that GPU:
 * GPU 0 and the CPU (-1) draw exactly as the seed says, every other GPU its own stream
 * (mixer_replica_seed), also after a reseed. */
static void test_replicas_draw_differently(void **state)
{
    (void)state;
    assert_true(mixer_replica_seed(123, -1) == 123 && mixer_replica_seed(123, 0) == 123);
    assert_true(mixer_replica_seed(123, 1) != 123 && mixer_replica_seed(123, 2) != mixer_replica_seed(123, 1));
    assert_true(mixer_replica_seed(123, 1) != mixer_replica_seed(124, 0));
    const int saved = gpu_index;
    network *nets[4];
    const int gpus[4] = {-1, 0, 1, 2};
    for (int k = 0; k < 4; ++k) {   /* a CPU build: gpu_index only tags the network here */
        gpu_index = gpus[k];
        nets[k] = parse_cfg_text(two_connected_branches("seed=123\nmode=sample"));
        assert_int_equal(siamese_at(nets[k], 3)->m.cfg.replica, gpus[k]);
        nets[k]->gpu_index = -1;       /* run on the CPU */
    }
    gpu_index = saved;
    int differ12 = 0, differ01 = 0;
    for (int step = 0; step < 6; ++step) {
        if (step == 3)   /* a reseed keeps the replicas apart */
            for (int k = 0; k < 4; ++k) mixer_reseed(&siamese_at(nets[k], 3)->m, 77);
        for (int k = 0; k < 4; ++k) {
            fill(nets[k]->input, 6 * 5, 50 + step, 1.0f);
            set_one_hot(nets[k]->truth, classes6, 6, 3);
            nets[k]->train = 1;
            forward_network(nets[k]);
        }
        const mixer *m[4];
        for (int k = 0; k < 4; ++k) m[k] = &siamese_at(nets[k], 3)->m;
        assert_memory_equal(m[0]->lambda, m[1]->lambda, 6 * sizeof(float));      /* CPU == GPU 0 */
        assert_memory_equal(m[0]->partner, m[1]->partner, 6 * sizeof(int));
        differ01 += memcmp(m[1]->lambda, m[2]->lambda, 6 * sizeof(float)) != 0;  /* GPU 0 != GPU 1 */
        differ12 += memcmp(m[2]->lambda, m[3]->lambda, 6 * sizeof(float)) != 0;  /* GPU 1 != GPU 2 */
    }
    assert_int_equal(differ01, 6);
    assert_int_equal(differ12, 6);
    for (int k = 0; k < 4; ++k) free_network(nets[k]);
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
        cmocka_unit_test(test_replicas_draw_differently),
        cmocka_unit_test(test_save_load_predict_round_trip),
        cmocka_unit_test(test_resize_network),
        cmocka_unit_test(test_route_shortcut_and_two_blocks),
    };
    return cmocka_run_group_tests_name("siamese", tests, NULL, NULL);
}

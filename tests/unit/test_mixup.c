/* test_mixup.c: the [mixup] layer (plugin/mixup.c) inside real Darknet networks.
 *
 * Forward and labels against the contract out[i] = l*x[i] + (1-l)*x[pi(i)], truth likewise; the
 * identity at inference and in batches that prob/stop leave unmixed; group= (one member mixes per
 * forward, uniformly); gradients by central finite differences at a hidden position and as layer 0
 * (tolerance in test_util.h); and [mixup] in front of a Siamese Ensemble, where net.truth is mixed
 * twice in one forward: each layer mixes the labels it receives, so the result is the composition.
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

static const int cls4[4] = {0, 1, 2, 1};

static network *input_mixup_net(const char *keys)
{
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "[net]\nbatch=4\ninputs=5\nmax_batches=100\n"
             "[mixup]\n%s\n"
             "[connected]\noutput=3\nactivation=linear\n"
             "[softmax]\n", keys);
    return parse_cfg_text(cfg);
}

static void forward_train(network *net, uint64_t input_seed)
{
    fill(net->input, net->batch * net->inputs, input_seed, 1.0f);
    set_one_hot(net->truth, cls4, net->batch, net->truths);
    net->train = 1;
    forward_network(net);
}

static void test_forward_and_labels(void **state)
{
    (void)state;
    for (int sample_mode = 0; sample_mode < 2; ++sample_mode) {
        network *net = input_mixup_net(sample_mode ? "seed=1\nalpha=1\nmode=sample" : "seed=1\nalpha=1");
        forward_train(net, 3);
        const mixer *m = mixer_of(&net->layers[0]);
        float x[4 * 5], y[4 * 3];
        fill(x, 20, 3, 1.0f);
        set_one_hot(y, cls4, 4, 3);
        const float *out = net->layers[0].output;
        int varies = 0, moved = 0;
        for (int i = 0; i < 4; ++i) {
            float l = m->lambda[i];
            int j = m->partner[i];
            varies |= l != m->lambda[0];
            moved |= j != i;
            for (int k = 0; k < 5; ++k) assert_float_equal(out[i * 5 + k], l * x[i * 5 + k] + (1 - l) * x[j * 5 + k], 1e-6);
            for (int k = 0; k < 3; ++k) assert_float_equal(net->truth[i * 3 + k], l * y[i * 3 + k] + (1 - l) * y[j * 3 + k], 1e-6);
        }
        assert_int_equal(varies, sample_mode);
        assert_true(moved);
        free_network(net);
    }
}

static void test_identity_at_inference(void **state)
{
    (void)state;
    network *net = input_mixup_net("seed=2");
    fill(net->input, 20, 4, 1.0f);
    set_one_hot(net->truth, cls4, 4, 3);
    float y[12];
    memcpy(y, net->truth, sizeof y);
    net->train = 0;
    forward_network(net);
    assert_memory_equal(net->layers[0].output, net->input, sizeof(float) * 20);
    assert_memory_equal(net->truth, y, sizeof y);
    free_network(net);
}

/* prob=0 never mixes; stop=0.5 mixes before half of max_batches and not after. */
static void test_prob_and_stop(void **state)
{
    (void)state;
    network *net = input_mixup_net("seed=3\nprob=0");
    forward_train(net, 5);
    assert_memory_equal(net->layers[0].output, net->input, sizeof(float) * 20);
    free_network(net);

    net = input_mixup_net("seed=3\nstop=0.5\nalpha=1");
    *net->seen = 49 * net->batch;      /* batch 49 of max_batches=100 */
    forward_train(net, 5);
    assert_true(memcmp(net->layers[0].output, net->input, sizeof(float) * 20) != 0);
    *net->seen = 50 * net->batch;      /* batch 50: stopped */
    float y[12];
    set_one_hot(y, cls4, 4, 3);
    forward_train(net, 5);
    assert_memory_equal(net->layers[0].output, net->input, sizeof(float) * 20);
    assert_memory_equal(net->truth, y, sizeof y);
    free_network(net);

    /* prob=0.3: about 30% of 2,000 batches mixed (binomial sd ~ 20). */
    net = input_mixup_net("seed=4\nprob=0.3\nalpha=1");
    int mixed = 0;
    for (int t = 0; t < 2000; ++t) {
        forward_train(net, 6);
        mixed += memcmp(net->layers[0].output, net->input, sizeof(float) * 20) != 0;
    }
    printf("    prob=0.3: %d of 2000 batches mixed\n", mixed);
    assert_true(mixed > 500 && mixed < 700);
    free_network(net);
}

/* Three [mixup] sharing group=g: each forward exactly one of them mixes, each about a third of the
 * time; the group's first layer's prob=0 switches the whole group off. */
static void test_group(void **state)
{
    (void)state;
    const char *cfg =
        "[net]\nbatch=4\ninputs=5\n"
        "[mixup]\ngroup=g\nseed=1\nalpha=1\n"
        "[connected]\noutput=5\nactivation=linear\n"
        "[mixup]\ngroup=g\nseed=2\nalpha=1\n"
        "[connected]\noutput=5\nactivation=linear\n"
        "[mixup]\ngroup=g\nseed=3\nalpha=1\n"
        "[connected]\noutput=3\nactivation=linear\n"
        "[softmax]\n";
    network *net = parse_cfg_text(cfg);
    const int members[3] = {0, 2, 4};
    int count[3] = {0, 0, 0};
    for (int t = 0; t < 900; ++t) {
        forward_train(net, 7 + t);
        int mixing = 0;
        for (int k = 0; k < 3; ++k) {
            const layer *l = &net->layers[members[k]];
            int same = memcmp(l->output, members[k] ? net->layers[members[k] - 1].output : net->input,
                              sizeof(float) * 20) == 0;
            if (!same) { ++mixing; ++count[k]; }
        }
        assert_true(mixing <= 1);   /* exactly one, unless its partners were all itself */
    }
    printf("    group of 3: mixed %d, %d, %d times in 900 forwards\n", count[0], count[1], count[2]);
    for (int k = 0; k < 3; ++k) assert_true(count[k] > 230 && count[k] < 370);
    free_network(net);

    char off[1024];
    snprintf(off, sizeof off, "%s", cfg);
    char *p = strstr(off, "seed=1\n");
    memcpy(p, "prob=0", 6);               /* the first member's seed=1 -> prob=0 */
    net = parse_cfg_text(off);
    for (int t = 0; t < 50; ++t) {
        forward_train(net, 100 + t);
        for (int k = 0; k < 3; ++k) {
            const layer *l = &net->layers[members[k]];
            assert_memory_equal(l->output, members[k] ? net->layers[members[k] - 1].output : net->input, sizeof(float) * 20);
        }
    }
    free_network(net);
}

static void test_gradient_hidden_position(void **state)
{
    (void)state;
    const char *cfg =
        "[net]\nbatch=6\ninputs=5\n"
        "[connected]\noutput=4\nactivation=tanh\n"          /* 0 */
        "[mixup]\nalpha=0.7\nmode=sample\n"                 /* 1: manifold mixup */
        "[connected]\noutput=3\nactivation=linear\n"        /* 2 */
        "[softmax]\n";
    const int layers[] = {0, 2};
    gradient_check(cfg, 1, layers, 2);
}

static void test_gradient_input_mixup(void **state)
{
    (void)state;
    const char *cfg =
        "[net]\nbatch=6\ninputs=5\n"
        "[mixup]\nalpha=0.7\n"                                /* 0: input mixup, no delta to pass */
        "[connected]\noutput=4\nactivation=logistic\n"      /* 1 */
        "[connected]\noutput=3\nactivation=linear\n"        /* 2 */
        "[softmax]\n";
    const int layers[] = {1, 2};
    gradient_check(cfg, 0, layers, 2);
}

/* [mixup] at the input of a Siamese Ensemble ([branch] from=0, so both branches see the mixed
 * batch). The labels are mixed twice: first by [mixup] (l1, p1), then by [siamese] (l2, p2) on
 * what it received: truth = l2*t1[i] + (1-l2)*t1[p2(i)], t1[j] = l1*y[j] + (1-l1)*y[p1(j)]. */
static const char *mixup_siamese_cfg =
    "[net]\nbatch=6\ninputs=5\n"
    "[mixup]\nalpha=1\nmode=sample\n"                       /* 0 */
    "[connected]\noutput=4\nactivation=logistic\n"          /* 1: branch A */
    "[branch]\nfrom=0\n"                                      /* 2 */
    "[connected]\noutput=4\nactivation=tanh\n"              /* 3: branch B */
    "[siamese]\nalpha=0.5\nmode=sample\n"                    /* 4 */
    "[connected]\noutput=3\nactivation=linear\n"            /* 5 */
    "[softmax]\n";

static void test_mixup_then_siamese_labels(void **state)
{
    (void)state;
    network *net = parse_cfg_text(mixup_siamese_cfg);
    float y[6 * 3];
    const int cls[6] = {0, 1, 2, 0, 1, 2};
    set_one_hot(y, cls, 6, 3);
    fill(net->input, 30, 8, 1.0f);
    memcpy(net->truth, y, sizeof y);
    net->train = 1;
    forward_network(net);
    const mixer *m1 = mixer_of(&net->layers[0]), *m2 = mixer_of(&net->layers[4]);
    for (int i = 0; i < 6; ++i) {
        for (int k = 0; k < 3; ++k) {
            int j = m2->partner[i];
            float t1_i = m1->lambda[i] * y[i * 3 + k] + (1 - m1->lambda[i]) * y[m1->partner[i] * 3 + k];
            float t1_j = m1->lambda[j] * y[j * 3 + k] + (1 - m1->lambda[j]) * y[m1->partner[j] * 3 + k];
            assert_float_equal(net->truth[i * 3 + k], m2->lambda[i] * t1_i + (1 - m2->lambda[i]) * t1_j, 1e-6);
        }
    }
    free_network(net);
    const int layers[] = {1, 3, 5};
    gradient_check(mixup_siamese_cfg, 4, layers, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_and_labels),
        cmocka_unit_test(test_identity_at_inference),
        cmocka_unit_test(test_prob_and_stop),
        cmocka_unit_test(test_group),
        cmocka_unit_test(test_gradient_hidden_position),
        cmocka_unit_test(test_gradient_input_mixup),
        cmocka_unit_test(test_mixup_then_siamese_labels),
    };
    return cmocka_run_group_tests_name("mixup", tests, NULL, NULL);
}

/* test_softmax_loss.c: the loss [softmax] reports (patches/0005-soft-label-loss.patch).
 *
 * A network "[net] inputs=4 batch=2" + "[softmax]" is parsed from a temporary cfg and run forward
 * on the CPU with set inputs and targets. The cost Darknet reports must be the cross-entropy
 * -sum(t*log p), recomputed here in double from the layer's own output (1e-5 relative): for
 * one-hot targets (where it equals the old -log p), for soft targets such as mixed labels (where
 * the old -sum_{t>0} log p is shown to differ by far more than the tolerance, so the test would
 * catch the old formula), for uniform targets, and with a probability that underflows to 0 where
 * its target is 0 (the cost must stay finite). The delta must be t - p in every case.
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

enum { BATCH = 2, CLASSES = 4 };

static const double REL_TOL = 1e-5;   /* cost vs. the double-precision reference */
static const double ABS_TOL = 1e-6;   /* per-element probabilities and deltas */

static int setup_net(void **state)
{
    char *cfg = write_temp_cfg("[net]\ninputs=4\nbatch=2\n\n[softmax]\n");
    network *net = parse_network_cfg(cfg);
    unlink(cfg);
    free(cfg);
    if (!net || net->n != 1 || net->layers[0].type != SOFTMAX || net->batch != BATCH ||
        net->inputs != CLASSES || net->truths != CLASSES)
        return -1;
    *state = net;
    return 0;
}

static int teardown_net(void **state)
{
    free_network(*state);
    return 0;
}

typedef struct loss_result {
    double reported;       /* *net->cost */
    double reference;      /* -sum t*log p, in double, from the layer output */
    double old_formula;    /* -sum_{t>0} log p: what Darknet reported before the patch */
} loss_result;

/* Runs one training forward pass on (BATCH, CLASSES) inputs x and targets t, checks the layer's
 * probabilities against a double softmax of x, and its delta against t - p. */
static loss_result run_forward(network *net, const float *x, const float *t)
{
    memcpy(net->input, x, sizeof(float) * BATCH * CLASSES);
    memcpy(net->truth, t, sizeof(float) * BATCH * CLASSES);
    net->train = 1;
    forward_network(net);

    const layer l = net->layers[0];
    loss_result r = {*net->cost, 0, 0};
    for (int b = 0; b < BATCH; ++b) {
        const float *xb = x + b * CLASSES;
        double largest = xb[0], sum = 0;
        for (int k = 1; k < CLASSES; ++k) if (xb[k] > largest) largest = xb[k];
        for (int k = 0; k < CLASSES; ++k) sum += exp(xb[k] - largest);
        for (int k = 0; k < CLASSES; ++k) {
            int i = b * CLASSES + k;
            double p = l.output[i];
            double want_p = exp(xb[k] - largest) / sum;
            if (fabs(p - want_p) > ABS_TOL)
                fail_msg("p[%d][%d] = %.9g, softmax gives %.9g", b, k, p, want_p);
            if (fabs((double)l.delta[i] - ((double)t[i] - p)) > ABS_TOL)
                fail_msg("delta[%d][%d] = %.9g, want t - p = %.9g", b, k, l.delta[i], t[i] - p);
            if (t[i] != 0) {
                r.reference -= t[i] * log(p);
                r.old_formula -= log(p);
            }
        }
    }
    printf("    cost %.9g  reference -sum(t log p) %.9g  old -sum_{t>0} log p %.9g\n",
           r.reported, r.reference, r.old_formula);
    return r;
}

static void assert_cost_matches(const loss_result *r)
{
    assert_true(isfinite(r->reported));
    if (fabs(r->reported - r->reference) > REL_TOL * fabs(r->reference))
        fail_msg("reported cost %.9g, want %.9g (relative tolerance %g)", r->reported, r->reference, REL_TOL);
}

static const float logits[BATCH * CLASSES] = {
    0.5f, 1.5f, -1.0f, 0.2f,
    2.0f, -0.5f, 0.1f, 0.3f,
};

static void test_one_hot_targets(void **state)
{
    network *net = *state;
    const float t[BATCH * CLASSES] = {
        0, 1, 0, 0,
        1, 0, 0, 0,
    };
    loss_result r = run_forward(net, logits, t);
    assert_cost_matches(&r);
    /* With t = 1 the new and the old formula agree. */
    assert_true(fabs(r.old_formula - r.reference) <= 1e-12 * fabs(r.reference));
    assert_true(r.reference > 0.5);   /* not a trivially small loss */
}

static void test_soft_targets(void **state)
{
    network *net = *state;
    const float t[BATCH * CLASSES] = {
        0.3f, 0.7f, 0, 0,
        0, 0, 0.6f, 0.4f,
    };
    loss_result r = run_forward(net, logits, t);
    assert_cost_matches(&r);
    /* The old formula is off by much more than the tolerance: this test would catch it. */
    double gap = fabs(r.old_formula - r.reference);
    printf("    old formula off by %.4g (%.1f%%), tolerance %.1g relative\n", gap,
           100 * gap / r.reference, REL_TOL);
    assert_true(gap > 1000 * REL_TOL * fabs(r.reference));
    assert_true(fabs(r.reported - r.old_formula) > 1000 * REL_TOL * fabs(r.reference));
}

static void test_uniform_targets(void **state)
{
    network *net = *state;
    float t[BATCH * CLASSES];
    for (int i = 0; i < BATCH * CLASSES; ++i) t[i] = 0.25f;
    loss_result r = run_forward(net, logits, t);
    assert_cost_matches(&r);
    assert_true(fabs(r.reported - r.old_formula) > 1000 * REL_TOL * fabs(r.reference));
}

/* p = exp(-200) is 0 in float; where its target is 0 the term must be 0, not 0*log(0) = NaN. */
static void test_zero_probability_with_zero_target(void **state)
{
    network *net = *state;
    const float x[BATCH * CLASSES] = {
        100.0f, -100.0f, 0.0f, 0.0f,
        -100.0f, 100.0f, 0.0f, 0.0f,
    };
    const float t[BATCH * CLASSES] = {
        0.9f, 0, 0.1f, 0,
        0, 0.5f, 0, 0.5f,
    };
    loss_result r = run_forward(net, x, t);
    assert_true(net->layers[0].output[1] == 0.0f);   /* the underflow really happens */
    assert_true(net->layers[0].output[4] == 0.0f);
    assert_cost_matches(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_hot_targets, setup_net, teardown_net),
        cmocka_unit_test_setup_teardown(test_soft_targets, setup_net, teardown_net),
        cmocka_unit_test_setup_teardown(test_uniform_targets, setup_net, teardown_net),
        cmocka_unit_test_setup_teardown(test_zero_probability_with_zero_target, setup_net, teardown_net),
    };
    return cmocka_run_group_tests_name("softmax_loss", tests, NULL, NULL);
}

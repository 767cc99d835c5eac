/* test_cutmix.c: the [cutmix] layer (plugin/cutmix.c) and its kernels.
 *
 * Forward: in every sample the pixels that changed form one box, taken from the partner's image at
 * the same place, in every channel; the labels are mixed by the box's actual area; mode=batch uses
 * one box for the whole batch. The identity at inference and with prob=0. Gradients by central
 * finite differences at a hidden position (tolerance in test_util.h). Box areas follow lambda.
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

enum { B = 6, W = 8, H = 6, C = 2, IMG = W * H * C };
static const int cls6[B] = {0, 1, 2, 0, 1, 2};

static network *input_cutmix_net(const char *keys)
{
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "[net]\nbatch=%d\nwidth=%d\nheight=%d\nchannels=%d\n"
             "[cutmix]\n%s\n"
             "[convolutional]\nfilters=3\nsize=1\nactivation=linear\n"
             "[avgpool]\n"
             "[softmax]\n", B, W, H, C, keys);
    return parse_cfg_text(cfg);
}

/* The bounding box of the pixels of out[i] that differ from x[i]; asserts they are exactly that
 * box, in every channel, and equal to x[j] there. Returns its area. */
static int check_box(const float *x, const float *out, int i, int j, int box[4])
{
    box[0] = W; box[1] = H; box[2] = 0; box[3] = 0;
    for (int y = 0; y < H; ++y)
        for (int xx = 0; xx < W; ++xx)
            if (out[i * IMG + y * W + xx] != x[i * IMG + y * W + xx]) {
                if (xx < box[0]) box[0] = xx;
                if (y < box[1]) box[1] = y;
                if (xx + 1 > box[2]) box[2] = xx + 1;
                if (y + 1 > box[3]) box[3] = y + 1;
            }
    if (box[2] == 0) { box[0] = box[1] = 0; return 0; }
    for (int k = 0; k < C; ++k)
        for (int y = 0; y < H; ++y)
            for (int xx = 0; xx < W; ++xx) {
                int in = xx >= box[0] && xx < box[2] && y >= box[1] && y < box[3];
                float want = in ? x[j * IMG + k * W * H + y * W + xx] : x[i * IMG + k * W * H + y * W + xx];
                assert_float_equal(out[i * IMG + k * W * H + y * W + xx], want, 0);
            }
    return (box[2] - box[0]) * (box[3] - box[1]);
}

static void check_forward(int sample_mode)
{
    network *net = input_cutmix_net(sample_mode ? "seed=1\nalpha=1\nmode=sample" : "seed=2\nalpha=1");
    float x[B * IMG], y[B * 3];
    int boxes_seen = 0, same_box = 1, first[4] = {0};
    for (int t = 0; t < 20; ++t) {
        fill(x, B * IMG, 10 + t, 1.0f);
        set_one_hot(y, cls6, B, 3);
        memcpy(net->input, x, sizeof x);
        memcpy(net->truth, y, sizeof y);
        net->train = 1;
        forward_network(net);
        const mixer *m = mixer_of(&net->layers[0]);
        for (int i = 0; i < B; ++i) {
            int j = m->partner[i], box[4];
            if (j == i) continue;   /* a sample pasted into itself shows no box */
            int area = check_box(x, net->layers[0].output, i, j, box);
            assert_float_equal(m->lambda[i], 1.0f - (float)area / (W * H), 1e-6);
            for (int k = 0; k < 3; ++k)
                assert_float_equal(net->truth[i * 3 + k], m->lambda[i] * y[i * 3 + k] + (1 - m->lambda[i]) * y[j * 3 + k], 1e-6);
            if (area) {
                if (!boxes_seen++) memcpy(first, box, sizeof first);
                else if (t == 0 && memcmp(first, box, sizeof first)) same_box = 0;
            }
        }
    }
    assert_true(boxes_seen > 20);
    if (!sample_mode) assert_true(same_box);   /* batch mode: one box for the batch */
    free_network(net);
}

static void test_forward_batch_mode(void **s) { (void)s; check_forward(0); }
static void test_forward_sample_mode(void **s) { (void)s; check_forward(1); }

static void test_identity_at_inference_and_prob0(void **state)
{
    (void)state;
    for (int k = 0; k < 2; ++k) {
        network *net = input_cutmix_net(k ? "seed=3\nprob=0" : "seed=3");
        fill(net->input, B * IMG, 20, 1.0f);
        set_one_hot(net->truth, cls6, B, 3);
        float y[B * 3];
        memcpy(y, net->truth, sizeof y);
        net->train = k;   /* k=0: inference; k=1: training with prob=0 */
        forward_network(net);
        assert_memory_equal(net->layers[0].output, net->input, sizeof(float) * B * IMG);
        assert_memory_equal(net->truth, y, sizeof y);
        free_network(net);
    }
}

/* Box area tracks lambda but never exceeds 1-lambda: boxes centred uniformly are clipped at the
 * border and their halves floored (as in the reference implementation), which is why the labels
 * are mixed by the actual area. For 32x32 and alpha = 1 the mean label weight came out at 0.70
 * against E[lambda] = 0.5. */
static void test_box_area_follows_lambda(void **state)
{
    (void)state;
    mix_rng r;
    mix_rng_seed(&r, 9);
    double sum = 0;
    const int n = 20000;
    for (int t = 0; t < n; ++t) {
        float l = (float)mix_sample_beta(&r, 1, 1);
        int box[4];
        mix_cutmix_box(&r, 32, 32, l, box);
        assert_true(box[0] >= 0 && box[1] >= 0 && box[2] <= 32 && box[3] <= 32 && box[0] <= box[2] && box[1] <= box[3]);
        float la = mix_cutmix_lambda(box, 32, 32);
        assert_true(la >= l - 1e-6f);   /* clipping and flooring never paste more than asked */
        sum += la;
    }
    printf("    mean pasted-area label weight %.3f (lambda mean 0.5)\n", sum / n);
    assert_true(sum / n > 0.5 && sum / n < 0.75);
}

static void test_gradient_hidden_position(void **state)
{
    (void)state;
    const char *cfg =
        "[net]\nbatch=4\nwidth=6\nheight=5\nchannels=2\n"
        "[convolutional]\nfilters=3\nsize=3\npad=1\nactivation=tanh\n"      /* 0 */
        "[cutmix]\nalpha=1\nmode=sample\n"                                  /* 1 */
        "[convolutional]\nfilters=3\nsize=3\npad=1\nactivation=logistic\n"  /* 2 */
        "[avgpool]\n"
        "[softmax]\n";
    const int layers[] = {0, 2};
    gradient_check(cfg, 1, layers, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_batch_mode),
        cmocka_unit_test(test_forward_sample_mode),
        cmocka_unit_test(test_identity_at_inference_and_prob0),
        cmocka_unit_test(test_box_area_follows_lambda),
        cmocka_unit_test(test_gradient_hidden_position),
    };
    return cmocka_run_group_tests_name("cutmix", tests, NULL, NULL);
}

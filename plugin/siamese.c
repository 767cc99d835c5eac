/* siamese.c: [siamese] closes branch B and mixes the two branch outputs and the labels.
 *
 * Training:  lambda ~ Beta(alpha, beta), partner pi(i) from the batch, then
 *              out[i]   = lambda*hA[i] + (1-lambda)*hB[pi(i)]
 *              truth[i] = lambda*y[i]  + (1-lambda)*y[pi(i)]      (net.truth, for the loss layer)
 * Inference: out = test_lambda*hA + (1-test_lambda)*hB; labels untouched.
 * The draws are made once per forward pass, i.e. per sub-batch when subdivisions > 1.
 * GPU: the same draws, made on the host from the host labels, then the mixing of the branch
 * outputs, of net.truth_gpu (which the loss layers read) and the backward run on the device;
 * the host net.truth is mixed alike, so both copies of the labels agree (mixer.h).
 *
 * cfg keys (all optional):
 *   layers=A,B     the two branch outputs, absolute or negative-relative as in [route].
 *                  Default: A = the layer before the open [branch], B = the layer before this one.
 *   test_lambda=0.5  branch A's weight at inference (and in batches left unmixed by prob/stop).
 *                  The environment variable SIAMESE_TEST_LAMBDA overrides it for every [siamese]
 *                  (e.g. 1 or 0 to evaluate one branch alone).
 *   alpha=0.4 beta=alpha mode=batch pairing=shuffle prob=1 stop=1 seed=N: the keys every mixing
 *                  layer shares (mixer.h). alpha=0.4 is the middle of the range mixup-style methods
 *                  use (0.2-1); small alpha keeps most lambdas near 0 or 1. The paper sweeps it.
 *                  pairing: shuffle | same (same class where possible) | other (another class
 *                  where possible) | self (both branches see the same image).
 * Example:
 *   [branch]
 *   ... branch B ...
 *   [siamese]
 *   alpha=0.4
 *   [connected]
 *   output=10
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sections.h"
#include "siamese.h"
#ifdef GPU
#include "mix_gpu.h"
#endif

static void free_siamese_layer(layer *l)
{
    siamese_state *st = l->plugin_state;
    if (!st) return;
    mixer_free(&st->m);
    free(st);
}

static const plugin_layer_ops siamese_ops = {"siamese", resize_siamese_layer, free_siamese_layer};

void siamese_layer_reseed(layer *l, uint64_t seed)
{
    siamese_state *st = l->plugin_state;
    mixer_reseed(&st->m, seed);
}

layer make_siamese_layer(int batch, int a, int b, int w, int h, int c, int outputs,
                         mixer_config mix, float test_lambda)
{
    siamese_state *st = calloc(1, sizeof *st);
    st->a = a;
    st->b = b;
    st->branch = -1;
    st->test_lambda = test_lambda;
    mixer_init(&st->m, &mix, batch);
    layer l = plugin_make_layer(&siamese_ops, st, batch, w, h, c, outputs);
    l.forward = forward_siamese_layer;
    l.backward = backward_siamese_layer;
#ifdef GPU
    l.forward_gpu = forward_siamese_layer_gpu;
    l.backward_gpu = backward_siamese_layer_gpu;
#endif
    return l;
}

/* This forward's draws, on the host, shared by the CPU and GPU paths; mixes the host labels.
 * Returns whether the labels were mixed. */
static int siamese_draw(siamese_state *st, const layer *l, network *net)
{
    if (net->train && net->truth && mixer_wants_mix(&st->m, net)) {
        mixer_draw(&st->m, net, l->batch);
        mixer_mix_truth(&st->m, net, l->batch);
        return 1;
    }
    mixer_set_identity(&st->m, l->batch, st->test_lambda);
    return 0;
}

/* hA, hB, out: (batch, outputs); net.truth: (batch, net.truths), mixed in place when training. */
void forward_siamese_layer(const layer l, network net)
{
    siamese_state *st = l.plugin_state;
    siamese_draw(st, &l, &net);
    mix_forward(net.layers[st->a].output, net.layers[st->b].output, l.output, l.outputs, l.batch,
                st->m.lambda, st->m.partner);
}

/* delta_A[i] += lambda_i*delta[i];  delta_B[pi(i)] += (1-lambda_i)*delta[i]. */
void backward_siamese_layer(const layer l, network net)
{
    const siamese_state *st = l.plugin_state;
    mix_backward(l.delta, net.layers[st->a].delta, net.layers[st->b].delta, l.outputs, l.batch,
                 st->m.lambda, st->m.partner);
}

#ifdef GPU
void forward_siamese_layer_gpu(const layer l, network net)
{
    siamese_state *st = l.plugin_state;
    int mixed = siamese_draw(st, &l, &net);
    mixer_push_draws(&st->m, l.batch);
    if (mixed) mixer_mix_truth_gpu(&st->m, &net, l.batch);
    mix_forward_gpu(net.layers[st->a].output_gpu, net.layers[st->b].output_gpu, l.output_gpu, l.outputs,
                    l.batch, st->m.lambda_gpu, st->m.partner_gpu);
}

void backward_siamese_layer_gpu(const layer l, network net)
{
    const siamese_state *st = l.plugin_state;
    mix_backward_gpu(l.delta_gpu, net.layers[st->a].delta_gpu, net.layers[st->b].delta_gpu, l.outputs,
                     l.batch, st->m.lambda_gpu, st->m.partner_gpu);
}
#endif

static int same_shape(const layer *x, const layer *y)
{
    return x->out_w == y->out_w && x->out_h == y->out_h && x->out_c == y->out_c && x->outputs == y->outputs;
}

int resize_siamese_layer(layer *l, network *net, int w, int h)
{
    (void)w; (void)h;
    siamese_state *st = l->plugin_state;
    const layer *la = &net->layers[st->a], *lb = &net->layers[st->b];
    if (!same_shape(la, lb)) {
        fprintf(stderr, "[siamese]: after resizing, branch outputs differ: layer %d is %d x %d x %d, "
                "layer %d is %d x %d x %d\n", st->a, la->out_w, la->out_h, la->out_c,
                st->b, lb->out_w, lb->out_h, lb->out_c);
        return -1;
    }
    return plugin_reshape_layer(l, la->out_w, la->out_h, la->out_c, la->outputs);
}

/* ---- cfg ------------------------------------------------------------------------------------- */

/* The nearest earlier [branch] that no [siamese] has closed yet, or -1. */
static int open_branch_before(network *net, int index)
{
    for (int j = index - 1; j >= 0; --j) {
        const layer *l = &net->layers[j];
        if (l->type == PLUGIN && strcmp(l->plugin->name, branch_section.name) == 0) {
            const branch_state *st = l->plugin_state;
            if (st->closed_by < 0) return j;
        }
    }
    return -1;
}

static int parse_siamese(const plugin_section_args *a, layer *l)
{
    static const char *const known[] = {"layers", "test_lambda", MIXER_KEYS, NULL};
    network *net = a->net;
    int branch = open_branch_before(net, a->index);

    int idx[2], n_idx = 0;
    if (plugin_opt_int_list(a, "layers", idx, 2, &n_idx)) return -1;
    if (n_idx == 1) { plugin_error(a, "layers", "needs two layers, A,B"); return -1; }
    if (n_idx == 2) {
        for (int k = 0; k < 2; ++k) {
            int abs_idx = idx[k] < 0 ? a->index + idx[k] : idx[k];
            if (abs_idx < 0 || abs_idx >= a->index) {
                plugin_error(a, "layers", "layer %d is not an earlier layer (this is layer %d)", abs_idx, a->index);
                return -1;
            }
            idx[k] = abs_idx;
        }
    } else {
        if (branch < 0) {
            plugin_error(a, NULL, "no open [branch] before it and no layers=A,B: nothing to mix");
            return -1;
        }
        if (branch == 0 || branch == a->index - 1) {
            plugin_error(a, NULL, "the [branch] at layer %d leaves branch %s empty; give layers=A,B",
                         branch, branch == 0 ? "A" : "B");
            return -1;
        }
        idx[0] = branch - 1;
        idx[1] = a->index - 1;
    }

    mixer_config mix;
    float test_lambda;
    if (mixer_parse(a, &mix)) return -1;
    if (plugin_opt_float(a, "test_lambda", 0.5f, &test_lambda)) return -1;
    if (!(test_lambda >= 0 && test_lambda <= 1)) {
        plugin_error(a, "test_lambda", "must be in [0,1]");
        return -1;
    }
    /* Evaluating each branch alone (test_lambda 1 or 0) should not need an edited cfg. */
    const char *env = getenv("SIAMESE_TEST_LAMBDA");
    int lambda_from_env = env && *env;
    if (lambda_from_env) {
        char *end;
        double v = strtod(env, &end);
        if (end == env || *end != '\0' || !(v >= 0 && v <= 1)) {
            plugin_error(a, NULL, "environment SIAMESE_TEST_LAMBDA=%s: must be a number in [0,1]", env);
            return -1;
        }
        test_lambda = (float)v;
    }
    if (plugin_opt_reject_unknown(a, known)) return -1;

    const layer *la = &net->layers[idx[0]], *lb = &net->layers[idx[1]];
    if (!same_shape(la, lb)) {
        plugin_error(a, "layers", "branch outputs differ: layer %d is %d x %d x %d (%d values), "
                     "layer %d is %d x %d x %d (%d values)", idx[0], la->out_w, la->out_h, la->out_c,
                     la->outputs, idx[1], lb->out_w, lb->out_h, lb->out_c, lb->outputs);
        return -1;
    }

    *l = make_siamese_layer(a->batch, idx[0], idx[1], la->out_w, la->out_h, la->out_c, la->outputs,
                            mix, test_lambda);
    siamese_state *st = l->plugin_state;
    if (n_idx == 0 || branch >= 0) {
        /* A [siamese] closes the nearest open [branch], also when it names its layers itself. */
        st->branch = branch;
        if (branch >= 0) ((branch_state *)net->layers[branch].plugin_state)->closed_by = a->index;
    }
    char keys[200];
    mixer_describe(&mix, keys, sizeof keys);
    fprintf(stderr, "siamese   layers %d,%d  test %.2f%s  %s\n"
                    "                                                 ->  %4d x%4d x%4d\n",
            idx[0], idx[1], test_lambda, lambda_from_env ? " (SIAMESE_TEST_LAMBDA)" : "", keys,
            l->out_w, l->out_h, l->out_c);
    return 0;
}

static int is_label_mixer(const layer *l)
{
    return l->type == PLUGIN && (strcmp(l->plugin->name, mixup_section.name) == 0 ||
                                 strcmp(l->plugin->name, cutmix_section.name) == 0);
}

static int check_siamese(network *net, int index, const char *cfgfile)
{
    const siamese_state *st = net->layers[index].plugin_state;
    if (st->branch >= 0) {
        /* Labels must describe both branches' samples alike: a mixing layer that only one branch
         * passes through would mix the labels for that branch alone. */
        const branch_state *bs = net->layers[st->branch].plugin_state;
        for (int j = bs->from + 1; j < index; ++j) {
            if (!is_label_mixer(&net->layers[j])) continue;
            plugin_net_error(cfgfile, index, "siamese", "layer %d [%s] mixes the labels inside only one "
                             "branch (layers %d-%d); mix before the branch point and start branch B from "
                             "it with [branch] from=N", j, net->layers[j].plugin->name, bs->from + 1, index - 1);
            return -1;
        }
    }
    if (net->hierarchy) {
        plugin_net_error(cfgfile, index, "siamese", "mixing labels breaks the label encoding of a tree "
                         "softmax ([softmax] tree=); use a flat [softmax]");
        return -1;
    }
    return 0;
}

const plugin_section siamese_section = {"siamese", parse_siamese, check_siamese};

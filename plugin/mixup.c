/* mixup.c: [mixup] mixes the activations it receives with a partner's from the same batch, and
 * the labels the same way:
 *     out[i] = lambda*x[i] + (1-lambda)*x[pi(i)],   truth[i] <- lambda*y[i] + (1-lambda)*y[pi(i)]
 * As the first layer it is input mixup (Zhang et al., 2018); after a hidden layer it is manifold
 * mixup (Verma et al., 2019). At inference, and in batches that prob/stop leave unmixed, it is the
 * identity. GPU: the same draws on the host, the mixing of activations, of net.truth_gpu and the
 * backward on the device (as in siamese.c).
 *
 * cfg keys (all optional):
 *   group=NAME     [mixup] layers sharing a group name are manifold mixup's random-layer variant:
 *                  per forward pass one of them, drawn uniformly, mixes and the others pass through.
 *                  The group's first layer draws (prob and stop of that layer apply to the group).
 *   alpha=0.4 beta=alpha mode=batch pairing=shuffle prob=1 stop=1 seed=N: the keys every mixing
 *                  layer shares (mixer.h).
 * Example (input mixup):
 *   [net]
 *   ...
 *   [mixup]
 *   alpha=0.2
 *   [convolutional]
 *   ...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "mixer.h"
#include "sections.h"
#ifdef GPU
#include "mix_gpu.h"
#endif

typedef struct mixup_group {
    char name[64];
    int members;
    int chosen;          /* member that mixes this forward; -1: none */
} mixup_group;

typedef struct mixup_state {
    mixer m;
    mixup_group *group;  /* NULL without group=; owned by member 0 */
    int member;
} mixup_state;

static void free_mixup_layer(layer *l)
{
    mixup_state *st = l->plugin_state;
    if (!st) return;
    mixer_free(&st->m);
    if (st->group && st->member == 0) free(st->group);
    free(st);
}

static const plugin_layer_ops mixup_ops = {"mixup", plugin_resize_like_input, free_mixup_layer};

/* This forward's draws, on the host, shared by the CPU and GPU paths; mixes the host labels.
 * Returns whether this layer mixes. */
static int mixup_draw(mixup_state *st, const layer *l, network *net)
{
    int mixes = 0;
    if (net->train && net->truth) {
        if (!st->group) {
            mixes = mixer_wants_mix(&st->m, net);
        } else {
            if (st->member == 0)
                st->group->chosen = mixer_wants_mix(&st->m, net) ? mix_rng_below(&st->m.rng, st->group->members) : -1;
            mixes = st->group->chosen == st->member;
        }
    }
    if (mixes) {
        mixer_draw(&st->m, net, l->batch);
        mixer_mix_truth(&st->m, net, l->batch);
    } else {
        mixer_set_identity(&st->m, l->batch, 1.0f);
    }
    return mixes;
}

/* x = net.input, out: (batch, inputs); net.truth: (batch, truths), mixed in place. */
static void forward_mixup_layer(const layer l, network net)
{
    mixup_state *st = l.plugin_state;
    if (mixup_draw(st, &l, &net))
        mix_forward(net.input, net.input, l.output, l.outputs, l.batch, st->m.lambda, st->m.partner);
    else
        copy_cpu(l.outputs * l.batch, net.input, 1, l.output, 1);
}

/* delta_x[i] += lambda_i*delta[i];  delta_x[pi(i)] += (1-lambda_i)*delta[i]. As layer 0 there is
 * no delta to pass back (net.delta is NULL). */
static void backward_mixup_layer(const layer l, network net)
{
    const mixup_state *st = l.plugin_state;
    if (net.delta)
        mix_backward(l.delta, net.delta, net.delta, l.outputs, l.batch, st->m.lambda, st->m.partner);
}

#ifdef GPU
static void forward_mixup_layer_gpu(const layer l, network net)
{
    mixup_state *st = l.plugin_state;
    int mixes = mixup_draw(st, &l, &net);
    mixer_push_draws(&st->m, l.batch);   /* identity when unmixed: backward reads them */
    if (mixes) {
        mixer_mix_truth_gpu(&st->m, &net, l.batch);
        mix_forward_gpu(net.input_gpu, net.input_gpu, l.output_gpu, l.outputs, l.batch, st->m.lambda_gpu,
                        st->m.partner_gpu);
    } else {
        copy_gpu(l.outputs * l.batch, net.input_gpu, 1, l.output_gpu, 1);
    }
}

static void backward_mixup_layer_gpu(const layer l, network net)
{
    const mixup_state *st = l.plugin_state;
    if (net.delta_gpu)
        mix_backward_gpu(l.delta_gpu, net.delta_gpu, net.delta_gpu, l.outputs, l.batch, st->m.lambda_gpu,
                         st->m.partner_gpu);
}
#endif

static int parse_mixup(const plugin_section_args *a, layer *l)
{
    static const char *const known[] = {"group", MIXER_KEYS, NULL};
    mixer_config mix;
    if (mixer_parse(a, &mix)) return -1;
    const char *group;
    if (plugin_opt_string(a, "group", NULL, &group)) return -1;
    if (group && (!*group || strlen(group) >= sizeof ((mixup_group *)0)->name)) {
        plugin_error(a, "group", "needs a name of 1-63 characters");
        return -1;
    }
    if (plugin_opt_reject_unknown(a, known)) return -1;

    mixup_state *st = calloc(1, sizeof *st);
    mixer_init(&st->m, &mix, a->batch);
    if (group) {
        for (int j = 0; j < a->index && !st->group; ++j) {
            const layer *p = &a->net->layers[j];
            if (p->type != PLUGIN || p->plugin != &mixup_ops) continue;
            const mixup_state *ps = p->plugin_state;
            if (ps->group && strcmp(ps->group->name, group) == 0) st->group = ps->group;
        }
        if (!st->group) {
            st->group = calloc(1, sizeof *st->group);
            strcpy(st->group->name, group);
            st->group->chosen = -1;
        }
        st->member = st->group->members++;
    }
    *l = plugin_make_layer(&mixup_ops, st, a->batch, a->w, a->h, a->c, a->inputs);
    l->forward = forward_mixup_layer;
    l->backward = backward_mixup_layer;
#ifdef GPU
    l->forward_gpu = forward_mixup_layer_gpu;
    l->backward_gpu = backward_mixup_layer_gpu;
#endif
    char keys[200], where[100] = "";
    mixer_describe(&mix, keys, sizeof keys);
    if (group) snprintf(where, sizeof where, "  group %s member %d", group, st->member + 1);
    fprintf(stderr, "mixup    %s  %s\n                                                 ->  %4d x%4d x%4d\n",
            where, keys, l->out_w, l->out_h, l->out_c);
    return 0;
}

const plugin_section mixup_section = {"mixup", parse_mixup, NULL};

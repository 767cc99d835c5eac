/* cutmix.c: [cutmix] pastes a random box of a partner's image (or feature map) into each sample
 * and mixes the labels by the area actually pasted (Yun et al., 2019):
 *     lambda ~ Beta(alpha, beta);  box of about (1-lambda) of the area, uniformly placed, clipped;
 *     out[i] = x[i] with the box from x[pi(i)];  truth[i] <- l*y[i] + (1-l)*y[pi(i)],
 *     l = 1 - box area / image area.
 * mode=batch uses one box for the whole batch (as timm does), mode=sample one per sample. At
 * inference, and in batches that prob/stop leave unmixed, it is the identity. GPU: the boxes are
 * drawn on the host as on the CPU and copied with lambda and the partners; pasting, the label
 * mixing of net.truth_gpu and the backward run on the device.
 *
 * cfg keys (all optional): alpha=0.4 beta=alpha mode=batch pairing=shuffle prob=1 stop=1 seed=N,
 * the keys every mixing layer shares (mixer.h). Its input must be an image (w, h, c).
 * Example:
 *   [net]
 *   ...
 *   [cutmix]
 *   alpha=1
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
#include "cuda.h"
#include "mix_gpu.h"
#endif

typedef struct cutmix_state {
    mixer m;
    int *boxes;          /* (batch, 4) box of the last forward: x1, y1, x2, y2 (empty: no paste) */
    int *boxes_gpu;      /* its device copy (GPU runs only) */
} cutmix_state;

static void free_cutmix_layer(layer *l)
{
    cutmix_state *st = l->plugin_state;
    if (!st) return;
    mixer_free(&st->m);
    free(st->boxes);
#ifdef GPU
    if (st->boxes_gpu) cuda_free((float *)st->boxes_gpu);
#endif
    free(st);
}

static const plugin_layer_ops cutmix_ops = {"cutmix", plugin_resize_like_input, free_cutmix_layer};

/* This forward's draws (lambda, partners, boxes), on the host, shared by the CPU and GPU paths;
 * mixes the host labels. Returns whether the batch is mixed. */
static int cutmix_draw(cutmix_state *st, const layer *l, network *net)
{
    memset(st->boxes, 0, sizeof(int) * 4 * l->batch);
    if (!(net->train && net->truth && mixer_wants_mix(&st->m, net))) {
        mixer_set_identity(&st->m, l->batch, 1.0f);
        return 0;
    }
    mixer_draw(&st->m, net, l->batch);
    for (int i = 0; i < l->batch; ++i) {
        int *box = st->boxes + 4 * i;
        if (i > 0 && st->m.cfg.mix.mode == MIX_MODE_BATCH) memcpy(box, st->boxes, sizeof(int) * 4);
        else mix_cutmix_box(&st->m.rng, l->w, l->h, st->m.lambda[i], box);
        st->m.lambda[i] = mix_cutmix_lambda(box, l->w, l->h);
    }
    mixer_mix_truth(&st->m, net, l->batch);
    return 1;
}

/* x = net.input, out: (batch, c, h, w); net.truth mixed in place by the pasted areas. */
static void forward_cutmix_layer(const layer l, network net)
{
    cutmix_state *st = l.plugin_state;
    if (cutmix_draw(st, &l, &net))
        mix_cutmix_forward(net.input, l.output, l.c, l.h, l.w, l.batch, st->boxes, st->m.partner);
    else
        copy_cpu(l.outputs * l.batch, net.input, 1, l.output, 1);
}

/* Each delta goes back to the sample whose pixel it was: outside the box to i, inside to pi(i). */
static void backward_cutmix_layer(const layer l, network net)
{
    const cutmix_state *st = l.plugin_state;
    if (net.delta)
        mix_cutmix_backward(l.delta, net.delta, l.c, l.h, l.w, l.batch, st->boxes, st->m.partner);
}

#ifdef GPU
static void forward_cutmix_layer_gpu(const layer l, network net)
{
    cutmix_state *st = l.plugin_state;
    int mixed = cutmix_draw(st, &l, &net);
    /* identity and empty boxes when unmixed: backward reads them */
    mixer_push_draws(&st->m, l.batch);
    mix_gpu_upload(st->boxes_gpu, st->boxes, sizeof(int) * 4 * (size_t)l.batch);
    if (mixed) {
        mixer_mix_truth_gpu(&st->m, &net, l.batch);
        mix_cutmix_forward_gpu(net.input_gpu, l.output_gpu, l.c, l.h, l.w, l.batch, st->boxes_gpu,
                               st->m.partner_gpu);
    } else {
        copy_gpu(l.outputs * l.batch, net.input_gpu, 1, l.output_gpu, 1);
    }
}

static void backward_cutmix_layer_gpu(const layer l, network net)
{
    const cutmix_state *st = l.plugin_state;
    if (net.delta_gpu)
        mix_cutmix_backward_gpu(l.delta_gpu, net.delta_gpu, l.c, l.h, l.w, l.batch, st->boxes_gpu,
                                st->m.partner_gpu);
}
#endif

static int parse_cutmix(const plugin_section_args *a, layer *l)
{
    static const char *const known[] = {MIXER_KEYS, NULL};
    mixer_config mix;
    if (mixer_parse(a, &mix)) return -1;
    if (plugin_opt_reject_unknown(a, known)) return -1;
    if (!(a->w > 0 && a->h > 0 && a->c > 0) || a->w * a->h * a->c != a->inputs) {
        plugin_error(a, NULL, "its input must be an image (w x h x c), not %d flat values", a->inputs);
        return -1;
    }
    cutmix_state *st = calloc(1, sizeof *st);
    mixer_init(&st->m, &mix, a->batch);
    st->boxes = calloc(4 * (size_t)a->batch, sizeof(int));
#ifdef GPU
    if (gpu_index >= 0) st->boxes_gpu = cuda_make_int_array(st->boxes, 4 * (size_t)a->batch);
#endif
    *l = plugin_make_layer(&cutmix_ops, st, a->batch, a->w, a->h, a->c, a->inputs);
    l->forward = forward_cutmix_layer;
    l->backward = backward_cutmix_layer;
#ifdef GPU
    l->forward_gpu = forward_cutmix_layer_gpu;
    l->backward_gpu = backward_cutmix_layer_gpu;
#endif
    char keys[200];
    mixer_describe(&mix, keys, sizeof keys);
    fprintf(stderr, "cutmix    %s\n                                                 ->  %4d x%4d x%4d\n",
            keys, l->out_w, l->out_h, l->out_c);
    return 0;
}

const plugin_section cutmix_section = {"cutmix", parse_cutmix, NULL};

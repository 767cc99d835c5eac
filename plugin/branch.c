/* branch.c: [branch] closes branch A of a Siamese Ensemble and starts branch B.
 *
 * The layer after [branch] reads the network input again (the augmented batch exactly as layer 0
 * sees it), so branch B is an independent sub-network with its own random initialisation. No
 * gradient flows from [branch] into the input. Its partner [siamese] mixes the two branch outputs.
 *
 * cfg keys:
 *   from=N   start branch B from layer N's output instead of the network input (absolute index,
 *            or negative relative to this layer as in [route]); its delta then flows back to N.
 *            Default: unset (the network input).
 * Example:
 *   [convolutional]   # ... branch A ...
 *   [branch]
 *   [convolutional]   # ... branch B, same or different architecture ...
 *   [siamese]
 *
 * Cost: where Darknet allows it (decided once, after parsing, in check_branch), the layer copies
 * nothing: its output points at the source buffer at each forward (the next layer must only read
 * its input: [convolutional], [connected], [maxpool], [avgpool]), and without from= it has no
 * delta at all, so branch B's first layer skips its input gradient as layer 0 does (the next layer
 * must test for a NULL delta, [convolutional] and [connected], and no [route], [shortcut],
 * [siamese] or [branch] may read this layer). Otherwise it copies, as a layer of its own.
 * On the GPU it always copies (one device-to-device copy of the batch per step): Darknet's GPU
 * forward hands the next layer the output_gpu of its own copy of the layer, and the network's
 * input_gpu is reallocated after the layers on resize. The NULL delta holds there too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "siamese.h"
#ifdef GPU
#include "cuda.h"
#endif

static void free_branch_layer(layer *l)
{
    branch_state *st = l->plugin_state;
    l->output = st->own_output;   /* free_layer frees the layer's own buffer, never the source */
    free(st);
}

static const plugin_layer_ops branch_ops = {"branch", resize_branch_layer, free_branch_layer};

layer make_branch_layer(network *net, int batch, int from, int w, int h, int c, int outputs)
{
    branch_state *st = calloc(1, sizeof *st);
    st->net = net;
    st->from = from;
    st->closed_by = -1;
    layer l = plugin_make_layer(&branch_ops, st, batch, w, h, c, outputs);
    st->own_output = l.output;
    l.forward = forward_branch_layer;
    l.backward = backward_branch_layer;
#ifdef GPU
    l.forward_gpu = forward_branch_layer_gpu;
    l.backward_gpu = backward_branch_layer_gpu;
#endif
    return l;
}

/* (batch, outputs): output = the network input, or layer `from`'s output; shared when allowed
 * (forward_network then hands the next layer the stored layer's output, patch 0019). */
void forward_branch_layer(const layer l, network net)
{
    const branch_state *st = l.plugin_state;
    float *src = st->from < 0 ? st->net->input : net.layers[st->from].output;
    if (st->share) {
        net.layers[net.index].output = src;
        return;
    }
    copy_cpu(l.batch * l.outputs, src, 1, l.output, 1);
}

/* Nothing flows into the network input; with from=N, delta_N += delta. */
void backward_branch_layer(const layer l, network net)
{
    const branch_state *st = l.plugin_state;
    if (st->from >= 0 && net.layers[st->from].delta)
        axpy_cpu(l.batch * l.outputs, 1, l.delta, 1, net.layers[st->from].delta, 1);
}

#ifdef GPU
/* The CPU forward on device buffers: the input is the stored network's input_gpu (the local
 * net.input_gpu is the previous layer's output by now). */
void forward_branch_layer_gpu(const layer l, network net)
{
    const branch_state *st = l.plugin_state;
    float *src = st->from < 0 ? st->net->input_gpu : net.layers[st->from].output_gpu;
    copy_gpu(l.batch * l.outputs, src, 1, l.output_gpu, 1);
}

void backward_branch_layer_gpu(const layer l, network net)
{
    const branch_state *st = l.plugin_state;
    if (st->from >= 0 && net.layers[st->from].delta_gpu)
        axpy_gpu(l.batch * l.outputs, 1, l.delta_gpu, 1, net.layers[st->from].delta_gpu, 1);
}
#endif

/* Drops the delta buffers (host and device) of a layer whose delta nothing reads. */
static void drop_delta(layer *l)
{
    free(l->delta);
    l->delta = NULL;
#ifdef GPU
    if (l->delta_gpu) cuda_free(l->delta_gpu);
    l->delta_gpu = NULL;
#endif
}

int resize_branch_layer(layer *l, network *net, int w, int h)
{
    (void)w; (void)h;   /* those are branch A's output size, not ours */
    branch_state *st = l->plugin_state;
    l->output = st->own_output;   /* never realloc a shared source */
    const layer *src = st->from < 0 ? NULL : &net->layers[st->from];
    int rc = src ? plugin_reshape_layer(l, src->out_w, src->out_h, src->out_c, src->outputs)
                 : plugin_reshape_layer(l, net->w, net->h, net->c, net->w * net->h * net->c);
    st->own_output = l->output;
    if (st->no_delta) drop_delta(l);
    return rc;
}

/* Whether layer j reads layer `index` other than as the layer after it (then our delta and output
 * must stay a buffer of our own). */
static int reads_layer(const network *net, int j, int index)
{
    const layer *l = &net->layers[j];
    switch (l->type) {
    case ROUTE:
        for (int k = 0; k < l->n; ++k) if (l->input_layers[k] == index) return 1;
        return 0;
    case SHORTCUT:
        return l->index == index;
    case PLUGIN:
        if (l->plugin == &branch_ops) return ((const branch_state *)l->plugin_state)->from == index;
        if (strcmp(l->plugin->name, siamese_section.name) == 0) {
            const siamese_state *s = l->plugin_state;
            return s->a == index || s->b == index;
        }
        return 1;   /* another plugin's layer: assume it may */
    default:
        return 0;
    }
}

/* Decides sharing and the NULL delta (see the top of this file). */
static void branch_choose_buffers(network *net, int index)
{
    layer *l = &net->layers[index];
    branch_state *st = l->plugin_state;
    LAYER_TYPE next = index + 1 < net->n ? net->layers[index + 1].type : BLANK;
#ifdef DARKNET_FORWARD_READS_STORED_OUTPUT
    st->share = next == CONVOLUTIONAL || next == CONNECTED || next == MAXPOOL || next == AVGPOOL;
#else   /* forward_network would hand the next layer a stale pointer (no patch 0019): copy */
    st->share = 0;
#endif
    int read_later = 0;
    for (int j = index + 1; j < net->n; ++j) read_later |= reads_layer(net, j, index);
    st->no_delta = st->from < 0 && !read_later && (next == CONVOLUTIONAL || next == CONNECTED);
    if (st->no_delta) drop_delta(l);
}

static int parse_branch(const plugin_section_args *a, layer *l)
{
    static const char *const known[] = {"from", NULL};
    int from = -1;
    if (plugin_opt_present(a, "from")) {
        if (plugin_opt_int(a, "from", 0, &from)) return -1;
        int abs_from = from < 0 ? a->index + from : from;
        if (abs_from < 0 || abs_from >= a->index) {
            plugin_error(a, "from", "layer %d is not an earlier layer (this is layer %d)", abs_from, a->index);
            return -1;
        }
        from = abs_from;
    }
    if (plugin_opt_reject_unknown(a, known)) return -1;
    if (a->index == 0) {
        plugin_error(a, NULL, "[branch] closes branch A, so it cannot be the first layer");
        return -1;
    }
    network *net = a->net;
    if (from < 0) {
        *l = make_branch_layer(net, a->batch, -1, net->w, net->h, net->c, net->inputs);
        fprintf(stderr, "branch    network input                    ->  %4d x%4d x%4d\n",
                l->out_w, l->out_h, l->out_c);
    } else {
        const layer *src = &net->layers[from];
        *l = make_branch_layer(net, a->batch, from, src->out_w, src->out_h, src->out_c, src->outputs);
        fprintf(stderr, "branch    from layer %-4d                   ->  %4d x%4d x%4d\n",
                from, l->out_w, l->out_h, l->out_c);
    }
    return 0;
}

static int check_branch(network *net, int index, const char *cfgfile)
{
    branch_state *st = net->layers[index].plugin_state;
    if (st->closed_by < 0) {
        plugin_net_error(cfgfile, index, "branch", "no [siamese] after it closes this branch");
        return -1;
    }
    branch_choose_buffers(net, index);
    return 0;
}

const plugin_section branch_section = {"branch", parse_branch, check_branch};

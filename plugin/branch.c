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
 */
#include <stdio.h>
#include <stdlib.h>

#include "blas.h"
#include "siamese.h"

static void free_branch_layer(layer *l)
{
    free(l->plugin_state);
}

static const plugin_layer_ops branch_ops = {"branch", resize_branch_layer, free_branch_layer};

layer make_branch_layer(network *net, int batch, int from, int w, int h, int c, int outputs)
{
    branch_state *st = calloc(1, sizeof *st);
    st->net = net;
    st->from = from;
    st->closed_by = -1;
    layer l = plugin_make_layer(&branch_ops, st, batch, w, h, c, outputs);
    l.forward = forward_branch_layer;
    l.backward = backward_branch_layer;
    return l;
}

/* (batch, outputs): output = the network input, or layer `from`'s output. */
void forward_branch_layer(const layer l, network net)
{
    const branch_state *st = l.plugin_state;
    const float *src = st->from < 0 ? st->net->input : net.layers[st->from].output;
    copy_cpu(l.batch * l.outputs, (float *)src, 1, l.output, 1);
}

/* Nothing flows into the network input; with from=N, delta_N += delta. */
void backward_branch_layer(const layer l, network net)
{
    const branch_state *st = l.plugin_state;
    if (st->from >= 0 && net.layers[st->from].delta)
        axpy_cpu(l.batch * l.outputs, 1, l.delta, 1, net.layers[st->from].delta, 1);
}

int resize_branch_layer(layer *l, network *net, int w, int h)
{
    (void)w; (void)h;   /* those are branch A's output size, not ours */
    const branch_state *st = l->plugin_state;
    if (st->from < 0) return plugin_reshape_layer(l, net->w, net->h, net->c, net->w * net->h * net->c);
    const layer *src = &net->layers[st->from];
    return plugin_reshape_layer(l, src->out_w, src->out_h, src->out_c, src->outputs);
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
    const branch_state *st = net->layers[index].plugin_state;
    if (st->closed_by < 0) {
        plugin_net_error(cfgfile, index, "branch", "no [siamese] after it closes this branch");
        return -1;
    }
    return 0;
}

const plugin_section branch_section = {"branch", parse_branch, check_branch};

/* layer_common.c: what every plugin layer with an output of its own needs: make it with output and
 * delta buffers of one shape, and give it a new shape on resize. No cfg keys of its own.
 */
#include <stdio.h>
#include <stdlib.h>

#include "plugin.h"

layer plugin_make_layer(const plugin_layer_ops *ops, void *state, int batch, int w, int h, int c, int outputs)
{
    layer l = {0};
    l.plugin = ops;
    l.plugin_state = state;
    l.batch = batch;
    l.w = l.out_w = w;
    l.h = l.out_h = h;
    l.c = l.out_c = c;
    l.inputs = l.outputs = outputs;
    l.output = calloc((size_t)batch * outputs, sizeof(float));
    l.delta = calloc((size_t)batch * outputs, sizeof(float));
    return l;
}

int plugin_reshape_layer(layer *l, int w, int h, int c, int outputs)
{
    float *output = realloc(l->output, sizeof(float) * (size_t)l->batch * outputs);
    if (output) l->output = output;
    float *delta = output ? realloc(l->delta, sizeof(float) * (size_t)l->batch * outputs) : NULL;
    if (delta) l->delta = delta;
    if (!output || !delta) {
        fprintf(stderr, "[%s]: out of memory resizing to %d x %d x %d\n", l->plugin->name, w, h, c);
        return -1;
    }
    l->w = l->out_w = w;
    l->h = l->out_h = h;
    l->c = l->out_c = c;
    l->inputs = l->outputs = outputs;
    return 0;
}

int plugin_resize_like_input(layer *l, network *net, int w, int h)
{
    (void)net;
    return plugin_reshape_layer(l, w, h, l->c, w * h * l->c);
}

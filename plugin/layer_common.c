/* layer_common.c: what every plugin layer with an output of its own needs: make it with output and
 * delta buffers of one shape, and give it a new shape on resize. No cfg keys of its own.
 * In a GPU build running on a GPU (gpu_index >= 0 when the layer is made, as for Darknet's own
 * layers) the layer gets device twins output_gpu and delta_gpu, freed by Darknet's free_layer.
 */
#include <stdio.h>
#include <stdlib.h>

#include "plugin.h"
#ifdef GPU
#include "cuda.h"
#endif

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
#ifdef GPU
    if (gpu_index >= 0) {
        l.output_gpu = cuda_make_array(l.output, (size_t)batch * outputs);
        l.delta_gpu = cuda_make_array(l.delta, (size_t)batch * outputs);
    }
#endif
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
#ifdef GPU
    /* A layer made for the GPU has output_gpu; its delta_gpu may have been dropped ([branch]). */
    if (l->output_gpu) {
        cuda_free(l->output_gpu);
        if (l->delta_gpu) cuda_free(l->delta_gpu);
        l->output_gpu = cuda_make_array(NULL, (size_t)l->batch * outputs);
        l->delta_gpu = cuda_make_array(NULL, (size_t)l->batch * outputs);
    }
#endif
    return 0;
}

int plugin_resize_like_input(layer *l, network *net, int w, int h)
{
    (void)net;
    return plugin_reshape_layer(l, w, h, l->c, w * h * l->c);
}

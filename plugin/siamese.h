/* siamese.h: the [branch] and [siamese] layers (see branch.c and siamese.c for their cfg keys).
 * Declared here for the registry and for tests that look inside a layer's per-step draws. */
#ifndef PLUGIN_SIAMESE_H
#define PLUGIN_SIAMESE_H

#include "mixer.h"
#include "plugin.h"

extern const plugin_section branch_section;
extern const plugin_section siamese_section;

typedef struct branch_state {
    network *net;      /* the network parsed into; its ->input is the batch layer 0 reads */
    int from;          /* layer whose output branch B starts from; -1: the network input */
    int closed_by;     /* index of the [siamese] that closes this branch; -1 while open */
    /* Set by the whole-network check (see branch.c): */
    int share;         /* l.output points at the source at each forward instead of a copy */
    int no_delta;      /* l.delta is NULL: nothing reads it, so branch B's first layer skips
                          its input gradient (as layer 0 does) */
    float *own_output; /* the layer's own output buffer (l.output while not sharing) */
} branch_state;

typedef struct siamese_state {
    mixer m;                /* first, as in every mixing layer (mixer_of): keys, generator, draws */
    int a, b;               /* the two branch outputs (layer indices) */
    int branch;             /* the [branch] this layer closes; -1 when layers= stands alone */
    float test_lambda;      /* branch A's weight at inference and in unmixed batches */
} siamese_state;

layer make_branch_layer(network *net, int batch, int from, int w, int h, int c, int outputs);
void forward_branch_layer(const layer l, network net);
void backward_branch_layer(const layer l, network net);
int  resize_branch_layer(layer *l, network *net, int w, int h);
#ifdef GPU
void forward_branch_layer_gpu(const layer l, network net);
void backward_branch_layer_gpu(const layer l, network net);
#endif

layer make_siamese_layer(int batch, int a, int b, int w, int h, int c, int outputs,
                         mixer_config mix, float test_lambda);
void forward_siamese_layer(const layer l, network net);
void backward_siamese_layer(const layer l, network net);
int  resize_siamese_layer(layer *l, network *net, int w, int h);
#ifdef GPU
void forward_siamese_layer_gpu(const layer l, network net);
void backward_siamese_layer_gpu(const layer l, network net);
#endif
/* Restarts the layer's generator: the next forwards repeat the draws made after make/last reseed. */
void siamese_layer_reseed(layer *l, uint64_t seed);

#endif

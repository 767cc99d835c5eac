/* siamese.h: the [branch] and [siamese] layers (see branch.c and siamese.c for their cfg keys).
 * Declared here for the registry and for tests that look inside a layer's per-step draws. */
#ifndef PLUGIN_SIAMESE_H
#define PLUGIN_SIAMESE_H

#include "mix.h"
#include "plugin.h"

extern const plugin_section branch_section;
extern const plugin_section siamese_section;

typedef struct branch_state {
    network *net;      /* the network parsed into; its ->input is the batch layer 0 reads */
    int from;          /* layer whose output branch B starts from; -1: the network input */
    int closed_by;     /* index of the [siamese] that closes this branch; -1 while open */
} branch_state;

typedef struct siamese_state {
    int a, b;               /* the two branch outputs (layer indices) */
    int branch;             /* the [branch] this layer closes; -1 when layers= stands alone */
    mix_params mix;
    float test_lambda;      /* branch A's weight at inference */
    uint64_t seed;
    mix_rng rng;
    /* per-step buffers, sized for the batch the layer was made with (set_batch_network only lowers it) */
    float *lambda;          /* (batch) lambda_i of the last forward */
    int *partner;           /* (batch) pi(i) of the last forward */
    int *scratch;           /* (2*batch) pairing work space */
    float *truth_copy;      /* (batch, truths) unmixed labels */
    size_t truth_copy_len;
} siamese_state;

layer make_branch_layer(network *net, int batch, int from, int w, int h, int c, int outputs);
void forward_branch_layer(const layer l, network net);
void backward_branch_layer(const layer l, network net);
int  resize_branch_layer(layer *l, network *net, int w, int h);

layer make_siamese_layer(int batch, int a, int b, int w, int h, int c, int outputs,
                         mix_params mix, float test_lambda, uint64_t seed);
void forward_siamese_layer(const layer l, network net);
void backward_siamese_layer(const layer l, network net);
int  resize_siamese_layer(layer *l, network *net, int w, int h);
/* Restarts the layer's generator: the next forwards repeat the draws made after make/last reseed. */
void siamese_layer_reseed(layer *l, uint64_t seed);

#endif

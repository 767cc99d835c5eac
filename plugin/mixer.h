/* mixer.h: what every label-mixing layer ([siamese], [mixup], [cutmix]) shares: its cfg keys,
 * its seeded generator, the per-step draws (whether to mix, lambda, partners) and the label mixing.
 * The pure math lives in mix.h; this is the adapter between it and a Darknet layer.
 *
 * Shared cfg keys (all optional):
 *   alpha=0.4 beta=alpha      lambda ~ Beta(alpha, beta)
 *   mode=batch                batch: one lambda per batch; sample: one per sample
 *   pairing=shuffle           shuffle | same | other | self (see mix.h)
 *   prob=1                    the chance that a batch is mixed at all
 *   stop=1                    no mixing from this fraction of max_batches on (timm's mixup-off)
 *   seed=N                    the layer's own generator; unset: from the clock, and printed
 */
#ifndef PLUGIN_MIXER_H
#define PLUGIN_MIXER_H

#include "mix.h"
#include "plugin.h"

/* What the cfg says: parsed once, copied into each layer's mixer. */
typedef struct mixer_config {
    mix_params mix;
    float prob, stop;
    uint64_t seed;
    int seeded;             /* seed came from the cfg (else from the clock) */
} mixer_config;

typedef struct mixer {
    mixer_config cfg;
    mix_rng rng;
    /* per-step buffers, sized for the batch the layer was made with (set_batch_network only lowers it) */
    float *lambda;          /* (batch) lambda_i of the last forward */
    int *partner;           /* (batch) pi(i) of the last forward */
    int *scratch;           /* (2*batch) pairing work space */
    float *truth_copy;      /* (batch, truths) unmixed labels; sized at the first forward */
    size_t truth_copy_len;
} mixer;

/* Every mixing layer's state starts with its mixer, so tools and tests can reach the draws of
 * any of them. NULL for a layer that is not one of [siamese], [mixup], [cutmix]. */
mixer *mixer_of(const layer *l);

/* The keys every mixing section accepts, for plugin_opt_reject_unknown lists. */
#define MIXER_KEYS "alpha", "beta", "mode", "pairing", "prob", "stop", "seed"

/* Reads and checks the shared keys. 0, or -1 after printing an error. */
int  mixer_parse(const plugin_section_args *a, mixer_config *cfg);
/* A mixer for batches of up to `batch` samples: generator seeded, lambda 1, partners identity. */
void mixer_init(mixer *m, const mixer_config *cfg, int batch);
void mixer_free(mixer *m);
/* Restarts the generator: the next forwards repeat the draws made after the last (re)seed. */
void mixer_reseed(mixer *m, uint64_t seed);
/* "alpha 0.4 beta 0.4  batch shuffle  prob 1 stop 1  seed 7" for the network summary. */
void mixer_describe(const mixer_config *cfg, char *buf, size_t size);

/* Does this training forward mix? Draws against prob (when < 1) and checks stop against the
 * network's current batch. */
int  mixer_wants_mix(mixer *m, network *net);
/* Draws lambda and partners for this forward (truth is read for same/other pairing). */
void mixer_draw(mixer *m, const network *net, int batch);
/* No mixing this forward: lambda_i = l, partner = identity (so backward stays consistent). */
void mixer_set_identity(mixer *m, int batch, float l);
/* net.truth[i] <- lambda_i*y[i] + (1-lambda_i)*y[partner[i]] with the current draws. */
void mixer_mix_truth(mixer *m, const network *net, int batch);

#endif

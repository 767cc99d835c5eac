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
 *   seed=N                    the layer's own generator; unset: derived from the run's seed
 *                             ([net] seed= or -seed) and the layer's index, mix_derive_seed(run
 *                             seed, index), so the layers of a seeded run draw different streams;
 *                             without a run seed from the clock. The seed used is printed.
 *
 * Replicas (darknet ... -gpus 0,1,...) train on different data, so each draws its own stream:
 * the generator of a network on GPU g is seeded with mixer_replica_seed(seed, g). GPU 0 and the
 * CPU (gpu_index -1) use the seed as it is, so a CPU run and a one-GPU run mix the same pairs.
 *
 * GPU builds: every draw is made on the host, by the same code as on the CPU, and copied to the
 * device once per forward pass (mixer_push_draws); the device kernels are in mix_gpu.h.
 */
#ifndef PLUGIN_MIXER_H
#define PLUGIN_MIXER_H

#include "mix.h"
#include "plugin.h"

enum { MIXER_SEED_CLOCK, MIXER_SEED_KEY, MIXER_SEED_RUN };

/* What the cfg says: parsed once, copied into each layer's mixer. */
typedef struct mixer_config {
    mix_params mix;
    float prob, stop;
    uint64_t seed;
    int seeded;             /* where seed came from: MIXER_SEED_CLOCK, _KEY (seed=) or _RUN */
    int replica;            /* the network's gpu_index when parsed: seeds mixer_replica_seed */
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
    /* device copies (GPU builds running on a GPU; NULL otherwise), made in mixer_init */
    float *lambda_gpu;      /* (batch) */
    int *partner_gpu;       /* (batch) */
    float *truth_copy_gpu;  /* (batch, truths) unmixed labels; sized at the first GPU forward */
    size_t truth_copy_gpu_len;
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
/* Restarts the generator: the next forwards repeat the draws made after the last (re)seed.
 * The generator gets mixer_replica_seed(seed, the layer's replica). */
void mixer_reseed(mixer *m, uint64_t seed);
/* The seed of the generator on GPU gpu_index: seed itself for gpu_index <= 0, else
 * seed ^ (gpu_index * 0xd1b54a32d192ed03) (an odd constant, so distinct GPUs get distinct seeds;
 * mix_rng_seed's splitmix64 then spreads it over the whole state). Not seed + gpu_index: splitmix64
 * seeded with neighbouring seeds gives overlapping streams only for steps of its own increment,
 * but a hashed offset also keeps replica g of seed s apart from replica 0 of seed s + g. */
uint64_t mixer_replica_seed(uint64_t seed, int gpu_index);
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

#ifdef GPU
/* Copies this forward's lambda and partners to the device (lambda_gpu, partner_gpu). */
void mixer_push_draws(mixer *m, int batch);
/* net.truth_gpu[i] <- lambda_i*y[i] + (1-lambda_i)*y[partner[i]] on the device, with the draws
 * pushed: call with mixer_mix_truth, which mixes the host copy the same way (the loss layers read
 * the device copy, the next mixing layer's pairing reads the host one). */
void mixer_mix_truth_gpu(mixer *m, const network *net, int batch);
#endif

#endif

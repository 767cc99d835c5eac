/* mixer.c: the shared part of every label-mixing layer (see mixer.h for the keys). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mixer.h"
#include "sections.h"
#ifdef GPU
#include "cuda.h"
#include "mix_gpu.h"
#endif

mixer *mixer_of(const layer *l)
{
    if (l->type != PLUGIN) return NULL;
    const char *name = l->plugin->name;
    if (strcmp(name, siamese_section.name) && strcmp(name, mixup_section.name) && strcmp(name, cutmix_section.name))
        return NULL;
    return (mixer *)l->plugin_state;
}

int mixer_parse(const plugin_section_args *a, mixer_config *cfg)
{
    int mode, pairing, seed_opt;
    float alpha, beta, prob, stop;
    if (plugin_opt_float(a, "alpha", 0.4f, &alpha)) return -1;
    if (!(alpha > 0)) { plugin_error(a, "alpha", "must be > 0"); return -1; }
    if (plugin_opt_float(a, "beta", alpha, &beta)) return -1;
    if (!(beta > 0)) { plugin_error(a, "beta", "must be > 0"); return -1; }
    if (plugin_opt_choice(a, "mode", mix_mode_names, 2, MIX_MODE_BATCH, &mode)) return -1;
    if (plugin_opt_choice(a, "pairing", mix_pairing_names, 4, MIX_PAIR_SHUFFLE, &pairing)) return -1;
    if (plugin_opt_float(a, "prob", 1.0f, &prob)) return -1;
    if (!(prob >= 0 && prob <= 1)) { plugin_error(a, "prob", "must be in [0,1]"); return -1; }
    if (plugin_opt_float(a, "stop", 1.0f, &stop)) return -1;
    if (!(stop >= 0 && stop <= 1)) { plugin_error(a, "stop", "must be in [0,1] (a fraction of max_batches)"); return -1; }
#ifdef DARKNET_RUN_SEED
    cfg->seeded = plugin_opt_present(a, "seed") ? MIXER_SEED_KEY : a->net && a->net->seeded ? MIXER_SEED_RUN : MIXER_SEED_CLOCK;
#else   /* a Darknet without patch 0020 (make bench's stock build): no run seed */
    cfg->seeded = plugin_opt_present(a, "seed") ? MIXER_SEED_KEY : MIXER_SEED_CLOCK;
#endif
    if (plugin_opt_int(a, "seed", 0, &seed_opt)) return -1;
    if (seed_opt < 0) { plugin_error(a, "seed", "must be >= 0"); return -1; }
    cfg->mix = (mix_params){alpha, beta, (mix_mode)mode, (mix_pairing)pairing};
    cfg->prob = prob;
    cfg->stop = stop;
    cfg->replica = a->net ? a->net->gpu_index : -1;
    if (cfg->seeded == MIXER_SEED_KEY) cfg->seed = (uint64_t)seed_opt;
#ifdef DARKNET_RUN_SEED
    else if (cfg->seeded == MIXER_SEED_RUN) cfg->seed = mix_derive_seed((uint64_t)a->net->seed, (uint64_t)a->index);
#endif
    else cfg->seed = ((uint64_t)time(NULL) * 1000003u + (uint64_t)getpid() * 7919u + (uint64_t)a->index) % 2147483647u;
    return 0;
}

void mixer_init(mixer *m, const mixer_config *cfg, int batch)
{
    *m = (mixer){0};
    m->cfg = *cfg;
    mixer_reseed(m, cfg->seed);
    m->lambda = calloc(batch, sizeof(float));
    m->partner = calloc(batch, sizeof(int));
    m->scratch = calloc(2 * (size_t)batch, sizeof(int));
    mixer_set_identity(m, batch, 1.0f);
#ifdef GPU
    /* Darknet's make_*_layer decide by the global gpu_index too (set per replica by cuda_set_device). */
    if (gpu_index >= 0) {
        m->lambda_gpu = cuda_make_array(m->lambda, batch);
        m->partner_gpu = cuda_make_int_array(m->partner, batch);
    }
#endif
}

void mixer_free(mixer *m)
{
    free(m->lambda);
    free(m->partner);
    free(m->scratch);
    free(m->truth_copy);
    m->lambda = NULL; m->partner = NULL; m->scratch = NULL; m->truth_copy = NULL;
    m->truth_copy_len = 0;
#ifdef GPU
    if (m->lambda_gpu) cuda_free(m->lambda_gpu);
    if (m->partner_gpu) cuda_free((float *)m->partner_gpu);
    if (m->truth_copy_gpu) cuda_free(m->truth_copy_gpu);
#endif
    m->lambda_gpu = NULL; m->partner_gpu = NULL; m->truth_copy_gpu = NULL;
    m->truth_copy_gpu_len = 0;
}

uint64_t mixer_replica_seed(uint64_t seed, int gpu_index)
{
    return gpu_index <= 0 ? seed : seed ^ ((uint64_t)gpu_index * 0xd1b54a32d192ed03ULL);
}

void mixer_reseed(mixer *m, uint64_t seed)
{
    m->cfg.seed = seed;
    mix_rng_seed(&m->rng, mixer_replica_seed(seed, m->cfg.replica));
}

void mixer_describe(const mixer_config *c, char *buf, size_t size)
{
    char replica[64] = "";
    if (c->replica > 0)
        snprintf(replica, sizeof replica, " (GPU %d: stream %llu)", c->replica,
                 (unsigned long long)mixer_replica_seed(c->seed, c->replica));
    snprintf(buf, size, "alpha %.3g beta %.3g  %s %s  prob %.3g stop %.3g  seed %llu%s%s",
             c->mix.alpha, c->mix.beta, mix_mode_names[c->mix.mode], mix_pairing_names[c->mix.pairing],
             c->prob, c->stop, (unsigned long long)c->seed, replica,
             c->seeded == MIXER_SEED_KEY ? "" : c->seeded == MIXER_SEED_RUN ? " (from the run's seed)"
             : " (from clock; set seed= to repeat)");
}

int mixer_wants_mix(mixer *m, network *net)
{
    if (m->cfg.stop < 1 && (double)get_current_batch(net) >= (double)m->cfg.stop * net->max_batches) return 0;
    /* No draw when prob is 1, so a cfg without prob= draws exactly as before the key existed. */
    return m->cfg.prob >= 1 || mix_rng_uniform(&m->rng) < m->cfg.prob;
}

void mixer_draw(mixer *m, const network *net, int batch)
{
    mix_params p = m->cfg.mix;
    /* Without labels there are no classes to pair by. */
    if (!net->truth && (p.pairing == MIX_PAIR_SAME || p.pairing == MIX_PAIR_OTHER)) p.pairing = MIX_PAIR_SHUFFLE;
    mix_draw(&m->rng, &p, net->truth, net->truths, batch, m->lambda, m->partner, m->scratch);
}

void mixer_set_identity(mixer *m, int batch, float l)
{
    for (int i = 0; i < batch; ++i) { m->lambda[i] = l; m->partner[i] = i; }
}

void mixer_mix_truth(mixer *m, const network *net, int batch)
{
    if (!net->truth) return;
    size_t need = (size_t)batch * net->truths;
    if (need > m->truth_copy_len) {   /* once: the truth size is known only after parsing */
        float *copy = realloc(m->truth_copy, need * sizeof(float));
        if (!copy) { fprintf(stderr, "mixing layer: out of memory\n"); exit(EXIT_FAILURE); }
        m->truth_copy = copy;
        m->truth_copy_len = need;
    }
    mix_labels(net->truth, net->truths, batch, m->lambda, m->partner, m->truth_copy);
}

#ifdef GPU
void mixer_push_draws(mixer *m, int batch)
{
    mix_gpu_upload(m->lambda_gpu, m->lambda, sizeof(float) * (size_t)batch);
    mix_gpu_upload(m->partner_gpu, m->partner, sizeof(int) * (size_t)batch);
}

void mixer_mix_truth_gpu(mixer *m, const network *net, int batch)
{
    if (!net->truth || !net->truth_gpu) return;
    size_t need = (size_t)batch * net->truths;
    if (need > m->truth_copy_gpu_len) {   /* once, as truth_copy: truths is known after parsing */
        if (m->truth_copy_gpu) cuda_free(m->truth_copy_gpu);
        m->truth_copy_gpu = cuda_make_array(NULL, need);
        m->truth_copy_gpu_len = need;
    }
    mix_labels_gpu(net->truth_gpu, net->truths, batch, m->lambda_gpu, m->partner_gpu, m->truth_copy_gpu);
}
#endif

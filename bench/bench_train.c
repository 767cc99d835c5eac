/* bench_train: times Darknet training steps of a cfg on synthetic data (driven by bench/run.sh).
 *
 * Usage: bench_train CFG [--warmup N] [--steps N] [--profile N] [--seed S] [--pool P]
 *   Parses CFG after srand(S) (so every build starts from the same weights), makes P batches of
 *   synthetic images (uniform in [0,1)) with one-hot labels from its own generator, and calls
 *   train_network on one batch per step: N warm-up steps (default 2), N timed steps (default 5),
 *   then, in builds that have the per-layer profile (patch 0016; weak symbols, so the same source
 *   links against stock Darknet), N more steps with per-layer timing (default 0: none).
 *   No data loader, no disk: the steps measure Darknet's forward, backward and update only.
 * Output, one record per line:
 *   step I MS LOSS          every step, warm-up included (I from 1); MS wall time, LOSS Darknet's
 *                           loss for the step (the same from every build for the same seed)
 *   timed I                 steps 1..I were warm-up; the timed steps follow
 *   layer I NAME F B U      per layer: ms per step in forward, backward, update (profiled steps)
 *   maxrss_kb N             peak resident memory of this process (getrusage)
 *   threads N               threads of the build's pool (patch 0017), 1 without it
 *   openblas_threads N      OpenBLAS's own threads when it is loaded, else 0
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "darknet.h"

/* Present only in builds with patch 0016 (per-layer profile), 0017 (thread pool), OpenBLAS. */
#pragma weak network_profile_enable
#pragma weak network_profile_reset
#pragma weak network_profile_passes
#pragma weak network_profile_layer
#pragma weak openblas_get_num_threads
#pragma weak parallel_threads
void network_profile_enable(int on);
void network_profile_reset(void);
int  network_profile_passes(void);
int  network_profile_layer(int i, const char **name, double sec[3]);
int  openblas_get_num_threads(void);
int  parallel_threads(void);

static uint64_t rng_state;
static double uniform(void)
{   /* splitmix64: independent of rand(), which Darknet uses for its weights and dropout */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int arg_int(int argc, char **argv, const char *name, int def)
{
    for (int i = 2; i + 1 < argc; ++i)
        if (strcmp(argv[i], name) == 0) {
            char *end;
            long v = strtol(argv[i + 1], &end, 10);
            if (*end || v < 0) { fprintf(stderr, "bench_train: %s %s: not a count\n", name, argv[i + 1]); exit(2); }
            return (int)v;
        }
    return def;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: bench_train CFG [--warmup N] [--steps N] [--profile N] [--seed S] [--pool P]\n");
        return 2;
    }
    int warmup = arg_int(argc, argv, "--warmup", 2), steps = arg_int(argc, argv, "--steps", 5);
    int profile = arg_int(argc, argv, "--profile", 0), seed = arg_int(argc, argv, "--seed", 1);
    int pool = arg_int(argc, argv, "--pool", 4);
    if (pool < 1) pool = 1;

    gpu_index = -1;
    srand(seed);
    network *net = parse_network_cfg(argv[1]);
    int batch = net->batch * net->subdivisions, inputs = net->inputs, classes = net->truths;

    rng_state = (uint64_t)seed * 7919u + 17u;
    data d = {0};
    d.X = make_matrix(batch * pool, inputs);
    d.y = make_matrix(batch * pool, classes);
    for (int i = 0; i < batch * pool; ++i) {
        for (int k = 0; k < inputs; ++k) d.X.vals[i][k] = (float)uniform();
        d.y.vals[i][(int)(uniform() * classes) % classes] = 1;
    }
    data one = d;   /* one batch: rows [b*batch, (b+1)*batch) */
    one.X.rows = one.y.rows = batch;

    int total = warmup + steps + (network_profile_enable ? profile : 0);
    for (int s = 0; s < total; ++s) {
        if (s == warmup + steps) {
            network_profile_reset();
            network_profile_enable(1);
        }
        int b = s % pool;
        one.X.vals = d.X.vals + (size_t)b * batch;
        one.y.vals = d.y.vals + (size_t)b * batch;
        double t0 = now();
        float loss = train_network(net, one);
        double ms = 1e3 * (now() - t0);
        printf("step %d %.3f %.9g\n", s + 1, ms, loss);
        if (s + 1 == warmup) printf("timed %d\n", warmup);
        fflush(stdout);
    }
    if (network_profile_enable && profile > 0) {
        network_profile_enable(0);
        int passes = network_profile_passes();
        for (int i = 0; i < net->n; ++i) {
            const char *name;
            double sec[3];
            if (!network_profile_layer(i, &name, sec)) continue;
            printf("layer %d %s %.4f %.4f %.4f\n", i, name, 1e3 * sec[0] / passes,
                   1e3 * sec[1] / passes, 1e3 * sec[2] / passes);
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("maxrss_kb %ld\n", ru.ru_maxrss);
    printf("threads %d\n", parallel_threads ? parallel_threads() : 1);
    printf("openblas_threads %d\n", openblas_get_num_threads ? openblas_get_num_threads() : 0);
    free_data(d);
    free_network(net);
    return 0;
}

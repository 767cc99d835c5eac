/* test_gpu_equiv.c: the GPU path gives the CPU path's results (make gpu-check GPU=1, or
 * scripts/gpu-check.sh). Not part of `make test`, which needs no GPU: there
 * tests/integration/test_gpu_build.sh only compiles and links this program and checks that it
 * says it skipped.
 *
 *   test_gpu_equiv [cfg ...]
 *
 * Without a CUDA device it prints "skipped: no CUDA device (...)" and exits 0. Built without GPU=1
 * (tests/integration/test_gpu_equiv_selfcheck.sh) it checks itself instead: part 2 with both
 * networks on the CPU, which must agree exactly (weights copied, seeds, dropout, comparisons), then
 * says it skipped the GPU; exit 1 if the self-check failed. (A GPU build cannot do that without a
 * device: Darknet's GPU build allocates device buffers for some layers even with gpu_index -1.)
 * With a device:
 *
 * 1. Kernels: every kernel of plugin/mix_kernels.cu against its CPU twin in plugin/mix.c on the
 *    same random buffers and draws, with partners that repeat (pairing=same) and, for mixup's
 *    backward, both deltas in one buffer. Tolerance 0: they are written to round alike (mix_gpu.h).
 * 2. Networks: each built-in cfg below (one per plugin layer and their compositions) and each cfg
 *    given as an argument is parsed twice, for the CPU (gpu_index -1) and for GPU 0, with the
 *    same weights (saved from the CPU network, loaded into the GPU one) and the same seeds; one
 *    training forward + backward on the same batch, then:
 *      - every mixing layer's lambda and partners, and the mixed host labels: equal;
 *      - the device labels net.truth_gpu that the loss layer read: equal to the CPU's labels;
 *      - every layer's output and delta, and the weight and bias gradients of [convolutional]
 *        and [connected]: max |gpu - cpu| <= 1e-3 * max |cpu| over that buffer (Darknet's
 *        convolutions, batch norm and gemm differ between CPU and GPU in summation order);
 *      - the loss: relative difference <= 1e-4.
 *    [dropout] is turned off (probability 0) in both networks for this step only: its masks come
 *    from rand() on the CPU and from cuRAND on the GPU.
 * 3. Timing: training steps (forward, backward, update) per network on CPU and GPU, after 3
 *    warm-up steps, the median of 5 rounds of 10 steps; the GPU time includes the copies of the
 *    batch to the device that Darknet makes and a device synchronisation per round.
 *
 * Exit status 0 when everything matched (or skipped), 1 otherwise.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "darknet.h"
#include "mix.h"
#include "mixer.h"

#ifdef GPU
#include <cuda_runtime.h>

#include "cuda.h"
#include "mix_gpu.h"
#endif

/* The twin network runs on the GPU (else: on the CPU, the self-check). TWIN(x, f) is its buffer. */
static int use_gpu;
#ifdef GPU
#define TWIN(x, f) (use_gpu ? (x)->f##_gpu : (x)->f)
#else
#define TWIN(x, f) ((x)->f)
#endif

#define NET_TOL 1e-3      /* max |gpu - cpu| / max |cpu| per buffer */
#define COST_TOL 1e-4     /* relative */

static int failures;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!ok) ++failures;
}

static void fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    mix_rng r;
    mix_rng_seed(&r, seed);
    for (size_t i = 0; i < n; ++i) x[i] = lo + (hi - lo) * (float)mix_rng_uniform(&r);
}

static void fetch(void *x, const void *twin, size_t bytes);

#ifdef GPU
static float *to_device(const void *x, size_t bytes)
{
    float *d = NULL;
    if (cudaMalloc((void **)&d, bytes) != cudaSuccess) { fprintf(stderr, "cudaMalloc failed\n"); exit(1); }
    if (x) mix_gpu_upload(d, x, bytes);
    return d;
}

static void from_device(void *x, const void *d, size_t bytes)
{
    cudaError_t e = cudaMemcpy(x, d, bytes, cudaMemcpyDeviceToHost);
    if (e != cudaSuccess) { fprintf(stderr, "cudaMemcpy: %s\n", cudaGetErrorString(e)); exit(1); }
}
#endif

static void fetch(void *x, const void *twin, size_t bytes)
{
#ifdef GPU
    if (use_gpu) { from_device(x, twin, bytes); return; }
#endif
    memcpy(x, twin, bytes);
}

static void sync_twin(void)
{
#ifdef GPU
    if (use_gpu) cudaDeviceSynchronize();
#endif
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; ++i) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d;   /* NaN counts as the largest difference */
    }
    return m;
}

static double max_abs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; ++i) if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

/* ---- 1. kernels -------------------------------------------------------------------------------- */
#ifdef GPU

static void check_kernels(void)
{
    enum { B = 9, N = 37, T = 5, C = 3, H = 9, W = 11 };
    const size_t img = (size_t)C * H * W;
    mix_rng r;
    mix_rng_seed(&r, 11);
    /* labels with repeated classes, so pairing=same gives partners that repeat */
    float truth[B * T] = {0};
    for (int i = 0; i < B; ++i) truth[i * T + (i % 3)] = 1;
    float lambda[B];
    int partner[B], scratch[2 * B];
    mix_params p = {0.4f, 0.4f, MIX_MODE_SAMPLE, MIX_PAIR_SAME};
    mix_draw(&r, &p, truth, T, B, lambda, partner, scratch);
    int boxes[4 * B];
    for (int i = 0; i < B; ++i) mix_cutmix_box(&r, W, H, lambda[i], boxes + 4 * i);

    size_t big = img * B;
    float *a = malloc(sizeof(float) * big), *b = malloc(sizeof(float) * big), *d = malloc(sizeof(float) * big);
    float *out = malloc(sizeof(float) * big), *out2 = malloc(sizeof(float) * big);
    float *da = malloc(sizeof(float) * big), *db = malloc(sizeof(float) * big);
    fill_uniform(a, big, 1, -1, 1);
    fill_uniform(b, big, 2, -1, 1);
    fill_uniform(d, big, 3, -1, 1);
    fill_uniform(da, big, 4, -1, 1);
    fill_uniform(db, big, 5, -1, 1);
    float *a_g = to_device(a, sizeof(float) * big), *b_g = to_device(b, sizeof(float) * big);
    float *d_g = to_device(d, sizeof(float) * big), *out_g = to_device(NULL, sizeof(float) * big);
    float *da_g = to_device(da, sizeof(float) * big), *db_g = to_device(db, sizeof(float) * big);
    float *lambda_g = to_device(lambda, sizeof lambda);
    int *partner_g = (int *)to_device(partner, sizeof partner), *boxes_g = (int *)to_device(boxes, sizeof boxes);

    mix_forward(a, b, out, N, B, lambda, partner);
    mix_forward_gpu(a_g, b_g, out_g, N, B, lambda_g, partner_g);
    from_device(out2, out_g, sizeof(float) * N * B);
    double e = max_abs_diff(out, out2, (size_t)N * B);
    check(e == 0, "kernel mix_forward: max |gpu - cpu| = %g (must be 0)", e);

    mix_backward(d, da, db, N, B, lambda, partner);
    mix_backward_gpu(d_g, da_g, db_g, N, B, lambda_g, partner_g);
    from_device(out2, da_g, sizeof(float) * N * B);
    e = max_abs_diff(da, out2, (size_t)N * B);
    from_device(out2, db_g, sizeof(float) * N * B);
    double e2 = max_abs_diff(db, out2, (size_t)N * B);
    check(e == 0 && e2 == 0, "kernel mix_backward (repeated partners): max diff %g (delta_a), %g (delta_b)", e, e2);

    /* mixup: both inputs are one buffer */
    mix_backward(d, da, da, N, B, lambda, partner);
    mix_backward_gpu(d_g, da_g, da_g, N, B, lambda_g, partner_g);
    from_device(out2, da_g, sizeof(float) * N * B);
    e = max_abs_diff(da, out2, (size_t)N * B);
    check(e == 0, "kernel mix_backward (one buffer, as [mixup]): max diff %g", e);

    float t_cpu[B * T], t_gpu[B * T], t_scratch[B * T];
    float *t_g = to_device(truth, sizeof truth), *ts_g = to_device(NULL, sizeof truth);
    memcpy(t_cpu, truth, sizeof truth);
    mix_labels(t_cpu, T, B, lambda, partner, t_scratch);
    mix_labels_gpu(t_g, T, B, lambda_g, partner_g, ts_g);
    from_device(t_gpu, t_g, sizeof truth);
    e = max_abs_diff(t_cpu, t_gpu, (size_t)B * T);
    check(e == 0, "kernel mix_labels: max diff %g", e);

    mix_cutmix_forward(a, out, C, H, W, B, boxes, partner);
    mix_cutmix_forward_gpu(a_g, out_g, C, H, W, B, boxes_g, partner_g);
    from_device(out2, out_g, sizeof(float) * big);
    e = max_abs_diff(out, out2, big);
    check(e == 0, "kernel cutmix_forward (a box per sample): max diff %g", e);

    mix_gpu_upload(da_g, da, sizeof(float) * big);
    mix_cutmix_backward(d, da, C, H, W, B, boxes, partner);
    mix_cutmix_backward_gpu(d_g, da_g, C, H, W, B, boxes_g, partner_g);
    from_device(out2, da_g, sizeof(float) * big);
    e = max_abs_diff(da, out2, big);
    check(e == 0, "kernel cutmix_backward: max diff %g", e);

    void *dev[] = {a_g, b_g, d_g, out_g, da_g, db_g, lambda_g, partner_g, boxes_g, t_g, ts_g};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; ++i) cudaFree(dev[i]);
    free(a); free(b); free(d); free(out); free(out2); free(da); free(db);
}
#endif

/* ---- 2. networks ------------------------------------------------------------------------------- */

#define NET12 "[net]\nbatch=8\nwidth=12\nheight=12\nchannels=3\nlearning_rate=0.01\nmomentum=0.9\ndecay=0.0005\n"
#define CONV(f, bn) "[convolutional]\nfilters=" #f "\nsize=3\npad=1\nstride=1\nbatch_normalize=" #bn "\nactivation=leaky\n"
#define HEAD "[connected]\noutput=5\nactivation=linear\n[softmax]\n"

static const struct { const char *name, *text; } builtin_cfgs[] = {
    {"siamese (pairing=same, mode=sample, batch norm)",
     NET12 CONV(8, 1) "[maxpool]\nsize=2\nstride=2\n[branch]\n" CONV(8, 1) "[maxpool]\nsize=2\nstride=2\n"
     "[siamese]\nseed=3\nalpha=0.4\nmode=sample\npairing=same\n" HEAD},
    {"input mixup + manifold mixup group",
     NET12 "[mixup]\nseed=5\nalpha=1\n" CONV(8, 0) "[mixup]\ngroup=g\nseed=6\nmode=sample\n" CONV(8, 0)
     "[mixup]\ngroup=g\nseed=7\n[avgpool]\n" HEAD},
    {"cutmix (a box per sample)",
     NET12 "[cutmix]\nseed=8\nalpha=1\nmode=sample\n" CONV(8, 1) "[maxpool]\nsize=2\nstride=2\n" HEAD},
    {"mixup, then [branch] from=0 and [siamese] (pairing=other)",
     NET12 "[mixup]\nseed=2\nalpha=1\n" CONV(8, 0) CONV(8, 0) "[branch]\nfrom=0\n" CONV(8, 0)
     "[siamese]\nseed=4\npairing=other\n[avgpool]\n" HEAD},
};

static char *write_cfg(const char *text)
{
    const char *dir = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/gpu_equiv.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f || fputs(text, f) < 0 || fclose(f)) { perror(path); exit(1); }
    return path;
}

/* Darknet decides CPU or GPU buffers by the global gpu_index while parsing and loading. The twin
 * is initialised from another rand() seed: only the weights loaded into it make it equal. */
static network *parse_on(const char *cfg, int on_gpu, int twin)
{
#ifdef GPU
    if (on_gpu) cuda_set_device(0);
    else
#endif
        gpu_index = -1;
    srand(twin ? 2 : 1);
    network *net = parse_network_cfg((char *)cfg);
    net->gpu_index = on_gpu ? 0 : -1;
    return net;
}

static void reseed_mixers(network *net)
{
    for (int i = 0; i < net->n; ++i) {
        mixer *m = mixer_of(&net->layers[i]);
        if (m) mixer_reseed(m, 1000 + i);
    }
}

/* Sets every [dropout]'s probability to p (0: off), returning the old value of the first. */
static void set_dropout(network *net, const float *probs, float *saved)
{
    for (int i = 0; i < net->n; ++i) {
        layer *l = &net->layers[i];
        if (l->type != DROPOUT) continue;
        if (saved) saved[i] = l->probability;
        l->probability = probs ? probs[i] : 0;
        l->scale = 1.0f / (1.0f - l->probability);
    }
}

static void load_batch(network *net, const float *x, const float *y)
{
    memcpy(net->input, x, sizeof(float) * net->inputs * net->batch);
    memcpy(net->truth, y, sizeof(float) * net->truths * net->batch);
    net->train = 1;
}

static void train_step(network *net, const float *x, const float *y)
{
    load_batch(net, x, y);
    forward_network(net);
    backward_network(net);
    update_network(net);
}

/* compares one CPU buffer with its twin; returns the relative error */
static double compare_buffer(const float *cpu, const float *twin, size_t n, float *tmp)
{
    fetch(tmp, twin, sizeof(float) * n);
    double scale = max_abs(cpu, n);
    return max_abs_diff(cpu, tmp, n) / (scale > 0 ? scale : 1);
}

static double ms_per_step(network *net, const float *x, const float *y, int on_gpu)
{
    double rounds[5];
    for (int w = 0; w < 3; ++w) train_step(net, x, y);
    if (on_gpu) sync_twin();
    for (int k = 0; k < 5; ++k) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int s = 0; s < 10; ++s) train_step(net, x, y);
        if (on_gpu) sync_twin();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        rounds[k] = ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / 10;
    }
    for (int i = 0; i < 5; ++i)   /* median of 5 */
        for (int j = i + 1; j < 5; ++j)
            if (rounds[j] < rounds[i]) { double t = rounds[i]; rounds[i] = rounds[j]; rounds[j] = t; }
    return rounds[2];
}

/* tol: NET_TOL on the GPU, 0 in the self-check (the same code on the same data) */
static void check_network(const char *name, const char *cfg, double tol)
{
    printf("\n== %s (%s)\n", name, cfg);
    network *cpu = parse_on(cfg, 0, 0);
    char *weights = write_cfg("");
    save_weights(cpu, weights);          /* gpu_index is -1 here: nothing to pull */
    network *gpu = parse_on(cfg, use_gpu, 1);
    load_weights(gpu, weights);          /* on the GPU, gpu_index is 0 here: pushed to the device */
    unlink(weights);
    free(weights);
    if (cpu->n != gpu->n || cpu->inputs != gpu->inputs || cpu->truths != gpu->truths) {
        check(0, "the two parses differ");
        return;
    }

    size_t nx = (size_t)cpu->inputs * cpu->batch, ny = (size_t)cpu->truths * cpu->batch;
    float *x = malloc(sizeof(float) * nx), *y = calloc(ny, sizeof(float));
    fill_uniform(x, nx, 21, 0, 1);
    mix_rng r;
    mix_rng_seed(&r, 22);
    for (int i = 0; i < cpu->batch; ++i) y[(size_t)i * cpu->truths + mix_rng_below(&r, cpu->truths > 3 ? 3 : cpu->truths)] = 1;

    float *saved_p = calloc(cpu->n, sizeof(float));
    set_dropout(cpu, NULL, saved_p);
    set_dropout(gpu, NULL, NULL);
    reseed_mixers(cpu);
    reseed_mixers(gpu);
    load_batch(cpu, x, y);
    forward_network(cpu);
    backward_network(cpu);
    load_batch(gpu, x, y);
    forward_network(gpu);
    backward_network(gpu);
    sync_twin();

    const double cost_tol = tol > 0 ? COST_TOL : 0;
    double cost_rel = fabs((double)*gpu->cost - *cpu->cost) / fmax(fabs((double)*cpu->cost), 1e-12);
    check(cost_rel <= cost_tol, "loss: cpu %.6f %s %.6f (relative difference %.2g, tolerance %g)",
          *cpu->cost, use_gpu ? "gpu" : "twin", *gpu->cost, cost_rel, cost_tol);

    int draws_equal = 1, mixers = 0;
    for (int i = 0; i < cpu->n; ++i) {
        mixer *mc = mixer_of(&cpu->layers[i]), *mg = mixer_of(&gpu->layers[i]);
        if (!mc) continue;
        ++mixers;
        draws_equal &= !memcmp(mc->lambda, mg->lambda, sizeof(float) * cpu->batch)
                    && !memcmp(mc->partner, mg->partner, sizeof(int) * cpu->batch);
    }
    check(draws_equal, "lambda and partners of %d mixing layer(s): equal", mixers);
    double e = max_abs_diff(cpu->truth, gpu->truth, ny);
    check(e == 0, "host labels after mixing: max diff %g (must be 0)", e);
    float *t = malloc(sizeof(float) * ny);
    fetch(t, TWIN(gpu, truth), sizeof(float) * ny);
    e = max_abs_diff(cpu->truth, t, ny);
    check(e == 0, "%s: max diff %g from the CPU's (must be 0)",
          use_gpu ? "device labels (net.truth_gpu, read by the loss)" : "the twin's labels", e);
    free(t);

    double worst_out = -1, worst_delta = -1, worst_grad = -1;
    int worst_out_at = -1, worst_delta_at = -1, worst_grad_at = -1;
    for (int i = 0; i < cpu->n; ++i) {
        layer *lc = &cpu->layers[i], *lg = &gpu->layers[i];
        size_t n = (size_t)lc->outputs * lc->batch;
        float *tmp = malloc(sizeof(float) * (n > 1 ? n : 1));
        if (lc->output && TWIN(lg, output)) {
            double rel = compare_buffer(lc->output, TWIN(lg, output), n, tmp);
            if (!(rel <= worst_out)) { worst_out = rel; worst_out_at = i; }
        }
        if (lc->delta && TWIN(lg, delta)) {
            double rel = compare_buffer(lc->delta, TWIN(lg, delta), n, tmp);
            if (!(rel <= worst_delta)) { worst_delta = rel; worst_delta_at = i; }
        } else if (!lc->delta != !TWIN(lg, delta)) {
            check(0, "layer %d: delta on one path only (cpu %p, twin %p)", i, (void *)lc->delta, (void *)TWIN(lg, delta));
        }
        free(tmp);
        if ((lc->type == CONVOLUTIONAL || lc->type == CONNECTED) && TWIN(lg, weight_updates)) {
            size_t nw = lc->nweights ? (size_t)lc->nweights : (size_t)lc->inputs * lc->outputs;
            size_t nb = lc->type == CONVOLUTIONAL ? (size_t)lc->n : (size_t)lc->outputs;
            float *w = malloc(sizeof(float) * nw);
            double rel = compare_buffer(lc->weight_updates, TWIN(lg, weight_updates), nw, w);
            double relb = compare_buffer(lc->bias_updates, TWIN(lg, bias_updates), nb, w);
            if (relb > rel) rel = relb;
            if (!(rel <= worst_grad)) { worst_grad = rel; worst_grad_at = i; }
            free(w);
        }
    }
    check(worst_out <= tol, "outputs of all %d layers: worst max|twin-cpu|/max|cpu| = %.2g (layer %d; tolerance %g)",
          cpu->n, worst_out, worst_out_at, tol);
    check(worst_delta <= tol, "deltas of all layers: worst %.2g (layer %d; tolerance %g)",
          worst_delta, worst_delta_at, tol);
    check(worst_grad <= tol, "weight and bias gradients: worst %.2g (layer %d; tolerance %g)",
          worst_grad, worst_grad_at, tol);

    if (use_gpu) {
        set_dropout(cpu, saved_p, NULL);
        set_dropout(gpu, saved_p, NULL);
        double t_cpu = ms_per_step(cpu, x, y, 0), t_gpu = ms_per_step(gpu, x, y, 1);
        printf("time per training step (batch %d): CPU %.3f ms, GPU %.3f ms (%.1fx)\n", cpu->batch, t_cpu,
               t_gpu, t_cpu / t_gpu);
    }

    gpu_index = -1;
    free_network(cpu);
#ifdef GPU
    if (use_gpu) cuda_set_device(0);
#endif
    free_network(gpu);
    free(saved_p);
    free(x);
    free(y);
}

static void check_all_networks(int argc, char **argv, double tol)
{
    for (size_t i = 0; i < sizeof builtin_cfgs / sizeof *builtin_cfgs; ++i) {
        char *path = write_cfg(builtin_cfgs[i].text);
        check_network(builtin_cfgs[i].name, path, tol);
        unlink(path);
        free(path);
    }
    for (int i = 1; i < argc; ++i) check_network(argv[i], argv[i], tol);
}

#ifndef GPU
/* A CPU build: the comparison with both networks on the CPU, which must agree exactly (this checks
 * the program itself), then the skip message. */
static int self_check(int argc, char **argv, const char *why)
{
    printf("no CUDA device (%s): self-check, both networks on the CPU, tolerance 0\n", why);
    use_gpu = 0;
    check_all_networks(argc, argv, 0);
    printf("\nself-check %s: %d check(s) failed\n", failures ? "FAILED" : "passed", failures);
    printf("skipped: no CUDA device (%s); this program compares the CPU and GPU paths on a machine with a GPU\n", why);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    return self_check(argc, argv, "built without GPU=1");
}
#else
int main(int argc, char **argv)
{
    int devices = 0;
    cudaError_t err = cudaGetDeviceCount(&devices);
    if (err != cudaSuccess || devices == 0) {
        printf("skipped: no CUDA device (%s); this program compares the CPU and GPU paths on a machine "
               "with a GPU\n", err != cudaSuccess ? cudaGetErrorString(err) : "0 devices");
        return 0;
    }
    use_gpu = 1;
    struct cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 0);
    int rt = 0, drv = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    printf("device 0: %s (sm_%d%d), %d device(s); CUDA runtime %d, driver %d\n", prop.name, prop.major,
           prop.minor, devices, rt, drv);

    check_kernels();
    check_all_networks(argc, argv, NET_TOL);

    printf("\n%s: %d check(s) failed\n", failures ? "FAILED" : "passed", failures);
    return failures ? 1 : 0;
}
#endif

/* boundary: the poster's "Why does it work?" figure. Trains a baseline and a Siamese Ensemble made of
 * Darknet [connected] layers on a seeded 2-D toy set (two spirals or two moons) through libdarknet's
 * API, and writes one PNG: the predicted class over the plane with the training points, side by side
 * for the baseline, the Siamese Ensemble's branch A alone, branch B alone and the ensemble.
 *
 * Usage: boundary [--out FILE.png] [--set spirals|moons] [--points N] [--noise S] [--seed K]
 *                 [--steps N] [--hidden H] [--alpha A] [--size PX]
 *   --out     the figure                                              default boundary.png
 *   --set     two interleaved spirals, or two moons                  default spirals
 *   --points  training points per class                              default 80
 *   --noise   standard deviation of the Gaussian noise on each point  default 0.12 (plane: [-1,1]^2)
 *   --seed    the toy set (the plugin's xoshiro generator), Darknet's initialisation ([net] seed=) and the
 *             [siamese] layer's draws: same K, same figure            default 1
 *   --steps   training batches of 32 for each network                default 3000
 *   --hidden  units of each of the 3 hidden [connected] layers        default 48
 *   --alpha   the [siamese] layer's alpha                             default 0.4
 *   --size    pixels of one panel's side                              default 260
 * Both networks get the same steps, learning rate schedule and hidden layers: the baseline is
 * 3 x [connected] H (leaky) -> [connected] 2 -> [softmax]; the Siamese Ensemble has those hidden
 * layers twice, as branches A and B mixed by [siamese], and the same head. The test accuracy is on
 * 2,000 fresh points per class of the same set (generator seed K + 1000). Prints one line per panel
 * (train and test accuracy) and exits 1 with a message on bad options or a failed write.
 *
 * Example: build/tools/boundary --out results/boundary.png --set moons --seed 3
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert_common.h"   /* conv_write_png, conv_die */
#include "darknet.h"
#include "mix.h"

#define BATCH 32
#define PANELS 4
#define MARGIN 12
#define TITLE_H 38

typedef struct { float *x; float *y; int n; } toyset;   /* x: (n, 2) in [-1,1]; y: class 0/1 */

/* ---- the toy sets ------------------------------------------------------------------------------ */

static toyset make_toyset(const char *kind, int per_class, double noise, uint64_t seed)
{
    toyset t = { calloc((size_t)per_class * 4, sizeof(float)), calloc((size_t)per_class * 2, sizeof(float)),
                 per_class * 2 };
    if (!t.x || !t.y) conv_die("out of memory");
    mix_rng r;
    mix_rng_seed(&r, seed);
    for (int i = 0; i < t.n; ++i) {
        int c = i % 2;
        double px, py;
        if (!strcmp(kind, "spirals")) {
            /* radius grows with the angle: 1.75 turns, the second spiral rotated by pi */
            double s = sqrt(mix_rng_uniform(&r)), a = s * 1.75 * 2 * M_PI + c * M_PI;
            px = 0.9 * s * cos(a);
            py = 0.9 * s * sin(a);
        } else {
            double a = M_PI * mix_rng_uniform(&r);
            px = c ? 1 - cos(a) : cos(a);
            py = c ? 0.5 - sin(a) : sin(a);
            px = (px - 0.5) * 0.7;          /* [-1,2]x[-0.5,1] -> about [-1.05,1.05]x[-0.5,0.5] */
            py = (py - 0.25) * 0.7;
        }
        t.x[2 * i] = (float)(px + noise * mix_rng_normal(&r));
        t.x[2 * i + 1] = (float)(py + noise * mix_rng_normal(&r));
        t.y[i] = (float)c;
    }
    return t;
}

/* ---- the networks ------------------------------------------------------------------------------ */

static void write_cfg(const char *path, int siamese, int hidden, int steps, double alpha, uint64_t seed)
{
    FILE *f = fopen(path, "w");
    if (!f) conv_die("cannot write '%s': %s", path, strerror(errno));
    fprintf(f, "[net]\nbatch=%d\nwidth=1\nheight=1\nchannels=2\nlearning_rate=0.05\nmomentum=0.9\n"
               "decay=0.0001\npolicy=poly\npower=1\nmax_batches=%d\nseed=%d\n\n", BATCH, steps,
               (int)(seed % 2147483647u));
    for (int b = 0; b < (siamese ? 2 : 1); ++b) {
        for (int k = 0; k < 3; ++k) fprintf(f, "[connected]\noutput=%d\nactivation=leaky\n\n", hidden);
        if (siamese && b == 0) fprintf(f, "[branch]\n\n");
    }
    if (siamese) fprintf(f, "[siamese]\nalpha=%g\nseed=%llu\n\n", alpha, (unsigned long long)seed);
    fprintf(f, "[connected]\noutput=2\nactivation=linear\n\n[softmax]\n");
    if (ferror(f) | fclose(f)) conv_die("error writing '%s': %s", path, strerror(errno));
}

/* The cfg's [net] seed= (patch 0020) seeds the weights' initialisation and every training draw. */
static network *train(const char *cfg, const toyset *t, int steps, uint64_t seed)
{
    network *net = parse_network_cfg((char *)cfg);
    if (net->batch != BATCH || net->inputs != 2 || net->outputs != 2) conv_die("%s: unexpected network shape", cfg);
    int *order = malloc(sizeof(int) * (size_t)t->n);
    if (!order) conv_die("out of memory");
    for (int i = 0; i < t->n; ++i) order[i] = i;
    mix_rng r;
    mix_rng_seed(&r, seed * 7919 + 17);
    int at = t->n;
    for (int s = 0; s < steps; ++s) {
        for (int b = 0; b < BATCH; ++b) {
            if (at == t->n) {           /* a new epoch: a fresh permutation (Fisher-Yates) */
                for (int i = t->n - 1; i > 0; --i) {
                    int j = mix_rng_below(&r, i + 1), tmp = order[i];
                    order[i] = order[j];
                    order[j] = tmp;
                }
                at = 0;
            }
            int i = order[at++];
            net->input[2 * b] = t->x[2 * i];
            net->input[2 * b + 1] = t->x[2 * i + 1];
            net->truth[2 * b] = t->y[i] == 0;
            net->truth[2 * b + 1] = t->y[i] == 1;
        }
        float loss = train_network_datum(net);
        if (!isfinite(loss)) conv_die("%s: the loss became %g at step %d", cfg, loss, s);
    }
    free(order);
    return net;
}

/* P(class 1) at n points (n, 2), BATCH at a time (the last batch padded). */
static void predict(network *net, const float *x, int n, float *p1)
{
    float in[2 * BATCH];
    for (int s = 0; s < n; s += BATCH) {
        int m = n - s < BATCH ? n - s : BATCH;
        memset(in, 0, sizeof in);
        memcpy(in, x + 2 * (size_t)s, sizeof(float) * 2 * (size_t)m);
        float *out = network_predict(net, in);
        for (int b = 0; b < m; ++b) p1[s + b] = out[2 * b + 1];
    }
}

static double accuracy(network *net, const toyset *t)
{
    float *p = malloc(sizeof(float) * (size_t)t->n);
    if (!p) conv_die("out of memory");
    predict(net, t->x, t->n, p);
    int ok = 0;
    for (int i = 0; i < t->n; ++i) ok += (p[i] > 0.5f) == (t->y[i] == 1);
    free(p);
    return (double)ok / t->n;
}

/* ---- drawing ----------------------------------------------------------------------------------- */

/* 5x7 glyphs of the characters the titles use; each row's low 5 bits, top row first. */
static const struct { char c; unsigned char rows[7]; } FONT[] = {
    {'A', {14, 17, 17, 31, 17, 17, 17}}, {'B', {30, 17, 17, 30, 17, 17, 30}}, {'C', {14, 17, 16, 16, 16, 17, 14}},
    {'E', {31, 16, 16, 30, 16, 16, 31}}, {'H', {17, 17, 17, 31, 17, 17, 17}}, {'I', {14, 4, 4, 4, 4, 4, 14}},
    {'L', {16, 16, 16, 16, 16, 16, 31}}, {'M', {17, 27, 21, 21, 17, 17, 17}}, {'N', {17, 25, 21, 19, 17, 17, 17}},
    {'R', {30, 17, 17, 30, 20, 18, 17}}, {'S', {15, 16, 16, 14, 1, 1, 30}}, {'T', {31, 4, 4, 4, 4, 4, 4}},
    {'0', {14, 17, 19, 21, 25, 17, 14}}, {'1', {4, 12, 4, 4, 4, 4, 14}}, {'2', {14, 17, 1, 2, 4, 8, 31}},
    {'3', {31, 2, 4, 2, 1, 17, 14}}, {'4', {2, 6, 10, 18, 31, 2, 2}}, {'5', {31, 16, 30, 1, 1, 17, 14}},
    {'6', {6, 8, 16, 30, 17, 17, 14}}, {'7', {31, 1, 2, 4, 8, 8, 8}}, {'8', {14, 17, 17, 14, 17, 17, 14}},
    {'9', {14, 17, 17, 15, 1, 2, 12}}, {'.', {0, 0, 0, 0, 0, 12, 12}}, {'%', {24, 25, 2, 4, 8, 19, 3}},
};

typedef struct { unsigned char *px; int w, h; } canvas;

static void put(canvas *cv, int x, int y, const unsigned char rgb[3])
{
    if (x < 0 || y < 0 || x >= cv->w || y >= cv->h) return;
    memcpy(cv->px + 3 * ((size_t)y * cv->w + x), rgb, 3);
}

/* text in 2x scaled glyphs, centred on cx; characters without a glyph are spaces */
static void text(canvas *cv, int cx, int y, const char *s)
{
    static const unsigned char ink[3] = {30, 30, 30};
    int x = cx - (int)strlen(s) * 12 / 2;
    for (; *s; ++s, x += 12)
        for (size_t g = 0; g < sizeof FONT / sizeof FONT[0]; ++g)
            if (FONT[g].c == *s)
                for (int r = 0; r < 14; ++r)
                    for (int c = 0; c < 10; ++c)
                        if (FONT[g].rows[r / 2] >> (4 - c / 2) & 1) put(cv, x + c, y + r, ink);
}

/* One panel: P(class 1) shades the plane from blue (0) to orange (1), the 0.5 contour is dark,
 * training points are dots of their class's strong colour with a dark rim. */
static void panel(canvas *cv, int x0, int y0, int size, network *net, const toyset *t, const char *title,
                  const char *sub)
{
    static const unsigned char c0[3] = {70, 110, 200}, c1[3] = {235, 130, 40}, rim[3] = {20, 20, 20};
    float *xy = malloc(sizeof(float) * 2 * (size_t)size * size), *p = malloc(sizeof(float) * (size_t)size * size);
    if (!xy || !p) conv_die("out of memory");
    for (int j = 0; j < size; ++j)
        for (int i = 0; i < size; ++i) {
            xy[2 * ((size_t)j * size + i)] = -1.2f + 2.4f * (i + 0.5f) / size;
            xy[2 * ((size_t)j * size + i) + 1] = 1.2f - 2.4f * (j + 0.5f) / size;
        }
    predict(net, xy, size * size, p);
    for (int j = 0; j < size; ++j)
        for (int i = 0; i < size; ++i) {
            float q = p[(size_t)j * size + i];
            int side = q > 0.5f, edge = 0;
            if (i + 1 < size) edge |= (p[(size_t)j * size + i + 1] > 0.5f) != side;
            if (j + 1 < size) edge |= (p[(size_t)(j + 1) * size + i] > 0.5f) != side;
            unsigned char rgb[3];
            for (int k = 0; k < 3; ++k) {
                float mixed = (1 - q) * c0[k] + q * c1[k];
                rgb[k] = edge ? 40 : (unsigned char)(255 - 0.45f * (255 - mixed));   /* pale shades */
            }
            put(cv, x0 + i, y0 + j, rgb);
        }
    for (int n = 0; n < t->n; ++n) {
        int px = (int)lroundf((t->x[2 * n] + 1.2f) / 2.4f * size), py = (int)lroundf((1.2f - t->x[2 * n + 1]) / 2.4f * size);
        for (int dy = -2; dy <= 2; ++dy)
            for (int dx = -2; dx <= 2; ++dx) {
                if (px + dx < 0 || py + dy < 0 || px + dx >= size || py + dy >= size) continue;
                int border = abs(dx) == 2 || abs(dy) == 2;
                if (abs(dx) == 2 && abs(dy) == 2) continue;
                put(cv, x0 + px + dx, y0 + py + dy, border ? rim : (t->y[n] == 1 ? c1 : c0));
            }
    }
    text(cv, x0 + size / 2, y0 - TITLE_H + 2, title);
    text(cv, x0 + size / 2, y0 - TITLE_H + 20, sub);
    free(xy);
    free(p);
}

/* ---- main ------------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: boundary [--out FILE.png] [--set spirals|moons] [--points N] [--noise S] [--seed K]\n"
                    "                [--steps N] [--hidden H] [--alpha A] [--size PX]\n");
    exit(2);
}

static double num(const char *opt, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi))
        conv_die("%s %s: must be a number in [%g, %g]", opt, v, lo, hi);
    return x;
}

int main(int argc, char **argv)
{
    conv_prog = "boundary";
    const char *out = "boundary.png", *set = "spirals";
    int per_class = 80, steps = 3000, hidden = 48, size = 260;
    double noise = 0.12, alpha = 0.4;
    uint64_t seed = 1;
    for (int i = 1; i < argc; ++i) {
        const char *o = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(o, "--out")) out = v;
        else if (!strcmp(o, "--set")) {
            if (strcmp(v, "spirals") && strcmp(v, "moons")) conv_die("--set %s: must be spirals or moons", v);
            set = v;
        }
        else if (!strcmp(o, "--points")) per_class = (int)num(o, v, 8, 100000);
        else if (!strcmp(o, "--noise")) noise = num(o, v, 0, 1);
        else if (!strcmp(o, "--seed")) seed = (uint64_t)num(o, v, 0, 4294967295.0);
        else if (!strcmp(o, "--steps")) steps = (int)num(o, v, 1, 10000000);
        else if (!strcmp(o, "--hidden")) hidden = (int)num(o, v, 1, 4096);
        else if (!strcmp(o, "--alpha")) alpha = num(o, v, 1e-3, 1000);
        else if (!strcmp(o, "--size")) size = (int)num(o, v, 32, 2000);
        else usage();
    }
    size_t outlen = strlen(out);
    if (outlen < 5 || strcmp(out + outlen - 4, ".png")) conv_die("--out %s: the figure's name must end in .png", out);

    toyset train_set = make_toyset(set, per_class, noise, seed);
    toyset test_set = make_toyset(set, 2000, noise, seed + 1000);

    /* cfgs and the trained ensemble's weights in a private temporary folder */
    const char *tmp = getenv("TMPDIR");
    char dir[CONV_PATH], base_cfg[CONV_PATH + 32], se_cfg[CONV_PATH + 32], se_weights[CONV_PATH + 32];
    snprintf(dir, sizeof dir, "%s/boundary.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) conv_die("cannot make a temporary folder '%s': %s", dir, strerror(errno));
    snprintf(base_cfg, sizeof base_cfg, "%s/baseline.cfg", dir);
    snprintf(se_cfg, sizeof se_cfg, "%s/siamese.cfg", dir);
    snprintf(se_weights, sizeof se_weights, "%s/siamese.weights", dir);
    write_cfg(base_cfg, 0, hidden, steps, alpha, seed);
    write_cfg(se_cfg, 1, hidden, steps, alpha, seed);

    network *nets[PANELS];
    nets[0] = train(base_cfg, &train_set, steps, seed);
    nets[3] = train(se_cfg, &train_set, steps, seed);
    save_weights(nets[3], se_weights);
    /* each branch alone: the same weights, [siamese] at test_lambda 1 (A) and 0 (B) */
    setenv("SIAMESE_TEST_LAMBDA", "1", 1);
    nets[1] = load_network(se_cfg, se_weights, 0);
    setenv("SIAMESE_TEST_LAMBDA", "0", 1);
    nets[2] = load_network(se_cfg, se_weights, 0);
    unsetenv("SIAMESE_TEST_LAMBDA");
    unlink(base_cfg);
    unlink(se_cfg);
    unlink(se_weights);
    rmdir(dir);

    static const char *titles[PANELS] = {"BASELINE", "BRANCH A", "BRANCH B", "SIAMESE ENSEMBLE"};
    canvas cv = { NULL, PANELS * size + (PANELS + 1) * MARGIN, size + TITLE_H + 2 * MARGIN };
    cv.px = malloc((size_t)cv.w * cv.h * 3);
    if (!cv.px) conv_die("out of memory");
    memset(cv.px, 255, (size_t)cv.w * cv.h * 3);
    printf("%s, %d training points per class (noise %g, seed %llu), %d steps of %d, hidden %d, alpha %g\n",
           set, per_class, noise, (unsigned long long)seed, steps, BATCH, hidden, alpha);
    for (int k = 0; k < PANELS; ++k) {
        double tr = accuracy(nets[k], &train_set), te = accuracy(nets[k], &test_set);
        char sub[64];
        snprintf(sub, sizeof sub, "TEST %.1f%%", 100 * te);
        panel(&cv, MARGIN + k * (size + MARGIN), MARGIN + TITLE_H, size, nets[k], &train_set, titles[k], sub);
        printf("%-24s train %.2f%%  test %.2f%%\n", k == 0 ? "baseline" : k == 1 ? "Siamese branch A alone" :
               k == 2 ? "Siamese branch B alone" : "Siamese Ensemble", 100 * tr, 100 * te);
        free_network(nets[k]);
    }
    int err = conv_write_png(out, cv.w, cv.h, 3, cv.px);
    if (err) conv_die("cannot write '%s': %s", out, strerror(err));
    printf("wrote %s (%d x %d)\n", out, cv.w, cv.h);
    free(cv.px);
    free(train_set.x);
    free(train_set.y);
    free(test_set.x);
    free(test_set.y);
    return 0;
}

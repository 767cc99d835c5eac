/* make_dataset: writes a tiny, learnable image classification set in Darknet's classifier layout.
 *
 * Usage: make_dataset OUTDIR [--size S] [--train N] [--valid N] [--seed K] [--channels 1|3] [--mirror 1]
 *   Three classes of S x S images (default 16): horizontal stripes, vertical stripes and a centred
 *   blob, with random phase, contrast and noise. Writes OUTDIR/{train,valid}/<n>_<label>.png,
 *   labels.list, train.list, valid.list and tiny.data (classes=3, backup=OUTDIR/backup).
 *   Stripes survive Darknet's left-right flip, so the label is always still visible.
 *   --mirror 1: instead two classes that a left-right flip swaps (the bright half is on the left
 *   or on the right), to test [net] flip=0.
 * Each path is checked to contain exactly one label name, as Darknet's strstr label lookup needs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "darknet.h"
#include "mix.h"

static const char *const stripe_labels[] = {"hstripes", "vstripes", "blob"};
static const char *const mirror_labels[] = {"leftlit", "rightlit"};
static const char *const *labels = stripe_labels;
static int N_CLASSES = 3;
static int mirror;

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

static void draw(image im, int cls, mix_rng *r)
{
    float phase = (float)mix_rng_uniform(r) * 6.2832f, contrast = 0.3f + 0.2f * (float)mix_rng_uniform(r);
    float period = 3.0f + 2.0f * (float)mix_rng_uniform(r);
    for (int c = 0; c < im.c; ++c) {
        float base = 0.3f + 0.4f * (float)mix_rng_uniform(r);
        for (int y = 0; y < im.h; ++y)
            for (int x = 0; x < im.w; ++x) {
                float v;
                if (mirror) v = ((x < im.w / 2) == (cls == 0)) ? 1.0f : -1.0f;
                else if (cls == 0) v = sinf(6.2832f * y / period + phase);
                else if (cls == 1) v = sinf(6.2832f * x / period + phase);
                else {
                    float dx = x - im.w / 2.0f, dy = y - im.h / 2.0f;
                    v = (dx * dx + dy * dy < im.w * im.w / 10.0f) ? 1.0f : -1.0f;
                }
                float noise = 0.1f * (float)mix_rng_normal(r);
                im.data[c * im.w * im.h + y * im.w + x] = clamp01(base + contrast * v + noise);
            }
    }
}

static int count_labels(const char *path)
{
    int n = 0;
    for (int k = 0; k < N_CLASSES; ++k) if (strstr(path, labels[k])) ++n;
    return n;
}

static int write_split(const char *outdir, const char *split, int n, int size, int channels, mix_rng *r)
{
    char dir[4096], list[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/%s", outdir, split);
    mkdir(dir, 0755);
    snprintf(list, sizeof list, "%s/%s.list", outdir, split);
    FILE *f = fopen(list, "w");
    if (!f) { perror(list); return -1; }
    for (int i = 0; i < n; ++i) {
        int cls = i % N_CLASSES;
        image im = make_image(size, size, channels);
        draw(im, cls, r);
        snprintf(path, sizeof path, "%s/%05d_%s", dir, i, labels[cls]);
        save_image_options(im, path, PNG, 0);
        free_image(im);
        strncat(path, ".png", sizeof path - strlen(path) - 1);
        if (count_labels(path) != 1) {
            fprintf(stderr, "make_dataset: %s matches %d labels; choose another OUTDIR\n", path, count_labels(path));
            fclose(f);
            return -1;
        }
        fprintf(f, "%s\n", path);
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: make_dataset OUTDIR [--size S] [--train N] [--valid N] [--seed K] [--channels C]\n");
        return 2;
    }
    const char *outdir = argv[1];
    int size = 16, n_train = 300, n_valid = 150, seed = 1, channels = 3;
    for (int i = 2; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--size")) size = v;
        else if (!strcmp(argv[i], "--train")) n_train = v;
        else if (!strcmp(argv[i], "--valid")) n_valid = v;
        else if (!strcmp(argv[i], "--seed")) seed = v;
        else if (!strcmp(argv[i], "--channels")) channels = v;
        else if (!strcmp(argv[i], "--mirror")) mirror = v;
        else { fprintf(stderr, "make_dataset: unknown option %s\n", argv[i]); return 2; }
    }
    if (mirror) { labels = mirror_labels; N_CLASSES = 2; }
    mkdir(outdir, 0755);
    mix_rng r;
    mix_rng_seed(&r, (uint64_t)seed);
    if (write_split(outdir, "train", n_train, size, channels, &r)) return 1;
    if (write_split(outdir, "valid", n_valid, size, channels, &r)) return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/labels.list", outdir);
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); return 1; }
    for (int k = 0; k < N_CLASSES; ++k) fprintf(f, "%s\n", labels[k]);
    fclose(f);
    snprintf(path, sizeof path, "%s/backup", outdir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/tiny.data", outdir);
    f = fopen(path, "w");
    if (!f) { perror(path); return 1; }
    fprintf(f, "classes=%d\ntrain=%s/train.list\nvalid=%s/valid.list\nlabels=%s/labels.list\nbackup=%s/backup\ntop=1\n",
            N_CLASSES, outdir, outdir, outdir, outdir);
    fclose(f);
    return 0;
}

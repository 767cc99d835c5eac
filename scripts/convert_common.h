/* convert_common.h: what the dataset converters (fmnist2darknet.c, cifar2darknet.c) share.
 *
 * Header-only on purpose: the Makefile builds every .c file in scripts/ into a program of its own,
 * so a shared .c file would become a "tool" without main(). Every function is static and marked
 * unused, so a converter that needs only some of them still compiles -Wall -Wextra clean.
 *
 * The layout written under OUT (Darknet's classifier layout):
 *   OUT/train/NNNNN_LABEL.png   one PNG per chosen training image; NNNNN = its index in the source
 *   OUT/test/NNNNN_LABEL.png    one PNG per chosen test image
 *   OUT/labels.list             the class names, one a line, in class-number order
 *   OUT/train.list, valid.list  one image path a line (valid.list = the test images)
 *   OUT/NAME.data               classes=, train=, valid=, labels=, backup=OUT/backup, top=2
 *   OUT/backup/                 created, for `darknet classifier train`
 * Paths are written as --out spells them: a relative --out gives paths relative to the folder the
 * converter ran in (run it from the repository root, where Darknet runs), an absolute one gives
 * absolute paths. So the lists never contain the checkout's own location, which could hold a label
 * word (/home/bag...).
 *
 * Darknet finds an image's class by strstr of EVERY label name in the image's WHOLE path and
 * silently trains on a wrong truth when zero or several match, so every path is checked to contain
 * exactly one label name before it is written.
 */
#ifndef SCRIPTS_CONVERT_COMMON_H
#define SCRIPTS_CONVERT_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "darknet.h" /* fatal_exit */
#include "mix.h"   /* the plugin's seeded generator: reproducible on every platform */

#define CONV_FN static __attribute__((unused))
#define CONV_MAX_CLASSES 10
#define CONV_PATH 4096

/* Program name for messages; each converter sets it first thing in main(). */
static const char *conv_prog = "convert";

/* Print "prog: message" and exit 1: every data, file and output problem ends here. Through
 * Darknet's fatal_exit (status 1), which tells LeakSanitizer that a run stopped halfway holds no
 * leaks (`make test SAN=1` checks the runs that finish). */
CONV_FN __attribute__((noreturn, format(printf, 1, 2))) void conv_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", conv_prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fatal_exit();
}

CONV_FN double conv_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* snprintf that stops the program instead of silently cutting a path short. */
CONV_FN __attribute__((format(printf, 3, 4))) void conv_path(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size) conv_die("path too long (over %zu characters): %.80s...", size - 1, dst);
}

/* ---- options ---------------------------------------------------------------------------------- */

typedef struct conv_opts {
    const char *src, *out;
    int per_class, test_per_class;   /* 0 = all */
    uint64_t seed;
} conv_opts;

/* A whole non-negative integer within max, or a usage error (exit 2) naming the option. */
CONV_FN unsigned long long conv_parse_uint(const char *opt, const char *s, unsigned long long max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *s == '+' || *end || errno || v > max) {
        fprintf(stderr, "%s: %s %s: expected a whole number from 0 to %llu\n", conv_prog, opt, s, max);
        exit(2);
    }
    return v;
}

/* --src DIR --out DIR --per-class N --test-per-class N --seed K (also --opt=value), -h/--help.
 * usage: the text for --help and for usage errors (exit 2). */
CONV_FN void conv_parse_args(int argc, char **argv, conv_opts *o, const char *usage)
{
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage, stdout); exit(0); }
        char name[64];
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, a, len);
        name[len] = '\0';
        if (eq) v = eq + 1;
        else if (i + 1 < argc) v = argv[++i];
        if (strcmp(name, "--src") && strcmp(name, "--out") && strcmp(name, "--per-class") &&
            strcmp(name, "--test-per-class") && strcmp(name, "--seed")) {
            fprintf(stderr, "%s: unknown option '%s'\n%s", conv_prog, a, usage);
            exit(2);
        }
        if (!v) { fprintf(stderr, "%s: %s needs a value\n%s", conv_prog, name, usage); exit(2); }
        if (!strcmp(name, "--src")) o->src = v;
        else if (!strcmp(name, "--out")) o->out = v;
        else if (!strcmp(name, "--per-class")) o->per_class = (int)conv_parse_uint(name, v, 1000000);
        else if (!strcmp(name, "--test-per-class")) o->test_per_class = (int)conv_parse_uint(name, v, 1000000);
        else o->seed = conv_parse_uint(name, v, UINT64_MAX);
    }
    if (!*o->src || !*o->out) { fprintf(stderr, "%s: --src and --out must not be empty\n", conv_prog); exit(2); }
}

/* ---- labels and paths ------------------------------------------------------------------------- */

/* How many label names occur in path (Darknet's fill_truth rule); *which gets the last one. */
CONV_FN int conv_count_labels(const char *path, const char *const *labels, int n, int *which)
{
    int count = 0;
    for (int k = 0; k < n; ++k)
        if (strstr(path, labels[k])) { ++count; if (which) *which = k; }
    return count;
}

/* The label names that occur in s, space separated, for messages. */
CONV_FN const char *conv_labels_in(const char *s, const char *const *labels, int n)
{
    static char buf[512];
    buf[0] = '\0';
    for (int k = 0; k < n; ++k)
        if (strstr(s, labels[k]) && strlen(buf) + strlen(labels[k]) + 4 < sizeof buf)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s'%s'", buf[0] ? ", " : "", labels[k]);
    return buf;
}

/* All label names, space separated, for messages. */
CONV_FN const char *conv_join(const char *const *labels, int n)
{
    static char buf[512];
    buf[0] = '\0';
    for (int k = 0; k < n && strlen(buf) + strlen(labels[k]) + 2 < sizeof buf; ++k)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", k ? " " : "", labels[k]);
    return buf;
}

/* Label names become file names and Darknet substrings: plain [A-Za-z0-9_-] words, none inside
 * another (then that class's paths would match two labels). */
CONV_FN void conv_check_labels(const char *const *labels, int n, const char *origin)
{
    for (int k = 0; k < n; ++k) {
        const char *s = labels[k];
        if (!*s) conv_die("%s: class %d has an empty name", origin, k);
        for (const char *p = s; *p; ++p)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                  *p == '_' || *p == '-'))
                conv_die("%s: class name '%s' has the character '%c'; only letters, digits, '_' and '-' "
                         "can be part of a file name here", origin, s, *p);
        for (int j = 0; j < n; ++j)
            if (j != k && strstr(labels[j], s))
                conv_die("%s: class name '%s' is inside '%s': Darknet finds labels by substring, so "
                         "every '%s' image would match both", origin, s, labels[j], labels[j]);
    }
}

/* The folder part of every path, OUT/train/ and OUT/test/, must hold no label name: checked before
 * anything is read or written, with a message that says what to change. The whitespace check is for
 * the .data file: Darknet's read_data_cfg removes every space, tab and newline from its lines. */
CONV_FN void conv_check_out(const char *out, const char *const *labels, int n)
{
    for (const char *p = out; *p; ++p)
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            conv_die("--out '%s' contains whitespace: Darknet's .data reader deletes every space, tab and "
                     "newline, so its train=/valid=/backup= paths would be wrong; choose another --out", out);
    const char *splits[] = {"train", "test"};
    for (int s = 0; s < 2; ++s) {
        char dir[CONV_PATH];
        conv_path(dir, sizeof dir, "%s/%s/", out, splits[s]);
        if (conv_count_labels(dir, labels, n, NULL))
            conv_die("the output path '%s' contains the label name %s. Darknet takes an image's class from "
                     "every label name found anywhere in its path, so its images would match more than one "
                     "label. Choose an --out without any of: %s", dir, conv_labels_in(dir, labels, n),
                     conv_join(labels, n));
    }
}

/* mkdir -p, then a probe file, so an unwritable output folder is one clear message up front rather
 * than a failure at the first PNG. */
CONV_FN void conv_mkdirs(const char *dir)
{
    char p[CONV_PATH];
    conv_path(p, sizeof p, "%s", dir);
    for (char *s = p + 1; ; ++s) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            struct stat st;
            if (mkdir(p, 0755) && errno != EEXIST)
                conv_die("cannot create the output folder '%s': %s", p, strerror(errno));
            if (stat(p, &st) || !S_ISDIR(st.st_mode))
                conv_die("cannot create the output folder '%s': it exists and is not a folder", p);
            *s = c;
            if (!c) break;
        }
    }
}

CONV_FN void conv_prepare_out(const char *out)
{
    const char *sub[] = {"", "/train", "/test", "/backup"};
    char dir[CONV_PATH];
    for (int i = 0; i < 4; ++i) {
        conv_path(dir, sizeof dir, "%s%s", out, sub[i]);
        conv_mkdirs(dir);
    }
    conv_path(dir, sizeof dir, "%s/.write-test.XXXXXX", out);
    int fd = mkstemp(dir);
    if (fd < 0) conv_die("the output folder '%s' is not writable: %s", out, strerror(errno));
    close(fd);
    unlink(dir);
}

/* --out as it will appear in the lists: trailing slashes dropped (no "out//train"). */
CONV_FN char *conv_clean_out(const char *out)
{
    char *s = strdup(out);
    if (!s) conv_die("out of memory");
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/') s[--n] = '\0';
    return s;
}

/* ---- balanced, seeded subset ------------------------------------------------------------------ */

static int conv_cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Indices into y[0..n) (class numbers < n_classes): per_class of every class, or all when
 * per_class is 0. The choice is a partial Fisher-Yates shuffle of each class's indices in class
 * order with the seeded generator, so one seed always picks the same images; the result is sorted
 * (source order), so the lists are identical byte for byte. A class with too few images is an error. */
CONV_FN int *conv_choose(const uint8_t *y, int n, int n_classes, int per_class, uint64_t seed,
                         const char *const *labels, const char *what, int *count)
{
    int *chosen = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    int *pool = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!chosen || !pool) conv_die("out of memory");
    int m = 0;
    if (per_class == 0) {
        for (int i = 0; i < n; ++i) chosen[m++] = i;
    } else {
        mix_rng r;
        mix_rng_seed(&r, seed);
        for (int k = 0; k < n_classes; ++k) {
            int have = 0;
            for (int i = 0; i < n; ++i) if (y[i] == k) pool[have++] = i;
            if (have < per_class)
                conv_die("class '%s' has only %d %s images; --%sper-class %d asks for more",
                         labels[k], have, what, strcmp(what, "test") ? "" : "test-", per_class);
            for (int j = 0; j < per_class; ++j) {
                int pick = j + mix_rng_below(&r, have - j);
                int t = pool[j]; pool[j] = pool[pick]; pool[pick] = t;
                chosen[m++] = pool[j];
            }
        }
        qsort(chosen, (size_t)m, sizeof(int), conv_cmp_int);
    }
    free(pool);
    *count = m;
    return chosen;
}

/* ---- writing ---------------------------------------------------------------------------------- */

/* The pixels of source image `index` as interleaved 8-bit rows (w*h*c bytes); scratch holds
 * w*h*c bytes for a converter that must reorder (CIFAR stores planes). */
typedef const unsigned char *(*conv_pixels_fn)(const void *ctx, int index, unsigned char *scratch);

typedef struct conv_image_set {
    const uint8_t *y;        /* class of each source image */
    int n;                   /* source images */
    int w, h, c;
    conv_pixels_fn pixels;
    const void *ctx;
} conv_image_set;

/* An 8-bit PNG (c = 1 gray, 3 RGB) from interleaved rows, top first; 0 on success, else errno.
 * Our own 30 lines on zlib rather than Darknet's writers: save_image_options goes through floats
 * with truncation (255*v can land one below the byte), sprintf's the name into a 256-byte buffer and
 * reports no failure; its stbi_write_png sits in image.o, which pulls OpenCV's 250 shared libraries
 * into every converter start (0.13 s, most of a test run that starts the converters 30 times).
 * Any size (the buffers are allocated): scripts/boundary.c writes its figure with it too. */
CONV_FN int conv_write_png(const char *path, int w, int h, int c, const unsigned char *px)
{
    size_t row = (size_t)w * c, n_raw = (size_t)h * (row + 1);
    uLong bound = compressBound((uLong)n_raw);
    size_t cap = 8 + (12 + 13) + (12 + (size_t)bound) + 12;
    unsigned char *raw = malloc(n_raw), *file = malloc(cap);
    if (!raw || !file || w <= 0 || h <= 0 || (c != 1 && c != 3)) {
        int err = raw && file ? EINVAL : ENOMEM;
        free(raw);
        free(file);
        return err;
    }
    for (int y = 0; y < h; ++y) {        /* each row: filter type 0 (none), then its bytes */
        raw[(size_t)y * (row + 1)] = 0;
        memcpy(raw + (size_t)y * (row + 1) + 1, px + (size_t)y * row, row);
    }
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(file, sig, 8);
    size_t at = 8;
    int err = 0;
    /* chunk: length, type, data, CRC of type and data; all numbers big-endian */
#define CONV_BE32(p, v) ((p)[0] = (unsigned char)((v) >> 24), (p)[1] = (unsigned char)((v) >> 16), \
                         (p)[2] = (unsigned char)((v) >> 8), (p)[3] = (unsigned char)(v))
    unsigned char ihdr[13] = {0, 0, 0, 0, 0, 0, 0, 0, 8, c == 1 ? 0 : 2, 0, 0, 0};
    CONV_BE32(ihdr, (uint32_t)w);
    CONV_BE32(ihdr + 4, (uint32_t)h);
    const char *types[3] = {"IHDR", "IDAT", "IEND"};
    for (int k = 0; k < 3 && !err; ++k) {
        unsigned char *chunk = file + at;
        uLongf len = 0;
        memcpy(chunk + 4, types[k], 4);
        if (k == 0) { memcpy(chunk + 8, ihdr, 13); len = 13; }
        if (k == 1) {
            len = bound;
            if (compress2(chunk + 8, &len, raw, (uLong)n_raw, Z_DEFAULT_COMPRESSION) != Z_OK) { err = ENOMEM; break; }
        }
        CONV_BE32(chunk, (uint32_t)len);
        uLong crc = crc32(crc32(0L, Z_NULL, 0), chunk + 4, (uInt)len + 4);
        CONV_BE32(chunk + 8 + len, (uint32_t)crc);
        at += 12 + len;
    }
#undef CONV_BE32
    free(raw);
    if (!err) {
        FILE *f = fopen(path, "wb");
        if (!f) err = errno;
        else {
            size_t wrote = fwrite(file, 1, at, f);
            err = wrote == at ? 0 : errno ? errno : EIO;
            if (fclose(f) && !err) err = errno ? errno : EIO;
        }
    }
    free(file);
    return err;
}

/* Write a list file whole or not at all: an interrupted run never leaves half a list behind. */
CONV_FN FILE *conv_open_tmp(const char *path, char *tmp, size_t size)
{
    conv_path(tmp, size, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) conv_die("cannot write '%s': %s", tmp, strerror(errno));
    return f;
}

CONV_FN void conv_close_tmp(FILE *f, const char *tmp, const char *path)
{
    if (ferror(f) | fclose(f)) conv_die("error writing '%s': %s", tmp, strerror(errno));
    if (rename(tmp, path)) conv_die("cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
}

/* OUT/<split>/NNNNN_LABEL.png for every chosen index, and OUT/<list>: one line per image.
 * Every path is checked for exactly one label name (the class's own) before it is written.
 * counts[k] gets the images written per class. */
CONV_FN void conv_write_split(const char *out, const char *split, const char *list,
                              const conv_image_set *set, const int *idx, int n_idx,
                              const char *const *labels, int n_classes, int *counts)
{
    char path[CONV_PATH], lpath[CONV_PATH], tmp[CONV_PATH];
    conv_path(lpath, sizeof lpath, "%s/%s", out, list);
    FILE *f = conv_open_tmp(lpath, tmp, sizeof tmp);
    unsigned char *scratch = malloc((size_t)set->w * set->h * set->c);
    if (!scratch) conv_die("out of memory");
    for (int k = 0; k < n_classes; ++k) counts[k] = 0;
    for (int j = 0; j < n_idx; ++j) {
        int i = idx[j], k = set->y[i], which = -1;
        conv_path(path, sizeof path, "%s/%s/%05d_%s.png", out, split, i, labels[k]);
        int m = conv_count_labels(path, labels, n_classes, &which);
        if (m != 1 || which != k)
            conv_die("'%s' contains %s, but Darknet needs exactly one label name in an image's path ('%s'): "
                     "rename the classes or choose another --out",
                     path, m ? conv_labels_in(path, labels, n_classes) : "no label name", labels[k]);
        const unsigned char *px = set->pixels(set->ctx, i, scratch);
        int err = conv_write_png(path, set->w, set->h, set->c, px);
        if (err) conv_die("cannot write '%s': %s", path, strerror(err));
        fprintf(f, "%s\n", path);
        ++counts[k];
    }
    free(scratch);
    conv_close_tmp(f, tmp, lpath);
}

/* OUT/labels.list and OUT/<name>.data. Written last, so a .data file exists only for a complete set. */
CONV_FN void conv_write_meta(const char *out, const char *name, const char *const *labels, int n_classes)
{
    char path[CONV_PATH], tmp[CONV_PATH];
    conv_path(path, sizeof path, "%s/labels.list", out);
    FILE *f = conv_open_tmp(path, tmp, sizeof tmp);
    for (int k = 0; k < n_classes; ++k) fprintf(f, "%s\n", labels[k]);
    conv_close_tmp(f, tmp, path);

    conv_path(path, sizeof path, "%s/%s.data", out, name);
    f = conv_open_tmp(path, tmp, sizeof tmp);
    fprintf(f, "classes=%d\ntrain=%s/train.list\nvalid=%s/valid.list\nlabels=%s/labels.list\n"
               "backup=%s/backup\ntop=2\n", n_classes, out, out, out, out);
    conv_close_tmp(f, tmp, path);
}

/* Images per class of both splits, the time taken and how to use the result. */
CONV_FN void conv_summary(const char *out, const char *name, const char *const *labels, int n_classes,
                          const int *train_counts, const int *test_counts, double seconds)
{
    int tr = 0, te = 0;
    printf("%-12s %8s %8s\n", "class", "train", "test");
    for (int k = 0; k < n_classes; ++k) {
        printf("%-12s %8d %8d\n", labels[k], train_counts[k], test_counts[k]);
        tr += train_counts[k];
        te += test_counts[k];
    }
    printf("%-12s %8d %8d\n", "total", tr, te);
    printf("wrote %d PNGs in %.1f s: %s/%s.data\n", tr + te, seconds, out, name);
    if (out[0] != '/') {
        char cwd[CONV_PATH];
        printf("paths are relative to %s: run darknet from there\n", getcwd(cwd, sizeof cwd) ? cwd : "this folder");
    }
}

/* Before reading any input: the names and the output path (nothing is created yet, so a run
 * refused here or for a damaged input leaves no half-made output folder behind). */
CONV_FN void conv_start(const char *out, const char *const *labels, int n_classes, const char *origin)
{
    if (n_classes < 1 || n_classes > CONV_MAX_CLASSES)
        conv_die("%d classes: 1 to %d supported", n_classes, CONV_MAX_CLASSES);
    conv_check_labels(labels, n_classes, origin);
    conv_check_out(out, labels, n_classes);
}

/* The shared rest of a conversion, once the input is read and checked: choose the subsets (a class
 * too small stops here, before anything is written), create the output folders, write both splits,
 * the label list and OUT/<name>.data, print the summary. The test split is chosen with its own
 * stream (seed ^ a constant), so --test-per-class never changes which training images are picked. */
CONV_FN void conv_finish(const conv_opts *o, const char *out, const char *name, const char *const *labels,
                         int n_classes, const conv_image_set *train, const conv_image_set *test, double t0)
{
    int n_train, n_test, train_counts[CONV_MAX_CLASSES], test_counts[CONV_MAX_CLASSES];
    int *train_idx = conv_choose(train->y, train->n, n_classes, o->per_class, o->seed, labels, "training",
                                 &n_train);
    int *test_idx = conv_choose(test->y, test->n, n_classes, o->test_per_class, o->seed ^ 0x7465737473706c74ull,
                                labels, "test", &n_test);
    conv_prepare_out(out);
    conv_write_split(out, "train", "train.list", train, train_idx, n_train, labels, n_classes, train_counts);
    conv_write_split(out, "test", "valid.list", test, test_idx, n_test, labels, n_classes, test_counts);
    conv_write_meta(out, name, labels, n_classes);
    conv_summary(out, name, labels, n_classes, train_counts, test_counts, conv_now() - t0);
    free(train_idx);
    free(test_idx);
}

#endif

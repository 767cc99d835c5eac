/* cifar2darknet: converts the CIFAR-10 binary release into Darknet's classifier layout.
 *
 * Usage: cifar2darknet [--src DIR] [--out DIR] [--per-class N] [--test-per-class N] [--seed K]
 *   --src DIR            the unpacked "CIFAR-10 binary version (suitable for C programs)":
 *                        data_batch_1.bin .. data_batch_5.bin, test_batch.bin, batches.meta.txt
 *                                                                    default data/cifar-10-batches-bin
 *   --out DIR            where the set is written                                   default data/cifar-10
 *   --per-class N        N training images of every class, a seeded balanced choice; 0 = all 50,000
 *                                                                                             default 0
 *   --test-per-class N   the same for the 10,000 test images (valid.list)                    default 0
 *   --seed K             seeds the choice (the plugin's xoshiro generator)                   default 1
 * Each record of a .bin file is 1 label byte (0-9) and 3072 bytes: the 32x32 red, green and blue
 * planes, rows top first. Writes OUT/train/NNNNN_LABEL.png (NNNNN counts through data_batch_1..5 in
 * order) and OUT/test/NNNNN_LABEL.png as 32x32 RGB PNGs, OUT/labels.list, OUT/train.list,
 * OUT/valid.list (the test images) and OUT/cifar-10.data (classes=10, top=2, backup=OUT/backup).
 * List paths are written as --out spells them: run from the repository root with a relative --out.
 *
 * Class names come from batches.meta.txt (one a line; the fixed CIFAR-10 names when it is absent)
 * and are checked like every path: Darknet takes an image's class from every label name found in
 * its whole path, so each path must contain exactly one. A file whose size is not a whole number of
 * 3073-byte records or a label over 9 is an error naming the file; missing files print where the
 * release is downloaded from. Errors exit 1, usage errors 2.
 *
 * Example (from the repository root):
 *   mkdir -p data
 *   curl -L -o data/cifar-10-binary.tar.gz https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
 *   tar -xzf data/cifar-10-binary.tar.gz -C data        # makes data/cifar-10-batches-bin/
 *   build/tools/cifar2darknet --src data/cifar-10-batches-bin --out data/cifar-10 --per-class 1000
 */
#include "convert_common.h"

enum { N_CLASSES = 10, SIDE = 32, PLANE = SIDE * SIDE, RECORD = 1 + 3 * PLANE, N_TRAIN_FILES = 5 };

static const char *const fixed_labels[N_CLASSES] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

static const char download_help[] =
    "  This converter reads the CIFAR-10 binary version (suitable for C programs), about 160 MB:\n"
    "    https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz\n"
    "  Download and unpack it from the repository root, then convert:\n"
    "    mkdir -p data && curl -L -o data/cifar-10-binary.tar.gz "
    "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz\n"
    "    tar -xzf data/cifar-10-binary.tar.gz -C data    # makes data/cifar-10-batches-bin/\n"
    "    build/tools/cifar2darknet --src data/cifar-10-batches-bin --out data/cifar-10\n";

/* Records of one split, as stored (label byte + planes), and the labels on their own. */
typedef struct split { unsigned char *rec; uint8_t *y; int n; } split;

/* Appends every record of path to s; its size must be a whole, non-zero number of records. */
static void read_batch(const char *path, split *s)
{
    FILE *f = fopen(path, "rb");
    if (!f) conv_die("cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) conv_die("'%s' is not a regular file", path);
    if (st.st_size == 0 || st.st_size % RECORD)
        conv_die("'%s' has %lld bytes, not a whole number of %d-byte CIFAR-10 records (1 label + 3x32x32 "
                 "pixels): not the binary version, or cut short", path, (long long)st.st_size, RECORD);
    long long add = st.st_size / RECORD;
    if (s->n + add > 10000000) conv_die("'%s': too many records", path);
    s->rec = realloc(s->rec, (size_t)(s->n + add) * RECORD);
    s->y = realloc(s->y, (size_t)(s->n + add));
    if (!s->rec || !s->y) conv_die("out of memory");
    unsigned char *dst = s->rec + (size_t)s->n * RECORD;
    if (fread(dst, RECORD, (size_t)add, f) != (size_t)add)
        conv_die("error reading '%s': %s", path, ferror(f) ? strerror(errno) : "file shrank while read");
    fclose(f);
    for (long long r = 0; r < add; ++r) {
        uint8_t label = dst[r * RECORD];
        if (label >= N_CLASSES)
            conv_die("'%s': record %lld (byte offset %lld) has label %d; CIFAR-10 labels are 0-9 "
                     "(CIFAR-100's binary format differs)", path, r, r * RECORD, label);
        s->y[s->n + r] = label;
    }
    s->n += (int)add;
}

/* batches.meta.txt: the class names, one a line; surrounding whitespace and empty lines ignored.
 * Returns 0 when the file is absent (the fixed names are used then). */
static int read_meta(const char *path, char names[N_CLASSES][64])
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return 0;
        conv_die("cannot open '%s': %s", path, strerror(errno));
    }
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char *s = line, *e = line + strlen(line);
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') ++s;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) *--e = '\0';
        if (!*s) continue;
        if (n == N_CLASSES) conv_die("'%s' names more than %d classes", path, N_CLASSES);
        if (strlen(s) >= 64) conv_die("'%s': class name '%.20s...' is too long", path, s);
        strcpy(names[n++], s);
    }
    fclose(f);
    if (n != N_CLASSES) conv_die("'%s' names %d classes, CIFAR-10 has %d", path, n, N_CLASSES);
    return 1;
}

/* CIFAR stores the three colour planes one after the other; PNG wants RGBRGB... */
static const unsigned char *rgb_pixels(const void *ctx, int index, unsigned char *scratch)
{
    const unsigned char *rec = (const unsigned char *)ctx + (size_t)index * RECORD + 1;
    for (int p = 0; p < PLANE; ++p)
        for (int ch = 0; ch < 3; ++ch) scratch[3 * p + ch] = rec[ch * PLANE + p];
    return scratch;
}

int main(int argc, char **argv)
{
    conv_prog = "cifar2darknet";
    static const char usage[] =
        "usage: cifar2darknet [--src DIR] [--out DIR] [--per-class N] [--test-per-class N] [--seed K]\n"
        "  --src DIR            the unpacked CIFAR-10 binary version (default data/cifar-10-batches-bin)\n"
        "  --out DIR            output folder; list paths are written as given (default data/cifar-10)\n"
        "  --per-class N        N training images per class, seeded balanced choice; 0 = all (default 0)\n"
        "  --test-per-class N   the same for the test images in valid.list (default 0)\n"
        "  --seed K             seed of the choice (default 1)\n";
    conv_opts o = {"data/cifar-10-batches-bin", "data/cifar-10", 0, 0, 1};
    conv_parse_args(argc, argv, &o, usage);
    double t0 = conv_now();
    char *out = conv_clean_out(o.out);

    /* Every data file is looked for before anything else, so a missing release is one clear message. */
    char batch[N_TRAIN_FILES + 1][CONV_PATH], meta[CONV_PATH];
    for (int b = 0; b <= N_TRAIN_FILES; ++b) {
        if (b < N_TRAIN_FILES) conv_path(batch[b], sizeof batch[b], "%s/data_batch_%d.bin", o.src, b + 1);
        else conv_path(batch[b], sizeof batch[b], "%s/test_batch.bin", o.src);
        if (access(batch[b], F_OK))
            conv_die("'%s' not found (--src %s).\n%s", batch[b], o.src, download_help);
    }
    conv_path(meta, sizeof meta, "%s/batches.meta.txt", o.src);

    char names[N_CLASSES][64];
    const char *labels[N_CLASSES];
    int have_meta = read_meta(meta, names);
    for (int k = 0; k < N_CLASSES; ++k) labels[k] = have_meta ? names[k] : fixed_labels[k];
    if (!have_meta) fprintf(stderr, "%s: no '%s': using the CIFAR-10 class names\n", conv_prog, meta);
    conv_start(out, labels, N_CLASSES, have_meta ? meta : conv_prog);

    split train = {0}, test = {0};
    for (int b = 0; b < N_TRAIN_FILES; ++b) read_batch(batch[b], &train);
    read_batch(batch[N_TRAIN_FILES], &test);

    conv_image_set tr = {train.y, train.n, SIDE, SIDE, 3, rgb_pixels, train.rec};
    conv_image_set te = {test.y, test.n, SIDE, SIDE, 3, rgb_pixels, test.rec};
    conv_finish(&o, out, "cifar-10", labels, N_CLASSES, &tr, &te, t0);

    free(train.rec); free(train.y); free(test.rec); free(test.y);
    free(out);
    return 0;
}

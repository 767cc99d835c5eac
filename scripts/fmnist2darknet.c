/* fmnist2darknet: converts Fashion-MNIST (the four idx .gz files) into Darknet's classifier layout.
 *
 * Usage: fmnist2darknet [--src DIR] [--out DIR] [--per-class N] [--test-per-class N] [--seed K]
 *   --src DIR            folder with train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
 *                        t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (uncompressed files
 *                        without .gz work too)          default /usr/share/datasets/fashion-mnist
 *                        (Debian package dataset-fashion-mnist)
 *   --out DIR            where the set is written                     default data/fashion-mnist
 *   --per-class N        N training images of every class, a seeded balanced choice; 0 = all 60,000
 *                                                                                      default 0
 *   --test-per-class N   the same for the 10,000 test images (valid.list)             default 0
 *   --seed K             seeds the choice (the plugin's xoshiro generator: same K, same images
 *                        on every machine)                                            default 1
 * Writes OUT/train/NNNNN_LABEL.png and OUT/test/NNNNN_LABEL.png (28x28 8-bit grayscale; NNNNN is the
 * image's index in its idx file), OUT/labels.list, OUT/train.list, OUT/valid.list (the test images),
 * OUT/fashion-mnist.data (classes=10, top=2, backup=OUT/backup). List paths are written as --out
 * spells them: run from the repository root with a relative --out, as Darknet is run from there.
 * A cfg with [net] channels=1 reads them as 1-channel images (patches/0006); with channels=3
 * Darknet reads them as 3 equal channels.
 *
 * Class names: Darknet matches every label name as a substring of the whole image path, and
 * "shirt" is inside "tshirt", so class 0 (T-shirt/top) is called "tee". No name is inside another;
 * every path is checked to contain exactly one, and an --out containing one (".../shirt/...") is
 * refused. The idx files are checked: magic numbers, 28x28, equal image and label counts, labels
 * 0-9, truncated or corrupt gzip data; every error names the file and exits 1 (usage errors: 2).
 *
 * Example (from the repository root; all 70,000 images take about 5 s):
 *   build/tools/fmnist2darknet --out data/fashion-mnist --per-class 1000 --seed 1
 *   ./darknet classifier train data/fashion-mnist/fashion-mnist.data cfg/some.cfg
 */
#include "convert_common.h"   /* also zlib.h */

enum { N_CLASSES = 10, SIDE = 28, PIXELS = SIDE * SIDE, MAX_IMAGES = 1000000 };

/* Index = the class number in the idx label files. */
static const char *const labels[N_CLASSES] = {
    "tee",        /* 0 T-shirt/top: not "tshirt", which contains "shirt" (class 6) */
    "trouser",    /* 1 Trouser */
    "pullover",   /* 2 Pullover */
    "dress",      /* 3 Dress */
    "coat",       /* 4 Coat */
    "sandal",     /* 5 Sandal */
    "shirt",      /* 6 Shirt */
    "sneaker",    /* 7 Sneaker */
    "bag",        /* 8 Bag */
    "ankleboot",  /* 9 Ankle boot */
};

typedef struct idx_file {
    char path[CONV_PATH];
    gzFile g;
} idx_file;

/* DIR/NAME.gz, or DIR/NAME when only the uncompressed file is there (gzread reads both). */
static void idx_open(idx_file *f, const char *dir, const char *name)
{
    conv_path(f->path, sizeof f->path, "%s/%s.gz", dir, name);
    if (access(f->path, F_OK)) {
        char plain[CONV_PATH];
        conv_path(plain, sizeof plain, "%s/%s", dir, name);
        if (!access(plain, F_OK)) memcpy(f->path, plain, sizeof plain);
    }
    errno = 0;
    f->g = gzopen(f->path, "rb");
    if (!f->g)
        conv_die("cannot open '%s': %s\n  (Debian: apt-get install dataset-fashion-mnist; or --src FOLDER with "
                 "the four Fashion-MNIST idx .gz files)", f->path, errno ? strerror(errno) : "out of memory");
    gzbuffer(f->g, 1 << 18);
}

/* zlib's message starts with the file name again: drop it. */
static void idx_corrupt(const idx_file *f, const char *msg)
{
    size_t n = strlen(f->path);
    if (!strncmp(msg, f->path, n) && !strncmp(msg + n, ": ", 2)) msg += n + 2;
    conv_die("'%s' is corrupt: %s (damaged gzip data)", f->path, msg);
}

/* len bytes or a message that tells truncation from corruption. */
static void idx_read(idx_file *f, void *buf, size_t len, const char *what)
{
    unsigned char *p = buf;
    while (len) {
        unsigned chunk = len > (1u << 30) ? (1u << 30) : (unsigned)len;
        int r = gzread(f->g, p, chunk);
        int err;
        const char *msg = gzerror(f->g, &err);
        if (r < 0 || (err != Z_OK && err != Z_BUF_ERROR)) idx_corrupt(f, msg);
        if (r == 0 || (r < (int)chunk && err == Z_BUF_ERROR))
            conv_die("'%s' is truncated: it ends in the middle of %s%s", f->path, what,
                     err == Z_BUF_ERROR ? " (the gzip data stops early)" : "");
        p += r;
        len -= (size_t)r;
    }
}

static uint32_t idx_u32(idx_file *f, const char *what)
{
    unsigned char b[4];
    idx_read(f, b, 4, what);
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Reading one byte past the announced data: detects trailing garbage, and makes zlib check the
 * gzip trailer (CRC and length), which it does only at the end of the stream. */
static void idx_close(idx_file *f, const char *announced)
{
    unsigned char c;
    int r = gzread(f->g, &c, 1), err;
    const char *msg = gzerror(f->g, &err);
    if (r < 0 || (err != Z_OK && err != Z_BUF_ERROR)) idx_corrupt(f, msg);
    if (err == Z_BUF_ERROR) conv_die("'%s' is truncated: the gzip data stops before its end", f->path);
    if (r > 0) conv_die("'%s' has data after the %s its header announces: not an idx file?", f->path, announced);
    gzclose(f->g);
}

static void idx_magic(idx_file *f, uint32_t want, const char *kind)
{
    uint32_t m = idx_u32(f, "the header");
    if (m != want)
        conv_die("'%s': magic number 0x%08x, expected 0x%08x (%s): not a Fashion-MNIST %s file",
                 f->path, m, want, kind, want == 0x803 ? "images" : "labels");
}

static uint32_t idx_count(idx_file *f)
{
    uint32_t n = idx_u32(f, "the header");
    if (n == 0 || n > MAX_IMAGES)
        conv_die("'%s': header announces %u items, expected 1 to %d", f->path, n, MAX_IMAGES);
    return n;
}

/* One split: labels (checked 0-9) and images (checked 28x28, as many as labels). */
typedef struct split { uint8_t *y, *x; int n; } split;

static split load_split(const char *dir, const char *prefix)
{
    split s;
    idx_file f;
    char name[64];

    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    idx_open(&f, dir, name);
    idx_magic(&f, 0x801, "idx1, unsigned bytes");
    s.n = (int)idx_count(&f);
    s.y = malloc((size_t)s.n);
    if (!s.y) conv_die("out of memory");
    idx_read(&f, s.y, (size_t)s.n, "the labels");
    idx_close(&f, "labels");   /* first: a corrupt stream is reported as such, not as a bad label */
    for (int i = 0; i < s.n; ++i)
        if (s.y[i] >= N_CLASSES) conv_die("'%s': label %d of item %d is not a class 0-9", f.path, s.y[i], i);
    char label_path[CONV_PATH];
    memcpy(label_path, f.path, sizeof label_path);

    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    idx_open(&f, dir, name);
    idx_magic(&f, 0x803, "idx3, unsigned bytes");
    uint32_t n = idx_count(&f), rows = idx_u32(&f, "the header"), cols = idx_u32(&f, "the header");
    if (rows != SIDE || cols != SIDE) conv_die("'%s': images are %ux%u, expected 28x28", f.path, rows, cols);
    if ((int)n != s.n) conv_die("'%s' has %u images but '%s' has %d labels", f.path, n, label_path, s.n);
    s.x = malloc((size_t)s.n * PIXELS);
    if (!s.x) conv_die("out of memory");
    idx_read(&f, s.x, (size_t)s.n * PIXELS, "the images");
    idx_close(&f, "images");
    return s;
}

/* idx rows are already 8-bit grayscale, top row first: what the PNG writer takes. */
static const unsigned char *gray_pixels(const void *ctx, int index, unsigned char *scratch)
{
    (void)scratch;
    return (const unsigned char *)ctx + (size_t)index * PIXELS;
}

int main(int argc, char **argv)
{
    conv_prog = "fmnist2darknet";
    static const char usage[] =
        "usage: fmnist2darknet [--src DIR] [--out DIR] [--per-class N] [--test-per-class N] [--seed K]\n"
        "  --src DIR            Fashion-MNIST idx .gz files   (default /usr/share/datasets/fashion-mnist)\n"
        "  --out DIR            output folder; list paths are written as given (default data/fashion-mnist)\n"
        "  --per-class N        N training images per class, seeded balanced choice; 0 = all (default 0)\n"
        "  --test-per-class N   the same for the test images in valid.list (default 0)\n"
        "  --seed K             seed of the choice (default 1)\n";
    conv_opts o = {"/usr/share/datasets/fashion-mnist", "data/fashion-mnist", 0, 0, 1};
    conv_parse_args(argc, argv, &o, usage);
    double t0 = conv_now();
    char *out = conv_clean_out(o.out);

    conv_start(out, labels, N_CLASSES, conv_prog);

    /* The small test files first: a damaged one is reported without decompressing 47 MB before it. */
    split test = load_split(o.src, "t10k"), train = load_split(o.src, "train");

    conv_image_set tr = {train.y, train.n, SIDE, SIDE, 1, gray_pixels, train.x};
    conv_image_set te = {test.y, test.n, SIDE, SIDE, 1, gray_pixels, test.x};
    conv_finish(&o, out, "fashion-mnist", labels, N_CLASSES, &tr, &te, t0);


    free(train.y); free(train.x); free(test.y); free(test.x);
    free(out);
    return 0;
}

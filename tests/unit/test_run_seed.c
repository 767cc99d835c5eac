/* test_run_seed.c: seeded runs (patch 0020, [net] seed= and -seed).
 *
 * Darknet's per-thread generator (rand_next and everything built on it) repeats after a reseed and
 * does not depend on what other threads draw; an unseeded thread still gets rand()'s stream; a
 * seeded cfg initialises the same weights every time, -seed (set_network_seed) replaces the cfg's
 * seed, and mixing layers without seed= derive theirs from the run's seed and their index; the
 * classifier loader gives the same batch for the same (seed, load call), whatever the threads do.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>

#include "test_util.h"

#define DRAWS 1000

/* A mixed sequence of the draws layers and the loader make: integers, uniforms and an odd number
 * of normals (rand_normal keeps a spare value between calls). */
static void draw_sequence(float *out)
{
    for (int i = 0; i < DRAWS; ++i) {
        if (i % 3 == 0) out[i] = (float)rand_next();
        else if (i % 3 == 1) out[i] = rand_uniform(-1, 1);
        else out[i] = rand_normal();
    }
}

static void test_seeded_thread_repeats(void **state)
{
    (void)state;
    float a[DRAWS], b[DRAWS], c[DRAWS];
    rand_seed_thread(5);
    draw_sequence(a);
    rand_normal();                       /* leaves a spare value behind */
    rand_seed_thread(5);                 /* ... which the reseed must drop */
    draw_sequence(b);
    rand_seed_thread(6);
    draw_sequence(c);
    rand_unseed_thread();
    assert_memory_equal(a, b, sizeof a);
    int differ = 0;
    for (int i = 0; i < DRAWS; ++i) differ += a[i] != c[i];
    assert_true(differ > DRAWS * 9 / 10);
}

static void test_unseeded_thread_uses_rand(void **state)
{
    (void)state;
    rand_unseed_thread();
    int a[100], b[100];
    srand(123);
    for (int i = 0; i < 100; ++i) a[i] = rand_next();
    srand(123);
    for (int i = 0; i < 100; ++i) b[i] = rand();
    assert_memory_equal(a, b, sizeof a);
}

static void test_range_and_low_bits(void **state)
{
    (void)state;
    rand_seed_thread(11);
    int odd = 0, n = 20000, v;
    /* Darknet takes rand()%2 (flips) right after rand()%m (picks): both bits must look fair
     * and independent. Count odd values and pairs (v%2, next%2) equal. */
    int same = 0, prev = rand_next() % 2;
    for (int i = 0; i < n; ++i) {
        v = rand_next();
        assert_true(v >= 0 && v <= RAND_MAX);
        odd += v % 2;
        same += (v % 2) == prev;
        prev = v % 2;
    }
    rand_unseed_thread();
    /* binomial(20000, 1/2): sd 71; 5 sd */
    assert_true(abs(odd - n / 2) < 355);
    assert_true(abs(same - n / 2) < 355);
}

typedef struct { unsigned long long seed; int noise; float out[DRAWS]; } thread_job;

static void *seeded_thread(void *p)
{
    thread_job *j = p;
    rand_seed_thread(j->seed);
    for (int i = 0; i < DRAWS; ++i) {
        /* yield between draws so the threads interleave; a shared generator would mix them */
        if (j->noise) sched_yield();
        j->out[i] = rand_uniform(0, 1);
    }
    return 0;
}

static void test_threads_do_not_share(void **state)
{
    (void)state;
    thread_job jobs[4];
    pthread_t t[4];
    for (int k = 0; k < 4; ++k) {
        jobs[k].seed = rand_derive_seed(9, RAND_STREAM_LOAD, 0, k < 2 ? 0 : k);
        jobs[k].noise = k % 2;
        assert_int_equal(pthread_create(&t[k], 0, seeded_thread, &jobs[k]), 0);
    }
    srand(1);
    for (int i = 0; i < 5 * DRAWS; ++i) rand();    /* the main thread draws from rand() meanwhile */
    for (int k = 0; k < 4; ++k) pthread_join(t[k], 0);
    assert_memory_equal(jobs[0].out, jobs[1].out, sizeof jobs[0].out);
    int differ = 0;
    for (int i = 0; i < DRAWS; ++i) differ += jobs[0].out[i] != jobs[2].out[i];
    assert_true(differ > DRAWS * 9 / 10);
    /* parts and load calls get different seeds */
    assert_true(rand_derive_seed(9, RAND_STREAM_LOAD, 0, 1) != rand_derive_seed(9, RAND_STREAM_LOAD, 1, 0));
    assert_true(rand_derive_seed(9, RAND_STREAM_LOAD, 0, 0) != rand_derive_seed(9, RAND_STREAM_INIT, 0, 0));
}

static const char *seeded_cfg =
    "[net]\nbatch=4\nwidth=8\nheight=8\nchannels=3\n%s\n"
    "[convolutional]\nfilters=4\nsize=3\npad=1\nbatch_normalize=1\nactivation=leaky\n"
    "[branch]\n"
    "[convolutional]\nfilters=4\nsize=3\npad=1\nactivation=leaky\n"
    "[siamese]\n"
    "[dropout]\nprobability=0.3\n"
    "[connected]\noutput=3\nactivation=linear\n"
    "[softmax]\n";

static network *parse_with(const char *net_keys)
{
    char text[1024];
    snprintf(text, sizeof text, seeded_cfg, net_keys);
    return parse_cfg_text(text);
}

static int same_weights(network *a, network *b)
{
    for (int i = 0; i < a->n; ++i) {
        layer *x = &a->layers[i], *y = &b->layers[i];
        if (x->nweights && memcmp(x->weights, y->weights, sizeof(float) * x->nweights)) return 0;
        if (x->type == CONNECTED && memcmp(x->weights, y->weights, sizeof(float) * x->inputs * x->outputs)) return 0;
    }
    return 1;
}

static void test_seeded_cfg_initialises_the_same(void **state)
{
    (void)state;
    srand(1);
    network *a = parse_with("seed=3");
    srand(2);                                      /* rand() no longer matters */
    network *b = parse_with("seed=3");
    network *c = parse_with("seed=4");
    assert_true(a->seeded && a->seed == 3);
    assert_true(same_weights(a, b));
    assert_false(same_weights(a, c));
    /* the two branches still start differently */
    assert_memory_not_equal(a->layers[0].weights, a->layers[2].weights, sizeof(float) * a->layers[0].nweights);
    /* [siamese] (layer 3) has no seed=: its own from the run's seed and its index */
    mixer *m = mixer_of(&a->layers[3]);
    assert_non_null(m);
    assert_int_equal(m->cfg.seeded, MIXER_SEED_RUN);
    assert_true(m->cfg.seed == mix_derive_seed(3, 3));
    assert_true(mixer_of(&c->layers[3])->cfg.seed == mix_derive_seed(4, 3));
    assert_true(mix_derive_seed(3, 3) != mix_derive_seed(3, 4));

    /* -seed: replaces the cfg's seed (and seeds a cfg without one) */
    set_network_seed(3);
    network *d = parse_with("seed=4");
    network *e = parse_with("");
    set_network_seed(-1);
    assert_true(d->seeded && d->seed == 3 && e->seeded && e->seed == 3);
    assert_true(same_weights(a, d));
    assert_true(same_weights(a, e));

    /* no seed anywhere: rand() as before (srand decides), mixing layers from the clock */
    rand_unseed_thread();
    srand(77);
    network *f = parse_with("");
    srand(77);
    network *g = parse_with("");
    assert_false(f->seeded);
    assert_true(same_weights(f, g));
    assert_false(same_weights(a, f));
    assert_int_equal(mixer_of(&f->layers[3])->cfg.seeded, MIXER_SEED_CLOCK);
    network *nets[] = {a, b, c, d, e, f, g};
    for (int i = 0; i < 7; ++i) free_network(nets[i]);
}

static void test_derive_seed_in_key_range(void **state)
{
    (void)state;
    for (uint64_t s = 0; s < 50; ++s)
        for (uint64_t i = 0; i < 50; ++i) {
            uint64_t v = mix_derive_seed(s, i);
            assert_true(v < 2147483647u);
            assert_true(v == mix_derive_seed(s, i));
        }
}

/* ---- the classifier loader ------------------------------------------------------------------- */

static char *img_paths[6];
static char *labels[2] = {"cat", "dog"};

static int make_images(void **state)
{
    (void)state;
    const char *dir = getenv("TMPDIR");
    for (int i = 0; i < 6; ++i) {
        char base[4096];
        snprintf(base, sizeof base, "%s/seedimg_%d_%s", dir && *dir ? dir : "/tmp", i, labels[i % 2]);
        image im = make_image(12, 10, 3);
        fill(im.data, 12 * 10 * 3, 100 + i, 0.5f);
        for (int k = 0; k < 12 * 10 * 3; ++k) im.data[k] += 0.5f;
        save_image_options(im, base, PNG, 0);
        free_image(im);
        img_paths[i] = malloc(strlen(base) + 5);
        sprintf(img_paths[i], "%s.png", base);
    }
    return 0;
}

static int remove_images(void **state)
{
    (void)state;
    for (int i = 0; i < 6; ++i) { unlink(img_paths[i]); free(img_paths[i]); }
    return 0;
}

static data load_batch(int seeded, int seed, long seq, int threads)
{
    data d;
    load_args args = {0};
    args.type = CLASSIFICATION_DATA;
    args.paths = img_paths;
    args.m = 6;
    args.n = 24;
    args.labels = labels;
    args.classes = 2;
    args.threads = threads;
    args.w = args.h = args.size = 8;
    args.min = 8;
    args.max = 12;
    args.angle = 15;
    args.aspect = 1.2f;
    args.hue = 0.1f;
    args.saturation = 1.5f;
    args.exposure = 1.5f;
    args.seeded = seeded;
    args.seed = seed;
    args.seq = seq;
    args.d = &d;
    pthread_join(load_data(args), 0);
    return d;
}

static int same_data(data a, data b)
{
    if (a.X.rows != b.X.rows || a.X.cols != b.X.cols) return 0;
    for (int i = 0; i < a.X.rows; ++i) {
        if (memcmp(a.X.vals[i], b.X.vals[i], sizeof(float) * a.X.cols)) return 0;
        if (memcmp(a.y.vals[i], b.y.vals[i], sizeof(float) * a.y.cols)) return 0;
    }
    return 1;
}

static void test_loader_batches_repeat(void **state)
{
    (void)state;
    /* 8 threads load 3 images each: with a shared generator the picks and augmentations would
     * follow the order the threads ran in. */
    data a = load_batch(1, 7, 5, 8), b = load_batch(1, 7, 5, 8);
    data c = load_batch(1, 7, 6, 8), e = load_batch(1, 8, 5, 8);
    assert_true(same_data(a, b));
    assert_false(same_data(a, c));
    assert_false(same_data(a, e));
    data ds[] = {a, b, c, e};
    for (int i = 0; i < 4; ++i) free_data(ds[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeded_thread_repeats),
        cmocka_unit_test(test_unseeded_thread_uses_rand),
        cmocka_unit_test(test_range_and_low_bits),
        cmocka_unit_test(test_threads_do_not_share),
        cmocka_unit_test(test_seeded_cfg_initialises_the_same),
        cmocka_unit_test(test_derive_seed_in_key_range),
        cmocka_unit_test_setup_teardown(test_loader_batches_repeat, make_images, remove_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

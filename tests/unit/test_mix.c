/* test_mix.c: the mixing core (plugin/mix.c), op by op.
 *
 * Beta sampler: mean and variance within 5 standard errors for alpha in {0.1, 0.4, 1, 2, 8} and an
 * asymmetric pair, a Kolmogorov-Smirnov test against the exact Beta CDF, and millions of per-sample
 * draws for tiny alpha that must stay in [0,1] and never be NaN. Pairing: each rule keeps its
 * promise whenever the batch allows it. Kernels: hand-computed cases, including that backward adds.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mix.h"

/* ---- a reference Beta CDF: the regularized incomplete beta function I_x(a,b) ------------------ */

/* Continued fraction for I_x(a,b), evaluated with the modified Lentz method. */
static double betacf(double a, double b, double x)
{
    const double tiny = 1e-300, eps = 1e-15;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    if (fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m < 10000; ++m) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + num * d; if (fabs(d) < tiny) d = tiny;
        c = 1.0 + num / c; if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d; h *= d * c;
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + num * d; if (fabs(d) < tiny) d = tiny;
        c = 1.0 + num / c; if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < eps) break;
    }
    return h;
}

static double beta_cdf(double x, double a, double b)
{
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1.0) / (a + b + 2.0)) return front * betacf(a, b, x) / a;
    return 1.0 - front * betacf(b, a, 1.0 - x) / b;
}

static int cmp_double(const void *p, const void *q)
{
    double x = *(const double *)p, y = *(const double *)q;
    return (x > y) - (x < y);
}

static void check_beta(double a, double b, uint64_t seed)
{
    enum { N = 200000, N_KS = 20000 };
    mix_rng r;
    mix_rng_seed(&r, seed);
    double *x = malloc(sizeof(double) * N);
    double sum = 0;
    for (int i = 0; i < N; ++i) {
        x[i] = mix_sample_beta(&r, a, b);
        assert_false(isnan(x[i]));
        assert_true(x[i] >= 0.0 && x[i] <= 1.0);
        sum += x[i];
    }
    double mean = sum / N, ss = 0;
    for (int i = 0; i < N; ++i) ss += (x[i] - mean) * (x[i] - mean);
    double var = ss / (N - 1);
    double true_mean = a / (a + b), true_var = a * b / ((a + b) * (a + b) * (a + b + 1));
    /* SE(mean) = sd/sqrt(N); since |x - mu| <= 1, Var(sample var) <= true_var/N as well. */
    double se = sqrt(true_var / N);
    printf("    Beta(%g,%g): mean %.5f (exact %.5f, |d|/SE %.2f)  var %.5f (exact %.5f, |d|/SE %.2f)",
           a, b, mean, true_mean, fabs(mean - true_mean) / se, var, true_var, fabs(var - true_var) / se);
    assert_true(fabs(mean - true_mean) < 5 * se);
    assert_true(fabs(var - true_var) < 5 * se);

    /* KS on the first N_KS draws; the 0.1% critical value is 1.949/sqrt(n). */
    qsort(x, N_KS, sizeof(double), cmp_double);
    /* Small alpha puts about 1% of the mass within 1e-16 of 1, where doubles round to 1.0
     * exactly: treat tied samples as one step of the ECDF, from #(x < v)/n to #(x <= v)/n, and
     * compare its lower end with F just below v. */
    double dmax = 0;
    for (int i = 0; i < N_KS;) {
        int j = i;
        while (j + 1 < N_KS && x[j + 1] == x[i]) ++j;
        double f = beta_cdf(x[i], a, b), f_below = beta_cdf(nextafter(x[i], 0.0), a, b);
        double d1 = fabs((j + 1.0) / N_KS - f), d2 = fabs(f_below - (double)i / N_KS);
        if (d1 > dmax) dmax = d1;
        if (d2 > dmax) dmax = d2;
        i = j + 1;
    }
    double crit = 1.949 / sqrt((double)N_KS);
    printf("  KS D %.4f (critical %.4f)\n", dmax, crit);
    assert_true(dmax < crit);
    free(x);
}

static void test_beta_cdf_reference(void **state)
{
    (void)state;
    /* Known values: Beta(1,1) is uniform; Beta(2,2) CDF is 3x^2 - 2x^3; symmetric at 1/2. */
    assert_true(fabs(beta_cdf(0.3, 1, 1) - 0.3) < 1e-12);
    assert_true(fabs(beta_cdf(0.3, 2, 2) - (3 * 0.09 - 2 * 0.027)) < 1e-12);
    assert_true(fabs(beta_cdf(0.5, 0.1, 0.1) - 0.5) < 1e-10);
    assert_true(fabs(beta_cdf(0.2, 0.5, 0.5) - 2 / M_PI * asin(sqrt(0.2))) < 1e-10);
}

static void test_beta_alpha_0_1(void **state) { (void)state; check_beta(0.1, 0.1, 1); }
static void test_beta_alpha_0_4(void **state) { (void)state; check_beta(0.4, 0.4, 2); }
static void test_beta_alpha_1(void **state)   { (void)state; check_beta(1, 1, 3); }
static void test_beta_alpha_2(void **state)   { (void)state; check_beta(2, 2, 4); }
static void test_beta_alpha_8(void **state)   { (void)state; check_beta(8, 8, 5); }
static void test_beta_asymmetric(void **state) { (void)state; check_beta(0.5, 2.0, 6); }

/* Millions of per-sample draws, as mode=sample makes them, stored as float like the layer does. */
static void test_beta_tiny_alpha_never_nan(void **state)
{
    (void)state;
    const double alphas[] = {0.1, 0.01};
    mix_params p = {0, 0, MIX_MODE_SAMPLE, MIX_PAIR_SELF};
    enum { BATCH = 1000, ROUNDS = 2500 };  /* 2.5 million draws per alpha */
    float lambda[BATCH];
    int partner[BATCH], scratch[2 * BATCH];
    for (int k = 0; k < 2; ++k) {
        p.alpha = p.beta = (float)alphas[k];
        mix_rng r;
        mix_rng_seed(&r, 99);
        long zeros = 0, ones = 0;
        for (int round = 0; round < ROUNDS; ++round) {
            mix_draw(&r, &p, NULL, 0, BATCH, lambda, partner, scratch);
            for (int i = 0; i < BATCH; ++i) {
                if (isnan(lambda[i]) || lambda[i] < 0.0f || lambda[i] > 1.0f)
                    fail_msg("alpha=%g draw %d: lambda=%g", alphas[k], round * BATCH + i, lambda[i]);
                zeros += lambda[i] == 0.0f;
                ones += lambda[i] == 1.0f;
            }
        }
        printf("    alpha=%g: %d draws, all in [0,1], no NaN (%ld exactly 0, %ld exactly 1 in float)\n",
               alphas[k], BATCH * ROUNDS, zeros, ones);
    }
}

static void test_rng_reproducible(void **state)
{
    (void)state;
    mix_rng r1, r2, r3;
    mix_rng_seed(&r1, 42);
    mix_rng_seed(&r2, 42);
    mix_rng_seed(&r3, 43);
    int differ = 0;
    for (int i = 0; i < 1000; ++i) {
        uint64_t a = mix_rng_next(&r1), b = mix_rng_next(&r2), c = mix_rng_next(&r3);
        assert_true(a == b);
        differ += a != c;
    }
    assert_true(differ > 990);
}

static void test_rng_below_uniform(void **state)
{
    (void)state;
    enum { K = 7, N = 700000 };
    long count[K] = {0};
    mix_rng r;
    mix_rng_seed(&r, 5);
    for (int i = 0; i < N; ++i) {
        int v = mix_rng_below(&r, K);
        assert_true(v >= 0 && v < K);
        count[v]++;
    }
    double chi2 = 0, e = (double)N / K;
    for (int k = 0; k < K; ++k) chi2 += (count[k] - e) * (count[k] - e) / e;
    /* 6 degrees of freedom: P(chi2 > 22.46) = 0.001 */
    assert_true(chi2 < 22.46);
}

/* ---- pairing --------------------------------------------------------------------------------- */

static void one_hot(float *truth, const int *cls, int batch, int classes)
{
    memset(truth, 0, sizeof(float) * batch * classes);
    for (int i = 0; i < batch; ++i) truth[i * classes + cls[i]] = 1;
}

static void test_pairing_shuffle_is_permutation(void **state)
{
    (void)state;
    enum { B = 33 };
    mix_params p = {0.4f, 0.4f, MIX_MODE_BATCH, MIX_PAIR_SHUFFLE};
    float lambda[B];
    int partner[B], scratch[2 * B];
    mix_rng r;
    mix_rng_seed(&r, 1);
    int moved = 0;
    for (int t = 0; t < 100; ++t) {
        mix_draw(&r, &p, NULL, 0, B, lambda, partner, scratch);
        int seen[B] = {0};
        for (int i = 0; i < B; ++i) { assert_true(partner[i] >= 0 && partner[i] < B); seen[partner[i]]++; moved += partner[i] != i; }
        for (int i = 0; i < B; ++i) assert_int_equal(seen[i], 1);
        for (int i = 1; i < B; ++i) assert_true(lambda[i] == lambda[0]);   /* batch mode */
    }
    assert_true(moved > 100 * B / 2);
}

static void test_pairing_self(void **state)
{
    (void)state;
    enum { B = 8 };
    mix_params p = {0.4f, 0.4f, MIX_MODE_SAMPLE, MIX_PAIR_SELF};
    float lambda[B];
    int partner[B], scratch[2 * B];
    mix_rng r;
    mix_rng_seed(&r, 2);
    mix_draw(&r, &p, NULL, 0, B, lambda, partner, scratch);
    int distinct = 0;
    for (int i = 0; i < B; ++i) { assert_int_equal(partner[i], i); distinct += lambda[i] != lambda[0]; }
    assert_true(distinct > 0);   /* sample mode: one lambda per sample */
}

/* SAME: partner has i's class and is not i whenever i's class has another member; OTHER: partner
 * has another class whenever the batch has one. Random class layouts, including lone classes. */
static void test_pairing_same_other(void **state)
{
    (void)state;
    enum { B = 12, C = 5 };
    mix_rng r, layout;
    mix_rng_seed(&r, 3);
    mix_rng_seed(&layout, 4);
    float truth[B * C], lambda[B];
    int cls[B], partner[B], scratch[2 * B];
    for (int t = 0; t < 2000; ++t) {
        int classes_used = 1 + t % C;   /* t % C == 0: the whole batch is one class */
        for (int i = 0; i < B; ++i) cls[i] = mix_rng_below(&layout, classes_used);
        one_hot(truth, cls, B, C);
        for (int mode = 0; mode < 2; ++mode) {
            mix_params p = {1, 1, MIX_MODE_BATCH, mode ? MIX_PAIR_OTHER : MIX_PAIR_SAME};
            mix_draw(&r, &p, truth, C, B, lambda, partner, scratch);
            for (int i = 0; i < B; ++i) {
                int j = partner[i], same_avail = 0, other_avail = 0;
                assert_true(j >= 0 && j < B);
                for (int k = 0; k < B; ++k) if (k != i) { same_avail += cls[k] == cls[i]; other_avail += cls[k] != cls[i]; }
                if (!mode) {
                    assert_int_equal(cls[j], cls[i]);
                    if (same_avail) assert_true(j != i); else assert_int_equal(j, i);
                } else {
                    if (other_avail) assert_true(cls[j] != cls[i]);
                    else assert_true(j != i);
                }
            }
        }
    }
}

static void test_classes_argmax_of_soft_truth(void **state)
{
    (void)state;
    const float truth[] = {0.2f, 0.7f, 0.1f,   0.5f, 0.1f, 0.4f,   0.3f, 0.3f, 0.4f};
    int cls[3];
    mix_classes(truth, 3, 3, cls);
    assert_int_equal(cls[0], 1);
    assert_int_equal(cls[1], 0);
    assert_int_equal(cls[2], 2);
}

/* ---- kernels: hand-computed ------------------------------------------------------------------ */

static void test_forward_hand_computed(void **state)
{
    (void)state;
    /* batch 2, n 3; lambda (0.25, 1.0); partners (1, 0) */
    const float a[] = {1, 2, 3,   4, 5, 6};
    const float b[] = {10, 20, 30,   40, 50, 60};
    const float lambda[] = {0.25f, 1.0f};
    const int partner[] = {1, 0};
    float out[6];
    mix_forward(a, b, out, 3, 2, lambda, partner);
    const float want[] = {0.25f * 1 + 0.75f * 40, 0.25f * 2 + 0.75f * 50, 0.25f * 3 + 0.75f * 60,  4, 5, 6};
    for (int k = 0; k < 6; ++k) assert_float_equal(out[k], want[k], 1e-6);
}

static void test_backward_hand_computed_adds(void **state)
{
    (void)state;
    const float delta[] = {1, 2,   3, 4,   5, 6};
    const float lambda[] = {0.5f, 0.25f, 1.0f};
    const int partner[] = {2, 2, 0};          /* not a permutation: sample 2 is a partner twice */
    float da[6] = {100, 100, 100, 100, 100, 100}, db[6] = {0};
    mix_backward(delta, da, db, 2, 3, lambda, partner);
    const float want_a[] = {100.5f, 101, 100.75f, 101, 105, 106};
    /* db[2] = 0.5*(1,2) + 0.75*(3,4); db[0] = 0*(5,6); db[1] untouched */
    const float want_b[] = {0, 0, 0, 0, 0.5f + 2.25f, 1 + 3};
    for (int k = 0; k < 6; ++k) {
        assert_float_equal(da[k], want_a[k], 1e-6);
        assert_float_equal(db[k], want_b[k], 1e-6);
    }
    /* the same buffer for both inputs (mixup-style) and a NULL one */
    float dx[6] = {0};
    mix_backward(delta, dx, dx, 2, 3, lambda, partner);
    assert_float_equal(dx[4], 0.5f + 2.25f + 1.0f * 5, 1e-6);
    mix_backward(delta, NULL, db, 2, 3, lambda, partner);
    assert_float_equal(db[4], 2 * (0.5f + 2.25f), 1e-6);
}

static void test_labels_hand_computed(void **state)
{
    (void)state;
    float truth[] = {1, 0, 0,   0, 1, 0,   0, 0, 1};
    const float lambda[] = {0.7f, 0.7f, 0.7f};
    const int partner[] = {1, 2, 0};
    float scratch[9];
    mix_labels(truth, 3, 3, lambda, partner, scratch);
    const float want[] = {0.7f, 0.3f, 0,   0, 0.7f, 0.3f,   0.3f, 0, 0.7f};
    for (int k = 0; k < 9; ++k) assert_float_equal(truth[k], want[k], 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_beta_cdf_reference),
        cmocka_unit_test(test_beta_alpha_0_1),
        cmocka_unit_test(test_beta_alpha_0_4),
        cmocka_unit_test(test_beta_alpha_1),
        cmocka_unit_test(test_beta_alpha_2),
        cmocka_unit_test(test_beta_alpha_8),
        cmocka_unit_test(test_beta_asymmetric),
        cmocka_unit_test(test_beta_tiny_alpha_never_nan),
        cmocka_unit_test(test_rng_reproducible),
        cmocka_unit_test(test_rng_below_uniform),
        cmocka_unit_test(test_pairing_shuffle_is_permutation),
        cmocka_unit_test(test_pairing_self),
        cmocka_unit_test(test_pairing_same_other),
        cmocka_unit_test(test_classes_argmax_of_soft_truth),
        cmocka_unit_test(test_forward_hand_computed),
        cmocka_unit_test(test_backward_hand_computed_adds),
        cmocka_unit_test(test_labels_hand_computed),
    };
    return cmocka_run_group_tests_name("mix", tests, NULL, NULL);
}

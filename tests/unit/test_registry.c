/* test_registry.c: the layer-plugin hook (patches/0001-plugin-hook.patch, plugin/registry.c) and
 * the strict option helpers (plugin/options.c).
 *
 * Registration at run time: a [doubler] section defined here (forward 2*x, backward adds 2*delta,
 * resize/free/check callbacks that count their calls) is registered once; names already taken
 * (its own, the built-in [branch] and [siamese]) and malformed sections are refused, and a full
 * table refuses instead of overflowing. Host side, through parse_network_cfg on temporary cfg
 * files: the layer is PLUGIN, the generic keys are still read, forward/backward reach it with the
 * neighbouring layers' buffers, resize_network resizes it once and the layers after it follow,
 * free_network frees it once, the whole-network check runs once per layer; a bad key or an
 * unknown section ends parsing (in a child process) with exit status 1 and a message naming the
 * cfg, the layer and the key. plugin_parse_section called directly ignores unknown or malformed
 * headers. [branch]/[siamese] after an [avgpool] follow resize_network to a new size (the patch
 * removed its stop at the first [avgpool]) and still compute the right values afterwards.
 * Option helpers: accepted and rejected values for float, int, choice and int lists, defaults,
 * unknown keys against Darknet's generic ones, and the exact error message on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "test_util.h"

#include "darknet.h"
#include "list.h"
#include "option_list.h"
#include "plugin.h"
#include "siamese.h"

static const float TOL = 1e-6f;   /* elementwise float comparisons of values computed the same way */

/* ---- helpers: temporary files, captured stderr ------------------------------------------------ */

static char *temp_path(const char *stem)
{
    const char *dir = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/%s.XXXXXX", dir && *dir ? dir : "/tmp", stem);
    return path;
}

static char *read_whole_file(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - 1 - len, f)) > 0) {
        len += got;
        if (len == cap - 1) buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

/* stderr goes to a temporary file between capture_start and capture_stop (which returns what was
 * written, malloc'ed). No cmocka assertion may run in between: a failure would leave it redirected. */
static int saved_stderr = -1;
static char *capture_file;

static void capture_start(void)
{
    fflush(stderr);
    capture_file = temp_path("test_registry_err");
    int fd = mkstemp(capture_file);
    assert_true(fd >= 0);
    saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
}

static char *capture_stop(void)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    saved_stderr = -1;
    char *text = read_whole_file(capture_file);
    unlink(capture_file);
    free(capture_file);
    capture_file = NULL;
    return text;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle)) fail_msg("expected \"%s\" in:\n%s", needle, haystack);
}

/* ---- the [doubler] section ------------------------------------------------------------------- */

static int doubler_parses, doubler_resizes, doubler_frees, doubler_checks;
static int doubler_last_resize_w, doubler_last_resize_h;
static int doubler_freed_index = -1;     /* the index stored in plugin_state of the last freed one */
static int doubler_checked_index[8];

static void forward_doubler(const layer l, network net)
{
    for (int i = 0; i < l.batch * l.outputs; ++i) l.output[i] = 2 * net.input[i];
}

static void backward_doubler(const layer l, network net)
{
    if (!net.delta) return;
    for (int i = 0; i < l.batch * l.outputs; ++i) net.delta[i] += 2 * l.delta[i];
}

static int resize_doubler(layer *l, network *net, int w, int h)
{
    (void)net;
    ++doubler_resizes;
    doubler_last_resize_w = w;
    doubler_last_resize_h = h;
    l->w = l->out_w = w;
    l->h = l->out_h = h;
    l->inputs = l->outputs = w * h * l->c;
    l->output = realloc(l->output, sizeof(float) * l->batch * l->outputs);
    l->delta = realloc(l->delta, sizeof(float) * l->batch * l->outputs);
    return l->output && l->delta ? 0 : -1;
}

static void free_doubler(layer *l)
{
    ++doubler_frees;
    doubler_freed_index = *(int *)l->plugin_state;
    free(l->plugin_state);   /* output and delta are free_layer's */
}

static const plugin_layer_ops doubler_ops = {"doubler", resize_doubler, free_doubler};

static int parse_doubler(const plugin_section_args *a, layer *l)
{
    ++doubler_parses;
    if (plugin_opt_reject_unknown(a, NULL)) return -1;
    int *index = malloc(sizeof *index);
    *index = a->index;
    l->plugin = &doubler_ops;
    l->plugin_state = index;
    l->batch = a->batch;
    l->w = l->out_w = a->w;
    l->h = l->out_h = a->h;
    l->c = l->out_c = a->c;
    l->inputs = l->outputs = a->inputs;
    l->output = calloc((size_t)a->batch * a->inputs, sizeof(float));
    l->delta = calloc((size_t)a->batch * a->inputs, sizeof(float));
    l->forward = forward_doubler;
    l->backward = backward_doubler;
    return 0;
}

static int check_doubler(network *net, int index, const char *cfgfile)
{
    (void)cfgfile;
    if (net->layers[index].type != PLUGIN || net->layers[index].plugin != &doubler_ops) return -1;
    if (doubler_checks < 8) doubler_checked_index[doubler_checks] = index;
    ++doubler_checks;
    return 0;
}

static const plugin_section doubler_section = {"doubler", parse_doubler, check_doubler};

/* A broken plugin: its parse function "succeeds" without setting an ops table. */
static int parse_noops(const plugin_section_args *a, layer *l)
{
    (void)a;
    l->batch = 1;
    return 0;
}
static const plugin_section noops_section = {"noops", parse_noops, NULL};

/* Another broken plugin: its layers carry an ops table named after some other section, so checks
 * keyed by that name would silently run the wrong code or none. */
static void free_nothing(layer *l) { (void)l; }
static const plugin_layer_ops misnamed_ops = {"branch", NULL, free_nothing};
static int parse_misnamed(const plugin_section_args *a, layer *l)
{
    (void)a;
    l->plugin = &misnamed_ops;
    return 0;
}
static const plugin_section misnamed_section = {"misnamed", parse_misnamed, NULL};

static void test_parse_section_rejects_misnamed_ops(void **state)
{
    (void)state;
    capture_start();
    int reg = plugin_register_section(&misnamed_section);
    list *options = make_list();
    plugin_section_args a = {"direct.cfg", "[misnamed]", 2, 1, 4, 2, 2, 1, 1, NULL, options};
    layer l = {0};
    int r = plugin_parse_section(&a, &l);
    char *err = capture_stop();
    assert_int_equal(reg, 0);
    assert_int_equal(r, -1);
    assert_null(l.plugin);
    assert_contains(err, "direct.cfg: layer 2 [misnamed]: internal error: ops table is named [branch], not [misnamed]");
    free(err);
    free_list(options);
}

static void reset_doubler_counters(void)
{
    doubler_parses = doubler_resizes = doubler_frees = doubler_checks = 0;
    doubler_last_resize_w = doubler_last_resize_h = 0;
    doubler_freed_index = -1;
    memset(doubler_checked_index, 0xff, sizeof doubler_checked_index);
}

/* Registration is process-wide: done once, before any test, as a program would. */
static int register_sections(void **state)
{
    (void)state;
    if (plugin_register_section(&doubler_section) != 0) return -1;
    if (plugin_register_section(&noops_section) != 0) return -1;
    return 0;
}

/* ---- registration ---------------------------------------------------------------------------- */

static void test_register_and_find(void **state)
{
    (void)state;
    assert_ptr_equal(plugin_find_section("doubler"), &doubler_section);
    assert_ptr_equal(plugin_find_section("branch"), &branch_section);
    assert_ptr_equal(plugin_find_section("siamese"), &siamese_section);
    assert_null(plugin_find_section("bogus"));
    assert_null(plugin_find_section("[doubler]"));   /* bare names only */
    assert_null(plugin_find_section("Doubler"));
    assert_null(plugin_find_section(""));

    /* Names already taken: the same struct again, another struct with the name, the built-ins. */
    static const plugin_section again = {"doubler", parse_doubler, NULL};
    static const plugin_section fake_branch = {"branch", parse_doubler, NULL};
    static const plugin_section fake_siamese = {"siamese", parse_doubler, NULL};
    static const plugin_section no_parse = {"noparse", NULL, NULL};
    static const plugin_section no_name = {NULL, parse_doubler, NULL};
    static const plugin_section empty_name = {"", parse_doubler, NULL};
    static const plugin_section darknet_own = {"conv", parse_doubler, NULL};
    static const plugin_section bracketed = {"[x]", parse_doubler, NULL};
    static const plugin_section too_long = {"a234567890123456789012345678901234567890123456789012345678901234", parse_doubler, NULL};
    capture_start();
    assert_int_equal(plugin_register_section(&empty_name), -1);
    assert_int_equal(plugin_register_section(&darknet_own), -1);
    assert_int_equal(plugin_register_section(&bracketed), -1);
    assert_int_equal(plugin_register_section(&too_long), -1);
    free(capture_stop());
    capture_start();
    int r_same = plugin_register_section(&doubler_section);
    int r_again = plugin_register_section(&again);
    int r_branch = plugin_register_section(&fake_branch);
    int r_siamese = plugin_register_section(&fake_siamese);
    int r_null = plugin_register_section(NULL);
    int r_no_parse = plugin_register_section(&no_parse);
    int r_no_name = plugin_register_section(&no_name);
    char *err = capture_stop();
    assert_int_equal(r_same, -1);
    assert_int_equal(r_again, -1);
    assert_int_equal(r_branch, -1);
    assert_int_equal(r_siamese, -1);
    assert_int_equal(r_null, -1);
    assert_int_equal(r_no_parse, -1);
    assert_int_equal(r_no_name, -1);
    assert_contains(err, "[doubler] is already registered");
    assert_contains(err, "[branch] is already registered");
    free(err);

    /* Refusals changed nothing. */
    assert_ptr_equal(plugin_find_section("doubler"), &doubler_section);
    assert_ptr_equal(plugin_find_section("branch"), &branch_section);
    assert_ptr_equal(plugin_find_section("siamese"), &siamese_section);
    assert_null(plugin_find_section("noparse"));
}

/* ---- plugin_parse_section called directly ---------------------------------------------------- */

static plugin_section_args direct_args(const char *section, list *options)
{
    plugin_section_args a = {"direct.cfg", section, 3, 2, 4 * 5 * 1, 5, 4, 1, 1, NULL, options};
    return a;
}

static void test_parse_section_unknown_and_malformed(void **state)
{
    (void)state;
    char longname[200];
    longname[0] = '[';
    memset(longname + 1, 'a', 150);
    strcpy(longname + 151, "]");
    const char *headers[] = {"[bogus]", "bogus", "[]", "", "[", "]", "[doubler", "doubler]", "doubler",
                             "[[doubler]]", "[ doubler]", longname};
    list *options = make_list();
    reset_doubler_counters();
    for (size_t k = 0; k < sizeof headers / sizeof *headers; ++k) {
        layer l = {0};
        l.type = CONVOLUTIONAL;   /* a sentinel: *l must be left alone */
        l.batch = 77;
        plugin_section_args a = direct_args(headers[k], options);
        int r = plugin_parse_section(&a, &l);
        if (r != 0) fail_msg("header \"%s\": returned %d, want 0", headers[k], r);
        assert_int_equal(l.type, CONVOLUTIONAL);
        assert_int_equal(l.batch, 77);
    }
    assert_int_equal(doubler_parses, 0);
    free_list(options);
}

static void test_parse_section_direct_success_and_errors(void **state)
{
    (void)state;
    reset_doubler_counters();
    list *options = make_list();
    plugin_section_args a = direct_args("[doubler]", options);
    layer l = {0};
    assert_int_equal(plugin_parse_section(&a, &l), 1);
    assert_int_equal(doubler_parses, 1);
    assert_int_equal(l.type, PLUGIN);
    assert_ptr_equal(l.plugin, &doubler_ops);
    assert_int_equal(l.outputs, 20);
    assert_int_equal(l.out_w, 4);
    assert_int_equal(l.out_h, 5);
    free_layer(l);
    assert_int_equal(doubler_frees, 1);
    assert_int_equal(doubler_freed_index, 3);

    /* The parse function fails (unknown key): -1, *l untouched, message names cfg/layer/key. */
    option_insert(options, "factor", "3");
    layer l2 = {0};
    l2.batch = 77;
    capture_start();
    int r = plugin_parse_section(&a, &l2);
    char *err = capture_stop();
    assert_int_equal(r, -1);
    assert_int_equal(l2.batch, 77);
    assert_null(l2.plugin);
    assert_contains(err, "direct.cfg: layer 3 [doubler]: factor=3: unknown key for [doubler] (known: none)");
    free(err);
    free_list_contents(options);
    free_list(options);

    /* A parse function that sets no ops table is caught. */
    list *none = make_list();
    plugin_section_args b = direct_args("[noops]", none);
    layer l3 = {0};
    l3.batch = 77;
    capture_start();
    r = plugin_parse_section(&b, &l3);
    err = capture_stop();
    assert_int_equal(r, -1);
    assert_int_equal(l3.batch, 77);
    assert_contains(err, "direct.cfg: layer 3 [noops]: internal error: parse function set no ops table");
    free(err);
    free_list(none);
}

/* ---- through the host: parse, forward, backward, resize, free -------------------------------- */

static const char doubler_cfg[] =
    "[net]\nwidth=4\nheight=4\nchannels=1\nbatch=2\n\n"
    "[convolutional]\nfilters=1\nsize=1\nstride=1\npad=0\nactivation=linear\n\n"
    "[doubler]\nlearning_rate=0.5\nstopbackward=0\n\n"
    "[convolutional]\nfilters=2\nsize=3\nstride=1\npad=1\nactivation=linear\n\n"
    "[doubler]\n\n"
    "[avgpool]\n\n"
    "[softmax]\n";

static void fill_input(network *net, unsigned seed)
{
    for (int i = 0; i < net->inputs * net->batch; ++i)
        net->input[i] = (float)((i * 37u + seed * 11u) % 23u) / 23.0f - 0.4f;
}

static void assert_doubled(const layer *l, const float *input)
{
    for (int i = 0; i < l->batch * l->outputs; ++i)
        if (fabsf(l->output[i] - 2 * input[i]) > TOL)
            fail_msg("doubler output[%d] = %g, input %g", i, l->output[i], input[i]);
}

static void test_host_parse_forward_resize_free(void **state)
{
    (void)state;
    reset_doubler_counters();
    char *cfg = write_temp_cfg(doubler_cfg);
    network *net = parse_network_cfg(cfg);
    unlink(cfg);
    free(cfg);

    assert_int_equal(net->n, 6);
    assert_int_equal(doubler_parses, 2);
    assert_int_equal(net->layers[1].type, PLUGIN);
    assert_int_equal(net->layers[3].type, PLUGIN);
    assert_ptr_equal(net->layers[1].plugin, &doubler_ops);
    /* Darknet's generic keys are still read after the plugin's parse. */
    assert_float_equal(net->layers[1].learning_rate_scale, 0.5f, 1e-7);
    assert_float_equal(net->layers[3].learning_rate_scale, 1.0f, 1e-7);
    /* The whole-network check ran once per [doubler], after all layers existed. */
    assert_int_equal(doubler_checks, 2);
    assert_int_equal(doubler_checked_index[0], 1);
    assert_int_equal(doubler_checked_index[1], 3);
    /* The layer after a plugin layer gets its size. */
    assert_int_equal(net->layers[2].w, 4);
    assert_int_equal(net->layers[2].h, 4);
    assert_int_equal(net->layers[2].c, 1);
    assert_int_equal(net->layers[3].outputs, 4 * 4 * 2);

    /* forward: each doubler doubles the layer before it. */
    fill_input(net, 1);
    net->train = 1;
    forward_network(net);
    assert_doubled(&net->layers[1], net->layers[0].output);
    assert_doubled(&net->layers[3], net->layers[2].output);
    int nonzero = 0;
    for (int i = 0; i < net->layers[1].outputs * net->batch; ++i) nonzero += net->layers[1].output[i] != 0;
    assert_true(nonzero > 0);

    /* backward: the host hands the doubler the previous layer's delta. */
    layer *d = &net->layers[1];
    for (int i = 0; i < d->outputs * d->batch; ++i) d->delta[i] = 0.25f * (i % 5);
    float *saved = malloc(sizeof(float) * d->outputs * d->batch);
    memcpy(saved, d->delta, sizeof(float) * d->outputs * d->batch);
    memset(net->layers[2].delta, 0, sizeof(float) * net->layers[2].outputs * net->batch);
    memset(net->layers[4].delta, 0, sizeof(float) * net->layers[4].outputs * net->batch);
    memset(net->layers[5].delta, 0, sizeof(float) * net->layers[5].outputs * net->batch);
    memset(net->layers[0].delta, 0, sizeof(float) * net->layers[0].outputs * net->batch);
    backward_network(net);   /* deltas above layer 1 are zero: only the doubler feeds layer 0 */
    for (int i = 0; i < d->outputs * d->batch; ++i)
        if (fabsf(net->layers[0].delta[i] - 2 * saved[i]) > TOL)
            fail_msg("layer 0 delta[%d] = %g, want %g", i, net->layers[0].delta[i], 2 * saved[i]);
    free(saved);

    /* resize: each doubler's callback once, with the size of its input; later layers follow. */
    assert_int_equal(resize_network(net, 6, 6), 0);
    assert_int_equal(doubler_resizes, 2);
    assert_int_equal(doubler_last_resize_w, 6);
    assert_int_equal(doubler_last_resize_h, 6);
    assert_int_equal(net->inputs, 36);
    assert_int_equal(net->layers[1].out_w, 6);
    assert_int_equal(net->layers[1].outputs, 36);
    assert_int_equal(net->layers[2].w, 6);
    assert_int_equal(net->layers[2].h, 6);
    assert_int_equal(net->layers[2].out_w, 6);
    assert_int_equal(net->layers[2].out_h, 6);
    assert_int_equal(net->layers[2].outputs, 6 * 6 * 2);
    assert_int_equal(net->layers[3].outputs, 6 * 6 * 2);
    assert_int_equal(net->layers[4].inputs, 6 * 6 * 2);
    assert_int_equal(net->layers[5].outputs, 2);
    fill_input(net, 2);
    forward_network(net);
    assert_doubled(&net->layers[1], net->layers[0].output);
    assert_doubled(&net->layers[3], net->layers[2].output);

    /* free: each doubler's callback once. */
    free_network(net);
    assert_int_equal(doubler_frees, 2);
    assert_true(doubler_freed_index == 1 || doubler_freed_index == 3);
}

/* Parses cfg text in a child process with stderr captured; returns its exit status (or -1 if it
 * did not exit) and what it wrote to stderr in *err. */
static int parse_in_child(const char *text, char **cfg_out, char **err)
{
    char *cfg = write_temp_cfg(text);
    char *errfile = temp_path("test_registry_child");
    int fd = mkstemp(errfile);
    assert_true(fd >= 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd, STDERR_FILENO);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, STDOUT_FILENO);
        parse_network_cfg(cfg);
        _exit(99);   /* parsing should not have returned */
    }
    close(fd);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    *err = read_whole_file(errfile);
    unlink(errfile);
    free(errfile);
    unlink(cfg);
    *cfg_out = cfg;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_host_parse_errors_exit(void **state)
{
    (void)state;
    char *cfg, *err, want[4200];

    int rc = parse_in_child("[net]\nwidth=4\nheight=4\nchannels=1\n\n[convolutional]\nfilters=1\nsize=1\n\n"
                            "[doubler]\nfactor=3\n", &cfg, &err);
    assert_int_equal(rc, 1);
    snprintf(want, sizeof want, "%s:11: layer 1 [doubler]: factor=3: unknown key", cfg);
    assert_contains(err, want);
    free(cfg);
    free(err);

    rc = parse_in_child("[net]\nwidth=4\nheight=4\nchannels=1\n\n[convolutional]\nfilters=1\nsize=1\n\n"
                        "[bogus]\n", &cfg, &err);
    assert_int_equal(rc, 1);
    snprintf(want, sizeof want, "%s: unknown section [bogus] (layer 1)", cfg);
    assert_contains(err, want);
    free(cfg);
    free(err);

    /* A built-in's bad value, from a real cfg. */
    rc = parse_in_child("[net]\nwidth=4\nheight=4\nchannels=1\n\n[convolutional]\nfilters=1\nsize=1\n\n"
                        "[branch]\n\n[convolutional]\nfilters=1\nsize=1\n\n[siamese]\nalpha=abc\n", &cfg, &err);
    assert_int_equal(rc, 1);
    snprintf(want, sizeof want, "%s:17: layer 3 [siamese]: alpha=abc: not a number", cfg);
    assert_contains(err, want);
    free(cfg);
    free(err);
}

/* ---- [branch]/[siamese] after [avgpool], resized ---------------------------------------------- */

static void test_branch_siamese_resize_after_avgpool(void **state)
{
    (void)state;
    static const char text[] =
        "[net]\nwidth=6\nheight=6\nchannels=2\nbatch=2\n\n"
        "[convolutional]\nfilters=3\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"   /* 0 */
        "[avgpool]\n\n"                                                               /* 1 */
        "[branch]\n\n"                                                                /* 2 */
        "[convolutional]\nfilters=3\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"   /* 3 */
        "[avgpool]\n\n"                                                               /* 4 */
        "[siamese]\nseed=1\ntest_lambda=0.25\n\n"                                     /* 5 */
        "[branch]\nfrom=0\n\n"                                                        /* 6 */
        "[avgpool]\n\n"                                                               /* 7 */
        "[siamese]\nlayers=5,7\nseed=2\ntest_lambda=0.5\n\n"                          /* 8 */
        "[connected]\noutput=4\nactivation=linear\n\n"                                /* 9 */
        "[softmax]\n";                                                                /* 10 */
    char *cfg = write_temp_cfg(text);
    network *net = parse_network_cfg(cfg);
    unlink(cfg);
    free(cfg);
    assert_int_equal(net->n, 11);
    assert_int_equal(net->layers[2].type, PLUGIN);
    assert_int_equal(net->layers[2].outputs, 6 * 6 * 2);
    assert_int_equal(net->layers[6].outputs, 6 * 6 * 3);

    const int W = 10, H = 8;
    assert_int_equal(resize_network(net, W, H), 0);
    assert_int_equal(net->inputs, W * H * 2);

    /* [branch] (network input) follows the new network size, and so does branch B after it. */
    const layer *br = &net->layers[2];
    assert_int_equal(br->out_w, W);
    assert_int_equal(br->out_h, H);
    assert_int_equal(br->out_c, 2);
    assert_int_equal(br->outputs, W * H * 2);
    assert_int_equal(net->layers[3].w, W);
    assert_int_equal(net->layers[3].h, H);
    assert_int_equal(net->layers[3].outputs, W * H * 3);
    assert_int_equal(net->layers[4].inputs, W * H * 3);
    /* [branch] from=0 follows layer 0's new output size. */
    const layer *br2 = &net->layers[6];
    assert_int_equal(br2->out_w, W);
    assert_int_equal(br2->out_h, H);
    assert_int_equal(br2->out_c, 3);
    assert_int_equal(br2->outputs, W * H * 3);
    assert_int_equal(net->layers[7].inputs, W * H * 3);
    /* [siamese] matches its inputs. */
    for (int s = 5; s <= 8; s += 3) {
        const layer *sl = &net->layers[s];
        const siamese_state *st = sl->plugin_state;
        const layer *la = &net->layers[st->a];
        assert_int_equal(sl->out_w, la->out_w);
        assert_int_equal(sl->out_h, la->out_h);
        assert_int_equal(sl->out_c, la->out_c);
        assert_int_equal(sl->outputs, la->outputs);
        assert_int_equal(sl->outputs, net->layers[st->b].outputs);
    }

    /* And the resized network computes the right values (inference: fixed test_lambda). */
    net->train = 0;
    fill_input(net, 3);
    forward_network(net);
    for (int i = 0; i < W * H * 2 * net->batch; ++i)
        if (fabsf(br->output[i] - net->input[i]) > 0)
            fail_msg("branch output[%d] = %g, network input %g", i, br->output[i], net->input[i]);
    for (int i = 0; i < W * H * 3 * net->batch; ++i)
        assert_float_equal(br2->output[i], net->layers[0].output[i], 0);
    const float lambdas[2] = {0.25f, 0.5f};
    for (int k = 0; k < 2; ++k) {
        const layer *sl = &net->layers[k ? 8 : 5];
        const siamese_state *st = sl->plugin_state;
        const float *a = net->layers[st->a].output, *b = net->layers[st->b].output;
        for (int i = 0; i < sl->outputs * net->batch; ++i)
            assert_float_equal(sl->output[i], lambdas[k] * a[i] + (1 - lambdas[k]) * b[i], TOL);
    }
    free_network(net);
}

/* ---- option helpers -------------------------------------------------------------------------- */

/* The args a parse function gets: section as the bare name, as plugin_parse_section passes it. */
static plugin_section_args opt_args(list *options)
{
    plugin_section_args a = {"cfg/opts.cfg", "mysec", 7, 2, 16, 4, 4, 1, 1, NULL, options};
    return a;
}

/* A fresh options list with one key=value (key and value are not copied; free with free_opts). */
static list *one_opt(const char *key, const char *val)
{
    list *l = make_list();
    option_insert(l, (char *)key, (char *)val);
    return l;
}

static void free_opts(list *l)
{
    free_list_contents(l);
    free_list(l);
}

static int float_of(const char *val, float *out)
{
    list *l = one_opt("x", val);
    plugin_section_args a = opt_args(l);
    capture_start();
    int r = plugin_opt_float(&a, "x", 123.0f, out);
    free(capture_stop());
    free_opts(l);
    return r;
}

static int int_of(const char *val, int *out)
{
    list *l = one_opt("x", val);
    plugin_section_args a = opt_args(l);
    capture_start();
    int r = plugin_opt_int(&a, "x", 123, out);
    free(capture_stop());
    free_opts(l);
    return r;
}

static void test_opt_float(void **state)
{
    (void)state;
    float v;
    assert_int_equal(float_of("0.25", &v), 0);
    assert_float_equal(v, 0.25f, 0);
    assert_int_equal(float_of("1e-3", &v), 0);
    assert_float_equal(v, 1e-3f, 1e-10);
    assert_int_equal(float_of("-2", &v), 0);
    assert_float_equal(v, -2.0f, 0);
    assert_int_equal(float_of("3e38", &v), 0);
    assert_float_equal(v, 3e38f, 1e31);

    const char *bad[] = {"abc", "1.5x", "", "inf", "-inf", "nan", "1e40", "-1e40", "0.5 ", "1,5", "--1",
                         "1e-310", "1e-40"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; ++k) {
        v = 42.0f;
        int r = float_of(bad[k], &v);
        if (r != -1) fail_msg("float \"%s\" accepted (%g)", bad[k], v);
    }

    /* absent: the default, and the list is not touched */
    list *l = one_opt("y", "5");
    plugin_section_args a = opt_args(l);
    assert_int_equal(plugin_opt_float(&a, "x", 0.4f, &v), 0);
    assert_float_equal(v, 0.4f, 0);
    assert_int_equal(((kvp *)l->front->val)->used, 0);
    /* present: read and marked used, so Darknet does not report it as an unused field */
    assert_int_equal(plugin_opt_float(&a, "y", 0.4f, &v), 0);
    assert_float_equal(v, 5.0f, 0);
    assert_int_equal(((kvp *)l->front->val)->used, 1);
    free_opts(l);
}

static void test_opt_int(void **state)
{
    (void)state;
    int v;
    assert_int_equal(int_of("-2", &v), 0);
    assert_int_equal(v, -2);
    assert_int_equal(int_of("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(int_of("2147483647", &v), 0);
    assert_int_equal(v, 2147483647);
    assert_int_equal(int_of("-2147483647", &v), 0);
    assert_int_equal(v, -2147483647);
    assert_int_equal(int_of("-2147483648", &v), 0);
    assert_int_equal(v, INT_MIN);

    const char *bad[] = {"2.5", "99999999999", "2147483648", "-99999999999", "abc", "", "1e3", "7x",
                         "0.0", "99999999999999999999999"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; ++k) {
        v = 42;
        int r = int_of(bad[k], &v);
        if (r != -1) fail_msg("int \"%s\" accepted (%d)", bad[k], v);
    }

    list *l = make_list();
    plugin_section_args a = opt_args(l);
    assert_int_equal(plugin_opt_int(&a, "x", -5, &v), 0);
    assert_int_equal(v, -5);
    free_opts(l);
}

static void test_opt_choice(void **state)
{
    (void)state;
    static const char *const choices[] = {"batch", "sample", "pair"};
    int v;
    list *l = one_opt("mode", "sample");
    plugin_section_args a = opt_args(l);
    assert_int_equal(plugin_opt_choice(&a, "mode", choices, 3, 0, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(plugin_opt_choice(&a, "other", choices, 3, 2, &v), 0);   /* absent: default */
    assert_int_equal(v, 2);
    free_opts(l);
    /* a value among the choices but beyond n is not allowed */
    l = one_opt("mode", "pair");
    a = opt_args(l);
    capture_start();
    int r = plugin_opt_choice(&a, "mode", choices, 2, 0, &v);
    free(capture_stop());
    assert_int_equal(r, -1);
    free_opts(l);

    const char *bad[] = {"Batch", "bogus", "", "batch "};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; ++k) {
        list *lb = one_opt("mode", bad[k]);
        plugin_section_args ab = opt_args(lb);
        capture_start();
        r = plugin_opt_choice(&ab, "mode", choices, 3, 0, &v);
        char *err = capture_stop();
        if (r != -1) fail_msg("choice \"%s\" accepted (%d)", bad[k], v);
        if (k == 1) assert_contains(err, "cfg/opts.cfg: layer 7 [mysec]: mode=bogus: unknown value; "
                                         "expected one of: batch, sample, pair");
        free(err);
        free_opts(lb);
    }
}

static int int_list_of(const char *val, int *vals, int max, int *count)
{
    list *l = one_opt("layers", val);
    plugin_section_args a = opt_args(l);
    capture_start();
    int r = plugin_opt_int_list(&a, "layers", vals, max, count);
    free(capture_stop());
    free_opts(l);
    return r;
}

static void test_opt_int_list(void **state)
{
    (void)state;
    int vals[3], count;
    assert_int_equal(int_list_of("3, -1", vals, 2, &count), 0);
    assert_int_equal(count, 2);
    assert_int_equal(vals[0], 3);
    assert_int_equal(vals[1], -1);
    assert_int_equal(int_list_of("3,-1", vals, 2, &count), 0);
    assert_int_equal(count, 2);
    assert_int_equal(vals[1], -1);
    assert_int_equal(int_list_of("5", vals, 2, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(vals[0], 5);

    const char *bad[] = {"1,x", "1.5,2", "1,", ",1", "1,,2", "", "1 ,2", "99999999999,1", "a"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; ++k) {
        int r = int_list_of(bad[k], vals, 2, &count);
        if (r != -1) fail_msg("int list \"%s\" accepted (%d values)", bad[k], count);
    }
    /* too many values: refused, and nothing written past max */
    vals[2] = 4242;
    assert_int_equal(int_list_of("1,2,3", vals, 2, &count), -1);
    assert_int_equal(vals[2], 4242);
    assert_int_equal(int_list_of("1,2,3,4,5,6,7,8,9", vals, 2, &count), -1);
    assert_int_equal(vals[2], 4242);

    /* absent: count 0, success */
    list *l = make_list();
    plugin_section_args a = opt_args(l);
    count = 9;
    assert_int_equal(plugin_opt_int_list(&a, "layers", vals, 2, &count), 0);
    assert_int_equal(count, 0);
    free_opts(l);

    /* the message */
    l = one_opt("layers", "1,2,3");
    a = opt_args(l);
    capture_start();
    int r = plugin_opt_int_list(&a, "layers", vals, 2, &count);
    char *err = capture_stop();
    assert_int_equal(r, -1);
    assert_contains(err, "cfg/opts.cfg: layer 7 [mysec]: layers=1,2,3: more than 2 values");
    free(err);
    free_opts(l);
}

static void test_opt_present(void **state)
{
    (void)state;
    list *l = one_opt("seed", "3");
    plugin_section_args a = opt_args(l);
    assert_int_equal(plugin_opt_present(&a, "seed"), 1);
    assert_int_equal(plugin_opt_present(&a, "see"), 0);
    assert_int_equal(plugin_opt_present(&a, "seeds"), 0);
    assert_int_equal(((kvp *)l->front->val)->used, 0);   /* does not mark it used */
    free_opts(l);
}

static void test_opt_reject_unknown(void **state)
{
    (void)state;
    static const char *const known[] = {"alpha", "mode", NULL};
    static const char *const generic[][2] = {
        {"stopbackward", "1"}, {"learning_rate", "0.1"}, {"truth", "0"}, {"onlyforward", "0"},
        {"dontsave", "1"}, {"dontload", "1"}, {"numload", "2"}, {"dontloadscales", "1"}, {"smooth", "0.1"},
    };
    list *l = make_list();
    option_insert(l, "alpha", "0.4");
    for (size_t k = 0; k < sizeof generic / sizeof *generic; ++k)
        option_insert(l, (char *)generic[k][0], (char *)generic[k][1]);
    plugin_section_args a = opt_args(l);
    assert_int_equal(plugin_opt_reject_unknown(&a, known), 0);
    free_opts(l);

    /* no keys of its own: the generic ones still pass */
    l = make_list();
    option_insert(l, "stopbackward", "1");
    option_insert(l, "learning_rate", "0.5");
    a = opt_args(l);
    assert_int_equal(plugin_opt_reject_unknown(&a, NULL), 0);
    free_opts(l);

    /* a typo among good keys */
    l = make_list();
    option_insert(l, "alpha", "0.4");
    option_insert(l, "stopbackward", "1");
    option_insert(l, "alhpa", "0.2");
    a = opt_args(l);
    capture_start();
    int r = plugin_opt_reject_unknown(&a, known);
    char *err = capture_stop();
    assert_int_equal(r, -1);
    assert_contains(err, "cfg/opts.cfg: layer 7 [mysec]: alhpa=0.2: unknown key for [mysec] (known: alpha, mode");
    free(err);
    free_opts(l);

    /* unknown with no keys of its own */
    l = one_opt("x", "1");
    a = opt_args(l);
    capture_start();
    r = plugin_opt_reject_unknown(&a, NULL);
    err = capture_stop();
    assert_int_equal(r, -1);
    assert_contains(err, "cfg/opts.cfg: layer 7 [mysec]: x=1: unknown key for [mysec] (known: none)");
    free(err);
    free_opts(l);
}

static void test_error_messages(void **state)
{
    (void)state;
    float f;
    int i;
    list *l = make_list();
    option_insert(l, "alpha", "abc");
    option_insert(l, "beta", "inf");
    option_insert(l, "seed", "2.5");
    option_insert(l, "n", "99999999999");
    plugin_section_args a = opt_args(l);
    capture_start();
    int r1 = plugin_opt_float(&a, "alpha", 0, &f);
    int r2 = plugin_opt_float(&a, "beta", 0, &f);
    int r3 = plugin_opt_int(&a, "seed", 0, &i);
    int r4 = plugin_opt_int(&a, "n", 0, &i);
    plugin_error(&a, "alpha", "must be > %d", 0);
    plugin_error(&a, "absent", "needs a value");
    plugin_error(&a, NULL, "whole section");
    plugin_net_error("net.cfg", 12, "branch", "no [siamese] after it");
    char *err = capture_stop();
    assert_int_equal(r1, -1);
    assert_int_equal(r2, -1);
    assert_int_equal(r3, -1);
    assert_int_equal(r4, -1);
    assert_contains(err, "cfg/opts.cfg: layer 7 [mysec]: alpha=abc: not a number\n");
    assert_contains(err, "cfg/opts.cfg: layer 7 [mysec]: beta=inf: not a finite float\n");
    assert_contains(err, "cfg/opts.cfg: layer 7 [mysec]: seed=2.5: not an integer\n");
    assert_contains(err, "cfg/opts.cfg: layer 7 [mysec]: n=99999999999: integer out of range\n");
    assert_contains(err, "cfg/opts.cfg: layer 7 [mysec]: alpha=abc: must be > 0\n");
    assert_contains(err, "cfg/opts.cfg: layer 7 [mysec]: absent: needs a value\n");
    assert_contains(err, "cfg/opts.cfg: layer 7 [mysec]: whole section\n");
    assert_contains(err, "net.cfg: layer 12 [branch]: no [siamese] after it\n");
    free(err);
    free_opts(l);
}

/* ---- a full table refuses, it does not overflow (runs last: it fills the table) --------------- */

static void test_register_table_full(void **state)
{
    (void)state;
    enum { TRIES = 1000 };
    static char names[TRIES][16];
    static plugin_section extra[TRIES];
    int accepted = 0, refused_at = -1;
    capture_start();
    for (int k = 0; k < TRIES; ++k) {
        snprintf(names[k], sizeof names[k], "extra%d", k);
        extra[k] = (plugin_section){names[k], parse_doubler, NULL};
        if (plugin_register_section(&extra[k]) == 0) ++accepted;
        else { refused_at = k; break; }
    }
    char *err = capture_stop();
    printf("    %d more sections registered before the table was full\n", accepted);
    assert_true(refused_at >= 0);
    assert_true(accepted >= 8);   /* room for a reasonable number of plugins */
    assert_contains(err, "cannot register [extra");
    free(err);
    /* everything registered is still found; the refused one is not */
    for (int k = 0; k < accepted; ++k) assert_ptr_equal(plugin_find_section(names[k]), &extra[k]);
    assert_null(plugin_find_section(names[refused_at]));
    assert_ptr_equal(plugin_find_section("doubler"), &doubler_section);
    assert_ptr_equal(plugin_find_section("siamese"), &siamese_section);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_and_find),
        cmocka_unit_test(test_parse_section_unknown_and_malformed),
        cmocka_unit_test(test_parse_section_direct_success_and_errors),
        cmocka_unit_test(test_parse_section_rejects_misnamed_ops),
        cmocka_unit_test(test_host_parse_forward_resize_free),
        cmocka_unit_test(test_host_parse_errors_exit),
        cmocka_unit_test(test_branch_siamese_resize_after_avgpool),
        cmocka_unit_test(test_opt_float),
        cmocka_unit_test(test_opt_int),
        cmocka_unit_test(test_opt_choice),
        cmocka_unit_test(test_opt_int_list),
        cmocka_unit_test(test_opt_present),
        cmocka_unit_test(test_opt_reject_unknown),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_register_table_full),
    };
    return cmocka_run_group_tests_name("registry", tests, register_sections, NULL);
}

/* fuzz_weights: libFuzzer harness for Darknet's weights loader (load_weights_upto).
 *
 * One network, parsed once from WEIGHTS_NET below, has a layer of every kind that holds weights
 * and that a classifier uses (convolutional with batch norm and groups, deconvolutional, local,
 * connected with batch norm, batchnorm, rnn) plus [branch]/[siamese]. Each input is written to
 * a file and loaded into it. A clean error (cut inside a layer, bytes left over, too short for a
 * header) is an ordinary outcome (harness.h), as is a file that fits or ends at a layer boundary;
 * a crash or an ASan/UBSan report is a finding. Seeds: tests/fuzz/weights/ (written from this
 * network by `fuzz_weights -write_seeds DIR`, see tests/integration/test_fuzz.sh).
 */
#include "harness.h"
#include "darknet.h"

static const char WEIGHTS_NET[] =
    "[net]\nbatch=2\nwidth=6\nheight=6\nchannels=2\n"
    "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\npad=1\ngroups=2\nactivation=leaky\n"
    "[deconvolutional]\nfilters=2\nsize=2\nstride=1\nactivation=linear\n"
    "[local]\nfilters=2\nsize=3\nstride=2\npad=1\nactivation=linear\n"
    "[batchnorm]\n"
    "[branch]\n"
    "[convolutional]\nfilters=2\nsize=3\nstride=1\nactivation=linear\n"
    "[siamese]\nseed=1\n"
    "[connected]\nbatch_normalize=1\noutput=5\nactivation=linear\n"
    "[rnn]\noutput=3\nactivation=tanh\n"
    "[softmax]\n";

static network *net;

static void load_one(void *unused)
{
    (void)unused;
    load_weights(net, harness_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    gpu_index = -1;
    harness_make_path("fuzz_weights");
    harness_write((const uint8_t *)WEIGHTS_NET, sizeof WEIGHTS_NET - 1);
    net = parse_network_cfg(harness_path);
    /* fuzz_weights -write_seeds DIR: writes a full weights file of this network and one that
     * ends after its first two layers (what `darknet partial` makes), then exits. */
    for (int i = 1; i + 1 < *argc; ++i) {
        if (strcmp((*argv)[i], "-write_seeds") != 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/full.weights", (*argv)[i + 1]);
        save_weights(net, path);
        snprintf(path, sizeof path, "%s/partial.weights", (*argv)[i + 1]);
        save_weights_upto(net, path, 2);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    harness_write(data, size);
    harness_run(load_one, NULL);
    return 0;
}

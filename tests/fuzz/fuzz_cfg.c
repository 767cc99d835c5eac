/* fuzz_cfg: libFuzzer harness for Darknet's cfg parser (read_cfg, parse_network_cfg) with the
 * plugin's [branch] and [siamese] sections.
 *
 * Each input is written to a file and parsed as a network cfg; the network is then freed. A clean
 * error (message + exit) is an ordinary outcome (harness.h); a crash, an assert, or an ASan/UBSan
 * report is a finding. Seeds: tests/fuzz/cfg/ (one small cfg per section type Darknet knows, and
 * Siamese cfgs); dictionary: tests/fuzz/cfg.dict. Crashes found became tests/fuzz/regressions/cfg/
 * (replayed by tests/integration/test_fuzz.sh) and fixes in patches/0010-cfg-checks.patch.
 *
 * Run by hand: build/fuzz/fuzz_cfg -dict=tests/fuzz/cfg.dict -close_fd_mask=3 CORPUS_DIR tests/fuzz/cfg
 */
#include "harness.h"
#include "darknet.h"

static void parse_one(void *unused)
{
    (void)unused;
    network *net = parse_network_cfg(harness_path);
    free_network(net);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    gpu_index = -1;
    harness_make_path("fuzz_cfg");
    /* Parse one valid cfg at the input's path before fuzzing: Darknet keeps each cfg file name
     * for the life of the process (option_list.c keep_name), which must not be an allocation
     * that the harness frees after an input. */
    static const char first[] = "[net]\nbatch=1\nwidth=4\nheight=4\nchannels=1\n[avgpool]\n";
    harness_write((const uint8_t *)first, sizeof first - 1);
    free_network(parse_network_cfg(harness_path));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384) return 0;   /* long inputs only slow the search: cfgs are short */
    harness_write(data, size);
    harness_run(parse_one, NULL);
    return 0;
}

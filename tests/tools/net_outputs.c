/* net_outputs: prints a network's inference outputs on fixed pseudo-random inputs, as exact
 * hexadecimal floats, one line per input.
 *
 * Usage: net_outputs CFG WEIGHTS [N]     N inputs (default 4), values uniform in (0,1), seed 1
 *   Two networks computing the same function print identical text, so tests compare with cmp;
 *   `classifier predict` rounds to two decimals and would hide small differences.
 */
#include <stdio.h>
#include <stdlib.h>

#include "darknet.h"
#include "mix.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: net_outputs CFG WEIGHTS [N]\n");
        return 2;
    }
    int n = argc > 3 ? atoi(argv[3]) : 4;
    gpu_index = -1;
    network *net = load_network(argv[1], argv[2], 0);
    set_batch_network(net, 1);
    float *in = calloc((size_t)net->inputs, sizeof(float));
    mix_rng r;
    mix_rng_seed(&r, 1);
    for (int k = 0; k < n; ++k) {
        for (int i = 0; i < net->inputs; ++i) in[i] = (float)mix_rng_uniform(&r);
        const float *out = network_predict(net, in);
        for (int i = 0; i < net->outputs; ++i) printf("%s%a", i ? " " : "", out[i]);
        printf("\n");
    }
    free(in);
    free_network(net);
    return 0;
}

/* flip_count: how often Darknet's classifier loader mirrors an image, with [net] flip on or off.
 *
 * Usage: flip_count IMAGE.png ROUNDS FLIP(0|1) CHANNELS
 * Loads IMAGE ROUNDS times through load_data_augment (the path `classifier train` uses, no
 * crop/scale/colour jitter) and prints "mirrored M of N": an image counts as mirrored when its
 * brighter half moved to the other side.
 */
#include <stdio.h>
#include <stdlib.h>

#include "darknet.h"
#include "data.h"

static int left_brighter(const float *x, int w, int h, int c)
{
    double left = 0, right = 0;
    for (int k = 0; k < c; ++k)
        for (int y = 0; y < h; ++y)
            for (int i = 0; i < w; ++i) {
                if (i < w / 2) left += x[k * w * h + y * w + i];
                else right += x[k * w * h + y * w + i];
            }
    return left > right;
}

int main(int argc, char **argv)
{
    if (argc != 5) { fprintf(stderr, "usage: flip_count IMAGE ROUNDS FLIP CHANNELS\n"); return 2; }
    char *paths[1] = {argv[1]};
    int rounds = atoi(argv[2]), flip = atoi(argv[3]), c = atoi(argv[4]);
    image im = load_image(argv[1], 0, 0, c);
    int orig = left_brighter(im.data, im.w, im.h, im.c);
    char *labels[1] = {"x"};
    data d = load_data_augment(paths, rounds, 1, labels, 1, NULL, im.w, im.w, im.w, 0, 1, 0, 1, 1, 0, c, flip);
    int mirrored = 0;
    for (int r = 0; r < rounds; ++r) mirrored += left_brighter(d.X.vals[r], im.w, im.h, im.c) != orig;
    printf("mirrored %d of %d\n", mirrored, rounds);
    free_data(d);
    free_image(im);
    return 0;
}

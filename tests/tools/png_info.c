/* png_info: size, channels and pixels of PNG files, for tests of the data converters
 * (scripts/fmnist2darknet.c, scripts/cifar2darknet.c).
 *
 * Usage: png_info FILE...              "FILE W H C" per file (C = channels stored in the file), after
 *                                      checking that Darknet's own loader reads the same pixels
 *        png_info --pixel X Y FILE...  "FILE v..." per file: the C values (0-255) at column X, row Y
 *                                      (row 0 is the top)
 *        png_info --dump FILE          every value, one a line, rows top first, channels interleaved
 * Exit 1 when a file does not decode, Darknet reads it differently, or X, Y is outside the image.
 * Two decoders: stb_image (as stored: exact bytes, true channel count) and Darknet's
 * load_image_color (OpenCV in this build; always 3 float channels), the way `darknet classifier`
 * reads its images, so a PNG that only one of them reads right fails.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "darknet.h"
#include "stb_image.h"

/* Darknet's view of the file must equal stb's: gray is read as three equal channels. */
static int same_as_darknet(const char *path, const unsigned char *px, int w, int h, int c)
{
    image im = load_image_color((char *)path, 0, 0);
    int ok = im.w == w && im.h == h && im.c == 3;
    if (!ok) fprintf(stderr, "png_info: %s: Darknet reads %dx%dx%d, stb %dx%dx%d\n", path, im.w, im.h, im.c, w, h, c);
    for (int i = 0; ok && i < w * h; ++i)
        for (int k = 0; ok && k < 3; ++k) {
            int want = px[i * c + (c == 1 ? 0 : k)], got = (int)lroundf(im.data[k * w * h + i] * 255.0f);
            if (got != want) {
                fprintf(stderr, "png_info: %s: pixel %d,%d channel %d: Darknet reads %d, stb %d\n",
                        path, i % w, i / w, k, got, want);
                ok = 0;
            }
        }
    free_image(im);
    return ok;
}

int main(int argc, char **argv)
{
    int pixel = argc >= 5 && !strcmp(argv[1], "--pixel"), dump = argc == 3 && !strcmp(argv[1], "--dump");
    if (argc < 2 || (!strncmp(argv[1], "--", 2) && !pixel && !dump)) {
        fprintf(stderr, "usage: png_info FILE... | png_info --pixel X Y FILE... | png_info --dump FILE\n");
        return 2;
    }
    int first = pixel ? 4 : dump ? 2 : 1;
    for (int i = first; i < argc; ++i) {
        int w, h, c;
        unsigned char *px = stbi_load(argv[i], &w, &h, &c, 0);
        if (!px) { fprintf(stderr, "png_info: %s: %s\n", argv[i], stbi_failure_reason()); return 1; }
        if (pixel) {
            int x = atoi(argv[2]), y = atoi(argv[3]);
            if (x < 0 || y < 0 || x >= w || y >= h) {
                fprintf(stderr, "png_info: %d,%d outside %dx%d\n", x, y, w, h);
                return 1;
            }
            printf("%s", argv[i]);
            for (int k = 0; k < c; ++k) printf(" %d", px[(y * w + x) * c + k]);
            printf("\n");
        } else if (dump) {
            for (int k = 0; k < w * h * c; ++k) printf("%d\n", px[k]);
        } else {
            if (!same_as_darknet(argv[i], px, w, h, c)) return 1;
            printf("%s %d %d %d\n", argv[i], w, h, c);
        }
        stbi_image_free(px);
    }
    return 0;
}

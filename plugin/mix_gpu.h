/* mix_gpu.h: the device twins of mix.h's kernels (plugin/mix_kernels.cu), GPU=1 builds only.
 *
 * Same contracts as mix_forward, mix_backward, mix_labels, mix_cutmix_forward and
 * mix_cutmix_backward, on device pointers; lambda, partner and boxes are device copies of the
 * draws the host made (mixer.c), so the CPU and GPU paths mix the same pairs with the same lambda.
 * Every result equals the CPU kernel's bit for bit: each element is computed with the same
 * single roundings (no fused multiply-add), and the backward passes add into each element in the
 * CPU's order (sample 0 first), which also keeps them free of races when partners repeat.
 * A failed launch prints the CUDA error and exits with status 1.
 */
#ifndef PLUGIN_MIX_GPU_H
#define PLUGIN_MIX_GPU_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

void mix_forward_gpu(const float *a, const float *b, float *out, int n, int batch,
                     const float *lambda, const int *partner);
void mix_backward_gpu(const float *delta, float *delta_a, float *delta_b, int n, int batch,
                      const float *lambda, const int *partner);
/* scratch: batch*truths floats on the device. */
void mix_labels_gpu(float *truth, int truths, int batch, const float *lambda, const int *partner,
                    float *scratch);
void mix_cutmix_forward_gpu(const float *x, float *out, int c, int h, int w, int batch,
                            const int *boxes, const int *partner);
void mix_cutmix_backward_gpu(const float *delta, float *dx, int c, int h, int w, int batch,
                             const int *boxes, const int *partner);
/* Host -> device copy of the draws (bytes), with the same error handling. */
void mix_gpu_upload(void *dst, const void *src, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif

/* mix_kernels.cu: the CUDA kernels of the mixing core (see mix_gpu.h; the CPU twins are in mix.c).
 * No cfg keys of its own: the layers ([siamese], [mixup], [cutmix]) draw lambda, partners and
 * boxes on the host and pass device copies in.
 *
 * __fmul_rn/__fadd_rn: nvcc fuses a*x + b*y into a multiply-add by default, which rounds once
 * where the CPU (x86-64 without FMA, -fno-fast-math) rounds twice; spelling the roundings out
 * makes every kernel give the CPU kernel's floats exactly, so tests/gpu can compare them with 0 tolerance.
 */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "mix_gpu.h"

static const int threads = 256;

static unsigned blocks_for(size_t n)
{
    size_t b = (n + threads - 1) / threads;
    if (b == 0) b = 1;
    return b > 65535 ? 65535u : (unsigned)b;   /* the kernels stride over the rest */
}

static void check_launch(const char *what)
{
    cudaError_t e = cudaPeekAtLastError();
    if (e != cudaSuccess) {
        fprintf(stderr, "plugin GPU kernel %s: %s\n", what, cudaGetErrorString(e));
        exit(EXIT_FAILURE);
    }
}

#define GRID_STRIDE(t, total) \
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < (total); t += (size_t)blockDim.x * gridDim.x)

/* One thread per element of out. */
__global__ void mix_forward_kernel(const float *a, const float *b, float *out, int n, int batch,
                                   const float *lambda, const int *partner)
{
    GRID_STRIDE(t, (size_t)n * batch) {
        size_t i = t / n, k = t - i * n;
        float l = lambda[i], m = 1.0f - l;
        out[t] = __fadd_rn(__fmul_rn(l, a[t]), __fmul_rn(m, b[(size_t)partner[i] * n + k]));
    }
}

/* One thread per column k, walking the samples in order: a row may be the partner of several
 * samples (pairing=same/other) or be both inputs (mixup), and this adds in the CPU's order. */
__global__ void mix_backward_kernel(const float *delta, float *delta_a, float *delta_b, int n, int batch,
                                    const float *lambda, const int *partner)
{
    GRID_STRIDE(k, (size_t)n) {
        for (int i = 0; i < batch; ++i) {
            float l = lambda[i], m = 1.0f - l, d = delta[(size_t)i * n + k];
            if (delta_a) {
                float *da = delta_a + (size_t)i * n + k;
                *da = __fadd_rn(*da, __fmul_rn(l, d));
            }
            if (delta_b) {
                float *db = delta_b + (size_t)partner[i] * n + k;
                *db = __fadd_rn(*db, __fmul_rn(m, d));
            }
        }
    }
}

/* One thread per element of out: inside sample i's box it comes from x[partner[i]]. */
__global__ void cutmix_forward_kernel(const float *x, float *out, int c, int h, int w, int batch,
                                      const int *boxes, const int *partner)
{
    const size_t image = (size_t)c * h * w;
    GRID_STRIDE(t, image * batch) {
        size_t i = t / image, pos = t - i * image;
        int px = (int)(pos % w), py = (int)((pos / w) % h);
        const int *b = boxes + 4 * i;
        int inside = py >= b[1] && py < b[3] && px >= b[0] && px < b[2];
        out[t] = inside ? x[image * partner[i] + pos] : x[t];
    }
}

/* One thread per position in an image, walking the samples in order (as mix_backward_kernel). */
__global__ void cutmix_backward_kernel(const float *delta, float *dx, int c, int h, int w, int batch,
                                       const int *boxes, const int *partner)
{
    const size_t image = (size_t)c * h * w;
    GRID_STRIDE(pos, image) {
        int px = (int)(pos % w), py = (int)((pos / w) % h);
        for (int i = 0; i < batch; ++i) {
            const int *b = boxes + 4 * i;
            int inside = py >= b[1] && py < b[3] && px >= b[0] && px < b[2];
            float *dst = dx + image * (inside ? partner[i] : i) + pos;
            *dst = __fadd_rn(*dst, delta[image * i + pos]);
        }
    }
}

extern "C" void mix_forward_gpu(const float *a, const float *b, float *out, int n, int batch,
                                const float *lambda, const int *partner)
{
    mix_forward_kernel<<<blocks_for((size_t)n * batch), threads>>>(a, b, out, n, batch, lambda, partner);
    check_launch("mix_forward");
}

extern "C" void mix_backward_gpu(const float *delta, float *delta_a, float *delta_b, int n, int batch,
                                 const float *lambda, const int *partner)
{
    if (!delta_a && !delta_b) return;
    mix_backward_kernel<<<blocks_for((size_t)n), threads>>>(delta, delta_a, delta_b, n, batch, lambda, partner);
    check_launch("mix_backward");
}

extern "C" void mix_labels_gpu(float *truth, int truths, int batch, const float *lambda, const int *partner,
                               float *scratch)
{
    cudaError_t e = cudaMemcpy(scratch, truth, sizeof(float) * (size_t)truths * batch, cudaMemcpyDeviceToDevice);
    if (e != cudaSuccess) {
        fprintf(stderr, "plugin GPU: copying the labels: %s\n", cudaGetErrorString(e));
        exit(EXIT_FAILURE);
    }
    mix_forward_gpu(scratch, scratch, truth, truths, batch, lambda, partner);
}

extern "C" void mix_cutmix_forward_gpu(const float *x, float *out, int c, int h, int w, int batch,
                                       const int *boxes, const int *partner)
{
    cutmix_forward_kernel<<<blocks_for((size_t)c * h * w * batch), threads>>>(x, out, c, h, w, batch, boxes, partner);
    check_launch("cutmix_forward");
}

extern "C" void mix_cutmix_backward_gpu(const float *delta, float *dx, int c, int h, int w, int batch,
                                        const int *boxes, const int *partner)
{
    cutmix_backward_kernel<<<blocks_for((size_t)c * h * w), threads>>>(delta, dx, c, h, w, batch, boxes, partner);
    check_launch("cutmix_backward");
}

extern "C" void mix_gpu_upload(void *dst, const void *src, size_t bytes)
{
    cudaError_t e = cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
        fprintf(stderr, "plugin GPU: copying the draws to the device: %s\n", cudaGetErrorString(e));
        exit(EXIT_FAILURE);
    }
}

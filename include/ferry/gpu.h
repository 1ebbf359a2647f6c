/* Matrix products on an NVIDIA GPU through cuBLAS, loaded at run time.
 *
 * The CUDA runtime and cuBLAS are opened with dlopen when asked for, so the
 * same binary runs on nodes without them; there is no build-time CUDA
 * dependency.  Ranks on one node share its GPUs by node-local rank
 * (device = local rank mod the node's GPU count). */
#ifndef FERRY_GPU_H
#define FERRY_GPU_H

#include <stddef.h>

struct gpu;
struct gpu_matrix;

/* Open the GPU for a rank with this node-local rank.  NULL when there is
 * none usable, with why filled ("libcudart.so.12: not found", "no CUDA
 * device", ...). */
struct gpu *gpu_open(int local_rank, char *why, size_t why_len);

/* Which device, for messages: "GPU 0 (NVIDIA H100 80GB HBM3)". */
const char *gpu_name(const struct gpu *g);

/* Keep a row-major rows × cols matrix on the device (weights, projections). */
struct gpu_matrix *gpu_upload(struct gpu *g, const float *m, int rows, int cols);
void gpu_matrix_free(struct gpu *g, struct gpu_matrix *m);

/* out[m × n] = a[m × k] · bᵀ, b being n × k on the device; row-major host
 * arrays.  Returns 0, or -1 with why filled. */
int gpu_gemm_nt(struct gpu *g, const float *a, int m, int k, const struct gpu_matrix *b,
                float *out, char *why, size_t why_len);

void gpu_close(struct gpu *g);

#endif

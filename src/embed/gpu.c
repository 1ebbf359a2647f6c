#include "ferry/gpu.h"
#include "ferry/xalloc.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The few CUDA runtime and cuBLAS entry points we use, declared with plain
 * C types so nothing of CUDA is needed to build: error codes are ints,
 * handles and device pointers are void *. */
enum { CUDA_HOST_TO_DEVICE = 1, CUDA_DEVICE_TO_HOST = 2 };
enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };

struct cuda_api {
    int (*get_device_count)(int *count);
    int (*set_device)(int device);
    int (*malloc)(void **ptr, size_t size);
    int (*free)(void *ptr);
    int (*memcpy)(void *dst, const void *src, size_t size, int kind);
    const char *(*error_string)(int error);
    int (*blas_create)(void **handle);
    int (*blas_destroy)(void *handle);
    int (*sgemm)(void *handle, int transa, int transb, int m, int n, int k, const float *alpha,
                 const float *a, int lda, const float *b, int ldb, const float *beta, float *c,
                 int ldc);
};

struct gpu {
    void *cudart, *cublas;           /* dlopen handles */
    struct cuda_api api;
    void *handle;                    /* cuBLAS */
    char name[64];
    float *a, *out;                  /* device buffers for gemm's operands, grown as needed */
    size_t a_size, out_size;
};

struct gpu_matrix {
    float *data;                     /* on the device */
    int rows, cols;
};

static void *open_first(const char *const *names, char *why, size_t why_len)
{
    for (const char *const *n = names; *n; n++) {
        void *h = dlopen(*n, RTLD_NOW | RTLD_LOCAL);
        if (h)
            return h;
    }
    snprintf(why, why_len, "%s not found (no CUDA runtime on this node)", names[0]);
    return NULL;
}

struct symbol {
    void **slot;
    const char *name;
};

/* Resolve the entry points of one library; false (why filled) if one is missing. */
static bool resolve(void *lib, const struct symbol *syms, size_t n, char *why, size_t why_len)
{
    for (size_t i = 0; i < n; i++) {
        *syms[i].slot = dlsym(lib, syms[i].name);
        if (!*syms[i].slot) {
            snprintf(why, why_len, "%s is missing from the CUDA libraries", syms[i].name);
            return false;
        }
    }
    return true;
}

static bool resolve_runtime(struct gpu *g, char *why, size_t why_len)
{
    const struct symbol syms[] = {
        {(void **)&g->api.get_device_count, "cudaGetDeviceCount"},
        {(void **)&g->api.set_device, "cudaSetDevice"},
        {(void **)&g->api.malloc, "cudaMalloc"},
        {(void **)&g->api.free, "cudaFree"},
        {(void **)&g->api.memcpy, "cudaMemcpy"},
        {(void **)&g->api.error_string, "cudaGetErrorString"},
    };
    return resolve(g->cudart, syms, sizeof syms / sizeof *syms, why, why_len);
}

static bool resolve_blas(struct gpu *g, char *why, size_t why_len)
{
    const struct symbol syms[] = {
        {(void **)&g->api.blas_create, "cublasCreate_v2"},
        {(void **)&g->api.blas_destroy, "cublasDestroy_v2"},
        {(void **)&g->api.sgemm, "cublasSgemm_v2"},
    };
    return resolve(g->cublas, syms, sizeof syms / sizeof *syms, why, why_len);
}

static bool cuda_ok(struct gpu *g, int rc, const char *what, char *why, size_t why_len)
{
    if (rc == 0)
        return true;
    snprintf(why, why_len, "%s: %s", what, g->api.error_string ? g->api.error_string(rc) : "error");
    return false;
}

struct gpu *gpu_open(int local_rank, char *why, size_t why_len)
{
    static const char *const cudart[] = {"libcudart.so.12", "libcudart.so.11.0", "libcudart.so",
                                         NULL};
    static const char *const cublas[] = {"libcublas.so.12", "libcublas.so.11", "libcublas.so",
                                         NULL};
    struct gpu *g = xcalloc(1, sizeof *g);
    int count = 0;
    /* The runtime first: on a node without a GPU the much bigger cuBLAS is
     * never loaded. */
    bool ok = (g->cudart = open_first(cudart, why, why_len)) != NULL &&
              resolve_runtime(g, why, why_len) &&
              cuda_ok(g, g->api.get_device_count(&count), "cudaGetDeviceCount", why, why_len);
    if (ok && count < 1) {
        snprintf(why, why_len, "no CUDA device on this node");
        ok = false;
    }
    int device = ok ? local_rank % count : 0;
    ok = ok && cuda_ok(g, g->api.set_device(device), "cudaSetDevice", why, why_len) &&
         (g->cublas = open_first(cublas, why, why_len)) != NULL && resolve_blas(g, why, why_len) &&
         cuda_ok(g, g->api.blas_create(&g->handle), "cublasCreate", why, why_len);
    if (!ok) {
        gpu_close(g);
        return NULL;
    }
    snprintf(g->name, sizeof g->name, "GPU %d of %d", device, count);
    return g;
}

const char *gpu_name(const struct gpu *g)
{
    return g->name;
}

struct gpu_matrix *gpu_upload(struct gpu *g, const float *m, int rows, int cols)
{
    struct gpu_matrix *d = xcalloc(1, sizeof *d);
    size_t size = (size_t)rows * (size_t)cols * sizeof(float);
    d->rows = rows;
    d->cols = cols;
    if (g->api.malloc((void **)&d->data, size) != 0 ||
        g->api.memcpy(d->data, m, size, CUDA_HOST_TO_DEVICE) != 0) {
        gpu_matrix_free(g, d);
        return NULL;
    }
    return d;
}

void gpu_matrix_free(struct gpu *g, struct gpu_matrix *m)
{
    if (!m)
        return;
    if (m->data)
        g->api.free(m->data);
    free(m);
}

/* A device buffer of at least size bytes, kept for the next call. */
static bool reserve(struct gpu *g, float **buf, size_t *have, size_t size)
{
    if (*have >= size)
        return true;
    if (*buf)
        g->api.free(*buf);
    *buf = NULL;
    *have = 0;
    if (g->api.malloc((void **)buf, size) != 0)
        return false;
    *have = size;
    return true;
}

int gpu_gemm_nt(struct gpu *g, const float *a, int m, int k, const struct gpu_matrix *b,
                float *out, char *why, size_t why_len)
{
    int n = b->rows;
    size_t a_size = (size_t)m * (size_t)k * sizeof(float), out_size = (size_t)m * n * sizeof(float);
    if (!reserve(g, &g->a, &g->a_size, a_size) || !reserve(g, &g->out, &g->out_size, out_size)) {
        snprintf(why, why_len, "cudaMalloc of %zu bytes failed", a_size + out_size);
        return -1;
    }
    if (!cuda_ok(g, g->api.memcpy(g->a, a, a_size, CUDA_HOST_TO_DEVICE), "cudaMemcpy", why,
                 why_len))
        return -1;
    /* cuBLAS is column-major: the row-major out = a · bᵀ is, read column-major,
     * outᵀ = b · aᵀ, where b (stored n × k row-major) is read transposed. */
    const float one = 1.0f, zero = 0.0f;
    int rc = g->api.sgemm(g->handle, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, b->data, k, g->a, k,
                          &zero, g->out, n);
    if (rc != 0) {
        snprintf(why, why_len, "cublasSgemm failed (status %d)", rc);
        return -1;
    }
    return cuda_ok(g, g->api.memcpy(out, g->out, out_size, CUDA_DEVICE_TO_HOST), "cudaMemcpy", why,
                   why_len) ? 0 : -1;
}

void gpu_close(struct gpu *g)
{
    if (!g)
        return;
    if (g->a)
        g->api.free(g->a);
    if (g->out)
        g->api.free(g->out);
    if (g->handle)
        g->api.blas_destroy(g->handle);
    if (g->cublas)
        dlclose(g->cublas);
    if (g->cudart)
        dlclose(g->cudart);
    free(g);
}

#include "ferry/embedder.h"
#include "ferry/gpu.h"
#include "ferry/hash.h"
#include "ferry/log.h"
#include "ferry/xalloc.h"

#include <cblas.h>
#include <hdf5.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIXELS_DEFAULT_SIDE 16
#define RP_SIDE 32
#define RP_DEFAULT_DIM 256
#define DHASH_W 9
#define DHASH_H 8
#define MLP_MAX_LAYERS 64

enum kind { EMBED_PIXELS, EMBED_RP, EMBED_DHASH, EMBED_MLP };

struct layer {
    int in, out;
    float *weight;                   /* [out, in], PyTorch's layout */
    float *bias;                     /* [out] */
};

struct embedder {
    enum kind kind;
    int dim, side, input;
    float *projection;               /* rp: [dim, input] */
    struct layer *layers;            /* mlp */
    int n_layers;
    float *scratch[2];               /* mlp: activations between layers */
    int scratch_rows;
    char weights_sha256[HASH_SHA256_HEX];
    struct gpu *gpu;                 /* NULL: on the CPU */
    struct gpu_matrix *projection_d; /* rp, on the GPU */
    struct gpu_matrix **weights_d;   /* mlp, on the GPU */
};

/* ---- rp: the seeded Gaussian matrix ------------------------------------------- */

/* splitmix64: a fixed, portable stream, so a seed gives the same matrix on
 * every machine and every rank. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform_open(uint64_t *state)
{
    return ((double)(splitmix64(state) >> 11) + 0.5) / 9007199254740992.0;   /* (0, 1) */
}

static void fill_gaussian(float *m, size_t n, long long seed, double stddev)
{
    uint64_t state = (uint64_t)seed;
    for (size_t i = 0; i < n; i += 2) {
        double r = sqrt(-2.0 * log(uniform_open(&state))), t = 2.0 * M_PI * uniform_open(&state);
        m[i] = (float)(stddev * r * cos(t));
        if (i + 1 < n)
            m[i + 1] = (float)(stddev * r * sin(t));
    }
}

/* ---- mlp: weights from HDF5 ----------------------------------------------------- */

/* A dataset of rank dims (1 or 2) read whole as floats; shape in shape[]. */
static float *read_matrix(hid_t file, const char *name, int dims, hsize_t shape[2])
{
    if (H5Lexists(file, "layers", H5P_DEFAULT) <= 0 || H5Lexists(file, name, H5P_DEFAULT) <= 0)
        return NULL;
    hid_t dset = H5Dopen2(file, name, H5P_DEFAULT);
    hid_t space = H5Dget_space(dset);
    shape[0] = shape[1] = 1;
    float *m = NULL;
    if (H5Sget_simple_extent_ndims(space) == dims) {
        H5Sget_simple_extent_dims(space, shape, NULL);
        m = xmalloc((size_t)(shape[0] * shape[1]) * sizeof *m);
        if (H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, m) < 0) {
            free(m);
            m = NULL;
        }
    }
    H5Sclose(space);
    H5Dclose(dset);
    return m;
}

static int load_layer(hid_t file, int i, struct layer *l, const char *path,
                      struct ferry_error *err)
{
    char name[64];
    hsize_t ws[2], bs[2];
    snprintf(name, sizeof name, "layers/%d/weight", i);
    l->weight = read_matrix(file, name, 2, ws);
    snprintf(name, sizeof name, "layers/%d/bias", i);
    l->bias = read_matrix(file, name, 1, bs);
    if (!l->weight || !l->bias)
        return err_set(err, FERRY_EUSAGE, "%s: layers/%d needs weight [out, in] and bias [out] "
                       "as floating-point datasets", path, i);
    l->out = (int)ws[0];
    l->in = (int)ws[1];
    if ((hsize_t)l->out != bs[0])
        return err_set(err, FERRY_EUSAGE, "%s: layers/%d: weight has %d rows but bias %llu",
                       path, i, l->out, (unsigned long long)bs[0]);
    return 0;
}

static int load_mlp(struct embedder *e, const char *path, struct ferry_error *err)
{
    if (!path)
        return err_set(err, FERRY_EUSAGE, "the mlp embedder needs --weights FILE.h5");
    char sha1[HASH_SHA1_HEX];
    int rc = hash_file(path, e->weights_sha256, sha1, err);
    if (rc != 0)
        return rc;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        return err_set(err, FERRY_EUSAGE, "%s: not an HDF5 file", path);
    char name[64];
    e->layers = xcalloc(MLP_MAX_LAYERS, sizeof *e->layers);
    for (int i = 0; rc == 0 && i < MLP_MAX_LAYERS; i++) {
        snprintf(name, sizeof name, "layers/%d", i);
        if (H5Lexists(file, "layers", H5P_DEFAULT) <= 0 || H5Lexists(file, name, H5P_DEFAULT) <= 0)
            break;
        rc = load_layer(file, i, &e->layers[i], path, err);
        e->n_layers = i + 1;
        if (rc == 0 && i > 0 && e->layers[i].in != e->layers[i - 1].out)
            rc = err_set(err, FERRY_EUSAGE, "%s: layers/%d takes %d inputs but layers/%d gives %d",
                         path, i, e->layers[i].in, i - 1, e->layers[i - 1].out);
    }
    H5Fclose(file);
    if (rc == 0 && e->n_layers == 0)
        rc = err_set(err, FERRY_EUSAGE, "%s: no layers/0/weight (see docs/guide.md for the layout)",
                     path);
    if (rc != 0)
        return rc;
    e->input = e->layers[0].in;
    e->side = (int)lround(sqrt(e->input / 3.0));
    if (3 * e->side * e->side != e->input)
        return err_set(err, FERRY_EUSAGE, "%s: the first layer takes %d inputs, which is not "
                       "3·S² pixel values for any side S", path, e->input);
    e->dim = e->layers[e->n_layers - 1].out;
    return 0;
}

/* ---- opening ---------------------------------------------------------------------- */

static int set_up(struct embedder *e, const struct embedder_options *o, struct ferry_error *err)
{
    if (strcmp(o->name, "pixels") == 0) {
        e->kind = EMBED_PIXELS;
        e->dim = o->dim ? o->dim : 3 * PIXELS_DEFAULT_SIDE * PIXELS_DEFAULT_SIDE;
        e->side = (int)lround(sqrt(e->dim / 3.0));
        e->input = e->dim;
        if (3 * e->side * e->side != e->dim)
            return err_set(err, FERRY_EUSAGE, "pixels: --dim must be 3·S² for a side S (768 for "
                           "16×16, 3072 for 32×32), not %d", e->dim);
        return 0;
    }
    if (strcmp(o->name, "rp") == 0) {
        e->kind = EMBED_RP;
        e->dim = o->dim ? o->dim : RP_DEFAULT_DIM;
        e->side = RP_SIDE;
        e->input = 3 * RP_SIDE * RP_SIDE;
        if (e->dim < 1 || e->dim > 65536)
            return err_set(err, FERRY_EUSAGE, "rp: --dim must be from 1 to 65536");
        e->projection = xmalloc((size_t)e->dim * (size_t)e->input * sizeof *e->projection);
        fill_gaussian(e->projection, (size_t)e->dim * (size_t)e->input, o->seed,
                      1.0 / sqrt((double)e->dim));
        return 0;
    }
    if (strcmp(o->name, "dhash") == 0) {
        e->kind = EMBED_DHASH;
        e->dim = DHASH_W * DHASH_H - DHASH_H;
        e->input = DHASH_W * DHASH_H;
        e->side = DHASH_W;
        if (o->dim && o->dim != e->dim)
            return err_set(err, FERRY_EUSAGE, "dhash: the dimension is 64, not %d", o->dim);
        return 0;
    }
    if (strcmp(o->name, "mlp") == 0) {
        e->kind = EMBED_MLP;
        int rc = load_mlp(e, o->weights, err);
        if (rc == 0 && o->dim && o->dim != e->dim)
            rc = err_set(err, FERRY_EUSAGE, "mlp: the network gives %d values, not --dim %d",
                         e->dim, o->dim);
        return rc;
    }
    return err_set(err, FERRY_EUSAGE, "unknown embedder '%s' (pixels, rp, dhash or mlp)", o->name);
}

/* The matrices on the GPU; false if one does not fit. */
static bool upload(struct embedder *e)
{
    if (e->kind == EMBED_RP)
        return (e->projection_d = gpu_upload(e->gpu, e->projection, e->dim, e->input)) != NULL;
    e->weights_d = xcalloc((size_t)e->n_layers, sizeof *e->weights_d);
    for (int i = 0; i < e->n_layers; i++) {
        const struct layer *l = &e->layers[i];
        if (!(e->weights_d[i] = gpu_upload(e->gpu, l->weight, l->out, l->in)))
            return false;
    }
    return true;
}

static void drop_gpu(struct embedder *e)
{
    gpu_matrix_free(e->gpu, e->projection_d);
    for (int i = 0; e->weights_d && i < e->n_layers; i++)
        gpu_matrix_free(e->gpu, e->weights_d[i]);
    free(e->weights_d);
    e->weights_d = NULL;
    e->projection_d = NULL;
    gpu_close(e->gpu);
    e->gpu = NULL;
}

/* rp and mlp on a GPU when the device allows and one is there. */
static int choose_device(struct embedder *e, const struct embedder_options *o,
                         struct ferry_error *err)
{
    const char *want = o->device ? o->device : "auto";
    if (strcmp(want, "cpu") != 0 && strcmp(want, "auto") != 0 && strcmp(want, "gpu") != 0)
        return err_set(err, FERRY_EUSAGE, "--device takes auto, cpu or gpu, not '%s'", want);
    if (strcmp(want, "cpu") == 0 || (e->kind != EMBED_RP && e->kind != EMBED_MLP))
        return 0;                      /* pixels and dhash have no matrix work */
    char why[256];
    e->gpu = gpu_open(o->local_rank, why, sizeof why);
    if (e->gpu && !upload(e)) {
        snprintf(why, sizeof why, "%s: the embedder's matrices do not fit", gpu_name(e->gpu));
        drop_gpu(e);
    }
    if (!e->gpu && strcmp(want, "gpu") == 0)
        return err_set(err, FERRY_EPREFLIGHT, "--device gpu: no usable GPU: %s", why);
    if (!e->gpu)
        FLOG(LOG_DEBUG, "no usable GPU (%s): embedding on the CPU", why);
    else
        FLOG(LOG_DEBUG, "embedding on %s", gpu_name(e->gpu));
    return 0;
}

int embedder_open(const struct embedder_options *opts, struct embedder **out,
                  struct ferry_error *err)
{
    struct embedder *e = xcalloc(1, sizeof *e);
    if (opts->weights && strcmp(opts->name, "mlp") != 0) {
        free(e);
        return err_set(err, FERRY_EUSAGE, "--weights goes with --embedder mlp");
    }
    int rc = set_up(e, opts, err);
    if (rc == 0)
        rc = choose_device(e, opts, err);
    if (rc != 0) {
        embedder_close(e);
        return rc;
    }
    *out = e;
    return 0;
}

int embedder_dim(const struct embedder *e)
{
    return e->dim;
}

int embedder_input(const struct embedder *e)
{
    return e->input;
}

int embedder_min_side(const struct embedder *e)
{
    return e->side;
}

bool embedder_on_gpu(const struct embedder *e)
{
    return e->gpu != NULL;
}

const char *embedder_weights_sha256(const struct embedder *e)
{
    return e->weights_sha256;
}

/* ---- features -------------------------------------------------------------------- */

/* Zero mean, unit variance over the image, so brightness and contrast do
 * not dominate the distances (a flat image stays all zeros). */
static void normalise(float *v, int n)
{
    double sum = 0, squares = 0;
    for (int i = 0; i < n; i++)
        sum += v[i];
    double mean = sum / n;
    for (int i = 0; i < n; i++)
        squares += (v[i] - mean) * (v[i] - mean);
    double sd = sqrt(squares / n);
    for (int i = 0; i < n; i++)
        v[i] = sd > 1e-8 ? (float)((v[i] - mean) / sd) : 0.0f;
}

void embedder_features(const struct embedder *e, const struct image *img, float *features)
{
    if (e->kind == EMBED_DHASH) {
        image_resize_gray(img, DHASH_W, DHASH_H, features);
        return;
    }
    image_resize_rgb(img, e->side, features);
    normalise(features, e->input);
}

/* ---- running ----------------------------------------------------------------------- */

static void run_dhash(const float *gray, int batch, float *out)
{
    for (int b = 0; b < batch; b++) {
        const float *g = gray + (size_t)b * DHASH_W * DHASH_H;
        float *bits = out + (size_t)b * 64;
        for (int y = 0; y < DHASH_H; y++)
            for (int x = 0; x < DHASH_W - 1; x++)
                bits[y * (DHASH_W - 1) + x] = g[y * DHASH_W + x] > g[y * DHASH_W + x + 1];
    }
}

/* out[batch × rows] = in[batch × cols] · mᵀ: on the GPU when there is one
 * (d is m there), else, or if the GPU fails, through BLAS on the CPU. */
static void product(struct embedder *e, const float *in, int batch, const float *m,
                    const struct gpu_matrix *d, int rows, int cols, float *out)
{
    char why[256];
    if (e->gpu && gpu_gemm_nt(e->gpu, in, batch, cols, d, out, why, sizeof why) == 0)
        return;
    if (e->gpu) {
        FLOG(LOG_WARN, "%s: %s; going on on the CPU", gpu_name(e->gpu), why);
        drop_gpu(e);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, rows, cols, 1.0f, in, cols, m,
                cols, 0.0f, out, rows);
}

/* out[batch, l->out] = in[batch, l->in] · weightᵀ + bias, then ReLU unless last. */
static void run_layer(struct embedder *e, int i, const float *in, int batch, float *out)
{
    const struct layer *l = &e->layers[i];
    product(e, in, batch, l->weight, e->weights_d ? e->weights_d[i] : NULL, l->out, l->in, out);
    bool relu = i < e->n_layers - 1;
    for (int b = 0; b < batch; b++) {
        float *row = out + (size_t)b * l->out;
        for (int j = 0; j < l->out; j++) {
            row[j] += l->bias[j];
            if (relu && row[j] < 0)
                row[j] = 0;
        }
    }
}

static void run_mlp(struct embedder *e, const float *in, int batch, float *out)
{
    if (batch > e->scratch_rows) {
        int widest = 0;
        for (int i = 0; i < e->n_layers; i++)
            widest = e->layers[i].out > widest ? e->layers[i].out : widest;
        for (int s = 0; s < 2; s++)
            e->scratch[s] = xrealloc(e->scratch[s], (size_t)batch * (size_t)widest * sizeof(float));
        e->scratch_rows = batch;
    }
    const float *from = in;
    for (int i = 0; i < e->n_layers; i++) {
        float *to = i == e->n_layers - 1 ? out : e->scratch[i % 2];
        run_layer(e, i, from, batch, to);
        from = to;
    }
}

void embedder_run(struct embedder *e, const float *features, int batch, float *out)
{
    switch (e->kind) {
    case EMBED_PIXELS:
        memcpy(out, features, (size_t)batch * (size_t)e->dim * sizeof *out);
        break;
    case EMBED_RP:
        product(e, features, batch, e->projection, e->projection_d, e->dim, e->input, out);
        break;
    case EMBED_DHASH:
        run_dhash(features, batch, out);
        break;
    case EMBED_MLP:
        run_mlp(e, features, batch, out);
        break;
    }
}

void embedder_close(struct embedder *e)
{
    if (!e)
        return;
    drop_gpu(e);
    free(e->projection);
    for (int i = 0; i < e->n_layers; i++) {
        free(e->layers[i].weight);
        free(e->layers[i].bias);
    }
    free(e->layers);
    free(e->scratch[0]);
    free(e->scratch[1]);
    free(e);
}

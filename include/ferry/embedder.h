/* Embedders: an image in, D floats out, in batches.
 *
 *   pixels  the image box-averaged to S×S RGB, then normalised (zero mean,
 *           unit variance over the image): D = 3·S², 768 by default (S = 16)
 *   rp      a Gaussian random projection of 32×32 normalised pixels (3,072
 *           values) to D dimensions (256 by default), the matrix drawn from
 *           --seed, entries N(0, 1/D)
 *   dhash   the 64-bit difference hash: 9×8 grey, each bit whether a pixel
 *           is brighter than its right neighbour; D = 64, one float (0 or 1)
 *           a bit
 *   mlp     a user network from an HDF5 weights file in PyTorch's layout:
 *           layers/0/weight [out, in], layers/0/bias [out], layers/1/..., a
 *           ReLU between layers (none after the last); its input is the
 *           normalised pixels at the S with 3·S² = the first layer's in
 *
 * Matrix work (rp, mlp) runs through BLAS sgemm on a whole batch, or on an
 * NVIDIA GPU through cuBLAS (gpu.h) where there is one: --device auto uses
 * one if it can, gpu insists, cpu never tries. */
#ifndef FERRY_EMBEDDER_H
#define FERRY_EMBEDDER_H

#include <stdbool.h>
#include "ferry/err.h"
#include "ferry/image.h"

struct embedder_options {
    const char *name;                /* pixels, rp, dhash, mlp */
    int dim;                         /* 0: the embedder's default */
    long long seed;                  /* rp */
    const char *weights;             /* mlp: the HDF5 weights file */
    const char *device;              /* "auto" (NULL too), "cpu" or "gpu" */
    int local_rank;                  /* on this node: which GPU is ours */
};

struct embedder;

/* FERRY_EUSAGE for an unknown name or device, a --dim the embedder cannot
 * give, or weights it cannot use; FERRY_EPREFLIGHT for --device gpu without
 * a usable GPU (err says which and why). */
int embedder_open(const struct embedder_options *opts, struct embedder **out,
                  struct ferry_error *err);

int embedder_dim(const struct embedder *e);
/* Values per image that embedder_run takes (embedder_features makes them). */
int embedder_input(const struct embedder *e);
/* The side decoding should keep at least (for the JPEG scaled decode). */
int embedder_min_side(const struct embedder *e);
/* Does the matrix work run on a GPU (now: one that fails drops out)? */
bool embedder_on_gpu(const struct embedder *e);
/* sha256 of the weights file, "" without one. */
const char *embedder_weights_sha256(const struct embedder *e);

/* One image's input values (embedder_input of them). */
void embedder_features(const struct embedder *e, const struct image *img, float *features);

/* batch images' features in, batch × dim floats out. */
void embedder_run(struct embedder *e, const float *features, int batch, float *out);

void embedder_close(struct embedder *e);

#endif

/* The embeddings file: one HDF5 file that every rank writes with parallel
 * HDF5 (the MPI-IO driver), collectively.
 *
 *   /paths               fixed-width strings [N]: the items, in the order rank 0 fixed
 *   /embeddings          float32 [N, D]
 *   /status              uint8 [N]: 0 not computed, 1 ok, 2 undecodable
 *   /done                uint8 [N]: set only once the row's data are flushed
 *   attributes of /      embedder, dim, seed, weights_sha256, inputs_sha256, ferry_version
 *   /knn/indices         int64 [N, K], /knn/distances float32 [N, K], /knn/done uint8 [N]
 *   attributes of /knn   k, metric
 *
 * Datasets are contiguous and allocated when created, so rows can be written
 * in any order by any rank.  A row counts only when its done byte is set,
 * and done bytes are written after the data are flushed (h5store_commit): a
 * run killed at any moment leaves rows that are either done and whole, or
 * not done.  A new file is made under a temporary name and renamed once its
 * layout is complete. */
#ifndef FERRY_H5STORE_H
#define FERRY_H5STORE_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include "ferry/err.h"

enum h5store_status { H5STORE_PENDING = 0, H5STORE_OK = 1, H5STORE_UNDECODABLE = 2 };

/* What a rerun must match to add rows to an existing file. */
struct h5store_identity {
    const char *embedder;
    int dim;
    long long seed;
    const char *weights_sha256;      /* "" without a weights file */
    const char *inputs_sha256;       /* of the list of items, in order */
};

struct h5store;

/* Collective.  Open file for n items named by paths (rank 0's; longest
 * path_max bytes) computed by id.  A missing file is created; an existing one
 * must carry the same identity (FERRY_EUSAGE naming what differs) unless
 * overwrite, which starts afresh. */
int h5store_create(MPI_Comm comm, const char *file, char **paths, long long n, int path_max,
                   const struct h5store_identity *id, bool overwrite, struct h5store **out,
                   struct ferry_error *err);

/* Collective: open an existing file (for knn).  *rows and *dim describe it. */
int h5store_open(MPI_Comm comm, const char *file, struct h5store **out, long long *rows, int *dim,
                 struct ferry_error *err);

/* Collective: the done mask of the embeddings (which == "") or of knn
 * ("knn"), rows bytes on every rank. */
int h5store_read_done(struct h5store *s, const char *which, unsigned char *done,
                      struct ferry_error *err);

/* Collective: this rank's rows (ascending; n may be 0), with dim floats and
 * a status byte each. */
int h5store_write_embeddings(struct h5store *s, const long long *rows, size_t n,
                             const float *embeddings, const unsigned char *status,
                             struct ferry_error *err);

/* Collective: flush, set the done bytes of rows (which as above), flush. */
int h5store_commit(struct h5store *s, const char *which, const long long *rows, size_t n,
                   struct ferry_error *err);

/* Collective: every row's embedding and status, on every rank. */
int h5store_read_embeddings(struct h5store *s, float *embeddings, unsigned char *status,
                            struct ferry_error *err);

/* Collective: every path, on every rank (n strings; free each and the array). */
int h5store_read_paths(struct h5store *s, char ***paths, struct ferry_error *err);

/* Collective: make (or, with the same k and metric, keep) the knn group;
 * another k or metric is refused unless overwrite, which starts it afresh. */
int h5store_knn_begin(struct h5store *s, int k, const char *metric, bool overwrite,
                      struct ferry_error *err);

/* Collective: this rank's rows of the knn tables, k each. */
int h5store_write_knn(struct h5store *s, const long long *rows, size_t n,
                      const long long *indices, const float *distances, struct ferry_error *err);

/* Not collective: how many rows file has and how many are done (which as
 * for h5store_read_done; a missing knn group has none done).  For status. */
int h5store_progress(const char *file, const char *which, long long *rows, long long *done,
                     struct ferry_error *err);

/* What status FILE.h5 shows: the embeddings' rows and how many are done,
 * how they are computed, and the knn tables' progress (knn false when no
 * knn was begun). */
struct h5store_summary {
    long long rows, done;
    char embedder[32];
    int dim;
    bool knn;
    long long knn_done;
    int k;
    char metric[32];
};

/* Not collective, read-only: FERRY_ENOTFOUND for a missing file,
 * FERRY_EUSAGE for a file that is not ferry's embeddings. */
int h5store_summarize(const char *file, struct h5store_summary *out, struct ferry_error *err);

/* Collective. */
int h5store_close(struct h5store *s, struct ferry_error *err);

#endif

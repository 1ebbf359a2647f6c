/* Two rates behind ferry embed, each against its own ceiling:
 *
 *   sgemm   the rp embedder's BLAS call as embed makes it (tiles of 64 rows
 *           of 3,072 values, projected to 256), against OpenBLAS's sgemm on
 *           a large square product, both on one thread: GFLOP/s each.
 *   write   rows written with h5store (collective writes of --batch rows,
 *           then commit: flush, done bytes, flush), against one sequential
 *           write of the same bytes with fdatasync (what dd conv=fdatasync
 *           does): MB/s each.  Committing writes only the done bytes of the
 *           last batch here: the cost measured is the flushes.  Run under
 *           mpirun for the ranks' share.
 *
 *   mpirun -np 2 build/bench/embed_rates DIR [ROWS] [DIM] [BATCH]
 *
 * BATCH (rows a rank writes per collective call) is embed's default unless given.
 */
#include "ferry/embed.h"
#include "ferry/embedder.h"
#include "ferry/h5store.h"
#include "ferry/progress.h"

#include <cblas.h>
#include <fcntl.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TILE 64

static double sgemm_square(int n)
{
    float *a = malloc((size_t)n * n * sizeof *a), *b = malloc((size_t)n * n * sizeof *b);
    float *c = malloc((size_t)n * n * sizeof *c);
    for (size_t i = 0; i < (size_t)n * n; i++)
        a[i] = b[i] = (float)(i % 7) * 0.1f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double t = progress_now();
    int reps = 3;
    for (int r = 0; r < reps; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    t = progress_now() - t;
    free(a);
    free(b);
    free(c);
    return 2.0 * n * n * (double)n * reps / t / 1e9;
}

static double sgemm_embed(void)
{
    struct embedder *e;
    struct ferry_error err = {0};
    struct embedder_options o = {.name = "rp", .dim = 256, .seed = 1};
    if (embedder_open(&o, &e, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    int in = embedder_input(e);
    float *x = malloc((size_t)TILE * in * sizeof *x), *y = malloc((size_t)TILE * 256 * sizeof *y);
    for (size_t i = 0; i < (size_t)TILE * in; i++)
        x[i] = (float)(i % 13) * 0.01f;
    embedder_run(e, x, TILE, y);
    int reps = 400;
    double t = progress_now();
    for (int r = 0; r < reps; r++)
        embedder_run(e, x, TILE, y);
    t = progress_now() - t;
    embedder_close(e);
    free(x);
    free(y);
    return 2.0 * TILE * in * 256.0 * reps / t / 1e9;
}

/* Seconds to write rows × dim floats through h5store, batch rows a round. */
static double h5_write(const char *dir, long long rows, int dim, int batch)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char *file = NULL;
    if (asprintf(&file, "%s/bench.h5", dir) < 0)
        exit(1);
    unlink(file);
    char **paths = NULL;
    if (rank == 0) {
        paths = malloc((size_t)rows * sizeof *paths);
        for (long long r = 0; r < rows; r++)
            if (asprintf(&paths[r], "img/%08lld.jpg", r) < 0)
                exit(1);
    }
    struct h5store_identity id = {"bench", dim, 0, "", "bench"};
    struct h5store *s;
    struct ferry_error err = {0};
    if (h5store_create(MPI_COMM_WORLD, file, paths, rows, 16, &id, true, &s, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    long long from = rows * rank / size, to = rows * (rank + 1) / size;
    float *emb = malloc((size_t)batch * dim * sizeof *emb);
    unsigned char *st = malloc((size_t)batch);
    long long *ids = malloc((size_t)batch * sizeof *ids);
    memset(st, 1, (size_t)batch);
    for (size_t i = 0; i < (size_t)batch * dim; i++)
        emb[i] = (float)i;
    long long rounds = (rows / size + batch - 1) / batch + 1;
    MPI_Barrier(MPI_COMM_WORLD);
    double t = progress_now(), last = t;
    long long next = from;
    for (long long k = 0; k < rounds; k++) {
        size_t n = 0;
        while (n < (size_t)batch && next < to)
            ids[n++] = next++;
        h5store_write_embeddings(s, ids, n, emb, st, &err);
        /* Commit as embed does: every 5 s (rank 0's clock) and at the end. */
        int due = rank == 0 && progress_now() - last >= 5.0;
        MPI_Bcast(&due, 1, MPI_INT, 0, MPI_COMM_WORLD);
        if (due || k == rounds - 1) {
            h5store_commit(s, "", ids, n, &err);
            last = progress_now();
        }
    }
    h5store_close(s, &err);
    MPI_Barrier(MPI_COMM_WORLD);
    t = progress_now() - t;
    for (long long r = 0; rank == 0 && r < rows; r++)
        free(paths[r]);
    free(paths);
    free(emb);
    free(st);
    free(ids);
    unlink(file);
    free(file);
    return t;
}

/* Seconds for one process to write bytes sequentially, then fdatasync. */
static double dd_write(const char *dir, long long bytes)
{
    char *file = NULL;
    if (asprintf(&file, "%s/dd.bin", dir) < 0)
        exit(1);
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    size_t block = 1 << 20;
    char *buf = calloc(1, block);
    double t = progress_now();
    for (long long done = 0; done < bytes; done += (long long)block)
        if (write(fd, buf, block) < 0)
            exit(1);
    fdatasync(fd);
    t = progress_now() - t;
    close(fd);
    unlink(file);
    free(buf);
    free(file);
    return t;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const char *dir = argc > 1 ? argv[1] : ".";
    long long rows = argc > 2 ? atoll(argv[2]) : 400000;
    int dim = argc > 3 ? atoi(argv[3]) : 256;
    openblas_set_num_threads(1);
    if (rank == 0) {
        double own = sgemm_square(2048), embed = sgemm_embed();
        printf("sgemm, one thread: OpenBLAS 2048^3 %.1f GFLOP/s; "
               "embed's rp tiles (64 x 3072 -> 256) %.1f GFLOP/s (%.0f %%)\n", own, embed,
               100 * embed / own);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    double bytes = (double)rows * dim * 4;
    int batch = argc > 4 ? atoi(argv[4]) : embed_default_batch(dim);
    double h5 = h5_write(dir, rows, dim, batch);
    if (rank == 0) {
        double dd = dd_write(dir, (long long)bytes);
        printf("write %.0f MB in batches of %d rows: h5store %.2f s (%.0f MB/s); "
               "dd-like %.2f s (%.0f MB/s) (%.0f %%)\n", bytes / 1e6, batch, h5,
               bytes / h5 / 1e6, dd, bytes / dd / 1e6, 100 * dd / h5);
    }
    MPI_Finalize();
    return 0;
}

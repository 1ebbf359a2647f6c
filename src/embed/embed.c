#include "ferry/embed.h"
#include "ferry/comm.h"
#include "ferry/fsutil.h"
#include "ferry/h5store.h"
#include "ferry/image.h"
#include "ferry/items.h"
#include "ferry/log.h"
#include "ferry/pack.h"
#include "ferry/progress.h"
#include "ferry/rounds.h"
#include "ferry/xalloc.h"

#include <cblas.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMBED_WRITE_BYTES (1 << 20)
#define EMBED_DEFAULT_COMMIT 5.0

/* One rank's work: its share of the pending rows, and what it has written
 * but not yet committed. */
struct share {
    long long *rows;
    size_t n, next;
    long long *written;
    size_t n_written, cap_written;
    struct pack undecodable;         /* path, reason */
    long long ok, bad;
};

/* Decode row into features; false (and the reason noted) when it cannot be. */
static bool features_of(struct item_reader *reader, const struct item_list *items,
                        const struct embedder *e, long long row, float *features,
                        struct share *sh)
{
    unsigned char *data = NULL;
    size_t len = 0;
    struct ferry_error err = {0};
    char why[FERRY_ERRMSG_MAX] = "";
    struct image img = {0};
    int status = item_read(reader, row, &data, &len, &err);
    if (status != 0)
        snprintf(why, sizeof why, "%s", err.msg);
    else if (image_decode(data, len, embedder_min_side(e), &img, why, sizeof why) != IMAGE_OK)
        status = -1;
    free(data);
    if (status != 0) {
        FLOG(LOG_WARN, "%s: undecodable: %s", items->paths[row], why);
        pack_str(&sh->undecodable, items->paths[row]);
        pack_str(&sh->undecodable, why);
        return false;
    }
    embedder_features(e, &img, features);
    image_free(&img);
    return true;
}

/* Rows are embedded in tiles of EMBED_TILE consecutive row indices, each
 * row at its place in its tile (the others zero): BLAS kernels give a row
 * bit-identical results only at the same place in a call of the same
 * shape, so this way a row's embedding is the same whichever rank computes
 * it, with whatever neighbours, in a first run or a resumed one. */
#define EMBED_TILE 64

struct tile {
    long long id;                    /* row / EMBED_TILE, or -1 when empty */
    float *features, *out;           /* EMBED_TILE rows each */
};

/* Embed the tile and copy its rows among rows[from, to) into out. */
static void flush_tile(struct embedder *e, struct tile *t, const long long *rows,
                       const unsigned char *status, size_t from, size_t to, float *out)
{
    int dim = embedder_dim(e);
    embedder_run(e, t->features, EMBED_TILE, t->out);
    for (size_t i = from; i < to; i++)
        if (status[i] == H5STORE_OK)
            memcpy(out + i * (size_t)dim, t->out + (size_t)(rows[i] % EMBED_TILE) * dim,
                   (size_t)dim * sizeof *out);
    memset(t->features, 0, (size_t)EMBED_TILE * (size_t)embedder_input(e) * sizeof(float));
}

/* Decode and embed rows[0, n) into out (undecodable rows stay zeros). */
static void embed_rows(struct item_reader *reader, const struct item_list *items,
                       struct embedder *e, const long long *rows, size_t n, float *out,
                       unsigned char *status, struct share *sh)
{
    int input = embedder_input(e);
    struct tile t = {
        .id = -1,
        .features = xcalloc((size_t)EMBED_TILE * (size_t)input, sizeof(float)),
        .out = xmalloc((size_t)EMBED_TILE * (size_t)embedder_dim(e) * sizeof(float)),
    };
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        if (t.id >= 0 && rows[i] / EMBED_TILE != t.id) {
            flush_tile(e, &t, rows, status, from, i, out);
            from = i;
        }
        t.id = rows[i] / EMBED_TILE;
        float *slot = t.features + (size_t)(rows[i] % EMBED_TILE) * input;
        bool ok = features_of(reader, items, e, rows[i], slot, sh);
        status[i] = ok ? H5STORE_OK : H5STORE_UNDECODABLE;
        sh->ok += ok;
        sh->bad += !ok;
    }
    if (t.id >= 0)
        flush_tile(e, &t, rows, status, from, n, out);
    free(t.features);
    free(t.out);
}

/* The next batch of this rank's share: decoded, embedded, written (a
 * collective call, so it runs on every rank every round). */
static int step(struct h5store *store, struct item_reader *reader, const struct item_list *items,
                struct embedder *e, struct share *sh, int batch, struct ferry_error *err)
{
    size_t n = sh->n - sh->next < (size_t)batch ? sh->n - sh->next : (size_t)batch;
    const long long *rows = sh->rows + sh->next;
    float *out = xcalloc((n + 1) * (size_t)embedder_dim(e), sizeof *out);
    unsigned char *status = xmalloc(n + 1);
    embed_rows(reader, items, e, rows, n, out, status, sh);
    int rc = h5store_write_embeddings(store, rows, n, out, status, err);
    xgrow((void **)&sh->written, &sh->cap_written, sh->n_written + n + 1, sizeof *sh->written);
    memcpy(sh->written + sh->n_written, rows, n * sizeof *rows);
    sh->n_written += n;
    sh->next += n;
    free(out);
    free(status);
    return rc;
}

/* What the rounds of one rank work with. */
struct embed_rounds {
    const struct embed_options *opts;
    struct h5store *store;
    struct item_reader *reader;
    const struct item_list *items;
    struct embedder *e;
    struct share *sh;
    long long pending;               /* rows to compute on all ranks */
};

int embed_default_batch(int dim)
{
    int batch = EMBED_WRITE_BYTES / (dim * (int)sizeof(float));
    return batch < 64 ? 64 : batch > 4096 ? 4096 : batch;
}

static int round_step(void *ud, struct ferry_error *err)
{
    struct embed_rounds *x = ud;
    int batch = x->opts->batch > 0 ? x->opts->batch : embed_default_batch(embedder_dim(x->e));
    return step(x->store, x->reader, x->items, x->e, x->sh, batch, err);
}

static bool round_left(void *ud)
{
    const struct share *sh = ((struct embed_rounds *)ud)->sh;
    return sh->next < sh->n;
}

static int round_commit(void *ud, struct ferry_error *err)
{
    struct embed_rounds *x = ud;
    int rc = h5store_commit(x->store, "", x->sh->written, x->sh->n_written, err);
    x->sh->n_written = 0;
    return rc;
}

static long long round_done(void *ud)
{
    return (long long)((struct embed_rounds *)ud)->sh->next;
}

static void round_progress(void *ud, long long done, double seconds)
{
    const struct embed_rounds *x = ud;
    rounds_print_progress("embed", x->opts->json, x->opts->quiet, done, x->pending, seconds);
}

static int run_rounds(MPI_Comm comm, struct embed_rounds *x, struct ferry_error *err)
{
    const struct rounds r = {
        .step = round_step, .left = round_left, .commit = round_commit, .done = round_done,
        .progress = round_progress,
        .every = x->opts->commit_every > 0 ? x->opts->commit_every : EMBED_DEFAULT_COMMIT,
    };
    x->reader = item_reader_new(x->items);
    int rc = rounds_run(comm, &r, x, err);
    item_reader_free(x->reader);
    return rc;
}

static int open_embedder(MPI_Comm comm, const struct embed_options *o, struct embedder **e,
                         struct ferry_error *err)
{
    /* Ranks on one node share its GPUs by their rank on the node. */
    MPI_Comm node;
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    struct embedder_options eo = o->embedder;
    MPI_Comm_rank(node, &eo.local_rank);
    MPI_Comm_free(&node);
    int rc = embedder_open(&eo, e, err);
    int worst = rc;
    MPI_Allreduce(MPI_IN_PLACE, &worst, 1, MPI_INT, MPI_MIN, comm);
    if (worst != 0 && rc == 0) {
        embedder_close(*e);
        *e = NULL;
        return err_set(err, worst, "the embedder could not be set up on another rank");
    }
    return worst;
}

static void pack_items(void *items, struct pack *out)
{
    items_pack(out, items);
}

static void unpack_items(void *items, struct pack *in)
{
    items_unpack(in, items);
}

/* Rank 0 lists the items, every rank gets them. */
static int share_items(MPI_Comm comm, const struct embed_options *o, struct item_list *items,
                       struct ferry_error *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    int rc = rank == 0 ? items_list(o->inputs, o->n_inputs, items, err) : 0;
    return comm_share(comm, rc, pack_items, unpack_items, items, err);
}

/* --out's folder, made on rank 0 as mkdir -p would, before the collective create. */
static int make_out_folder(MPI_Comm comm, const char *out, struct ferry_error *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    const char *slash = strrchr(out, '/');
    int rc = 0;
    if (rank == 0 && slash && slash != out) {
        char *dir = xstrndup(out, (size_t)(slash - out));
        rc = fs_mkdirs(dir, err);
        free(dir);
    }
    return comm_agree(comm, rc, err);
}

/* Rank 0: the undecodable items of every rank, for the report. */
static void gather_undecodable(MPI_Comm comm, struct share *sh, struct embed_report *r)
{
    struct pack all;
    int *lens = NULL, *offsets = NULL;
    comm_gather_packs(comm, &sh->undecodable, &all, &lens, &offsets);
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        struct pack in;
        pack_wrap(&in, all.data, all.len);
        while (!pack_done(&in)) {
            r->undecodable_items = xrealloc(r->undecodable_items, (r->n_undecodable_items + 1) *
                                                                      sizeof *r->undecodable_items);
            struct embed_failure *f = &r->undecodable_items[r->n_undecodable_items++];
            f->path = unpack_str(&in);
            f->reason = unpack_str(&in);
        }
        pack_free(&all);
    }
    free(lens);
    free(offsets);
}

int embed_run(MPI_Comm comm, const struct embed_options *o, struct embed_report *r,
              struct ferry_error *err)
{
    memset(r, 0, sizeof *r);
    double start = progress_now();
    /* One rank per core: BLAS threads of their own would only fight the
     * other ranks for the cores (OPENBLAS_NUM_THREADS still decides). */
    if (!getenv("OPENBLAS_NUM_THREADS"))
        openblas_set_num_threads(1);
    struct embedder *e = NULL;
    int rc = open_embedder(comm, o, &e, err);
    struct item_list items;
    memset(&items, 0, sizeof items);
    if (rc == 0)
        rc = share_items(comm, o, &items, err);
    struct h5store *store = NULL;
    struct h5store_identity id = {
        .embedder = o->embedder.name, .dim = e ? embedder_dim(e) : 0,
        .seed = strcmp(o->embedder.name, "rp") == 0 ? o->embedder.seed : 0,
        .weights_sha256 = e ? embedder_weights_sha256(e) : "", .inputs_sha256 = items.sha256,
    };
    if (rc == 0)
        rc = make_out_folder(comm, o->out, err);
    if (rc == 0)
        rc = h5store_create(comm, o->out, items.paths, items.n, items.path_max, &id, o->overwrite,
                            &store, err);
    struct share sh = {0};
    pack_init(&sh.undecodable);
    if (rc == 0) {
        unsigned char *done = xmalloc((size_t)items.n + 1);
        rc = h5store_read_done(store, "", done, err);
        long long pending = 0;
        if (rc == 0) {
            rounds_share(comm, done, items.n, &sh.rows, &sh.n, &pending);
            r->done_before = items.n - pending;
        }
        free(done);
        struct embed_rounds x = {
            .opts = o, .store = store, .items = &items, .e = e, .sh = &sh, .pending = pending,
        };
        if (rc == 0)
            rc = run_rounds(comm, &x, err);
        long long mine[4] = {(long long)sh.next, sh.ok, sh.bad,
                             embedder_on_gpu(e)},
                  sums[4] = {0};
        MPI_Reduce(mine, sums, 4, MPI_LONG_LONG, MPI_SUM, 0, comm);
        r->computed = sums[0];
        r->ok = sums[1];
        r->undecodable = sums[2];
        r->on_gpu = (int)sums[3];
        gather_undecodable(comm, &sh, r);
    }
    struct ferry_error close_err = {0};
    if (h5store_close(store, &close_err) != 0 && rc == 0) {
        *err = close_err;
        rc = close_err.code;
    }
    r->rows = items.n;
    r->interrupted = rc == FERRY_EINTR;
    r->seconds = progress_now() - start;
    free(sh.rows);
    free(sh.written);
    pack_free(&sh.undecodable);
    items_free(&items);
    embedder_close(e);
    return rc;
}

void embed_report_free(struct embed_report *r)
{
    for (size_t i = 0; i < r->n_undecodable_items; i++) {
        free(r->undecodable_items[i].path);
        free(r->undecodable_items[i].reason);
    }
    free(r->undecodable_items);
    memset(r, 0, sizeof *r);
}

#include "ferry/neighbours.h"
#include "ferry/h5store.h"
#include "ferry/knn.h"
#include "ferry/log.h"
#include "ferry/progress.h"
#include "ferry/rounds.h"
#include "ferry/xalloc.h"

#include <cblas.h>
#include <cjson/cJSON.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KNN_DEFAULT_K 10
#define KNN_QUERIES_PER_ROUND 2048
#define KNN_COMMIT_EVERY 5.0

/* ---- positions for --geo ------------------------------------------------------ */

struct position {
    char *path;
    double lat, lon;
};

static int compare_position(const void *a, const void *b)
{
    return strcmp(((const struct position *)a)->path, ((const struct position *)b)->path);
}

static const char *const path_keys[] = {"file_name", "path", "filename"};
static const char *const lat_keys[] = {"latitude", "lat"};
static const char *const lon_keys[] = {"longitude", "lon", "lng"};

static int key_index(const char *name, const char *const *keys, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(name, keys[i]) == 0)
            return i;
    return -1;
}

static const cJSON *json_field(const cJSON *o, const char *const *keys, int n)
{
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
        if (v)
            return v;
    }
    return NULL;
}

static bool parse_json_line(const char *line, struct position *p)
{
    cJSON *o = cJSON_Parse(line);
    const cJSON *path = json_field(o, path_keys, 3), *lat = json_field(o, lat_keys, 2),
                *lon = json_field(o, lon_keys, 3);
    bool ok = cJSON_IsString(path) && cJSON_IsNumber(lat) && cJSON_IsNumber(lon);
    if (ok)
        *p = (struct position){xstrdup(path->valuestring), lat->valuedouble, lon->valuedouble};
    cJSON_Delete(o);
    return ok;
}

/* The columns of a CSV header: which holds the path, latitude, longitude. */
static bool csv_columns(char *header, int cols[3])
{
    cols[0] = cols[1] = cols[2] = -1;
    int i = 0;
    for (char *field = strtok(header, ",\r\n"); field; field = strtok(NULL, ",\r\n"), i++) {
        if (key_index(field, path_keys, 3) >= 0)
            cols[0] = i;
        else if (key_index(field, lat_keys, 2) >= 0)
            cols[1] = i;
        else if (key_index(field, lon_keys, 3) >= 0)
            cols[2] = i;
    }
    return cols[0] >= 0 && cols[1] >= 0 && cols[2] >= 0;
}

static bool parse_csv_line(char *line, const int cols[3], struct position *p)
{
    char *fields[3] = {NULL, NULL, NULL}, *save = NULL;
    int i = 0;
    for (char *f = strtok_r(line, ",\r\n", &save); f; f = strtok_r(NULL, ",\r\n", &save), i++)
        for (int c = 0; c < 3; c++)
            if (cols[c] == i)
                fields[c] = f;
    if (!fields[0] || !fields[1] || !fields[2])
        return false;
    char *end1, *end2;
    double lat = strtod(fields[1], &end1), lon = strtod(fields[2], &end2);
    if (*end1 || *end2)
        return false;
    *p = (struct position){xstrdup(fields[0]), lat, lon};
    return true;
}

/* Every position in META (JSON lines, or CSV with a header), sorted by path. */
static int load_positions(const char *meta, struct position **out, size_t *n,
                          struct ferry_error *err)
{
    FILE *f = fopen(meta, "r");
    if (!f)
        return err_sys(err, FERRY_ENOTFOUND, errno, "%s", meta);
    char *line = NULL;
    size_t cap = 0, have = 0;
    int cols[3];
    bool csv = false, first = true;
    long long bad = 0, lineno = 0;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        if (first && line[0] != '{') {
            csv = csv_columns(line, cols);
            first = false;
            if (!csv) {
                free(line);
                fclose(f);
                return err_set(err, FERRY_EUSAGE, "%s: neither JSON lines nor a CSV header "
                               "naming file_name, latitude and longitude", meta);
            }
            continue;
        }
        first = false;
        struct position p;
        if (line[strspn(line, " \t\r\n")] == '\0')
            continue;
        if (!(csv ? parse_csv_line(line, cols, &p) : parse_json_line(line, &p))) {
            if (bad++ < 3)
                FLOG(LOG_WARN, "%s: line %lld: no path, latitude and longitude", meta, lineno);
            continue;
        }
        xgrow((void **)out, &have, *n + 1, sizeof **out);
        (*out)[(*n)++] = p;
    }
    free(line);
    fclose(f);
    qsort(*out, *n, sizeof **out, compare_position);
    return 0;
}

static const struct position *find_position(const struct position *all, size_t n,
                                            const char *path)
{
    struct position key = {.path = (char *)path};
    const struct position *p = bsearch(&key, all, n, sizeof *all, compare_position);
    const char *slash = strchr(path, '/');
    if (!p && slash) {             /* an archive's entry, keyed without the archive */
        key.path = (char *)slash + 1;
        p = bsearch(&key, all, n, sizeof *all, compare_position);
    }
    return p;
}

/* X becomes rows × 2 (latitude, longitude); rows without one are NaN. */
static int geo_matrix(struct h5store *s, long long rows, const char *meta, float **X,
                      struct ferry_error *err)
{
    struct position *all = NULL;
    size_t n = 0;
    int rc = load_positions(meta, &all, &n, err);
    char **paths = NULL;
    if (rc == 0)
        rc = h5store_read_paths(s, &paths, err);
    if (rc == 0) {
        *X = xmalloc((size_t)rows * 2 * sizeof **X);
        for (long long r = 0; r < rows; r++) {
            const struct position *p = find_position(all, n, paths[r]);
            (*X)[2 * r] = p ? (float)p->lat : NAN;
            (*X)[2 * r + 1] = p ? (float)p->lon : NAN;
        }
    }
    for (long long r = 0; paths && r < rows; r++)
        free(paths[r]);
    free(paths);
    for (size_t i = 0; i < n; i++)
        free(all[i].path);
    free(all);
    return rc;
}

/* The embeddings; undecodable rows become NaN, so they are nobody's neighbour. */
static int embedding_matrix(struct h5store *s, long long rows, int dim, float **X,
                            struct ferry_error *err)
{
    *X = xmalloc(((size_t)rows * (size_t)dim + 1) * sizeof **X);
    unsigned char *status = xmalloc((size_t)rows + 1);
    int rc = h5store_read_embeddings(s, *X, status, err);
    for (long long r = 0; rc == 0 && r < rows; r++)
        if (status[r] != H5STORE_OK)
            for (int c = 0; c < dim; c++)
                (*X)[(size_t)r * dim + c] = NAN;
    free(status);
    return rc;
}

/* ---- the rounds ---------------------------------------------------------------- */

struct knn_job {
    const struct neighbours_options *opts;
    struct h5store *store;
    const float *X;
    long long rows;
    int dim, k;
    enum knn_metric metric;
    long long *mine;                 /* this rank's pending rows, ascending */
    size_t n_mine, next;
    long long *written;
    size_t n_written;
    long long pending, without;
};

/* The next run of consecutive rows of this rank's share, at most max. */
static size_t next_run(const struct knn_job *j, size_t max)
{
    size_t n = 0;
    while (j->next + n < j->n_mine && n < max &&
           (n == 0 || j->mine[j->next + n] == j->mine[j->next + n - 1] + 1))
        n++;
    return n;
}

static int knn_step(void *ud, struct ferry_error *err)
{
    struct knn_job *j = ud;
    size_t n = next_run(j, KNN_QUERIES_PER_ROUND);
    long long *idx = xmalloc((n * (size_t)j->k + 1) * sizeof *idx);
    float *dist = xmalloc((n * (size_t)j->k + 1) * sizeof *dist);
    const long long *rows = j->mine + j->next;
    int rc = n > 0 ? knn_rows(j->X, j->rows, j->dim, rows[0], (long long)n, j->k, j->metric, idx,
                              dist, err)
                   : 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        j->without += idx[i * (size_t)j->k] < 0;
    int wrc = h5store_write_knn(j->store, rows, rc == 0 ? n : 0, idx, dist, err);
    if (rc == 0) {
        memcpy(j->written + j->n_written, rows, n * sizeof *rows);
        j->n_written += n;
        j->next += n;
    }
    free(idx);
    free(dist);
    return rc != 0 ? rc : wrc;
}

static bool knn_left(void *ud)
{
    const struct knn_job *j = ud;
    return j->next < j->n_mine;
}

static int knn_commit(void *ud, struct ferry_error *err)
{
    struct knn_job *j = ud;
    int rc = h5store_commit(j->store, "knn", j->written, j->n_written, err);
    j->n_written = 0;
    return rc;
}

static long long knn_done(void *ud)
{
    return (long long)((struct knn_job *)ud)->next;
}

static void knn_progress(void *ud, long long done, double seconds)
{
    const struct knn_job *j = ud;
    rounds_print_progress("knn", j->opts->json, j->opts->quiet, done, j->pending, seconds);
}

static int parse_metric(const struct neighbours_options *o, enum knn_metric *m,
                        const char **name, struct ferry_error *err)
{
    if (o->geo) {
        *m = KNN_GEO;
        *name = "geo";
    } else if (!o->metric || strcmp(o->metric, "l2") == 0) {
        *m = KNN_L2;
        *name = "l2";
    } else if (strcmp(o->metric, "cosine") == 0) {
        *m = KNN_COSINE;
        *name = "cosine";
    } else {
        return err_set(err, FERRY_EUSAGE, "--metric takes l2 or cosine, not '%s'", o->metric);
    }
    return 0;
}

static int run(MPI_Comm comm, struct knn_job *j, struct neighbours_report *r,
               const char *metric_name, struct ferry_error *err)
{
    int rc = h5store_knn_begin(j->store, j->k, metric_name, j->opts->overwrite, err);
    unsigned char *done = xmalloc((size_t)j->rows + 1);
    if (rc == 0)
        rc = h5store_read_done(j->store, "knn", done, err);
    if (rc == 0) {
        rounds_share(comm, done, j->rows, &j->mine, &j->n_mine, &j->pending);
        j->written = xmalloc((j->n_mine + 1) * sizeof *j->written);
        r->done_before = j->rows - j->pending;
        const struct rounds rounds = {
            .step = knn_step, .left = knn_left, .commit = knn_commit, .done = knn_done,
            .progress = knn_progress,
            .every = j->opts->commit_every > 0 ? j->opts->commit_every : KNN_COMMIT_EVERY,
        };
        rc = rounds_run(comm, &rounds, j, err);
    }
    free(done);
    long long mine[2] = {(long long)j->next, j->without}, sums[2] = {0};
    MPI_Reduce(mine, sums, 2, MPI_LONG_LONG, MPI_SUM, 0, comm);
    r->computed = sums[0];
    r->without = sums[1];
    return rc;
}

int neighbours_run(MPI_Comm comm, const struct neighbours_options *o,
                   struct neighbours_report *r, struct ferry_error *err)
{
    memset(r, 0, sizeof *r);
    double start = progress_now();
    if (!getenv("OPENBLAS_NUM_THREADS"))
        openblas_set_num_threads(1);          /* one rank per core, as in embed */
    struct knn_job j = {.opts = o, .k = o->k > 0 ? o->k : KNN_DEFAULT_K};
    const char *metric_name = NULL;
    int rc = parse_metric(o, &j.metric, &metric_name, err);
    if (rc != 0)
        return rc;
    rc = h5store_open(comm, o->file, &j.store, &j.rows, &j.dim, err);
    if (rc != 0)
        return rc;
    float *X = NULL;
    rc = o->geo ? geo_matrix(j.store, j.rows, o->geo, &X, err)
                : embedding_matrix(j.store, j.rows, j.dim, &X, err);
    int worst = rc;
    MPI_Allreduce(MPI_IN_PLACE, &worst, 1, MPI_INT, MPI_MIN, comm);
    if (worst != 0 && rc == 0)
        rc = err_set(err, worst, "%s: reading the rows failed on another rank", o->file);
    if (o->geo)
        j.dim = 2;
    j.X = X;
    if (rc == 0)
        rc = run(comm, &j, r, metric_name, err);
    struct ferry_error close_err = {0};
    if (h5store_close(j.store, &close_err) != 0 && rc == 0) {
        *err = close_err;
        rc = close_err.code;
    }
    r->rows = j.rows;
    r->interrupted = rc == FERRY_EINTR;
    r->seconds = progress_now() - start;
    free(X);
    free(j.mine);
    free(j.written);
    return rc;
}

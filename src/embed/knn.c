#include "ferry/knn.h"
#include "ferry/xalloc.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define KNN_BUFFER_MAX (64LL << 20)   /* bytes of tile, query and candidate buffers */
#define KNN_TILE_QUERIES 512
#define KNN_TILE_ROWS 2048            /* with 512 queries a 4 MiB tile, well inside L3 */
#define KNN_MARGIN_MIN 16             /* extra candidates to absorb the float GEMM error */

/* The rows as the tile search ranks them: a tile entry g (q.b from GEMM, or
 * the squared chord for geo) puts row b at off[b] + mul[b] * g, smaller being
 * nearer.  Terms that are the same for every b of one query are left out. */
struct knn_space {
    const float *x;
    long long n;
    int d;
    enum knn_metric metric;
    float *off;
    float *mul;
    double *unit;   /* KNN_GEO: rows as 3-D unit vectors, in double so close points stay apart */
};

/* The query side of a tile: a range of the matrix, or rows gathered from it. */
struct knn_queries {
    const float *x;       /* count rows of d */
    const double *unit;   /* KNN_GEO: count unit vectors */
    const long long *row; /* which rows they are, for gathered ones */
    long long first;      /* which rows they are, for a range */
    int count;
};

/* The best candidates so far of each query of a tile, each list sorted by key. */
struct knn_cands {
    int cap;
    int *len;
    float *key;
    long long *idx;
};

struct knn_ranked {
    double dist;
    long long idx;
};

/* One call's state: the rows, and buffers for one tile of queries. */
struct knn_search {
    struct knn_space s;
    int k;
    int queries, rows;         /* the tile */
    struct knn_cands c;
    float *g;                  /* queries x rows scores */
    struct knn_ranked *ranked; /* queries x c.cap */
    /* Queries the candidates could not settle, and how far a rescan looks. */
    int redo_count;
    int *redo;
    long long *redo_row;
    float *redo_limit;
    float *redo_x;
    double *redo_unit;
};

static int check_args(long long n, int d, long long first, long long count, int k,
                      enum knn_metric metric, struct knn_block block, struct ferry_error *err)
{
    if (k < 1)
        return err_set(err, FERRY_EUSAGE, "knn: k must be at least 1, not %d", k);
    if (d < 1)
        return err_set(err, FERRY_EUSAGE, "knn: rows must have at least one column, not %d", d);
    if (metric != KNN_L2 && metric != KNN_COSINE && metric != KNN_GEO)
        return err_set(err, FERRY_EUSAGE, "knn: unknown metric %d", (int)metric);
    if (metric == KNN_GEO && d != 2)
        return err_set(err, FERRY_EUSAGE, "knn: geo rows are (latitude, longitude), not %d columns",
                       d);
    if (n < 0 || first < 0 || count < 0 || first > n - count)
        return err_set(err, FERRY_EUSAGE, "knn: query rows [%lld, %lld) are not among the %lld",
                       first, first + count, n);
    if (block.queries < 1 || block.rows < 1)
        return err_set(err, FERRY_EUSAGE, "knn: a tile of %d x %d rows is empty", block.queries,
                       block.rows);
    return 0;
}

static double dot_d(const float *a, const float *b, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* L2 ranks by |b|^2 - 2 q.b: |q - b|^2 without the |q|^2 every b shares. */
static void space_l2(struct knn_space *s)
{
    for (long long b = 0; b < s->n; b++) {
        const float *row = s->x + b * s->d;
        s->off[b] = (float)dot_d(row, row, s->d);
        s->mul[b] = -2;
    }
}

/* Cosine ranks by -q.b / |b|, which is |q| (1 - cos) less |q|: no normalised
 * copy of the matrix is needed.  A zero row scores 0, as an orthogonal one. */
static void space_cosine(struct knn_space *s)
{
    for (long long b = 0; b < s->n; b++) {
        const float *row = s->x + b * s->d;
        double norm = sqrt(dot_d(row, row, s->d));
        s->off[b] = 0;
        s->mul[b] = norm == 0 ? 0 : (float)(-1 / norm);
    }
}

/* The chord between unit vectors grows with the great-circle angle, so the
 * nearest by squared chord are the nearest on the sphere, across the
 * antimeridian and the poles alike. */
static int space_geo(struct knn_space *s, struct ferry_error *err)
{
    s->unit = xmalloc((size_t)s->n * 3 * sizeof *s->unit);
    for (long long b = 0; b < s->n; b++) {
        double lat = s->x[2 * b], lon = s->x[2 * b + 1];
        if (fabs(lat) > 90)   /* most likely longitude and latitude swapped */
            return err_set(err, FERRY_EUSAGE, "knn: row %lld has latitude %g, outside [-90, 90]",
                           b, lat);
        double phi = lat * (M_PI / 180), lambda = lon * (M_PI / 180);
        s->unit[3 * b] = cos(phi) * cos(lambda);
        s->unit[3 * b + 1] = cos(phi) * sin(lambda);
        s->unit[3 * b + 2] = sin(phi);
        s->off[b] = 0;
        s->mul[b] = 1;
    }
    return 0;
}

static int space_init(struct knn_space *s, const float *X, long long n, int d,
                      enum knn_metric metric, struct ferry_error *err)
{
    *s = (struct knn_space){.x = X, .n = n, .d = d, .metric = metric};
    s->off = xmalloc((size_t)n * sizeof *s->off);
    s->mul = xmalloc((size_t)n * sizeof *s->mul);
    if (metric == KNN_GEO)
        return space_geo(s, err);
    if (metric == KNN_COSINE)
        space_cosine(s);
    else
        space_l2(s);
    return 0;
}

static void space_free(struct knn_space *s)
{
    free(s->off);
    free(s->mul);
    free(s->unit);
}

static long long query_row(const struct knn_queries *qs, int i)
{
    return qs->row ? qs->row[i] : qs->first + i;
}

static void chord_tile(const double *q, int qn, const double *b, int bn, float *g)
{
    for (int i = 0; i < qn; i++, q += 3) {
        for (int j = 0; j < bn; j++) {
            double dx = q[0] - b[3 * j], dy = q[1] - b[3 * j + 1], dz = q[2] - b[3 * j + 2];
            g[(size_t)i * bn + j] = (float)(dx * dx + dy * dy + dz * dz);
        }
    }
}

/* Fill the tile g with the raw scores of the queries against rows b0 .. b0 + bn. */
static void tile_scores(const struct knn_space *s, const struct knn_queries *qs, long long b0,
                        int bn, float *g)
{
    if (s->metric == KNN_GEO)
        chord_tile(qs->unit, qs->count, s->unit + 3 * b0, bn, g);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, qs->count, bn, s->d, 1, qs->x, s->d,
                    s->x + b0 * s->d, s->d, 0, g, bn);
}

/* The rows of the tile that starts at b0: all of a tile but the last. */
static int tile_rows(const struct knn_search *w, long long b0)
{
    return (int)(w->s.n - b0 < w->rows ? w->s.n - b0 : w->rows);
}

/* The sum scan_row makes, to the bit, so a rescan's limit means the same. */
static float score(const struct knn_space *s, long long b, float g)
{
    return s->off[b] + s->mul[b] * g;
}

/* Insert v into a sorted list of *len (at most cap) entries, dropping the
 * worst when full; the caller has checked that v beats it.  An equal key goes
 * after the ones there, which came from smaller indices. */
static void list_insert(float *key, long long *idx, int *len, int cap, float v, long long b)
{
    int pos = *len < cap ? (*len)++ : cap - 1;
    for (; pos > 0 && key[pos - 1] > v; pos--) {
        key[pos] = key[pos - 1];
        idx[pos] = idx[pos - 1];
    }
    key[pos] = v;
    idx[pos] = b;
}

static float list_worst(const float *key, int len, int cap)
{
    return len < cap ? INFINITY : key[cap - 1];
}

/* Offer the rows b0.. of one tile row to query i's list.  Almost every score
 * loses to the current worst, so that comparison is the whole hot loop. */
static void scan_row(struct knn_cands *c, int i, const float *g, const float *off,
                     const float *mul, long long b0, int bn)
{
    float *key = c->key + (size_t)i * c->cap;
    long long *idx = c->idx + (size_t)i * c->cap;
    float worst = list_worst(key, c->len[i], c->cap);
    for (int j = 0; j < bn; j++) {
        float v = off[j] + mul[j] * g[j];
        if (v < worst) {
            list_insert(key, idx, &c->len[i], c->cap, v, b0 + j);
            worst = list_worst(key, c->len[i], c->cap);
        }
    }
}

static void scan_tile(const struct knn_space *s, struct knn_cands *c, const struct knn_queries *qs,
                      long long b0, int bn, float *g)
{
    for (int i = 0; i < qs->count; i++) {
        float *row = g + (size_t)i * bn;
        long long self = query_row(qs, i) - b0;
        if (self >= 0 && self < bn)
            row[self] = NAN;   /* compares less than nothing, so a row never finds itself */
        scan_row(c, i, row, s->off + b0, s->mul + b0, b0, bn);
    }
}

static double l2_exact(const float *a, const float *b, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++) {
        double diff = (double)a[i] - b[i];
        s += diff * diff;
    }
    return sqrt(s);
}

static double cosine_exact(const float *a, const float *b, int d)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < d; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    if (aa == 0 || bb == 0)
        return 1;
    double dist = 1 - ab / sqrt(aa * bb);
    /* Rounding can take a row's twin a hair below 0; twins must tie. */
    return dist < 0 ? 0 : dist > 2 ? 2 : dist;
}

static double exact_distance(const struct knn_space *s, long long q, long long b)
{
    const float *qx = s->x + q * s->d, *bx = s->x + b * s->d;
    if (s->metric == KNN_GEO)
        return knn_haversine_m(qx[0], qx[1], bx[0], bx[1]);
    if (s->metric == KNN_COSINE)
        return cosine_exact(qx, bx, s->d);
    return l2_exact(qx, bx, s->d);
}

static int ranked_cmp(const void *pa, const void *pb)
{
    const struct knn_ranked *a = pa, *b = pb;
    if (a->dist != b->dist)
        return a->dist < b->dist ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* Insert into r, sorted by distance then index, of at most k; b is larger
 * than every index there, so it goes after its equals. */
static void ranked_insert(struct knn_ranked *r, int *len, int k, double dist, long long b)
{
    if (*len == k && !(dist < r[k - 1].dist))
        return;
    int pos = *len < k ? (*len)++ : k - 1;
    for (; pos > 0 && r[pos - 1].dist > dist; pos--)
        r[pos] = r[pos - 1];
    r[pos] = (struct knn_ranked){dist, b};
}

static void emit(const struct knn_ranked *r, int len, int k, long long *idx, float *dist)
{
    for (int j = 0; j < k; j++) {
        idx[j] = j < len ? r[j].idx : -1;
        dist[j] = j < len ? (float)r[j].dist : INFINITY;
    }
}

/* The k-th distance dk as a score, and a bound on how far a float score may
 * be from the true one for rows that could be that near: Higham's gamma_d for
 * the dot product, doubled, and the roundings around it. */
static void score_bound(const struct knn_space *s, long long q, double dk, double worst,
                        double *at, double *error)
{
    const float *qx = s->x + q * s->d;
    double c = (2.0 * s->d + 8) * FLT_EPSILON / 2;
    if (s->metric == KNN_GEO) {
        double chord = 2 * sin(dk / (2 * KNN_EARTH_RADIUS_M)), top = fmax(worst, chord * chord);
        *at = chord * chord;
        *error = 2 * FLT_EPSILON * top + 32 * DBL_EPSILON * sqrt(top);
        return;
    }
    double nq = sqrt(dot_d(qx, qx, s->d));
    if (s->metric == KNN_COSINE) {
        *at = nq * (dk - 1);
        *error = c * nq;
        return;
    }
    /* Only rows with |b| <= |q| + dk can be that near. */
    *at = dk * dk - nq * nq;
    *error = c * (2 * nq + dk) * (2 * nq + dk);
}

/* Rows left out of a full list all scored at least its worst; when that is
 * further than the float error from the k-th, none of them can tie or beat
 * it.  Otherwise *limit is the score a rescan must look up to. */
static bool list_settles(const struct knn_search *w, int i, long long q, double dk, float *limit)
{
    const struct knn_cands *c = &w->c;
    if (c->len[i] < c->cap)
        return true;   /* every row went in */
    double worst = c->key[(size_t)i * c->cap + c->cap - 1], at, error;
    score_bound(&w->s, q, dk, worst, &at, &error);
    *limit = (float)(at + 2 * error);
    return worst - error > at;
}

/* The float scores only chose candidates; the order and the distances
 * reported come from the metric itself, in double.  Returns whether the
 * candidates settle it. */
static bool rerank(struct knn_search *w, int i, long long q, float *limit, long long *idx,
                   float *dist)
{
    const long long *cand = w->c.idx + (size_t)i * w->c.cap;
    struct knn_ranked *r = w->ranked + (size_t)i * w->c.cap;
    int len = w->c.len[i];
    for (int j = 0; j < len; j++)
        r[j] = (struct knn_ranked){exact_distance(&w->s, q, cand[j]), cand[j]};
    qsort(r, (size_t)len, sizeof *r, ranked_cmp);
    if (len >= w->k && !list_settles(w, i, q, r[w->k - 1].dist, limit))
        return false;
    emit(r, len, w->k, idx, dist);
    return true;
}

/* The unsettled queries, copied together so one GEMM serves them all. */
static struct knn_queries redo_queries(struct knn_search *w)
{
    const struct knn_space *s = &w->s;
    for (int r = 0; r < w->redo_count; r++) {
        long long q = w->redo_row[r];
        if (s->metric == KNN_GEO)
            memcpy(w->redo_unit + 3 * r, s->unit + 3 * q, 3 * sizeof *s->unit);
        else
            memcpy(w->redo_x + (size_t)r * s->d, s->x + q * s->d, (size_t)s->d * sizeof *s->x);
    }
    return (struct knn_queries){.x = w->redo_x, .unit = w->redo_unit, .row = w->redo_row,
                                .count = w->redo_count};
}

/* A tie or near-tie wider than the list (many twins of one row): walk every
 * row again for the unsettled queries, ranking exactly all that could score
 * up to their limit. */
static void rescan(struct knn_search *w, long long *idx, float *dist)
{
    struct knn_queries qs = redo_queries(w);
    int *len = w->c.len;   /* the candidate lists are spent; these count the new ones */
    for (int r = 0; r < qs.count; r++)
        len[r] = 0;
    for (long long b0 = 0; b0 < w->s.n; b0 += w->rows) {
        int bn = tile_rows(w, b0);
        tile_scores(&w->s, &qs, b0, bn, w->g);
        for (int r = 0; r < qs.count; r++) {
            const float *g = w->g + (size_t)r * bn;
            long long q = qs.row[r];
            for (int j = 0; j < bn; j++)
                if (score(&w->s, b0 + j, g[j]) <= w->redo_limit[r] && b0 + j != q)
                    ranked_insert(w->ranked + (size_t)r * w->c.cap, &len[r], w->k,
                                  exact_distance(&w->s, q, b0 + j), b0 + j);
        }
    }
    for (int r = 0; r < qs.count; r++) {
        size_t out = (size_t)w->redo[r] * w->k;
        emit(w->ranked + (size_t)r * w->c.cap, len[r], w->k, idx + out, dist + out);
    }
}

/* Answer the queries of qs against every row, one tile of rows at a time. */
static void search_queries(struct knn_search *w, const struct knn_queries *qs, long long *idx,
                           float *dist)
{
    for (int i = 0; i < qs->count; i++)
        w->c.len[i] = 0;
    for (long long b0 = 0; b0 < w->s.n; b0 += w->rows) {
        int bn = tile_rows(w, b0);
        tile_scores(&w->s, qs, b0, bn, w->g);
        scan_tile(&w->s, &w->c, qs, b0, bn, w->g);
    }
    w->redo_count = 0;
    for (int i = 0; i < qs->count; i++) {
        int r = w->redo_count;
        long long q = qs->first + i;
        if (!rerank(w, i, q, &w->redo_limit[r], idx + (size_t)i * w->k, dist + (size_t)i * w->k)) {
            w->redo[r] = i;
            w->redo_row[r] = q;
            w->redo_count++;
        }
    }
    if (w->redo_count > 0)
        rescan(w, idx, dist);
}

/* Candidates kept per query: k plus a margin for rows the float scores put in
 * the wrong order, no more than there are other rows (but room for one). */
static int cands_per_query(long long n, int k)
{
    long long margin = k > KNN_MARGIN_MIN ? k : KNN_MARGIN_MIN;
    long long cap = (long long)k + margin;
    if (cap > n - 1)
        cap = n - 1;
    return cap < 1 ? 1 : (int)cap;
}

static void search_init(struct knn_search *w, long long count, int k, struct knn_block block)
{
    long long n = w->s.n;
    int q = count < block.queries ? (int)count : block.queries;
    w->k = k;
    w->queries = q;
    w->rows = n < block.rows ? (int)n : block.rows;
    w->c.cap = cands_per_query(n, k);
    w->c.len = xmalloc((size_t)q * sizeof *w->c.len);
    w->c.key = xmalloc((size_t)q * w->c.cap * sizeof *w->c.key);
    w->c.idx = xmalloc((size_t)q * w->c.cap * sizeof *w->c.idx);
    w->g = xmalloc((size_t)q * w->rows * sizeof *w->g);
    w->ranked = xmalloc((size_t)q * w->c.cap * sizeof *w->ranked);
    w->redo = xmalloc((size_t)q * sizeof *w->redo);
    w->redo_row = xmalloc((size_t)q * sizeof *w->redo_row);
    w->redo_limit = xmalloc((size_t)q * sizeof *w->redo_limit);
    w->redo_x = w->s.metric == KNN_GEO ? NULL : xmalloc((size_t)q * w->s.d * sizeof *w->redo_x);
    w->redo_unit = w->s.metric == KNN_GEO ? xmalloc((size_t)q * 3 * sizeof *w->redo_unit) : NULL;
}

static void search_free(struct knn_search *w)
{
    free(w->c.len);
    free(w->c.key);
    free(w->c.idx);
    free(w->g);
    free(w->ranked);
    free(w->redo);
    free(w->redo_row);
    free(w->redo_limit);
    free(w->redo_x);
    free(w->redo_unit);
}

int knn_rows_blocked(const float *X, long long n, int d, long long first, long long count, int k,
                     enum knn_metric metric, struct knn_block block, long long *idx, float *dist,
                     struct ferry_error *err)
{
    int rc = check_args(n, d, first, count, k, metric, block, err);
    if (rc != 0 || count == 0)
        return rc;
    struct knn_search w;
    rc = space_init(&w.s, X, n, d, metric, err);
    if (rc == 0) {
        search_init(&w, count, k, block);
        for (long long q0 = first; q0 < first + count; q0 += w.queries) {
            long long left = first + count - q0;
            struct knn_queries qs = {.x = X + q0 * d, .first = q0,
                                     .unit = w.s.unit ? w.s.unit + 3 * q0 : NULL,
                                     .count = left < w.queries ? (int)left : w.queries};
            size_t out = (size_t)(q0 - first) * k;
            search_queries(&w, &qs, idx + out, dist + out);
        }
        search_free(&w);
    }
    space_free(&w.s);
    return rc;
}

/* A tile of KNN_TILE_ROWS rows and as many queries as fit, with what each
 * query needs besides, in KNN_BUFFER_MAX. */
static struct knn_block block_for(long long n, int d, int k)
{
    long long cap = cands_per_query(n, k);
    long long per_query = KNN_TILE_ROWS * (long long)sizeof(float) +
                          cap * (long long)(sizeof(float) + sizeof(long long)) +
                          cap * (long long)sizeof(struct knn_ranked) +
                          d * (long long)sizeof(float) + 64;
    long long queries = KNN_BUFFER_MAX / per_query;
    if (queries > KNN_TILE_QUERIES)
        queries = KNN_TILE_QUERIES;
    return (struct knn_block){queries < 1 ? 1 : (int)queries, KNN_TILE_ROWS};
}

int knn_rows(const float *X, long long n, int d, long long first, long long count, int k,
             enum knn_metric metric, long long *idx, float *dist, struct ferry_error *err)
{
    return knn_rows_blocked(X, n, d, first, count, k, metric, block_for(n, d, k), idx, dist, err);
}

double knn_haversine_m(double lat1, double lon1, double lat2, double lon2)
{
    double rad = M_PI / 180;
    double sdlat = sin((lat2 - lat1) * rad / 2), sdlon = sin((lon2 - lon1) * rad / 2);
    double a = sdlat * sdlat + cos(lat1 * rad) * cos(lat2 * rad) * sdlon * sdlon;
    if (a > 1)
        a = 1;
    /* atan2 rather than asin(sqrt(a)): it stays accurate near antipodes. */
    return 2 * KNN_EARTH_RADIUS_M * atan2(sqrt(a), sqrt(1 - a));
}

/* k nearest neighbours against a brute-force reference in double: L2, cosine
 * and geo, whole ranges and ranges across tile edges, ties, short answers,
 * bad arguments.  `test_knn --bench` times a 1,000-query share of n = 100,000,
 * d = 256, k = 10 (set OPENBLAS_NUM_THREADS=1 for one core). */
#include "check.h"
#include "ferry/knn.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 700
#define D 24
#define K 7

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* splitmix64, so every run sees the same data. */
static double uniform(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static float *random_rows(long long n, int d)
{
    float *x = malloc((size_t)n * d * sizeof *x);
    for (long long i = 0; i < n * d; i++)
        x[i] = (float)(2 * uniform() - 1);
    return x;
}

static void report(const char *what, int failed_before)
{
    printf("%s: %s\n", check_failed == failed_before ? "ok" : "FAIL", what);
}

/* The haversine formula as written in textbooks, asin form. */
static double haversine(double lat1, double lon1, double lat2, double lon2)
{
    double r = M_PI / 180;
    double a = pow(sin((lat2 - lat1) * r / 2), 2) +
               cos(lat1 * r) * cos(lat2 * r) * pow(sin((lon2 - lon1) * r / 2), 2);
    return 2 * 6371008.8 * asin(sqrt(a));
}

static double ref_distance(const float *x, int d, enum knn_metric m, long long a, long long b)
{
    const float *p = x + a * d, *q = x + b * d;
    if (m == KNN_GEO)
        return haversine(p[0], p[1], q[0], q[1]);
    double pq = 0, pp = 0, qq = 0, sq = 0;
    for (int i = 0; i < d; i++) {
        pq += (double)p[i] * q[i];
        pp += (double)p[i] * p[i];
        qq += (double)q[i] * q[i];
        sq += ((double)p[i] - q[i]) * ((double)p[i] - q[i]);
    }
    if (m == KNN_L2)
        return sqrt(sq);
    return pp == 0 || qq == 0 ? 1 : 1 - pq / sqrt(pp * qq);
}

struct ranked {
    double dist;
    long long idx;
};

static int ranked_cmp(const void *pa, const void *pb)
{
    const struct ranked *a = pa, *b = pb;
    if (a->dist != b->dist)
        return a->dist < b->dist ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Sort every other row by distance, then index; keep k. */
static void brute(const float *x, long long n, int d, long long q, int k, enum knn_metric m,
                  long long *idx, double *dist)
{
    struct ranked *all = malloc((size_t)n * sizeof *all);
    long long len = 0;
    for (long long b = 0; b < n; b++)
        if (b != q)
            all[len++] = (struct ranked){ref_distance(x, d, m, q, b), b};
    qsort(all, (size_t)len, sizeof *all, ranked_cmp);
    for (int j = 0; j < k; j++) {
        idx[j] = j < len ? all[j].idx : -1;
        dist[j] = j < len ? all[j].dist : INFINITY;
    }
    free(all);
}

/* How many of the answers for rows first.. differ from brute force; the
 * first difference goes to stderr. */
static long long mismatches(const float *x, long long n, int d, long long first, long long count,
                            int k, enum knn_metric m, const long long *idx, const float *dist)
{
    long long bad = 0, ref_idx[64];
    double ref_dist[64];
    for (long long q = 0; q < count; q++) {
        brute(x, n, d, first + q, k, m, ref_idx, ref_dist);
        for (int j = 0; j < k; j++) {
            double got = dist[q * k + j], want = ref_dist[j];
            bool same_dist = isinf(want) ? isinf(got) : fabs(got - want) <= 1e-6 * fmax(want, 1e-3);
            if (idx[q * k + j] == ref_idx[j] && same_dist)
                continue;
            if (bad++ == 0)
                fprintf(stderr, "row %lld, neighbour %d: got %lld at %.9g, want %lld at %.9g\n",
                        first + q, j, idx[q * k + j], got, ref_idx[j], want);
        }
    }
    return bad;
}

/* Run knn (the default tiles, or the given ones) and compare with brute force. */
static void check_range(const char *what, const float *x, long long n, int d, long long first,
                        long long count, int k, enum knn_metric m, const struct knn_block *block)
{
    int failed = check_failed;
    long long *idx = malloc((size_t)(count * k) * sizeof *idx);
    float *dist = malloc((size_t)(count * k) * sizeof *dist);
    struct ferry_error err = {0};
    int rc = block ? knn_rows_blocked(x, n, d, first, count, k, m, *block, idx, dist, &err)
                   : knn_rows(x, n, d, first, count, k, m, idx, dist, &err);
    CHECK(rc == 0);
    if (rc == 0)
        CHECK(mismatches(x, n, d, first, count, k, m, idx, dist) == 0);
    free(idx);
    free(dist);
    report(what, failed);
}

static void test_metric(enum knn_metric m, const char *name)
{
    char what[128];
    float *x = random_rows(N, D);
    struct knn_block small = {64, 100};
    snprintf(what, sizeof what, "%s, whole range", name);
    check_range(what, x, N, D, 0, N, K, m, NULL);
    snprintf(what, sizeof what, "%s, whole range in 64 x 100 tiles", name);
    check_range(what, x, N, D, 0, N, K, m, &small);
    snprintf(what, sizeof what, "%s, rows 150..483 in 64 x 100 tiles", name);
    check_range(what, x, N, D, 150, 333, K, m, &small);
    snprintf(what, sizeof what, "%s, rows 150..483 in 1 x 7 tiles", name);
    check_range(what, x, N, D, 150, 333, K, m, &(struct knn_block){1, 7});
    free(x);
}

/* Rows 0, 10, 20, ... are one vector, 70 times over: more twins than a
 * candidate list holds, and GEMM need not score twins alike, so only the
 * rescan can settle their tie by index. */
static void test_duplicates(enum knn_metric m, const char *name)
{
    char what[128];
    float *x = random_rows(N, D);
    for (int r = 10; r < N; r += 10)
        memcpy(x + r * D, x, D * sizeof *x);
    struct knn_block small = {64, 100};
    int failed = check_failed;
    long long idx[3 * K];
    float dist[3 * K];
    struct ferry_error err = {0};
    CHECK(knn_rows_blocked(x, N, D, 19, 3, K, m, small, idx, dist, &err) == 0);
    for (int j = 0; j < K; j++) {   /* row 20 finds 0, 10, 30, 40, ... */
        CHECK(idx[K + j] == (j < 2 ? 10 * j : 10 * (j + 1)));
        CHECK(dist[K + j] == 0);
    }
    snprintf(what, sizeof what, "%s: 70 twins, row 20 finds 0, 10, 30, 40...", name);
    report(what, failed);
    snprintf(what, sizeof what, "%s: 70 twins, whole range", name);
    check_range(what, x, N, D, 0, N, K, m, NULL);
    snprintf(what, sizeof what, "%s: 70 twins, whole range in 64 x 100 tiles", name);
    check_range(what, x, N, D, 0, N, K, m, &small);
    free(x);
}

static void test_short(void)
{
    int failed = check_failed;
    float *x = random_rows(5, D);
    long long idx[5 * K];
    float dist[5 * K];
    struct ferry_error err = {0};
    CHECK(knn_rows(x, 5, D, 0, 5, K, KNN_L2, idx, dist, &err) == 0);
    for (int q = 0; q < 5; q++)
        for (int j = 4; j < K; j++)
            CHECK(idx[q * K + j] == -1 && isinf(dist[q * K + j]) && dist[q * K + j] > 0);
    CHECK(mismatches(x, 5, D, 0, 5, K, KNN_L2, idx, dist) == 0);
    CHECK(knn_rows(x, 1, D, 0, 1, 2, KNN_COSINE, idx, dist, &err) == 0);
    CHECK(idx[0] == -1 && idx[1] == -1 && isinf(dist[0]) && isinf(dist[1]));
    free(x);
    report("n <= k: the tail is -1 at +INFINITY", failed);
}

static void test_zero_row(void)
{
    int failed = check_failed;
    float *x = random_rows(N, D);
    memset(x + 3 * D, 0, D * sizeof *x);
    long long idx[K];
    float dist[K];
    struct ferry_error err = {0};
    CHECK(knn_rows(x, N, D, 3, 1, K, KNN_COSINE, idx, dist, &err) == 0);
    for (int j = 0; j < K; j++)
        CHECK(idx[j] == (j < 3 ? j : j + 1) && dist[j] == 1);
    report("cosine: a zero row is at 1 from everything", failed);
    check_range("cosine with a zero row, against brute force", x, N, D, 0, N, K, KNN_COSINE,
                &(struct knn_block){64, 100});
    free(x);
}

static void test_nan_row(void)
{
    int failed = check_failed;
    float *x = random_rows(50, D);
    x[5 * D + 2] = NAN;
    long long idx[50 * K];
    float dist[50 * K];
    struct ferry_error err = {0};
    CHECK(knn_rows(x, 50, D, 0, 50, K, KNN_L2, idx, dist, &err) == 0);
    for (int j = 0; j < K; j++)
        CHECK(idx[5 * K + j] == -1);
    for (int i = 0; i < 50 * K; i++)
        CHECK(idx[i] != 5);
    free(x);
    report("a row with a NaN has no neighbours and is nobody's", failed);
}

static const struct city {
    const char *name;
    float lat, lon;
} cities[] = {
    {"Paris", 48.8566f, 2.3522f},      {"London", 51.5074f, -0.1278f},
    {"Brussels", 50.8503f, 4.3517f},   {"New York", 40.7128f, -74.0060f},
    {"Tokyo", 35.6762f, 139.6503f},    {"Sydney", -33.8688f, 151.2093f},
    {"Suva", -18.1248f, 178.4501f},    {"Apia", -13.8333f, -171.7667f},
    {"Longyearbyen", 78.2232f, 15.6267f},
};

static void test_cities(void)
{
    int failed = check_failed;
    /* Paris - London by hand: dlat = 2.6508 deg, dlon = -2.48 deg,
     * a = sin^2(dlat/2) + cos(48.8566) cos(51.5074) sin^2(dlon/2) = 0.00072680,
     * 2 R asin(sqrt(a)) = 343556.5 m. */
    double pl = knn_haversine_m(48.8566, 2.3522, 51.5074, -0.1278);
    CHECK(fabs(pl - 343556.5) < 1);
    CHECK(fabs(pl - haversine(48.8566, 2.3522, 51.5074, -0.1278)) < 1);
    int nc = (int)(sizeof cities / sizeof *cities);
    float x[2 * 16];
    for (int i = 0; i < nc; i++) {
        x[2 * i] = cities[i].lat;
        x[2 * i + 1] = cities[i].lon;
        for (int j = 0; j < nc; j++)
            CHECK(fabs(knn_haversine_m(cities[i].lat, cities[i].lon, cities[j].lat, cities[j].lon) -
                       haversine(cities[i].lat, cities[i].lon, cities[j].lat, cities[j].lon)) < 1);
    }
    long long idx[16 * 3];
    float dist[16 * 3];
    struct ferry_error err = {0};
    CHECK(knn_rows(x, nc, 2, 0, nc, 3, KNN_GEO, idx, dist, &err) == 0);
    CHECK(idx[0] == 2 && idx[1] == 1);   /* Paris: Brussels, then London */
    CHECK(fabs(dist[1] - pl) < 1);       /* the rows are float: 0.4 m steps */
    CHECK(idx[6 * 3] == 7);              /* Suva: Apia, across the antimeridian */
    CHECK(fabs(dist[6 * 3] - 1149172.4) < 1);
    CHECK(mismatches(x, nc, 2, 0, nc, 3, KNN_GEO, idx, dist) == 0);
    report("geo: cities, haversine by hand", failed);
}

/* Uniform on the sphere, with crowds at the antimeridian and the poles, one
 * of points a few metres apart (float GEMM on unit vectors could not tell
 * those apart) and 140 points at one spot. */
static float *sphere_points(long long n)
{
    float *x = malloc((size_t)n * 2 * sizeof *x);
    for (long long i = 0; i < n; i++) {
        double lat = asin(2 * uniform() - 1) * 180 / M_PI, lon = 360 * uniform() - 180;
        switch (i % 5) {
        case 1:
            lon = uniform() < 0.5 ? 179.5 + 0.5 * uniform() : -179.5 - 0.5 * uniform();
            break;
        case 2:
            lat = (uniform() < 0.5 ? 1 : -1) * (89.5 + 0.5 * uniform());
            break;
        case 3:
            lat = 48.8566 + 1e-4 * uniform();
            lon = 2.3522 + 1e-4 * uniform();
            break;
        case 4:
            lat = -33.8688;
            lon = 151.2093;
            break;
        }
        x[2 * i] = (float)lat;
        x[2 * i + 1] = (float)lon;
    }
    return x;
}

static void test_sphere(void)
{
    float *x = sphere_points(N);
    check_range("geo: random points, antimeridian, poles, a crowd 10 m wide, twins", x, N, 2, 0,
                N, K, KNN_GEO, NULL);
    check_range("geo: the same, rows 150..483 in 64 x 100 tiles", x, N, 2, 150, 333, K, KNN_GEO,
                &(struct knn_block){64, 100});
    free(x);
}

static void test_bad_arguments(void)
{
    int failed = check_failed;
    float x[2 * 10] = {0};
    long long idx[10 * 3];
    float dist[10 * 3];
    struct ferry_error err = {0};
    CHECK(knn_rows(x, 10, 2, 0, 10, 0, KNN_L2, idx, dist, &err) == FERRY_EUSAGE);
    CHECK(strstr(err.msg, "k must be") != NULL);
    CHECK(knn_rows(x, 5, 4, 0, 5, 3, KNN_GEO, idx, dist, &err) == FERRY_EUSAGE);
    CHECK(strstr(err.msg, "geo") != NULL);
    CHECK(knn_rows(x, 10, 2, 8, 3, 3, KNN_L2, idx, dist, &err) == FERRY_EUSAGE);
    CHECK(strstr(err.msg, "[8, 11)") != NULL);
    CHECK(knn_rows(x, 10, 2, -1, 3, 3, KNN_L2, idx, dist, &err) == FERRY_EUSAGE);
    CHECK(knn_rows(x, 10, 0, 0, 3, 3, KNN_L2, idx, dist, &err) == FERRY_EUSAGE);
    CHECK(knn_rows(x, 10, 2, 0, 3, 3, (enum knn_metric)7, idx, dist, &err) == FERRY_EUSAGE);
    CHECK(knn_rows_blocked(x, 10, 2, 0, 3, 3, KNN_L2, (struct knn_block){0, 8}, idx, dist,
                           &err) == FERRY_EUSAGE);
    x[2 * 6] = 120;   /* longitude where the latitude should be */
    CHECK(knn_rows(x, 10, 2, 0, 3, 3, KNN_GEO, idx, dist, &err) == FERRY_EUSAGE);
    CHECK(strstr(err.msg, "row 6") != NULL);
    CHECK(knn_rows(x, 10, 2, 10, 0, 3, KNN_L2, idx, dist, &err) == 0);   /* nothing to do */
    report("bad arguments are refused", failed);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The benchmark's shape: n = 100,000, d = 256, k = 10, two ranks each
 * answering 50,000 queries. */
static int bench(long long queries)
{
    const long long n = 100000;
    const int d = 256, k = 10;
    float *x = random_rows(n, d);
    long long *idx = malloc((size_t)(queries * k) * sizeof *idx);
    float *dist = malloc((size_t)(queries * k) * sizeof *dist);
    struct ferry_error err = {0};
    double t = seconds();
    int rc = knn_rows(x, n, d, n / 2, queries, k, KNN_L2, idx, dist, &err);
    t = seconds() - t;
    CHECK(rc == 0);
    printf("n %lld d %d k %d: %lld queries in %.2f s, %.0f queries/s; 50,000 would take %.1f s\n",
           n, d, k, queries, t, queries / t, 50000 / (queries / t));
    CHECK(mismatches(x, n, d, n / 2, 10, k, KNN_L2, idx, dist) == 0);
    free(x);
    free(idx);
    free(dist);
    return check_summary("test_knn --bench");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bench") == 0)
        return bench(argc > 2 ? atoll(argv[2]) : 1000);
    test_metric(KNN_L2, "l2");
    test_metric(KNN_COSINE, "cosine");
    test_duplicates(KNN_L2, "l2");
    test_duplicates(KNN_COSINE, "cosine");
    test_short();
    test_zero_row();
    test_nan_row();
    test_cities();
    test_sphere();
    test_bad_arguments();
    return check_summary("test_knn");
}

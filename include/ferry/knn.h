/* Exact k nearest neighbours of one rank's share of query rows.
 *
 * `ferry knn` reads the whole matrix on every rank and hands each rank a
 * contiguous range of query rows; knn_rows answers that range against all
 * rows.  Candidates come from blocked float GEMM (BLAS threading is the
 * caller's choice) and are re-ranked in double; a query whose candidates
 * cannot settle it (more near-ties than they hold) is scanned again.  So the
 * order and the distances are those of the metric in double, not of the
 * float shortcut. */
#ifndef FERRY_KNN_H
#define FERRY_KNN_H

#include "ferry/err.h"

enum knn_metric {
    KNN_L2,       /* Euclidean distance, not squared */
    KNN_COSINE,   /* 1 - cosine similarity; a zero row is at 1 from everything */
    KNN_GEO,      /* d = 2, rows (latitude, longitude) in degrees; great-circle metres */
};

/* Mean Earth radius (IUGG), the radius knn_haversine_m uses. */
#define KNN_EARTH_RADIUS_M 6371008.8

/* How many queries and database rows one GEMM tile spans. */
struct knn_block {
    int queries;
    int rows;
};

/* The k nearest neighbours of rows [first, first + count) of X (n rows of d
 * float32, row-major) among all n rows, the row itself excluded.
 *
 * idx gets count * k row indices and dist count * k distances: row by row,
 * nearest first, ties broken by the smaller index.  Where fewer than k rows
 * qualify (n - 1 < k) the tail is idx -1 and dist +INFINITY.  A row holding a
 * NaN has no neighbours and is nobody's neighbour.
 *
 * Returns 0, or FERRY_EUSAGE with err filled: k < 1, d < 1, d != 2 for
 * KNN_GEO, a latitude outside [-90, 90], or a range outside [0, n). */
int knn_rows(const float *X, long long n, int d, long long first, long long count, int k,
             enum knn_metric metric, long long *idx, float *dist, struct ferry_error *err);

/* knn_rows with the tile size given rather than chosen (tests cross tile
 * edges with small ones).  knn_rows picks tiles that keep its buffers under
 * 64 MiB, besides 8 bytes a row (32 for geo). */
int knn_rows_blocked(const float *X, long long n, int d, long long first, long long count, int k,
                     enum knn_metric metric, struct knn_block block, long long *idx, float *dist,
                     struct ferry_error *err);

/* Great-circle distance in metres between two (latitude, longitude) points in
 * degrees, by the haversine formula on a sphere of KNN_EARTH_RADIUS_M. */
double knn_haversine_m(double lat1, double lon1, double lat2, double lon2);

#endif

/* ferry knn: the k nearest neighbours of every row of an embeddings file,
 * written into the same file (/knn/indices, /knn/distances, /knn/done).
 *
 * Every rank reads the whole matrix; the rows not yet done are dealt out in
 * contiguous shares; each rank answers a block of its queries at a time
 * (knn.h), then all ranks write their blocks collectively, and every few
 * seconds the rows written are committed (flushed, marked done, flushed), so
 * a killed run resumes with any number of ranks.  Undecodable rows have no
 * neighbours (indices -1, distances +inf) and are nobody's neighbour.
 *
 * --geo META ranks by great-circle distance in metres instead, between the
 * rows' latitude and longitude from a JSON-lines or CSV file keyed by path:
 * a record names the path in "file_name", "path" or "filename" and the
 * position in "latitude"/"lat" and "longitude"/"lon"/"lng".  A path of an
 * archive's entry matches with or without the archive's name in front.
 * Rows without a position have no neighbours. */
#ifndef FERRY_NEIGHBOURS_H
#define FERRY_NEIGHBOURS_H

#include <mpi.h>
#include <stdbool.h>
#include "ferry/err.h"

struct neighbours_options {
    const char *file;                /* FILE.h5 made by ferry embed */
    int k;                           /* 0: 10 */
    const char *metric;              /* "l2" (default) or "cosine"; ignored with geo */
    const char *geo;                 /* META.jsonl or META.csv, or NULL */
    bool overwrite;                  /* tables made with another k or metric start afresh */
    double commit_every;             /* seconds between commits; 0: 5 */
    bool quiet, json;
};

struct neighbours_report {
    long long rows, done_before, computed, without;   /* without: rows with no neighbours */
    double seconds;
    bool interrupted;
};

/* Collective.  Returns 0, FERRY_EINTR (what was computed is committed) or
 * the error that stopped the run. */
int neighbours_run(MPI_Comm comm, const struct neighbours_options *opts,
                   struct neighbours_report *report, struct ferry_error *err);

#endif

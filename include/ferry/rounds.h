/* Collective rounds for work that ends in collective writes (embed, knn).
 *
 * Every round each rank runs one step (a batch of its rows, written in a
 * collective call: a rank with nothing left joins with nothing), then the
 * ranks agree on whether work is left anywhere, a stop signal arrived
 * anywhere, or a commit is due (rank 0's clock decides, so all agree).  A
 * commit makes what was written durable; one also runs at the end and
 * before a signalled stop. */
#ifndef FERRY_ROUNDS_H
#define FERRY_ROUNDS_H

#include <mpi.h>
#include <stdbool.h>
#include "ferry/err.h"

struct rounds {
    int (*step)(void *ud, struct ferry_error *err);
    bool (*left)(void *ud);                        /* does this rank have rows left? */
    int (*commit)(void *ud, struct ferry_error *err);
    long long (*done)(void *ud);                   /* this rank's rows done so far */
    /* Rank 0, after each commit: rows done on all ranks, seconds so far. */
    void (*progress)(void *ud, long long done, double seconds);
    double every;                                  /* seconds between commits */
};

/* Returns 0 when every rank is done, FERRY_EINTR after a signal (committed
 * first), or the error of a step or commit (a failed step on any rank
 * stops all). */
int rounds_run(MPI_Comm comm, const struct rounds *r, void *ud, struct ferry_error *err);

/* This rank's share of the rows whose done byte is 0 (done has n bytes, the
 * same on every rank): a contiguous run of them, split by count, in *rows
 * (fresh, ascending); *pending gets their number on all ranks. */
void rounds_share(MPI_Comm comm, const unsigned char *done, long long n, long long **rows,
                  size_t *count, long long *pending);

/* A progress line on stderr ("COMMAND: D of T rows, R a second, S s"), or
 * a JSON event on stdout with json, or nothing when quiet. */
void rounds_print_progress(const char *command, bool json, bool quiet, long long done,
                           long long total, double seconds);

#endif

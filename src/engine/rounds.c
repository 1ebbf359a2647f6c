#include "ferry/rounds.h"
#include "ferry/progress.h"
#include "ferry/signals.h"
#include "ferry/xalloc.h"

#include <stdio.h>

enum { LEFT, SIGNALLED, DUE, FAILED, FLAGS };

int rounds_run(MPI_Comm comm, const struct rounds *r, void *ud, struct ferry_error *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    double start = progress_now(), last = start;
    for (;;) {
        int rc = r->step(ud, err);
        int flags[FLAGS] = {
            [LEFT] = r->left(ud), [SIGNALLED] = signals_pending() != 0,
            [DUE] = rank == 0 && progress_now() - last >= r->every, [FAILED] = rc != 0,
        };
        MPI_Allreduce(MPI_IN_PLACE, flags, FLAGS, MPI_INT, MPI_MAX, comm);
        if (flags[FAILED])
            return rc != 0 ? rc : err_set(err, FERRY_EFAIL, "a write failed on another rank");
        if (flags[LEFT] && !flags[SIGNALLED] && !flags[DUE])
            continue;
        rc = r->commit(ud, err);
        int worst = rc;
        MPI_Allreduce(MPI_IN_PLACE, &worst, 1, MPI_INT, MPI_MIN, comm);
        if (worst != 0)
            return rc != 0 ? rc : err_set(err, worst, "a commit failed on another rank");
        long long mine = r->done(ud), all = 0;
        MPI_Reduce(&mine, &all, 1, MPI_LONG_LONG, MPI_SUM, 0, comm);
        last = progress_now();
        if (rank == 0 && r->progress)
            r->progress(ud, all, last - start);
        if (!flags[LEFT])
            return 0;
        if (flags[SIGNALLED])
            return err_set(err, FERRY_EINTR, "interrupted; what was computed is kept");
    }
}

void rounds_share(MPI_Comm comm, const unsigned char *done, long long n, long long **rows,
                  size_t *count, long long *pending)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    long long all = 0, seen = 0;
    for (long long r = 0; r < n; r++)
        all += !done[r];
    long long from = all * rank / size, to = all * (rank + 1) / size;
    *rows = xmalloc((size_t)(to - from + 1) * sizeof **rows);
    *count = 0;
    for (long long r = 0; r < n && seen < to; r++) {
        if (done[r])
            continue;
        if (seen >= from)
            (*rows)[(*count)++] = r;
        seen++;
    }
    *pending = all;
}

void rounds_print_progress(const char *command, bool json, bool quiet, long long done,
                           long long total, double seconds)
{
    if (json) {
        printf("{\"event\":\"progress\",\"command\":\"%s\",\"rows\":%lld,\"total_rows\":%lld,"
               "\"seconds\":%.1f}\n", command, done, total, seconds);
        fflush(stdout);
    } else if (!quiet) {
        fprintf(stderr, "%s: %lld of %lld rows, %.0f a second, %.0f s\n", command, done, total,
                seconds > 0 ? (double)done / seconds : 0.0, seconds);
    }
}

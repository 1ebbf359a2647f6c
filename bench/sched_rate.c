/* How many work items a second rank 0 hands out.
 *
 * The items are empty files on a backend that does nothing, so the only cost
 * measured is the scheduler's: queueing, packing batches, MPI messages,
 * results and bookkeeping on rank 0.  Run it under mpirun with 2 or more ranks:
 *
 *   mpirun -np 4 build/bench/sched_rate 2000000
 */
#include "ferry/sched.h"
#include "ferry/xalloc.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool null_claims(const char *location)
{
    return strcmp(location, "null:") == 0;
}

static int null_open(const char *location, struct backend **out, struct ferry_error *err)
{
    (void)location;
    (void)err;
    *out = xcalloc(1, sizeof **out);
    return 0;
}

static int null_fd(struct backend *b, const char *path, int *fd, struct ferry_error *err)
{
    (void)b;
    (void)path;
    (void)err;
    *fd = -1;
    return 0;
}

static int null_write_open(struct backend *b, const struct write_spec *spec,
                           struct backend_write **out, struct ferry_error *err)
{
    (void)b;
    (void)spec;
    (void)err;
    *out = xcalloc(1, sizeof **out);
    (*out)->fd = -1;
    return 0;
}

static void null_write_abort(struct backend_write *w)
{
    free(w);
}

static int null_write_close(struct backend_write *w, char **receipt, struct ferry_error *err)
{
    (void)err;
    *receipt = NULL;
    free(w);
    return 0;
}

static long long null_part_size(struct backend *b, const char *path)
{
    (void)b;
    (void)path;
    return -1;
}

static void null_close(struct backend *b)
{
    free(b);
}

static const struct backend_ops null_ops = {
    .name = "null", .claims = null_claims, .open = null_open, .open_read = null_fd,
    .write_open = null_write_open, .write_close = null_write_close,
    .write_abort = null_write_abort, .part_size = null_part_size,
    .close = null_close,
};

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long long n = argc > 1 ? atoll(argv[1]) : 1000000;

    struct backend *b;
    null_ops.open("null:", &b, NULL);
    b->ops = &null_ops;

    struct plan plan;
    memset(&plan, 0, sizeof plan);
    if (rank == 0) {
        plan.transfer = xcalloc((size_t)n, sizeof *plan.transfer);
        plan.n_transfer = (size_t)n;
        for (long long i = 0; i < n; i++)
            plan.transfer[i].path = xasprintf("scene_%03lld/file_%08lld.bin", i % 100, i);
    }
    struct sched_options opts = {.chunk_size = SCHED_DEFAULT_CHUNK};
    struct sched_report report;
    MPI_Barrier(MPI_COMM_WORLD);
    int rc = sched_run(MPI_COMM_WORLD, &plan, b, b, &opts, &report);
    if (rank == 0) {
        long long handed = report.items - report.items_self;
        printf("{\"ranks\":%d,\"items\":%lld,\"handed_out\":%lld,\"seconds\":%.3f,"
               "\"items_per_second\":%.0f,\"handed_out_per_second\":%.0f,\"status\":%d}\n",
               size, report.items, handed, report.seconds, (double)report.items / report.seconds,
               (double)handed / report.seconds, rc);
        plan_free(&plan);
    }
    sched_report_free(&report);
    null_close(b);
    MPI_Finalize();
    return rc == 0 ? 0 : 1;
}

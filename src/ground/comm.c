#include "ferry/comm.h"
#include "ferry/xalloc.h"

#include <time.h>

/* Wait for a non-blocking collective with short sleeps: Open MPI's blocking
 * ones spin a core, which on a node with as many ranks as cores is the core
 * rank 0 needs for the work the others wait for. */
static void wait_quietly(MPI_Request *request)
{
    int done = 0;
    for (;;) {
        MPI_Test(request, &done, MPI_STATUS_IGNORE);
        if (done)
            return;
        nanosleep(&(struct timespec){0, 200000}, NULL);
    }
}

int comm_agree(MPI_Comm comm, int rc, struct ferry_error *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    MPI_Request request;
    MPI_Ibcast(&rc, 1, MPI_INT, 0, comm, &request);
    wait_quietly(&request);
    if (rank != 0 && rc < 0)
        err_set(err, rc, "stopped by rank 0");
    return rc;
}

/* Rank 0's pack to every rank: its length first, then the bytes. */
static void bcast_pack(MPI_Comm comm, struct pack *p)
{
    uint64_t len = p->len;
    MPI_Bcast(&len, 1, MPI_UINT64_T, 0, comm);
    xgrow((void **)&p->data, &p->cap, len, 1);
    p->len = len;
    if (len)
        MPI_Bcast(p->data, (int)len, MPI_BYTE, 0, comm);
}

int comm_share(MPI_Comm comm, int rc, comm_pack_fn pack, comm_unpack_fn unpack, void *ud,
               struct ferry_error *err)
{
    rc = comm_agree(comm, rc, err);
    if (rc != 0)
        return rc;
    int rank;
    MPI_Comm_rank(comm, &rank);
    struct pack p;
    pack_init(&p);
    if (rank == 0)
        pack(ud, &p);
    bcast_pack(comm, &p);
    if (rank != 0)
        unpack(ud, &p);
    pack_free(&p);
    return 0;
}

void comm_gather_packs(MPI_Comm comm, const struct pack *mine, struct pack *all, int **lens,
                       int **offsets)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int len = (int)mine->len;
    *lens = *offsets = NULL;
    pack_init(all);
    if (rank == 0)
        *lens = xcalloc((size_t)size, sizeof **lens);
    MPI_Gather(&len, 1, MPI_INT, *lens, 1, MPI_INT, 0, comm);
    if (rank == 0) {
        *offsets = xcalloc((size_t)size, sizeof **offsets);
        size_t total = 0;
        for (int r = 0; r < size; r++) {
            (*offsets)[r] = (int)total;
            total += (size_t)(*lens)[r];
        }
        xgrow((void **)&all->data, &all->cap, total ? total : 1, 1);
        all->len = total;
    }
    MPI_Gatherv(mine->data, len, MPI_BYTE, all->data, *lens, *offsets, MPI_BYTE, 0, comm);
}

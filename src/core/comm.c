#include "ferry/comm.h"
#include "ferry/xalloc.h"

int comm_agree(MPI_Comm comm, int rc, struct ferry_error *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
    if (rank != 0 && rc < 0)
        err_set(err, rc, "stopped by rank 0");
    return rc;
}

void comm_bcast_pack(MPI_Comm comm, struct pack *p)
{
    uint64_t len = p->len;
    MPI_Bcast(&len, 1, MPI_UINT64_T, 0, comm);
    xgrow((void **)&p->data, &p->cap, len, 1);
    p->len = len;
    if (len)
        MPI_Bcast(p->data, (int)len, MPI_BYTE, 0, comm);
}

/* Small collective helpers every phase uses: rank 0 decides, all ranks learn. */
#ifndef FERRY_COMM_H
#define FERRY_COMM_H

#include <mpi.h>
#include "ferry/err.h"
#include "ferry/pack.h"

/* Broadcast rank 0's outcome rc so every rank returns the same code; other
 * ranks get a short message in err when it is an error (rank 0 holds the
 * full one and reports it). */
int comm_agree(MPI_Comm comm, int rc, struct ferry_error *err);

/* The idiom "rank 0 computes, every rank learns" in one call.  rc is rank
 * 0's outcome (other ranks' rc is ignored); it is agreed as comm_agree does,
 * and when it is 0, pack (called on rank 0) writes what the others need and
 * unpack (called on every other rank) reads it.  Returns the agreed rc. */
typedef void (*comm_pack_fn)(void *ud, struct pack *out);
typedef void (*comm_unpack_fn)(void *ud, struct pack *in);
int comm_share(MPI_Comm comm, int rc, comm_pack_fn pack, comm_unpack_fn unpack, void *ud,
               struct ferry_error *err);

/* Gather every rank's pack on rank 0: *all holds them back to back, rank r's
 * at offsets[r] with lens[r] bytes (both arrays fresh, rank 0 only). */
void comm_gather_packs(MPI_Comm comm, const struct pack *mine, struct pack *all, int **lens,
                       int **offsets);

#endif

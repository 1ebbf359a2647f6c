/* ferry verify DIR --against SRC: is every file of SRC in DIR, whole and
 * unchanged, and nothing else?  Both sides are walked over all ranks
 * (dwalk.h), rank 0 compares the listings, and the hashing (the expensive
 * part) is dealt over all ranks by file, largest first. */
#ifndef FERRY_VERIFY_H
#define FERRY_VERIFY_H

#include <mpi.h>
#include <stdio.h>
#include "ferry/backend.h"
#include "ferry/err.h"

struct verify_report {
    long long checked;           /* files present on both sides */
    long long hashed;            /* of which compared by content hash */
    long long missing, extra, corrupt;
};

/* Collective.  Problems are printed to out on rank 0, one line each
 * ("missing: PATH", "extra: PATH", "corrupt: PATH: why"); the report is
 * filled on rank 0. */
int verify_run(MPI_Comm comm, const char *dir, const char *against, FILE *out,
               struct verify_report *report, struct ferry_error *err);

#endif

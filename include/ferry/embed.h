/* ferry embed: every image of the inputs through an embedder, into one
 * HDF5 file (see h5store.h for its layout).
 *
 * Rank 0 fixes the list of items, so each row has a fixed index.  The rows
 * not yet done are dealt to the ranks in contiguous shares; every rank
 * decodes and embeds a batch of its share, then all ranks write their
 * batches in one collective call (a rank with nothing left joins with an
 * empty selection).  Every few seconds the rows written are committed:
 * flushed, then marked done, then flushed again.  A killed run, restarted
 * with any number of ranks, computes only the rows not marked done. */
#ifndef FERRY_EMBED_H
#define FERRY_EMBED_H

#include <mpi.h>
#include <stdbool.h>
#include "ferry/embedder.h"
#include "ferry/err.h"

struct embed_options {
    char **inputs;                   /* folders of images, or archives */
    int n_inputs;
    const char *out;                 /* FILE.h5 */
    struct embedder_options embedder;
    int batch;                       /* images a rank embeds a round; 0: embed_default_batch */
    bool overwrite;                  /* a file made otherwise is started afresh */
    double commit_every;             /* seconds between commits; 0: 5 */
    bool quiet, json;                /* progress lines on stderr, or JSON events on stdout */
};

struct embed_failure {
    char *path, *reason;
};

struct embed_report {
    long long rows;                  /* items in the file */
    long long done_before;           /* rows a earlier run had done */
    long long computed, ok, undecodable;   /* in this run */
    double seconds;
    bool interrupted;
    int on_gpu;                      /* ranks whose matrix work ran on a GPU */
    struct embed_failure *undecodable_items;   /* rank 0: which, and why */
    size_t n_undecodable_items;
};

/* Rows a round by default: about 1 MiB of embeddings per rank per
 * collective write, where MPI-IO writes fastest here (a quarter of that
 * reached 78 % of a plain sequential write, 1 to 2 MiB over 90 %, 4 MiB
 * fell to 30 %: see docs/benchmarks.md), within 64 to 4,096 images. */
int embed_default_batch(int dim);

/* Collective.  Returns 0 (undecodable images are not failures: their rows
 * say so), FERRY_EINTR when a signal stopped the run (what was computed is
 * committed), or the error that stopped it. */
int embed_run(MPI_Comm comm, const struct embed_options *opts, struct embed_report *report,
              struct ferry_error *err);

void embed_report_free(struct embed_report *report);

#endif

/* A walk of a tree spread over ranks, and the dealer it runs on.
 *
 * Rank 0 deals folders; the rank that lists one hands back its sub-folders
 * to be dealt in turn and looks at its files itself, or, past DWALK_BATCH
 * of them, hands them back in batches for any rank to look at.  Each rank
 * keeps what it found, and rank 0 gathers it one top (a scene) at a time.
 * So neither a scene of a million folders nor one folder of ten million
 * files is walked by one rank.
 *
 * The tops are walked in rounds, not all at once: a round deals the
 * folders of one top, or of several while they have listed fewer than
 * DWALK_ROUND_FILES files, over all ranks, and the next round starts when
 * rank 0 has taken them.  So the ranks together hold about one round's
 * findings, not the whole tree's, whatever its size.  A source that cannot
 * list a folder by itself (the Hub, HTTP: their listing comes from
 * prepare, already in memory) is walked by rank 0, in the same rounds.
 *
 * The dealer is the same for any work cut into independent tasks (hashing
 * files, largest first): rank 0 hands a task to each rank that asks, and
 * runs tasks itself between requests. */
#ifndef FERRY_DWALK_H
#define FERRY_DWALK_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include "ferry/backend.h"
#include "ferry/pack.h"
#include "ferry/pattern.h"

#define DWALK_BATCH 2048

/* A queue of tasks, each an opaque pack; rank 0's.  done is what the tasks
 * run say they did (a walk: files listed); dwalk_deal sums it on rank 0. */
struct dwalk_queue {
    struct pack *tasks;
    size_t head, count, cap;
    long long done;
};

void dwalk_queue_add(struct dwalk_queue *q, const struct pack *task);
void dwalk_queue_free(struct dwalk_queue *q);

/* Runs one task on whichever rank was dealt it; tasks it adds to more (with
 * dwalk_queue_add) go back to rank 0 to be dealt. */
typedef void (*dwalk_task_fn)(void *ud, struct pack *task, struct dwalk_queue *more);

/* Collective: deal rank 0's queue (other ranks pass an empty one) until it
 * is empty and every rank is idle.  Its messages have tags of their own,
 * and no other point-to-point message may be under way on comm meanwhile.  Other ranks take tasks from the front,
 * rank 0 from the back: a list sorted largest first keeps the big ones for
 * the ranks that only work, and rank 0 is back to deal soon. */
void dwalk_deal(MPI_Comm comm, struct dwalk_queue *queue, dwalk_task_fn run, void *ud);

/* Items 0..n-1 of the given sizes cut into tasks, largest first, for
 * dwalk_deal: a task holds at most DWALK_TASK_FILES items and
 * DWALK_TASK_BYTES bytes (a bigger item alone), so that the last ones
 * spread over ranks and yet ten million small files are not ten million
 * messages.  A task is the item count, then what pack_item writes for each. */
#define DWALK_TASK_FILES 64
#define DWALK_TASK_BYTES (256LL << 20)
typedef void (*dwalk_pack_item_fn)(void *ud, size_t item, struct pack *task);
void dwalk_queue_largest_first(struct dwalk_queue *q, const long long *sizes, size_t n,
                               dwalk_pack_item_fn pack_item, void *ud);

/* Where a walk starts: a folder ("" for the root) and whether to go below it. */
struct dwalk_top {
    const char *dir;
    bool recursive;
};

struct dwalk_file {
    char *path;
    long long size, mtime;
    unsigned mode;
    char *etag;              /* or NULL */
    size_t top;              /* the index of the top it was found under */
};

struct dwalk_error {
    size_t top;
    char *msg;
};

struct dwalk_result {
    struct dwalk_file *files;    /* rank 0: sorted by top, then path */
    size_t n_files;
    struct dwalk_error *errors;  /* rank 0: what could not be read, by top */
    size_t n_errors;
    long long folders_walked;    /* dwalk_run: this rank's share */
    long long files_walked;
};

/* A walk done, its findings still with the ranks that made them. */
struct dwalk;

/* A round stops taking tops once its tops have listed this many files:
 * what rank 0 and the ranks hold at once, but for the tops already dealt
 * (about one per rank) and a top bigger than this alone. */
#define DWALK_ROUND_FILES 65536

/* Collective.  tops (and n_tops) are read on rank 0 only, and copied;
 * nothing is walked yet.  Files that filter (may be NULL, kept until
 * dwalk_end) refuses are left out.  A folder that does not exist is empty,
 * not an error. */
struct dwalk *dwalk_start(MPI_Comm comm, struct backend *b, const struct dwalk_top *tops,
                          size_t n_tops, const struct pattern_filter *filter);
/* Collective: rank 0 gets the files found under tops[top], sorted by path,
 * and what could not be read there; every rank forgets them.  Tops are
 * taken in order; taking one not yet walked walks the next round. */
void dwalk_take(MPI_Comm comm, struct dwalk *w, size_t top, struct dwalk_result *out);
/* Add this rank's share of the walk: folders listed, files looked at. */
void dwalk_counts(const struct dwalk *w, long long *folders, long long *files);
void dwalk_end(struct dwalk *w);

/* dwalk_start, then every top taken into one result (with this rank's share). */
void dwalk_run(MPI_Comm comm, struct backend *b, const struct dwalk_top *tops, size_t n_tops,
               const struct pattern_filter *filter, struct dwalk_result *out);

void dwalk_result_free(struct dwalk_result *r);

#endif

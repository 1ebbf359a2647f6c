/* The scheduler: rank 0 hands out batches of work on request and runs work
 * itself between requests; every other rank asks, runs, reports, asks again.
 *
 * Files above the chunk size are split into chunks that different ranks copy
 * into one NAME.ferry-part; when the last chunk is in, a finalize item checks
 * and renames the file.  Work goes out largest first.  Rank 0 journals every
 * finished chunk and file, so a rerun skips them.
 *
 * A destination with upload_plan (the Hub) says how each file goes: its
 * parts become upload items sent from any rank, batch by batch, and rank 0
 * runs the destination's finish_batch (a commit) as soon as a batch's items
 * are all done, while the other ranks send the next batches.
 *
 * With a stage (extraction), a file that feeds it is handed out to the stage
 * as soon as it is in place (a big zip in parts, by its entries), while the
 * rest still transfers; the plan's unpack list (archives already in place)
 * goes out first.  Rank 0 journals such a file once all its parts are done. */
#ifndef FERRY_SCHED_H
#define FERRY_SCHED_H

#include <mpi.h>
#include <stdbool.h>
#include "ferry/backend.h"
#include "ferry/work.h"
#include "ferry/journal.h"
#include "ferry/limiter.h"
#include "ferry/plan.h"
#include "ferry/progress.h"

#define SCHED_DEFAULT_CHUNK (64LL << 20)
#define SCHED_DEFAULT_CONNECTIONS 16

/* A stage: work that files feed once they are in place, run by the same
 * scheduler on every rank (get --extract, ferry extract: extract_stage in
 * archive/extract.c).  A fed file is split into items (a big zip into
 * parts by its entries), handed out ahead of the transfers still queued;
 * rank 0 journals the file once all its items are done. */
struct stage_part {
    long long first, count, weight;  /* entries [first, first + count) (count < 0: all); bytes */
};

struct sched_stage_ops {
    const char *name;
    const char *state;               /* its state folder under its destination */
    const char *journal;             /* the journal there of the files it finished */
    /* Does a file that is now in place feed the stage? */
    bool (*feeds)(const char *path);
    /* The name the journal records a file under (a fresh string). */
    char *(*journal_key)(const char *path);
    /* The items a fed file makes, of about part_bytes each; *parts is fresh. */
    int (*split)(const char *path, long long size, long long part_bytes,
                 struct stage_part **parts, size_t *n, struct ferry_error *err);
    /* Any rank: run an item (path, offset = first, length = count, dest,
     * overwrite) in steps, as work_run_step; *consumed gets the file's bytes read. */
    int (*open)(const struct work_item *item, struct stage_job **out, struct ferry_error *err);
    int (*step)(struct stage_job *job, long long max_bytes, struct stage_counts *counts,
                long long *consumed, struct ferry_error *err);
    void (*close)(struct stage_job *job);
};

/* What a run's stage works on (get --extract, ferry extract). */
struct sched_stage_target {
    const char *dest;                /* the folder the stage writes into */
    const char *root;                /* the folder the plan's paths are under; NULL: as given */
    bool overwrite;                  /* every entry again */
    bool remove_archive;             /* delete a fed file once the stage is done with it */
    struct journal *journal;         /* rank 0: the fed files finished */
};

struct sched_options {
    long long chunk_size;
    int connections;                 /* remote transfers in flight per rank */
    struct journal *catalog;         /* rank 0; records which content each file holds */
    bool fsync;                      /* data on disk before it is journalled */
    struct journal *journal;         /* rank 0; NULL: no journal (benchmarks) */
    struct progress *progress;       /* rank 0; may be NULL */
    const struct sched_stage_ops *stage;  /* every rank; NULL: no stage */
    const struct sched_stage_target *stage_target;  /* with stage: its folder and journal */
    /* Rank 0: how each file goes to a destination with upload_plan (made by
     * it before the run), or NULL: every file by RANGES.  Files go out batch
     * by batch; once a batch's items are all done rank 0 runs the
     * destination's finish_batch (a commit) while the other ranks send the
     * next batches' parts. */
    struct upload_plan *upload;
};

struct sched_failure {
    char *path;
    char *reason;
};

/* What a scene's upload did (put and sync to the Hub). */
struct scene_outcome {
    char *name;
    long long files_up, bytes_up, files_deleted, files_unchanged, bytes_unchanged;
};

struct sched_report {
    long long planned_files, planned_bytes; /* what the plan had to transfer */
    long long files_done, bytes_done;       /* transferred in this run */
    long long files_deleted;
    long long files_failed;
    long long bytes_resumed;                /* journalled chunks not copied again */
    long long items;                        /* work items run, on all ranks */
    long long items_self;                   /* of which rank 0 ran itself */
    double seconds;
    bool interrupted;
    struct limiter_stats limits;            /* Hub calls, filled by the job */
    long long archives, archives_done, archives_failed, archives_skipped;
    struct stage_counts entries;            /* of the archives extracted */
    struct scene_outcome *scenes;           /* per scene, where the destination reports it */
    size_t n_scenes;
    struct sched_failure *failures;
    size_t n_failures;
};

/* Collective.  plan is read on rank 0 only.  src and dst may be NULL when
 * the plan has nothing to transfer (ferry extract: only plan->unpack).
 * Returns, on every rank, 0 when
 * all is done, FERRY_EFAIL when some items failed, FERRY_EINTR when a signal
 * stopped the run.  The report is filled on rank 0. */
int sched_run(MPI_Comm comm, const struct plan *plan, struct backend *src,
              struct backend *dst, const struct sched_options *opts,
              struct sched_report *report);

void sched_report_free(struct sched_report *report);

/* Log reason as an error and add path to the report's failures. */
void sched_report_fail(struct sched_report *report, const char *path, const char *reason);

/* The version string journal records carry for a local file. */
void sched_version(long long size, long long mtime, char *buf, size_t len);

/* The catalog's version of a file: the content hash it was fetched with and
 * the size and mtime it was given, so a rerun knows a file is unchanged
 * without reading it (and notices when someone changed it since). */
void sched_catalog_version(const char *etag, long long size, long long mtime, char *buf,
                           size_t len);

#endif

/* A transfer job (get, put, sync, or only its plan) from start to report:
 * lock, plan, confirmation, pre-flight, scheduled work, journal, report.
 * Collective over the communicator; every rank returns the same code. */
#ifndef FERRY_JOB_H
#define FERRY_JOB_H

#include <mpi.h>
#include <stdbool.h>
#include "ferry/err.h"
#include "ferry/plan.h"
#include "ferry/progress.h"
#include "ferry/sched.h"

struct job_options {
    const char *command;             /* "get", "put", "sync" or "plan" */
    const char *src, *dst;
    struct plan_options plan;
    long long chunk_size;
    int connections;                 /* remote transfers in flight per rank; 0: default */
    bool dry_run, force, json, quiet, fsync;
    enum progress_mode progress;
    const char *state_dir;           /* NULL: the destination's own */
    bool hf_cache;                   /* dst is a Hugging Face cache folder */
    struct limiter_options limits;   /* the Hub budget */
    bool create, public;             /* put/sync: make a missing Hub repository */
    int files_per_commit;            /* put/sync to the Hub; 0: the default */
    double lock_ttl;
    /* get --extract DIR: extract each archive into DIR once it is in place
     * (and archives fetched before but not yet extracted). */
    const char *extract_dest;
    const struct sched_stage_ops *stage;  /* with extract_dest: the stage that extracts */
    /* Rank 0, after planning: show the plan and decide.  Returns 1 to go on,
     * 0 to stop with success (dry run, nothing to do), or a negative
     * ferry_err with err filled. */
    int (*confirm)(const struct plan *plan, void *ud, struct ferry_error *err);
    void *confirm_ud;
};

/* Returns 0, FERRY_EFAIL (some items failed, listed in the report),
 * FERRY_EINTR, or the error that stopped the job before work began.  The
 * report is filled on rank 0 and also written to STATE_DIR/report.json. */
int job_transfer(MPI_Comm comm, const struct job_options *opts,
                 struct sched_report *report, struct ferry_error *err);

/* The final report as one JSON line (a fresh string). */
char *job_report_json(const char *command, const struct sched_report *report, int status);

#endif

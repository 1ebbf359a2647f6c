/* The destination lock: DIR/lock (DIR is DST/.ferry or --state-dir) holds
 * who runs on this destination, so a second run exits 5 naming the holder.
 *
 * The lock file is JSON: {"host", "pid", "slurm_job_id", "start_time"}.
 * It is created atomically (written to a temporary name, then link(2)ed into
 * place, which is atomic on NFS and Lustre as well).  A lock whose holder is
 * a dead process on this host, or an earlier run of our own Slurm job on
 * another node (a requeue), is taken over with a warning, so a rerun after a
 * crash just works.  Whether a holder on another host runs cannot be told;
 * any lock older than the TTL is reported as stale and left to
 * `ferry locks DIR --cleanup`. */
#ifndef FERRY_LOCK_H
#define FERRY_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include "ferry/err.h"

#define LOCK_DEFAULT_TTL (24.0 * 3600.0)

struct lock_info {
    char host[256];
    long pid;
    char slurm_job_id[64];   /* "" outside Slurm */
    double start_time;       /* unix seconds */
};

enum lock_state {
    LOCK_FREE,               /* no lock file */
    LOCK_HELD,               /* a live (or unknowable) holder within the TTL */
    LOCK_DEAD_HOLDER,        /* holder is on this host and no longer runs, or
                              * is an earlier run of our Slurm job */
    LOCK_STALE,              /* older than the TTL, holder elsewhere */
};

/* Take the lock in state_dir (created if missing).  force takes any lock.
 * On a held or stale lock: FERRY_EPREFLIGHT, and err names the holder
 * (host, pid, Slurm job, start time) and what to do. */
int lock_acquire(const char *state_dir, bool force, double ttl,
                 struct ferry_error *err);

/* Remove our own lock (only if it is still ours). */
void lock_release(const char *state_dir);

/* Read the lock in state_dir and classify it. */
int lock_inspect(const char *state_dir, double ttl, struct lock_info *info,
                 enum lock_state *state, struct ferry_error *err);

/* Remove the lock if it is dead or stale (or any lock with force).
 * Returns 1 if removed, 0 if there was nothing to remove or it is live,
 * negative on error. */
int lock_cleanup(const char *state_dir, double ttl, bool force,
                 struct ferry_error *err);

/* Is the holder on this host (so whether it runs can be checked)? */
bool lock_is_local(const struct lock_info *info);

/* One line describing a lock: "host h, pid 12, Slurm job 345, since ...". */
void lock_describe(const struct lock_info *info, char *buf, size_t len);

#endif

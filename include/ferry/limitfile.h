/* The limiter file: one Hub budget shared by several jobs (a Slurm array
 * with a scene per task, say) through a small text file on a shared file
 * system.  Only rank 0 of each job touches it.
 *
 * A line per class:  NAME WINDOW_START WINDOW_SECONDS CLAIMED PAUSED_UNTIL
 * (times in unix seconds).  Each job claims tokens in blocks under an fcntl
 * write lock (read, add, write back, unlock), so locking stays rare; a claim
 * in a window that has ended starts the count again at zero.  A 429 seen by
 * one job is written as a pause the others read at their next claim.
 *
 * fcntl locks are only as good as the file system's: NFS needs its lock
 * manager (lockd, or NFSv4), Lustre needs the "flock" mount option
 * ("localflock" locks one node only).  When the lock cannot be taken the
 * caller must fall back to a smaller budget of its own, never to the whole. */
#ifndef FERRY_LIMITFILE_H
#define FERRY_LIMITFILE_H

#include "ferry/err.h"

struct limitfile;

/* Open or create the file. */
int limitfile_open(const char *path, struct limitfile **out, struct ferry_error *err);
void limitfile_close(struct limitfile *f);

/* Claim up to want tokens of class name in the window [start, start+window)
 * of at most cap calls; seen is what the server says it counted in that
 * window (the count is raised to it first: calls other clients made with
 * the token).  Returns the tokens claimed (0 when the window is spent), or
 * -1 when the file could not be locked (err says why).  *paused_until gets
 * the pause a job wrote for the class (0: none). */
long long limitfile_claim(struct limitfile *f, const char *name, double start, double window,
                          long long cap, long long want, long long seen, double *paused_until,
                          struct ferry_error *err);

/* Hand back n tokens claimed in the window starting at start and not used. */
int limitfile_give_back(struct limitfile *f, const char *name, double start, long long n,
                        struct ferry_error *err);

/* Every job pauses the class until this time (unix seconds); the window
 * starting at start is spent. */
int limitfile_pause(struct limitfile *f, const char *name, double start, double window,
                    long long cap, double until, struct ferry_error *err);

#endif

/* Extracting archives (tar, tar.gz, tar.zst, tar.xz, tar.bz2, zip) into a
 * destination folder, safely and resumably.
 *
 * Safety: an entry whose path is absolute or climbs out with "..", a
 * symlink or hardlink that leads outside DEST, a device node, FIFO or
 * socket is refused with a line naming the archive and the entry.  Every
 * folder on the way to an entry is opened without following symlinks, so
 * nothing is ever written through a symlink, the archive's own included.
 * setuid, setgid and sticky bits are dropped.
 *
 * Resume: an entry that exists with the same size (and mtime, where the
 * archive has one) is skipped; each file is written as NAME.ID.ferry-part
 * and renamed, so a kill leaves no half-written file under its real name;
 * the journal DEST/.ferry/extract/extracted records finished archives.
 *
 * The work runs in steps of a bounded size (extract_job_step), so the
 * scheduler hands archives, and parts of big zips, to ranks like any other
 * work item and every rank keeps reporting progress. */
#ifndef FERRY_EXTRACT_H
#define FERRY_EXTRACT_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include "ferry/err.h"
#include "ferry/fsutil.h"
#include "ferry/sched.h"

struct sched_report;

/* DEST/.ferry/extract holds the journal of finished archives and the lock. */
#define EXTRACT_STATE FS_STATE_NAME "/extract"
#define EXTRACT_JOURNAL "extracted"

/* Extraction as the scheduler's stage (sched.h): get --extract passes it in
 * its job options, ferry extract in its own run. */
extern const struct sched_stage_ops extract_stage;

/* Is this file name an archive (by its suffix)? */
bool extract_is_archive(const char *name);

/* The name the journal records an archive under: its real path, so
 * "dl/a.tar" and "./dl/a.tar" are one archive.  A fresh string. */
char *extract_journal_key(const char *archive);

struct extract_job;

/* Begin extracting the entries [first, first + count) of archive (count < 0:
 * to the end) into the folder dest_fd is open on; the job keeps its own
 * descriptor. */
int extract_job_open(const char *archive, int dest_fd, bool overwrite, long long first,
                     long long count, struct extract_job **out, struct ferry_error *err);

/* Extract until about max_bytes are written (an entry costs a little too,
 * so a step of tiny entries ends as well).  Refused entries are logged and
 * counted.  An entry that cannot be written (a name too long, a full disk,
 * data that does not match its CRC) is logged, counted as failed and
 * removed, and the rest goes on.  *consumed gets the archive bytes read in
 * this step.  Returns 1 while more remain, 0 when done, or FERRY_EFAIL when
 * the archive failed (corrupt, truncated, unreadable) or, at its end, when
 * some entries failed; err names the archive and the (first) entry. */
int extract_job_step(struct extract_job *job, long long max_bytes, struct stage_counts *counts,
                     long long *consumed, struct ferry_error *err);

/* End the job; a file half written is removed (its part, never its real name). */
void extract_job_close(struct extract_job *job);

/* How to deal an archive of size bytes out (parts: see struct stage_part):
 * a zip bigger than part_bytes is cut by the entries of its central
 * directory into parts of about part_bytes of content; anything else is one
 * part.  *parts is fresh. */
int extract_split(const char *archive, long long size, long long part_bytes,
                  struct stage_part **parts, size_t *n, struct ferry_error *err);

struct extract_options {
    const char *dest;
    bool overwrite;
    bool remove_archive;             /* delete each archive once it is extracted */
    bool json;                       /* progress events as JSON lines */
    int progress;                    /* enum progress_mode */
};

/* Collective: inputs are archives or folders holding them (rank 0's list
 * counts).  Takes DEST's extract lock, skips archives the journal has as
 * done, and runs the rest on every rank through the scheduler.  The report
 * (rank 0) has the archive and entry counts and any failures.  Returns 0,
 * FERRY_EFAIL when some archive failed, FERRY_EINTR on a stop signal, or an
 * error that stopped the run before it began. */
int extract_run(MPI_Comm comm, char **inputs, size_t n_inputs, const struct extract_options *opts,
                struct sched_report *report, struct ferry_error *err);

#endif

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
 * archive has one) is skipped; each file is written as NAME.ferry-part and
 * renamed, so a kill leaves no half-written file under its real name; the
 * journal DEST/.ferry/extracted records finished archives. */
#ifndef FERRY_EXTRACT_H
#define FERRY_EXTRACT_H

#include <mpi.h>
#include <stdbool.h>
#include "ferry/err.h"

struct extract_counts {
    long long extracted, skipped, refused, failed;   /* entries */
    long long bytes;                                  /* written */
};

/* One archive into the folder dest_fd is open on.  Refused entries are
 * logged and counted; the return is 0, or an error that stopped the
 * archive (corrupt, truncated, unreadable) with err naming it. */
int extract_archive(const char *archive, int dest_fd, bool overwrite,
                    struct extract_counts *counts, struct ferry_error *err);

/* Is this file name an archive extract_run takes from a folder? */
bool extract_is_archive(const char *name);

struct extract_options {
    const char *dest;
    bool overwrite;
    bool remove_archive;             /* delete each archive once it is extracted */
};

struct extract_report {
    struct extract_counts entries;
    long long archives, archives_done, archives_skipped, archives_failed;
    double seconds;
};

/* Collective: inputs are archives or folders holding them (rank 0's list
 * counts).  Archives go to ranks largest first.  Returns 0, FERRY_EFAIL when
 * some archive failed, or an error that stopped the run. */
int extract_run(MPI_Comm comm, char **inputs, size_t n_inputs, const struct extract_options *opts,
                struct extract_report *report, struct ferry_error *err);

#endif

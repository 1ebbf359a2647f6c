/* Progress of a run, shown by rank 0: a bar with rate and ETA on a terminal,
 * a line every 10 s in a batch log, JSON events with --json. */
#ifndef FERRY_PROGRESS_H
#define FERRY_PROGRESS_H

#include <stdbool.h>

enum progress_mode {
    PROGRESS_AUTO,           /* a bar on a terminal, else lines */
    PROGRESS_ALWAYS,         /* a bar even without a terminal */
    PROGRESS_NEVER,
};

struct progress;

/* json: progress events on stdout as well (one a second at most). */
struct progress *progress_new(enum progress_mode mode, bool json, const char *what,
                              long long total_files, long long total_bytes);
void progress_add(struct progress *p, long long files, long long bytes);
/* Archive entries extracted (shown once there are any). */
void progress_add_entries(struct progress *p, long long entries);
/* A run that extracts what it transfers (get --extract): the archive bytes
 * its extraction reads, of total, shown apart from the bytes transferred so
 * that each figure means one thing. */
void progress_expect_unpacked(struct progress *p, long long total);
void progress_add_unpacked(struct progress *p, long long bytes);
/* Print if it is time to; cheap to call often. */
void progress_tick(struct progress *p);
/* Clear the bar; p may be NULL. */
void progress_free(struct progress *p);

double progress_now(void);

#endif

/* The journal: DIR/journal (DIR is DST/.ferry or --state-dir), append-only,
 * one line per finished chunk or file, written by rank 0 only.
 *
 * A record names the destination path and the source version it was copied
 * from (for local files "SIZE:MTIME_NS", later a content hash), so a changed
 * source never matches an old record.  Lines:
 *   F <version> <path>\n                     a whole file is in place
 *   C <offset> <length> <version> <path>\n   a chunk of NAME.ferry-part is written
 * Paths are escaped ('\\' -> "\\\\", '\n' -> "\\n") so a record is one line.
 * Lines are appended with write(2), so a killed process loses nothing it
 * wrote; the file is fdatasync'd at most once per second (journal_tick) and
 * on close.  On replay a torn last line (no '\n') or a malformed line is
 * ignored. */
#ifndef FERRY_JOURNAL_H
#define FERRY_JOURNAL_H

#include <stdbool.h>
#include "ferry/err.h"

struct journal;

/* Open (creating state_dir and the file if missing) and replay it. */
int journal_open(const char *state_dir, struct journal **out,
                 struct ferry_error *err);

/* The same format under another name (the catalog), opened for appending,
 * or loaded read-only (a missing file is empty; nothing is created). */
int journal_open_named(const char *state_dir, const char *name, struct journal **out,
                       struct ferry_error *err);
int journal_load(const char *state_dir, const char *name, struct journal **out,
                 struct ferry_error *err);

int journal_add_file(struct journal *j, const char *path, const char *version);
int journal_add_chunk(struct journal *j, const char *path, const char *version,
                      long long offset, long long length);

bool journal_has_file(const struct journal *j, const char *path,
                      const char *version);
bool journal_has_chunk(const struct journal *j, const char *path,
                       const char *version, long long offset, long long length);

struct journal_summary {
    long long files;         /* F records */
    long long chunks;        /* C records */
    long long chunk_bytes;   /* bytes the C records cover */
};

/* Read state_dir's journal without opening it for writing (no file is
 * created); a missing journal is an empty one. */
int journal_summarize(const char *state_dir, struct journal_summary *out,
                      struct ferry_error *err);

/* Records replayed from disk plus records added since open. */
long long journal_count(const struct journal *j);

/* fdatasync if more than a second has passed since the last one. */
void journal_tick(struct journal *j);

/* Start afresh: truncate the file and forget all records (after a run in
 * which everything finished, the destination itself is the record). */
int journal_reset(struct journal *j, struct ferry_error *err);

/* Sync and close; j may be NULL. */
void journal_close(struct journal *j);

#endif

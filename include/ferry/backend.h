/* A storage kind (local file system now; HTTP, the Hub, S3 later) is a table
 * of functions, so a new kind is one new file under src/backends/ and one
 * line in backend.c, never an `if` on a type field elsewhere.
 *
 * Paths given to a backend are relative to its root and '/'-separated.
 * Directories whose name starts with '.' (.git, .cache, .ferry) are never
 * walked, and NAME.ferry-part files are never listed as content. */
#ifndef FERRY_BACKEND_H
#define FERRY_BACKEND_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include "ferry/err.h"

#define BACKEND_PART_SUFFIX ".ferry-part"
#define BACKEND_WAITING 2        /* read_poll: nothing to do until the network moves */

struct file_meta {
    const char *path;        /* relative to the root */
    long long size;
    long long mtime;         /* unix seconds */
    unsigned mode;           /* permission bits */
    const char *etag;        /* the content's hash, "sha256:HEX" or "sha1:HEX"
                              * (a git blob sha1), when the source knows it */
};

/* Called for every file a walk finds; a non-zero return stops the walk. */
typedef int (*walk_fn)(const struct file_meta *file, void *ud);

/* Where the Hugging Face cache layout keeps a source's files (get
 * --hf-cache): CACHE/REPO_FOLDER/snapshots/COMMIT/PATH, refs/REF holding
 * COMMIT.  Strings belong to the source backend. */
struct cache_place {
    const char *repo_folder;     /* "datasets--OWNER--NAME" */
    const char *commit;          /* 40 hex */
    const char *ref;             /* the branch or tag asked for; NULL for a commit */
    const char *path;            /* "" or the folder under the repo root */
};

struct backend;
struct backend_read;         /* a remote read in flight, the backend's own */
struct plan;
struct sched_report;
struct progress;

/* How a destination that takes a whole plan at once (the Hub) uploads it. */
struct push_options {
    int files_per_commit;        /* files and deletes in one commit */
    long long commit_bytes;      /* inline content in one commit */
    int connections;             /* uploads in flight per rank */
    const char *command;         /* "put" or "sync", for commit messages */
    struct progress *progress;   /* rank 0; may be NULL */
};

/* What a remote read is to copy: [offset, offset + length) of path, written
 * at the same offsets into fd (the destination's part file). */
struct read_spec {
    const char *path;
    const char *location;    /* a URL resolved earlier for path, or NULL */
    int fd;
    long long offset, length, size;
};

struct backend_ops {
    const char *name;
    /* Does this kind handle the location (a URL or a path)? */
    bool (*claims)(const char *location);
    int (*open)(const char *location, struct backend **out, struct ferry_error *err);
    /* Optional, collective over comm, before anything else: a remote source
     * lists itself once on rank 0 and shares the listing. */
    int (*prepare)(struct backend *b, MPI_Comm comm, struct ferry_error *err);
    /* The first-level names under the root: directories (scenes) and whether
     * plain files stand directly at the root.  A missing root is FERRY_ENOTFOUND. */
    int (*list_scenes)(struct backend *b, char ***names, size_t *count,
                       bool *root_files, struct ferry_error *err);
    /* Every file under dir ("" for the root's own files, not recursing). */
    int (*walk)(struct backend *b, const char *dir, bool recursive, walk_fn fn,
                void *ud, struct ferry_error *err);
    /* Remote sources read with these three instead of open_read: start a
     * read, poll it (1 bytes moved, 2 nothing to do yet, 0 done, or a
     * negative ferry_err), end it.  wait blocks until some read of this
     * process can move, at most ms milliseconds. */
    int (*read_start)(struct backend *b, const struct read_spec *spec,
                      struct backend_read **out, struct ferry_error *err);
    int (*read_poll)(struct backend_read *r, long long *moved, struct ferry_error *err);
    void (*read_end)(struct backend_read *r);
    void (*wait)(struct backend *b, int ms);
    /* Optional: find where each of paths is served from (signed CDN URLs),
     * so the chunks of a big file need no resolve call each.  locations[i]
     * is set to a fresh string, or NULL where none is known. */
    void (*locate)(struct backend *b, char **paths, size_t n, char **locations);
    /* Optional, after prepare: where the Hugging Face cache layout keeps
     * this source (only Hub repositories have a place there). */
    int (*cache_place)(struct backend *b, struct cache_place *out, struct ferry_error *err);
    /* An fd to read path from; the caller closes it. */
    int (*open_read)(struct backend *b, const char *path, int *fd,
                     struct ferry_error *err);
    /* An fd to write path's NAME.ferry-part at any offset below size; an
     * existing part file is kept (cut to size if longer), so journalled
     * chunks survive. */
    int (*open_part)(struct backend *b, const char *path, long long size,
                     int *fd, struct ferry_error *err);
    /* The size of path's part file, or -1 when there is none. */
    long long (*part_size)(struct backend *b, const char *path);
    /* Check the part file against meta, give it meta's mtime and mode, and
     * rename it into place.  fd is the part file open for writing, or -1. */
    int (*commit)(struct backend *b, const struct file_meta *meta, int fd,
                  struct ferry_error *err);
    /* Delete a file (and the directories it leaves empty, up to its scene). */
    int (*remove)(struct backend *b, const char *path, struct ferry_error *err);
    /* Bytes free for new data where the root lives; -1 when unknown. */
    long long (*free_bytes)(struct backend *b);
    /* Where this location keeps ferry's state (journal, lock), or NULL when
     * it cannot hold any. */
    const char *(*state_dir)(struct backend *b);
    /* Optional, rank 0, once a job has put every file in place. */
    int (*finish)(struct backend *b, struct ferry_error *err);
    /* Optional, rank 0, before prepare: make the destination (a Hub
     * repository, private unless public); one that exists is fine. */
    int (*create)(struct backend *b, bool public, struct ferry_error *err);
    /* Optional: a destination that takes the whole plan at once (uploads,
     * then commits) instead of file by file through open_part and commit.
     * Collective; plan and report are rank 0's. */
    int (*push)(struct backend *b, MPI_Comm comm, struct backend *src, const struct plan *plan,
                const struct push_options *opts, struct sched_report *report,
                struct ferry_error *err);
    /* A root file that sync never deletes here (the Hub's .gitattributes). */
    const char *keep;
    void (*close)(struct backend *b);
    /* Optional, for a walk spread over ranks (see dwalk.h): the entries of
     * folder dir ("" for the root), not recursing, as paths from the root:
     * its sub-folders (hidden ones left out) in *dirs, everything else in
     * *files.  Names only, so a folder of millions is read quickly and its
     * files can be looked at by many ranks.  Arrays and strings are the
     * caller's.  A missing folder is FERRY_ENOTFOUND. */
    int (*list_dir)(struct backend *b, const char *dir, char ***dirs, size_t *n_dirs,
                    char ***files, size_t *n_files, struct ferry_error *err);
    /* Optional, with list_dir: fn for each of paths that is a regular file
     * (part files left out).  A path gone since it was listed is skipped;
     * one that cannot be read does not stop the rest, and the first such
     * error is returned. */
    int (*stat_files)(struct backend *b, char *const *paths, size_t n, walk_fn fn, void *ud,
                      struct ferry_error *err);
};

struct backend {
    const struct backend_ops *ops;
    char *location;          /* as the user gave it */
};

/* Open the backend that claims location; FERRY_EUSAGE when none does. */
int backend_open(const char *location, struct backend **out,
                 struct ferry_error *err);
void backend_close(struct backend *b);
/* The kind that backend_open would pick for location, or NULL; opens nothing. */
const struct backend_ops *backend_kind(const char *location);

/* Remote locations must start with one of these (the config's
 * allowed_prefixes); none set: every location is allowed.  Checked by every
 * remote backend before it makes a request. */
void backend_set_allowed(char **prefixes, size_t n);
int backend_check_allowed(const char *location, struct ferry_error *err);
/* Does prefix allow location?  A Hub prefix is "hf://[KIND/]OWNER[/NAME...]"
 * or the same without "hf://" (no KIND: a model, as in hf:// locations); a
 * match ends at a boundary ('/', '@' for the Hub; '/', '?', '#' for URLs)
 * unless the prefix ends with '/'. */
bool backend_prefix_allows(const char *prefix, const char *location);

extern const struct backend_ops backend_local;
extern const struct backend_ops backend_hf;
extern const struct backend_ops backend_http;

#endif

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

struct backend;
struct backend_read;         /* a remote read in flight, the backend's own */

/* ---- a destination's writes ----------------------------------------------
 *
 * Every destination writes through write_open / write_poll / write_close,
 * the mirror of the read side.  How each file of a plan goes (its "way") is
 * the destination's to say, in upload_plan on rank 0 before scheduling;
 * without upload_plan every file goes by RANGES.  A destination that puts
 * files in place by batches (a Hub commit, a multipart completion) has
 * finish_batch, which rank 0 runs once every item of the batch is done. */
enum write_way {
    WRITE_RANGES,            /* byte ranges into a part file, any rank; in place on write_close */
    WRITE_PARTS,             /* objects or parts sent from any rank; in place at the batch finish */
    WRITE_INLINE,            /* the content goes with the batch finish (a Hub commit's lines) */
    WRITE_STORED,            /* the remote holds the bytes already; only the batch finish remains */
    WRITE_SKIPPED,           /* the destination leaves it out (the Hub's shouldIgnore) */
    WRITE_FAILED,            /* cannot go; reason says why */
};

/* How one file of a plan goes, filled by upload_plan (and by the
 * scheduler: receipts, and FAILED for a part that could not be sent). */
struct upload_file {
    enum write_way way;
    int batch;               /* the batch whose finish puts it in place */
    int n_parts;             /* PARTS: objects or parts to send (1: the whole file) */
    long long part_bytes;    /* PARTS: the bytes of each part but the last */
    char **targets;          /* PARTS: where each part goes (write_spec.target) */
    char **receipts;         /* PARTS: n_parts slots for what each part's write_close
                              * gave (an ETag), fresh strings the backend frees; one
                              * upload_plan fills (a part stored by an earlier run) is
                              * not sent again */
    char *reason;            /* FAILED: why */
};

/* Free what every upload_file holds the same way: its receipts and reason
 * (targets are the backend's own). */
void upload_file_clear(struct upload_file *u);

/* What an upload is to do (rank 0): the files, largest first, with their
 * content hash as etag; the deletes (sync); the scenes ("" for the files at
 * the root) in the order their batches go.  It outlives the upload_plan. */
struct upload_request {
    const struct file_meta *files;
    size_t n_files;
    char *const *deletes;
    size_t n_deletes;
    char *const *scenes;
    size_t n_scenes;
};

/* The plan of an upload: one upload_file per request file, the batch of
 * each delete, and the backend's own state for finish_batch. */
struct upload_plan {
    struct upload_file *files;
    int *delete_batch;       /* per request delete */
    int n_batches;
    void *state;
};

struct upload_options {
    int files_per_commit;    /* files and deletes in one batch */
    long long batch_bytes;   /* inline content in one batch */
    const char *command;     /* "put" or "sync", for commit messages */
    long long chunk_size;    /* --chunk-size: the most bytes one item carries */
};

/* What one write is: [offset, offset + length) of path.  RANGES: the bytes
 * are written by the caller into the handle's fd, and place says whether
 * write_close puts the file in place (a whole file, or the last step of a
 * chunked one) with meta's mtime and mode.  PARTS: the destination reads
 * the bytes from src_fd at the same offsets and sends them to target. */
struct write_spec {
    struct file_meta meta;
    long long offset, length;
    int part;                /* PARTS: 1-based part number */
    const char *target;
    int src_fd;
    bool place;
};

/* A write in flight: the public head of a backend's own handle. */
struct backend_write {
    int fd;                  /* RANGES: the part file, open for writing; -1 otherwise */
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
    /* Optional, after prepare: the destination that keeps this source in
     * the Hugging Face cache layout under cache_dir (get --hf-cache; only Hub
     * repositories have a place there). */
    int (*open_cache)(struct backend *b, const char *cache_dir, struct backend **out,
                      struct ferry_error *err);
    /* An fd to read path from; the caller closes it. */
    int (*open_read)(struct backend *b, const char *path, int *fd,
                     struct ferry_error *err);
    /* ---- writes (see write_spec); a destination has write_open ---- */
    int (*write_open)(struct backend *b, const struct write_spec *spec,
                      struct backend_write **out, struct ferry_error *err);
    /* Optional (PARTS): move the bytes, as read_poll; *moved gets the bytes
     * sent.  Without it a write has nothing to move of its own. */
    int (*write_poll)(struct backend_write *w, long long *moved, struct ferry_error *err);
    /* End a write that went well: RANGES with place renames the part file
     * into place; PARTS gives the receipt finish_batch needs (a fresh
     * string, or NULL).  The handle is freed, also on failure. */
    int (*write_close)(struct backend_write *w, char **receipt, struct ferry_error *err);
    /* Drop a write (failed, or stopped by a signal); a part file is kept. */
    void (*write_abort)(struct backend_write *w);
    /* RANGES: the size of path's part file, or -1 when there is none. */
    long long (*part_size)(struct backend *b, const char *path);
    /* Optional, rank 0, before scheduling: how each file of req goes and in
     * which batch (see struct upload_plan); src is read for what the
     * destination must see of the content (and, later, inline content).
     * Freed by upload_free, also after a failure. */
    int (*upload_plan)(struct backend *b, struct backend *src, const struct upload_request *req,
                       const struct upload_options *opts, struct upload_plan *out,
                       struct ferry_error *err);
    /* Optional, rank 0, once every item of batch is done and the batches
     * before it are finished: put its files in place (a commit).  Files it
     * cannot put in place it marks FAILED with a reason; an error returned
     * fails every file and delete of the batch. */
    int (*finish_batch)(struct backend *b, struct upload_plan *up, int batch,
                        struct ferry_error *err);
    void (*upload_free)(struct backend *b, struct upload_plan *up);
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
    /* A root file that sync never deletes here (the Hub's .gitattributes). */
    const char *keep;
    /* An object store: the mtime its walk gives is when an object was
     * stored, so a copy no older than its source (same size) is current and
     * sources are not hashed to compare (see plan_options.dst_upload_time). */
    bool upload_time;
    /* A destination that keeps the mtime its files are given (an SSH host):
     * a copy of the same size and mtime is current, as on a local file
     * system, and sources are not hashed to compare. */
    bool keeps_mtime;
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

/* Is location an SSH host's path in scp's form, [USER@]HOST:PATH (a ':'
 * before any '/', no scheme)? */
bool backend_is_scp_form(const char *location);

/* --endpoint: the server an object store's locations go to instead of the
 * provider's own (an S3-compatible store); NULL: none given.  Kept, not
 * copied. */
void backend_set_endpoint(const char *url);
const char *backend_endpoint(void);

extern const struct backend_ops backend_local;
extern const struct backend_ops backend_hf;
extern const struct backend_ops backend_http;
extern const struct backend_ops backend_s3;
extern const struct backend_ops backend_ssh;

#endif

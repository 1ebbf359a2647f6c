/* A work item, the unit the scheduler hands out, and how a rank runs one.
 *
 * Items run in steps of a bounded number of bytes, so the rank running one
 * (rank 0 included) can serve messages and report progress in between: no
 * rank is silent while it sits in a long transfer. */
#ifndef FERRY_WORK_H
#define FERRY_WORK_H

#include <stdbool.h>
#include "ferry/backend.h"
#include "ferry/hash.h"
#include "ferry/pack.h"

struct sched_stage_ops;
struct stage_job;

/* What a stage's items went through (extraction: the entries of archives). */
struct stage_counts {
    long long extracted, skipped, refused, failed;   /* entries */
    long long bytes;                                  /* written */
};

void work_counts_add(struct stage_counts *sum, const struct stage_counts *more);

enum work_kind {
    WORK_COPY,       /* a whole file (then committed) or one chunk of a big file */
    WORK_FINALIZE,   /* every chunk of a big file is written: check and rename it */
    WORK_DELETE,     /* sync: delete a file the source lacks */
    WORK_STAGE,      /* an item of the run's stage: an archive, or a part of a big zip, extracted */
    WORK_UPLOAD,     /* an object or one part of it, sent by the destination (WRITE_PARTS) */
    WORK_KINDS
};

struct work_item {
    enum work_kind kind;
    long long file;          /* index in rank 0's file table */
    long long offset, length;
    bool whole;              /* WORK_COPY of a whole file: commit when done */
    bool sync;               /* fdatasync the data before it is reported done */
    char *path;
    long long size, mtime;   /* the source version */
    unsigned mode;
    char *etag;              /* the content hash to check before the rename, or NULL */
    char *url;               /* where a remote source serves it (resolved earlier), or NULL;
                              * WORK_UPLOAD: where the destination sends it */
    int part;                /* WORK_UPLOAD: 1-based part number */
    /* WORK_STAGE: path is the archive on disk, [offset, offset + length)
     * its entries (length < 0: to the end), size the part's weight in the
     * archive's bytes. */
    char *dest;              /* the folder to extract into */
    bool overwrite;
};

/* What became of an item, sent back to rank 0. */
struct work_result {
    enum work_kind kind;
    long long file, offset, length;
    int part;
    int status;              /* 0, or a negative ferry_err */
    char *message;           /* the reason when status != 0 */
    struct stage_counts counts;     /* WORK_STAGE: its entries */
    char *receipt;           /* WORK_UPLOAD: what the destination gave for it (an ETag) */
};

#define WORK_WAITING 2       /* work_run_step: waiting on the network, nothing moved */

void work_pack(struct pack *p, const struct work_item *item);
void work_unpack(struct pack *p, struct work_item *item);
void work_item_free(struct work_item *item);

void work_result_pack(struct pack *p, const struct work_result *r);
void work_result_unpack(struct pack *p, struct work_result *r);
void work_result_free(struct work_result *r);

/* A running item. */
struct work_run {
    struct work_item item;
    int src_fd;
    struct backend_write *write; /* the destination's write in flight */
    struct backend_read *read;   /* a remote source's read in flight */
    long long done;          /* bytes of item.length moved so far */
    bool started;
    bool plain_copy;         /* copy_file_range is not available here */
    bool moved_all;          /* the bytes are in: sync, check, commit remain */
    struct hash_state *hash; /* checking the part file against item.etag */
    long long hashed;
    const struct sched_stage_ops *stage;  /* WORK_STAGE: the stage that runs it */
    struct stage_job *job;
    struct stage_counts counts;     /* entries extracted so far */
    char *receipt;           /* WORK_UPLOAD: the write's receipt, once closed */
};

/* How each kind of item runs on a rank, indexed by its kind: one step of
 * at most max_bytes, as work_run_step.  (What rank 0 does with its results
 * is sched.c's table.)  A new kind is one entry here and one there. */
struct work_kind_ops {
    const char *name;
    int (*step)(struct work_run *run, struct backend *src, struct backend *dst,
                long long max_bytes, long long *moved, struct ferry_error *err);
    bool unpacks;            /* its bytes are archive bytes read, shown apart from transfers */
};
extern const struct work_kind_ops work_builtin[WORK_KINDS];

/* Start running item (taking ownership of it). */
void work_run_start(struct work_run *run, struct work_item *item);

/* Move up to max_bytes; *moved gets the bytes moved (an extraction: the
 * archive's bytes read).  Returns 1 while there
 * is more to do, WORK_WAITING when a remote read has nothing for now, 0 when
 * the item is finished, a negative ferry_err on failure (err says why; the
 * run is then over).  FERRY_EINTEGRITY: the file's bytes do not match its
 * hash (err names both), so it is worth fetching again. */
int work_run_step(struct work_run *run, struct backend *src, struct backend *dst,
                  long long max_bytes, long long *moved, struct ferry_error *err);

/* Release the run's read, write, descriptors and item. */
void work_run_end(struct work_run *run, struct backend *src, struct backend *dst);

#endif

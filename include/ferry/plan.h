/* The plan: what a get, put or sync would move, keep and delete.
 *
 * Planning is collective: rank 0 lists the scenes (first-level directories)
 * and selects them; the source and the destination are walked over every
 * rank folder by folder (dwalk.h), so one scene of ten million files is not
 * one rank's; rank 0 compares the two listings, and the files whose content
 * must be read (hashes for the Hub, --recheck) are dealt over every rank,
 * largest first.  The walks go in rounds of about one scene (or of small
 * scenes up to DWALK_ROUND_FILES files), each compared before the next is
 * walked, so rank 0 holds one round's two listings at a time. */
#ifndef FERRY_PLAN_H
#define FERRY_PLAN_H

#include <mpi.h>
#include <stdbool.h>
#include <stdio.h>
#include "ferry/backend.h"
#include "ferry/err.h"
#include "ferry/hashcache.h"
#include "ferry/journal.h"
#include "ferry/pattern.h"

/* The pseudo-scene of files that stand directly at the root. */
#define PLAN_ROOT_SCENE ""

struct sched_stage_ops;

struct plan_options {
    bool all;                        /* every scene (also the default) */
    char **scenes;                   /* --scenes a,b */
    size_t n_scenes;
    const char *scene_includes;      /* --scene-includes SUBSTR */
    struct pattern_filter filter;    /* --include / --exclude / default excludes */
    bool deletes;                    /* sync: plan deletes of what SRC lacks */
    const struct journal *catalog;   /* what ferry fetched before (hash-named sources) */
    /* get --recheck: a destination file that looks unchanged is read and its
     * content compared with the source's hash (or the source's bytes, hashed
     * too); one that differs is transferred again. */
    bool recheck;
    /* A destination that names content by hash (the Hub): every source file
     * is hashed (dealt over ranks by file) and compared by content, and the
     * plan's transfers carry "sha256:HEX" as their etag. */
    bool hash_sources;
    /* A destination whose listing gives each object's upload time as its
     * mtime (an object store): its copy is current when the sizes match and
     * it is no older than the source, as `aws s3 sync` decides. */
    bool dst_upload_time;
    struct hashcache *hashes;        /* looked up first; rank 0's gets the new hashes */
    const char *keep;                /* a root file never deleted (the Hub's .gitattributes) */
    /* get --extract: files the destination already holds, unchanged, that
     * feed the stage and that this journal (the stage's) does not have as
     * done go to plan->unpack; root is the destination's folder on disk. */
    const struct sched_stage_ops *stage;
    const struct journal *extracted;
    const char *root;
    /* An SSH target's selection (config targets): only the latest of
     * versioned siblings (versions.h), no files deeper than max_depth (0:
     * any), and for --watch none changed after quiet_since (unix seconds; 0:
     * none), so a file still being written waits for a later round.  What
     * the selection leaves out on the source is never deleted on the
     * destination, nor, with latest_only, any versioned name there. */
    bool latest_only;
    int max_depth;
    long long quiet_since;
    /* A target's check_remote_first false: every selected file goes, the
     * destination's copies are not compared (nor deleted). */
    bool send_all;
};

struct plan_counts {
    long long files, bytes;
};

struct plan_scene {
    char *name;
    struct plan_counts transfer, unchanged, remove;
    bool walk_error;                 /* some of it could not be read: no deletes */
    bool source_empty;               /* nothing selected on the source: no deletes */
};

struct plan_file {
    char *path;
    long long size;
    long long mtime;
    unsigned mode;
    char *etag;                      /* the source's content hash, or NULL */
};

struct plan {
    struct plan_scene *scenes;
    size_t n_scenes;
    struct plan_file *transfer;      /* largest first */
    size_t n_transfer;
    char **deletes;
    size_t n_deletes;
    struct plan_file *unpack;        /* archives in place, still to extract */
    size_t n_unpack;
    struct plan_counts total_transfer, total_unchanged, total_remove;
    int walk_errors;                 /* files or folders that could not be read */
};

/* Collective over comm.  On rank 0 *out holds the plan; on other ranks it is
 * empty.  Every rank returns the same code. */
int plan_build(MPI_Comm comm, struct backend *src, struct backend *dst,
               const struct plan_options *opts, struct plan *out,
               struct ferry_error *err);

void plan_print_text(const struct plan *plan, FILE *out);
void plan_print_json(const struct plan *plan, const char *command,
                     const char *src, const char *dst, FILE *out);

void plan_free(struct plan *plan);

/* "1.5 GiB": bytes for people. */
void plan_format_bytes(long long bytes, char *buf, size_t len);

#endif

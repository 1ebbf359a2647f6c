/* What the remote backends (hf, http) share: a listing made once on rank 0
 * and broadcast, scenes and walks answered from it, reads run by fetch.
 * Internal to src/backends. */
#ifndef FERRY_BACKENDS_REMOTE_H
#define FERRY_BACKENDS_REMOTE_H

#include "ferry/backend.h"
#include "ferry/net.h"
#include "ferry/pack.h"

struct remote_entry {
    char *path;                  /* relative to the root, checked safe */
    long long size, mtime;
    unsigned mode;               /* the copy's: 0644, less where a file:// source has less */
    char *etag;                  /* "sha256:HEX", "sha1:HEX" or NULL */
    char **urls;                 /* mirrors; none: url_prefix + path */
    size_t n_urls;
    bool hub;                    /* listed from the Hub: its redirects are its CDN's */
};

struct remote_backend {
    struct backend base;
    struct remote_entry *entries;    /* sorted by path */
    size_t count, cap;
    char **refused;                  /* entries refused as unsafe: "PATH: why" */
    size_t n_refused;
    char *url_prefix;                /* for entries without urls (escaped path appended) */
    struct net_auth auth;            /* the Hub's token; cleared on close */
    bool check_hops;                 /* every redirect target must be under allowed_prefixes */
};

/* Add an entry as the source lists it (mode 0644); an unsafe path (absolute,
 * "..", ".", empty segments, a backslash) is refused and remembered instead,
 * and NULL returned. */
struct remote_entry *remote_add(struct remote_backend *rb, const char *path, long long size,
                long long mtime, const char *etag, char **urls, size_t n_urls);
/* Remember an entry that could not be listed ("PATH: why"): its scene, or
 * the root, then fails the run instead of looking complete. */
void remote_refuse(struct remote_backend *rb, const char *path, const char *why);
/* Sort, drop hidden folders, and refuse duplicates.  Rank 0, after listing. */
void remote_finish(struct remote_backend *rb);
/* Rank 0's listing to every rank (entries, refusals, url_prefix) when rank
 * 0's outcome rc is 0; returns the outcome every rank agrees on. */
int remote_share(struct remote_backend *rb, MPI_Comm comm, int rc, struct ferry_error *err);
/* List a remote's sub-folder sub ("" for the root) into rb: with folders
 * given, sub's own files and its sub-folders' names there (fresh array and
 * strings); without, every file under sub. */
typedef int (*remote_lister)(void *ud, struct remote_backend *rb, const char *sub,
                             char ***folders, size_t *n_folders, struct ferry_error *err);
/* Collective, when a prepare's outcome so far is rc: rank 0 lists the root's
 * files and folders; from spread_min folders on they are dealt over the ranks,
 * each lists its share in full (a folder that fails is refused, not lost),
 * and rank 0 gathers the lot and shares the finished listing (modes kept). */
int remote_list_spread(struct remote_backend *rb, MPI_Comm comm, int rc, size_t spread_min,
                       remote_lister list, void *ud, struct ferry_error *err);
/* The upload plan of a destination that puts each file in place alone (its
 * own batch, finished as soon as its parts are in): every file WRITE_PARTS,
 * in parts of part_bytes(size, chunk) bytes (one part when the file is no
 * bigger), with room for targets and receipts.  remote_plan_free frees what
 * it made; up->state is the caller's. */
void remote_plan_by_file(const struct upload_request *req, long long chunk,
                         long long (*part_bytes)(long long size, long long chunk),
                         struct upload_plan *out);
void remote_plan_free(struct upload_plan *up);
const struct remote_entry *remote_find(const struct remote_backend *rb, const char *path);
void remote_free(struct remote_backend *rb);


/* The backend_ops members every remote kind shares. */
int remote_list_scenes(struct backend *b, char ***names, size_t *count, bool *root_files,
                       struct ferry_error *err);
int remote_walk(struct backend *b, const char *dir, bool recursive, walk_fn fn, void *ud,
                struct ferry_error *err);
int remote_read_start(struct backend *b, const struct read_spec *spec,
                      struct backend_read **out, struct ferry_error *err);
int remote_read_poll(struct backend_read *r, long long *moved, struct ferry_error *err);
void remote_read_end(struct backend_read *r);
void remote_wait(struct backend *b, int ms);

/* One PUT of [offset, offset + length) of fd to url, tried again with
 * backoff and jitter: the part of a write the Hub's storage and the object
 * stores share.  remote_put_poll moves it; once it says done, t holds the
 * attempt's outcome for the caller to judge, and remote_put_again either
 * schedules another attempt (true) or says the attempts are spent. */
struct remote_put {
    struct net_transfer *t;          /* the attempt on the wire or just ended; NULL between */
    char *url;
    const struct net_auth *auth;     /* may be NULL (a presigned URL) */
    int fd;
    long long offset, length;
    bool md5;                        /* keep the MD5 of the bytes sent (net_put_md5) */
    int attempts, max_attempts;
    double not_before;               /* monotonic: no attempt before */
    int ticket;                      /* the gate's, while gated */
    bool gated;
};

void remote_put_init(struct remote_put *p, const char *url, const struct net_auth *auth, int fd,
                     long long offset, long long length, bool md5, int max_attempts);
/* BACKEND_WAITING while an attempt runs or waits its turn; 0 once p->t
 * holds an ended attempt (answered, or failed on the way). */
int remote_put_poll(struct remote_put *p);
/* Is an ended attempt worth another (the network, 408, 429, 5xx but 501)? */
bool remote_transient(const struct net_transfer *t);
/* Drop the ended attempt and schedule the next; false when none is left
 * (the ended attempt then stays in t). */
bool remote_put_again(struct remote_put *p);
void remote_put_free(struct remote_put *p);

/* A destination's write that is one remote_put (a Hub storage PUT, a
 * bucket's object or part): a backend's own handle may start with it and
 * add fields; remote_write_close gives the ETag as the receipt. */
struct remote_write {
    struct backend_write head;       /* first: what callers see */
    struct remote_put put;
    char *path;                      /* the file's, for messages */
    char *etag;                      /* the store's answer, once stored */
};

/* A handle of size bytes (at least a remote_write) for spec's range, PUT
 * to url; the first attempt starts now. */
struct remote_write *remote_write_new(size_t size, const struct write_spec *spec, const char *url,
                                      const struct net_auth *auth, bool md5, int max_attempts);
int remote_write_close(struct backend_write *w, char **receipt, struct ferry_error *err);
void remote_write_abort(struct backend_write *w);

#endif

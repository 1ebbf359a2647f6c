#include "ferry/verify.h"
#include "ferry/comm.h"
#include "ferry/escape.h"
#include "ferry/hash.h"
#include "ferry/pack.h"
#include "ferry/xalloc.h"

#include <stdlib.h>
#include <string.h>

struct listed {
    char *path;
    long long size;
    char *etag;
};

struct listing {
    struct listed *files;
    size_t count, cap;
};

static int collect(const struct file_meta *meta, void *ud)
{
    struct listing *l = ud;
    xgrow((void **)&l->files, &l->cap, l->count + 1, sizeof *l->files);
    l->files[l->count++] = (struct listed){xstrdup(meta->path), meta->size,
                                           meta->etag ? xstrdup(meta->etag) : NULL};
    return 0;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct listed *)a)->path, ((const struct listed *)b)->path);
}

/* Every file under b: root files, then each scene recursively. */
static int list_all(struct backend *b, struct listing *l, struct ferry_error *err)
{
    char **names = NULL;
    size_t n = 0;
    bool root_files = false;
    int rc = b->ops->list_scenes(b, &names, &n, &root_files, err);
    /* The root's own files, whatever root_files says: it does not count
     * dot files such as .gitattributes. */
    if (rc == 0 && (rc = b->ops->walk(b, "", false, collect, l, err)) == FERRY_ENOTFOUND)
        rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = b->ops->walk(b, names[i], true, collect, l, err);
        free(names[i]);
    }
    free(names);
    qsort(l->files, l->count, sizeof *l->files, by_path);
    return rc;
}

static void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free(l->files[i].path);
        free(l->files[i].etag);
    }
    free(l->files);
}

/* Rank 0: compare names and sizes, print what is missing, extra or of the
 * wrong size, and pack the files whose content must be hashed. */
static void compare(const struct listing *want, const struct listing *have, FILE *out,
                    struct verify_report *r, struct pack *jobs)
{
    size_t i = 0, j = 0;
    while (i < want->count || j < have->count) {
        int order = i == want->count ? 1 : j == have->count ? -1
                  : strcmp(want->files[i].path, have->files[j].path);
        if (order < 0) {
            fprintf(out, "missing: %s\n", escape_display(want->files[i++].path));
            r->missing++;
        } else if (order > 0) {
            fprintf(out, "extra: %s\n", escape_display(have->files[j++].path));
            r->extra++;
        } else {
            const struct listed *w = &want->files[i++], *h = &have->files[j++];
            r->checked++;
            if (w->size != h->size) {
                fprintf(out, "corrupt: %s: %lld bytes, expected %lld\n", escape_display(w->path),
                        h->size, w->size);
                r->corrupt++;
            } else if (w->etag && strchr(w->etag, ':')) {
                pack_str(jobs, w->path);
                pack_str(jobs, w->etag);
                r->hashed++;
            }
        }
    }
}

/* This rank's share of the hashing: the job list's items rank, rank+size, ... */
static void hash_share(const char *dir, struct pack *jobs, int rank, int size, struct pack *problems)
{
    for (long long k = 0; !pack_done(jobs); k++) {
        char *path = unpack_str(jobs);
        char *etag = unpack_str(jobs);
        if (k % size == rank) {
            char *full = xasprintf("%s/%s", dir, path);
            char sha256[HASH_SHA256_HEX], sha1[HASH_SHA1_HEX];
            struct ferry_error err = {0};
            bool is256 = strncmp(etag, "sha256:", 7) == 0;
            const char *want = strchr(etag, ':') + 1;
            if (hash_file(full, sha256, sha1, &err) != 0)
                pack_str(problems, err.msg);
            else if (strcmp(is256 ? sha256 : sha1, want) != 0) {
                char *line = xasprintf("%s: %s %s, expected %s", path, is256 ? "sha256" : "git sha1",
                                       is256 ? sha256 : sha1, want);
                pack_str(problems, line);
                free(line);
            }
            free(full);
        }
        free(path);
        free(etag);
    }
}

int verify_run(MPI_Comm comm, const char *dir, const char *against, FILE *out,
               struct verify_report *report, struct ferry_error *err)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(report, 0, sizeof *report);
    struct backend *src = NULL, *dst = NULL;
    int rc = backend_open(against, &src, err);
    if (rc == 0 && (rc = backend_open(dir, &dst, err)) == 0 && !dst->ops->part_size)
        rc = err_set(err, FERRY_EUSAGE, "%s: verify checks a local directory", dir);
    rc = comm_agree(comm, rc, err);
    if (rc == 0 && src->ops->prepare)
        rc = src->ops->prepare(src, comm, err);

    struct pack jobs;
    pack_init(&jobs);
    if (rc == 0 && rank == 0) {
        struct listing want = {0}, have = {0};
        rc = list_all(src, &want, err);
        if (rc == 0)
            rc = list_all(dst, &have, err);
        if (rc == 0)
            compare(&want, &have, out, report, &jobs);
        listing_free(&want);
        listing_free(&have);
    }
    rc = comm_agree(comm, rc, err);
    if (rc == 0) {
        comm_bcast_pack(comm, &jobs);
        struct pack problems;
        pack_init(&problems);
        hash_share(dir, &jobs, rank, size, &problems);
        /* Every rank's findings to rank 0, in rank order. */
        if (rank != 0) {
            MPI_Send(problems.data, (int)problems.len, MPI_BYTE, 0, 0, comm);
        } else {
            for (int r = 0; r < size; r++) {
                struct pack in;
                unsigned char *buf = NULL;
                if (r == 0) {
                    pack_wrap(&in, problems.data, problems.len);
                } else {
                    MPI_Status st;
                    int len;
                    MPI_Probe(r, 0, comm, &st);
                    MPI_Get_count(&st, MPI_BYTE, &len);
                    buf = xmalloc((size_t)len + 1);
                    MPI_Recv(buf, len, MPI_BYTE, r, 0, comm, MPI_STATUS_IGNORE);
                    pack_wrap(&in, buf, (size_t)len);
                }
                while (!pack_done(&in)) {
                    char *line = unpack_str(&in);
                    fprintf(out, "corrupt: %s\n", escape_display(line));
                    report->corrupt++;
                    free(line);
                }
                free(buf);
            }
        }
        pack_free(&problems);
    }
    pack_free(&jobs);
    backend_close(src);
    backend_close(dst);
    return rc;
}

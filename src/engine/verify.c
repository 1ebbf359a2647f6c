#include "ferry/verify.h"
#include "ferry/comm.h"
#include "ferry/dwalk.h"
#include "ferry/log.h"
#include "ferry/escape.h"
#include "ferry/hash.h"
#include "ferry/pack.h"
#include "ferry/xalloc.h"

#include <stdlib.h>
#include <string.h>

/* Rank 0: the folders a listing starts from, the root's own files (dot
 * files too: root_files does not count .gitattributes) and each scene. */
static int list_tops(struct backend *b, struct dwalk_top **tops, size_t *n, char ***names,
                     struct ferry_error *err)
{
    size_t n_names = 0;
    bool root_files = false;
    *names = NULL;
    *tops = NULL;
    *n = 0;
    int rc = b->ops->list_scenes(b, names, &n_names, &root_files, err);
    if (rc != 0)
        return rc;
    *tops = xcalloc(n_names + 1, sizeof **tops);
    (*tops)[(*n)++] = (struct dwalk_top){"", false};
    for (size_t i = 0; i < n_names; i++)
        (*tops)[(*n)++] = (struct dwalk_top){(*names)[i], true};
    return 0;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct dwalk_file *)a)->path, ((const struct dwalk_file *)b)->path);
}

/* Collective: every file under b, walked over all ranks; rank 0 holds them
 * sorted by path, or the first error. */
static int list_all(MPI_Comm comm, struct backend *b, struct dwalk_result *l,
                    struct ferry_error *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    struct dwalk_top *tops = NULL;
    char **names = NULL;
    size_t n = 0;
    int rc = rank == 0 ? list_tops(b, &tops, &n, &names, err) : 0;
    rc = comm_agree(comm, rc, err);
    if (rc == 0)
        dwalk_run(comm, b, tops, n, NULL, l);
    if (rc == 0 && rank == 0 && l->n_errors)
        rc = err_set(err, FERRY_EFAIL, "%s", l->errors[0].msg);
    if (rank == 0 && l->n_files)
        qsort(l->files, l->n_files, sizeof *l->files, by_path);
    for (size_t i = 0; i + 1 < n; i++)   /* tops[0] is the root's own */
        free(names[i]);
    free(names);
    free(tops);
    return comm_agree(comm, rc, err);
}

/* Rank 0: compare names and sizes, print what is missing, extra or of the
 * wrong size, and list the files whose content must be hashed. */
static void compare(const struct dwalk_result *want, const struct dwalk_result *have, FILE *out,
                    struct verify_report *r, const struct dwalk_file ***jobs, size_t *n_jobs)
{
    size_t i = 0, j = 0, cap = 0;
    while (i < want->n_files || j < have->n_files) {
        int order = i == want->n_files ? 1 : j == have->n_files ? -1
                  : strcmp(want->files[i].path, have->files[j].path);
        if (order < 0) {
            fprintf(out, "missing: %s\n", escape_display(want->files[i++].path));
            r->missing++;
        } else if (order > 0) {
            fprintf(out, "extra: %s\n", escape_display(have->files[j++].path));
            r->extra++;
        } else {
            const struct dwalk_file *w = &want->files[i++], *h = &have->files[j++];
            r->checked++;
            if (w->size != h->size) {
                fprintf(out, "corrupt: %s: %lld bytes, expected %lld\n", escape_display(w->path),
                        h->size, w->size);
                r->corrupt++;
            } else if (w->etag && strchr(w->etag, ':')) {
                xgrow((void **)jobs, &cap, *n_jobs + 1, sizeof **jobs);
                (*jobs)[(*n_jobs)++] = w;
                r->hashed++;
            }
        }
    }
}

struct hashing {
    const char *dir;
    const struct dwalk_file **jobs;  /* rank 0's */
    struct pack problems;            /* job index, what is wrong */
    long long files;
};

static void pack_job(void *ud, size_t k, struct pack *task)
{
    const struct dwalk_file *f = ((struct hashing *)ud)->jobs[k];
    pack_u64(task, k);
    pack_str(task, f->path);
    pack_str(task, f->etag);
}

/* Hash a task's files and note those whose content is not what the source says. */
static void run_hash_task(void *ud, struct pack *task, struct dwalk_queue *more)
{
    (void)more;
    struct hashing *h = ud;
    for (uint64_t n = unpack_u64(task); n > 0; n--) {
        uint64_t k = unpack_u64(task);
        char *path = unpack_str(task);
        char *etag = unpack_str(task);
        char *full = xasprintf("%s/%s", h->dir, path);
        char got[HASH_HEX_MAX];
        struct ferry_error err = {0};
        const char *colon = strchr(etag, ':'), *want = colon ? colon + 1 : "";
        char *line = NULL;
        if (hash_file_etag(full, etag, got, &err) != 0)
            line = xstrdup(err.msg);
        else if (strcmp(got, want) != 0)
            line = xasprintf("%s: %s %s, expected %s", path, hash_etag_kind(etag), got, want);
        if (line) {
            pack_u64(&h->problems, k);
            pack_str(&h->problems, line);
        }
        h->files++;
        free(line);
        free(full);
        free(path);
        free(etag);
    }
}

struct problem {
    uint64_t job;
    char *line;
};

static int by_job(const void *a, const void *b)
{
    const struct problem *x = a, *y = b;
    return (x->job > y->job) - (x->job < y->job);
}

/* Rank 0: the problems every rank found, in path order. */
static void print_problems(struct pack *in, FILE *out, struct verify_report *r)
{
    struct problem *list = NULL;
    size_t n = 0, cap = 0;
    while (!pack_done(in)) {
        xgrow((void **)&list, &cap, n + 1, sizeof *list);
        list[n].job = unpack_u64(in);
        list[n++].line = unpack_str(in);
    }
    if (n)
        qsort(list, n, sizeof *list, by_job);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "corrupt: %s\n", escape_display(list[i].line));
        r->corrupt++;
        free(list[i].line);
    }
    free(list);
}

/* Collective: the jobs (rank 0's) dealt over every rank, largest first. */
static void hash_all(MPI_Comm comm, struct hashing *h, size_t n_jobs, FILE *out,
                     struct verify_report *r)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    struct dwalk_queue q = {0};
    if (rank == 0) {
        long long *sizes = xcalloc(n_jobs ? n_jobs : 1, sizeof *sizes);
        for (size_t k = 0; k < n_jobs; k++)
            sizes[k] = h->jobs[k]->size;
        dwalk_queue_largest_first(&q, sizes, n_jobs, pack_job, h);
        free(sizes);
    }
    dwalk_deal(comm, &q, run_hash_task, h);
    dwalk_queue_free(&q);
    int *lens, *offsets;
    struct pack all;
    comm_gather_packs(comm, &h->problems, &all, &lens, &offsets);
    if (rank == 0)
        print_problems(&all, out, r);
    pack_free(&all);
    free(lens);
    free(offsets);
}

int verify_run(MPI_Comm comm, const char *dir, const char *against, FILE *out,
               struct verify_report *report, struct ferry_error *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    memset(report, 0, sizeof *report);
    struct backend *src = NULL, *dst = NULL;
    int rc = backend_open(against, &src, err);
    if (rc == 0 && (rc = backend_open(dir, &dst, err)) == 0 && !dst->ops->part_size)
        rc = err_set(err, FERRY_EUSAGE, "%s: verify checks a local directory", dir);
    rc = comm_agree(comm, rc, err);
    if (rc == 0 && src->ops->prepare)
        rc = src->ops->prepare(src, comm, err);

    struct dwalk_result want = {0}, have = {0};
    if (rc == 0)
        rc = list_all(comm, src, &want, err);
    if (rc == 0)
        rc = list_all(comm, dst, &have, err);
    struct hashing h = {.dir = dir};
    pack_init(&h.problems);
    size_t n_jobs = 0;
    if (rc == 0) {
        if (rank == 0)
            compare(&want, &have, out, report, &h.jobs, &n_jobs);
        hash_all(comm, &h, n_jobs, out, report);
        FLOG(LOG_DEBUG, "verify: this rank walked %lld folders and %lld files, hashed %lld files",
             want.folders_walked + have.folders_walked, want.files_walked + have.files_walked,
             h.files);
    }
    pack_free(&h.problems);
    free(h.jobs);
    dwalk_result_free(&want);
    dwalk_result_free(&have);
    backend_close(src);
    backend_close(dst);
    return rc;
}

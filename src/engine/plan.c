#include "ferry/plan.h"
#include "ferry/comm.h"
#include "ferry/dwalk.h"
#include "ferry/escape.h"
#include "ferry/log.h"
#include "ferry/pack.h"
#include "ferry/sched.h"
#include "ferry/versions.h"
#include "ferry/xalloc.h"

#include <cjson/cJSON.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Is the destination's file already the source's?  Local sources compare
 * size and mtime.  A source that names its content by hash (the Hub) has no
 * mtime to compare: the catalog says which content ferry put there, and the
 * size and mtime ferry gave the file, so a file changed since is fetched
 * again and nothing is read to decide. */
static bool same_version(const struct plan_options *opts, const struct dwalk_file *src,
                         const struct dwalk_file *dst)
{
    if (src->size != dst->size)
        return false;
    if (!src->etag)
        return opts->dst_upload_time ? dst->mtime >= src->mtime : src->mtime == dst->mtime;
    if (!opts->catalog)
        return false;
    char version[160];
    sched_catalog_version(src->etag, dst->size, dst->mtime, version, sizeof version);
    return journal_has_file(opts->catalog, src->path, version);
}

/* Does a content hash ("sha256:HEX" or "sha1:HEX", a git blob) name these bytes? */
static bool etag_matches(const char *etag, const char *sha256, const char *sha1)
{
    if (!etag)
        return false;
    if (strncmp(etag, "sha256:", 7) == 0)
        return strcmp(etag + 7, sha256) == 0;
    if (strncmp(etag, "sha1:", 5) == 0)
        return strcmp(etag + 5, sha1) == 0;
    return false;
}

static int read_hashes(struct backend *b, const char *path, long long size,
                       char sha256[HASH_SHA256_HEX], char sha1[HASH_SHA1_HEX],
                       struct ferry_error *err)
{
    int fd = -1;
    int rc = b->ops->open_read(b, path, &fd, err);
    if (rc == 0) {
        rc = hash_fd(fd, size, path, sha256, sha1, err);
        close(fd);
    }
    return rc;
}

/* --recheck can compare a file that looks unchanged when the destination
 * can be read and the source names its content's hash (the Hub, a
 * manifest's checksum=) or can be read too (a local source). */
static bool recheckable(const struct plan_options *opts, struct backend *src,
                        struct backend *dst, const struct dwalk_file *f)
{
    return opts->recheck && dst->ops->open_read && (f->etag || src->ops->open_read);
}

/* Does the destination's copy of path (same size) hold the source's bytes
 * (named by etag, or read too when etag is NULL)?  A file that cannot be
 * read is fetched again. */
static bool recheck_same(struct backend *src, struct backend *dst, const char *path,
                         long long size, const char *etag)
{
    char sha256[HASH_SHA256_HEX], sha1[HASH_SHA1_HEX];
    char src256[HASH_SHA256_HEX], src1[HASH_SHA1_HEX];
    struct ferry_error err = {0};
    if (read_hashes(dst, path, size, sha256, sha1, &err) != 0 ||
        (!etag && read_hashes(src, path, size, src256, src1, &err) != 0)) {
        FLOG(LOG_WARN, "--recheck: %s: fetching it again", err.msg);
        return false;
    }
    bool same = etag ? etag_matches(etag, sha256, sha1) : strcmp(sha256, src256) == 0;
    if (!same)
        FLOG(LOG_INFO, "--recheck: %s differs from the source: fetching it again", path);
    return same;
}

static void add(struct plan_counts *c, long long bytes)
{
    c->files++;
    c->bytes += bytes;
}

/* get --extract: is dst_file an archive not yet extracted? */
static bool unextracted(const struct plan_options *opts, const struct dwalk_file *dst_file)
{
    if (!opts->extracted || !opts->stage || !opts->stage->feeds(dst_file->path))
        return false;
    char *path = xasprintf("%s/%s", opts->root, dst_file->path);
    char *key = opts->stage->journal_key(path), version[64];
    sched_version(dst_file->size, dst_file->mtime, version, sizeof version);
    bool done = journal_has_file(opts->extracted, key, version);
    free(key);
    free(path);
    return !done;
}

/* A file whose verdict waits for its content to be read: a source file to
 * hash (put to the Hub), or a file --recheck reads on both sides. */
enum { JOB_HASH, JOB_RECHECK };

struct hash_job {
    int kind;
    size_t scene;
    struct dwalk_file src, dst;  /* copies: the scene's listings are gone by then */
    bool has_dst;
};

/* Rank 0's planning state between the walks and the hashing. */
struct planner {
    struct backend *src, *dst;
    const struct plan_options *opts;
    struct plan *plan;
    struct hash_job *jobs;
    size_t n_jobs, jobs_cap;
    size_t transfer_cap, deletes_cap, unpack_cap;
};

static struct dwalk_file file_copy(const struct dwalk_file *f)
{
    struct dwalk_file copy = *f;
    copy.path = xstrdup(f->path);
    copy.etag = f->etag ? xstrdup(f->etag) : NULL;
    return copy;
}

static void add_job(struct planner *p, int kind, size_t scene, const struct dwalk_file *src,
                    const struct dwalk_file *dst)
{
    xgrow((void **)&p->jobs, &p->jobs_cap, p->n_jobs + 1, sizeof *p->jobs);
    p->jobs[p->n_jobs++] = (struct hash_job){
        .kind = kind, .scene = scene, .src = file_copy(src),
        .dst = dst ? file_copy(dst) : (struct dwalk_file){0}, .has_dst = dst != NULL};
}

static void jobs_free(struct planner *p)
{
    for (size_t k = 0; k < p->n_jobs; k++) {
        free(p->jobs[k].src.path);
        free(p->jobs[k].src.etag);
        free(p->jobs[k].dst.path);
        free(p->jobs[k].dst.etag);
    }
    free(p->jobs);
}

static const struct dwalk_file *job_dst(const struct hash_job *job)
{
    return job->has_dst ? &job->dst : NULL;
}

/* The verdict on source file f (its destination copy dst, or NULL): count
 * it, and list it for transfer, or, unchanged, for extraction in place.
 * etag: what the transfer carries, the source's own when NULL. */
static void decide(struct planner *p, size_t scene, const struct dwalk_file *f,
                   const struct dwalk_file *dst, bool same, const char *etag)
{
    struct plan *plan = p->plan;
    struct plan_scene *s = &plan->scenes[scene];
    if (same) {
        add(&s->unchanged, f->size);
        if (unextracted(p->opts, dst)) {
            xgrow((void **)&plan->unpack, &p->unpack_cap, plan->n_unpack + 1,
                  sizeof *plan->unpack);
            plan->unpack[plan->n_unpack++] = (struct plan_file){
                .path = xstrdup(dst->path), .size = dst->size, .mtime = dst->mtime};
        }
        return;
    }
    if (!etag)
        etag = f->etag;
    add(&s->transfer, f->size);
    xgrow((void **)&plan->transfer, &p->transfer_cap, plan->n_transfer + 1,
          sizeof *plan->transfer);
    plan->transfer[plan->n_transfer++] = (struct plan_file){
        .path = xstrdup(f->path), .size = f->size, .mtime = f->mtime, .mode = f->mode,
        .etag = etag ? xstrdup(etag) : NULL};
}

/* Rank 0: a source file whose hashes are known (cached, or just read). */
static void decide_hashed(struct planner *p, size_t scene, const struct dwalk_file *f,
                          const struct dwalk_file *dst, const char *sha256, const char *sha1)
{
    char etag[80];
    snprintf(etag, sizeof etag, "sha256:%s", sha256);
    decide(p, scene, f, dst, dst && etag_matches(dst->etag, sha256, sha1), etag);
}

/* Rank 0: compare one source file with its destination copy (or NULL). */
static void compare_file(struct planner *p, size_t scene, const struct dwalk_file *f,
                         const struct dwalk_file *dst)
{
    const struct plan_options *opts = p->opts;
    if (opts->hash_sources && !f->etag) {
        char sha256[HASH_SHA256_HEX], sha1[HASH_SHA1_HEX];
        if (hashcache_get(opts->hashes, f->path, f->size, f->mtime, sha256, sha1))
            decide_hashed(p, scene, f, dst, sha256, sha1);
        else
            add_job(p, JOB_HASH, scene, f, dst);
        return;
    }
    bool same = dst && same_version(opts, f, dst);
    if (same && recheckable(opts, p->src, p->dst, f))
        add_job(p, JOB_RECHECK, scene, f, dst);
    decide(p, scene, f, dst, same, NULL);
}

static bool scene_failed(const struct dwalk_result *r, const char *side)
{
    for (size_t i = 0; i < r->n_errors; i++)
        FLOG(LOG_ERROR, "walking the %s: %s", side, r->errors[i].msg);
    return r->n_errors > 0;
}

/* The source files a target's selection leaves out (plan_options), or NULL
 * when it has none. */
static bool *left_out(const struct plan_options *opts, const struct dwalk_result *from)
{
    if (!opts->latest_only && opts->max_depth <= 0 && opts->quiet_since <= 0)
        return NULL;
    size_t n = from->n_files;
    bool *out = xcalloc(n + 1, sizeof *out);
    if (opts->latest_only) {
        char **paths = xcalloc(n + 1, sizeof *paths);
        for (size_t i = 0; i < n; i++)
            paths[i] = from->files[i].path;
        versions_older(paths, n, out);
        free(paths);
    }
    for (size_t i = 0; i < n; i++) {
        const struct dwalk_file *f = &from->files[i];
        if ((opts->max_depth > 0 && path_depth(f->path) > opts->max_depth) ||
            (opts->quiet_since > 0 && f->mtime > opts->quiet_since))
            out[i] = true;
    }
    return out;
}

/* A destination file outside what the selection could ever pick. */
static bool beyond_selection(const struct plan_options *opts, const char *path)
{
    if (opts->max_depth > 0 && path_depth(path) > opts->max_depth)
        return true;
    return opts->latest_only && path_has_version(path);
}

/* Rank 0: merge one scene's source and destination files (both sorted by
 * path); deletes are decided here, from what the walks could read. */
static void compare_scene(struct planner *p, size_t scene, const struct dwalk_result *from,
                          const struct dwalk_result *to)
{
    struct plan *plan = p->plan;
    struct plan_scene *s = &plan->scenes[scene];
    bool source_failed = scene_failed(from, "source");
    s->walk_error = scene_failed(to, "destination") || source_failed;
    s->source_empty = from->n_files == 0;
    bool deletes = p->opts->deletes && !s->walk_error && !s->source_empty && !p->opts->send_all;
    struct dwalk_result none = {0};
    if (p->opts->send_all)
        to = &none;
    bool *skip = left_out(p->opts, from);
    size_t i = 0, j = 0;
    while (i < from->n_files || j < to->n_files) {
        int order = i == from->n_files ? 1 : j == to->n_files ? -1
                  : strcmp(from->files[i].path, to->files[j].path);
        if (order <= 0 && skip && skip[i]) {
            /* Left out: not sent, and its copy there (if any) is kept. */
            j += order == 0;
            i++;
            continue;
        }
        if (order > 0) {
            const struct dwalk_file *d = &to->files[j++];
            bool kept = (p->opts->keep && strcmp(d->path, p->opts->keep) == 0) ||
                        beyond_selection(p->opts, d->path);
            if (deletes && !kept) {
                add(&s->remove, d->size);
                xgrow((void **)&plan->deletes, &p->deletes_cap, plan->n_deletes + 1,
                      sizeof *plan->deletes);
                plan->deletes[plan->n_deletes++] = xstrdup(d->path);
            }
            continue;
        }
        compare_file(p, scene, &from->files[i++], order == 0 ? &to->files[j++] : NULL);
    }
    free(skip);
}

/* A hashing task's entry for job k: its index, kind, path, size and source etag. */
static void pack_job(void *ud, size_t k, struct pack *task)
{
    const struct hash_job *job = &((const struct planner *)ud)->jobs[k];
    pack_u64(task, k);
    pack_u64(task, (uint64_t)job->kind);
    pack_str(task, job->src.path);
    pack_i64(task, job->src.size);
    pack_str(task, job->src.etag ? job->src.etag : "");
}

static void queue_jobs(struct planner *p, struct dwalk_queue *q)
{
    long long *sizes = xcalloc(p->n_jobs ? p->n_jobs : 1, sizeof *sizes);
    for (size_t k = 0; k < p->n_jobs; k++)
        sizes[k] = p->jobs[k].src.size;
    dwalk_queue_largest_first(q, sizes, p->n_jobs, pack_job, p);
    free(sizes);
}

/* What a rank hashing its share needs and finds. */
struct hasher {
    struct backend *src, *dst;
    struct pack results;     /* job index, ok; then sha256 sha1 (hash) */
    long long files, bytes;
};

static void run_hash_task(void *ud, struct pack *task, struct dwalk_queue *more)
{
    (void)more;
    struct hasher *h = ud;
    for (uint64_t n = unpack_u64(task); n > 0; n--) {
        uint64_t index = unpack_u64(task);
        int kind = (int)unpack_u64(task);
        char *path = unpack_str(task);
        long long size = unpack_i64(task);
        char *etag = unpack_str(task);
        char sha256[HASH_SHA256_HEX] = "", sha1[HASH_SHA1_HEX] = "";
        struct ferry_error err = {0};
        bool ok;
        if (kind == JOB_HASH) {
            ok = read_hashes(h->src, path, size, sha256, sha1, &err) == 0;
            if (!ok)
                FLOG(LOG_ERROR, "hashing the source: %s", err.msg);
        } else {
            ok = recheck_same(h->src, h->dst, path, size, *etag ? etag : NULL);
        }
        h->files++;
        h->bytes += size;
        pack_u64(&h->results, index);
        pack_u64(&h->results, ok);
        pack_str(&h->results, sha256);
        pack_str(&h->results, sha1);
        free(path);
        free(etag);
    }
}

/* Rank 0: a file --recheck found different moves from unchanged to transfer
 * (and, an archive, off the list to extract in place: get --extract
 * extracts it once it is fetched again). */
static void transfer_again(struct planner *p, const struct hash_job *job)
{
    struct plan *plan = p->plan;
    for (size_t i = 0; i < plan->n_unpack; i++) {
        if (strcmp(plan->unpack[i].path, job->src.path) == 0) {
            free(plan->unpack[i].path);
            plan->unpack[i] = plan->unpack[--plan->n_unpack];
            break;
        }
    }
    struct plan_scene *s = &plan->scenes[job->scene];
    s->unchanged.files--;
    s->unchanged.bytes -= job->src.size;
    decide(p, job->scene, &job->src, job_dst(job), false, NULL);
}

/* Rank 0: apply what the ranks found, job by job. */
static void apply_results(struct planner *p, struct pack *in)
{
    while (!pack_done(in)) {
        uint64_t index = unpack_u64(in);
        bool ok = unpack_u64(in) != 0;
        char *sha256 = unpack_str(in), *sha1 = unpack_str(in);
        const struct hash_job *job = index < p->n_jobs ? &p->jobs[index] : NULL;
        if (!job || in->bad) {
            free(sha256);
            free(sha1);
            break;
        }
        if (job->kind == JOB_RECHECK && !ok) {
            transfer_again(p, job);
        } else if (job->kind == JOB_HASH && !ok) {
            p->plan->scenes[job->scene].walk_error = true;
        } else if (job->kind == JOB_HASH) {
            hashcache_put(p->opts->hashes, job->src.path, job->src.size, job->src.mtime,
                          sha256, sha1);
            decide_hashed(p, job->scene, &job->src, job_dst(job), sha256, sha1);
        }
        free(sha256);
        free(sha1);
    }
}

/* Collective: the jobs (rank 0's) dealt over every rank, largest first, and
 * their outcomes applied on rank 0. */
static void hash_jobs(MPI_Comm comm, struct planner *p, struct hasher *h)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    struct dwalk_queue q = {0};
    if (rank == 0)
        queue_jobs(p, &q);
    dwalk_deal(comm, &q, run_hash_task, h);
    dwalk_queue_free(&q);
    int *lens, *offsets;
    struct pack all;
    comm_gather_packs(comm, &h->results, &all, &lens, &offsets);
    if (rank == 0)
        apply_results(p, &all);
    pack_free(&all);
    free(lens);
    free(offsets);
}

static bool scene_selected(const struct plan_options *opts, const char *name)
{
    if (opts->n_scenes) {
        for (size_t i = 0; i < opts->n_scenes; i++)
            if (strcmp(opts->scenes[i], name) == 0)
                return true;
        return false;
    }
    if (opts->scene_includes)
        return *name && strstr(name, opts->scene_includes) != NULL;
    return true;
}

static int compare_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Rank 0: the selected scene names, sorted, packed for the broadcast. */
static int select_scenes(struct backend *src, const struct plan_options *opts,
                         struct pack *out, struct ferry_error *err)
{
    char **names;
    size_t count;
    bool root_files;
    int rc = src->ops->list_scenes(src, &names, &count, &root_files, err);
    if (rc != 0)
        return rc;
    qsort(names, count, sizeof *names, compare_str);

    size_t selected = 0;
    if (root_files && !opts->n_scenes && !opts->scene_includes) {
        pack_str(out, PLAN_ROOT_SCENE);
        selected++;
    }
    for (size_t i = 0; i < count; i++) {
        if (scene_selected(opts, names[i])) {
            pack_str(out, names[i]);
            selected++;
        }
    }
    for (size_t i = 0; i < opts->n_scenes && rc == 0; i++) {
        if (!bsearch(&opts->scenes[i], names, count, sizeof *names, compare_str))
            rc = err_set(err, FERRY_ENOTFOUND, "%s: no scene '%s' in the source",
                         src->location, opts->scenes[i]);
    }
    if (rc == 0 && opts->scene_includes && selected == 0)
        rc = err_set(err, FERRY_ENOTFOUND, "%s: no scene name contains '%s'",
                     src->location, opts->scene_includes);
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int compare_transfer(const void *a, const void *b)
{
    const struct plan_file *x = a, *y = b;
    if (x->size != y->size)
        return (x->size < y->size) - (x->size > y->size);
    return strcmp(x->path, y->path);
}

/* Rank 0: the totals over scenes, and transfers largest first. */
static void finish_plan(struct plan *plan)
{
    for (size_t k = 0; k < plan->n_scenes; k++) {
        const struct plan_scene *s = &plan->scenes[k];
        plan->walk_errors += s->walk_error;
        plan->total_transfer.files += s->transfer.files;
        plan->total_transfer.bytes += s->transfer.bytes;
        plan->total_unchanged.files += s->unchanged.files;
        plan->total_unchanged.bytes += s->unchanged.bytes;
        plan->total_remove.files += s->remove.files;
        plan->total_remove.bytes += s->remove.bytes;
    }
    if (plan->n_transfer)
        qsort(plan->transfer, plan->n_transfer, sizeof *plan->transfer, compare_transfer);
}

/* The scenes a plan covers, as every rank learns them. */
struct scene_list {
    char **names;
    size_t n, cap;
};

static void pack_scene_list(void *ud, struct pack *out)
{
    const struct scene_list *list = ud;
    for (size_t i = 0; i < list->n; i++)
        pack_str(out, list->names[i]);
}

static void unpack_scene_list(void *ud, struct pack *in)
{
    struct scene_list *list = ud;
    while (!pack_done(in)) {
        xgrow((void **)&list->names, &list->cap, list->n + 1, sizeof *list->names);
        list->names[list->n++] = unpack_str(in);
    }
}

/* Every rank: the selected scenes, chosen by rank 0. */
static int share_scenes(MPI_Comm comm, struct backend *src, const struct plan_options *opts,
                        char ***names, size_t *n_names, struct ferry_error *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    struct scene_list list = {0};
    int rc = 0;
    if (rank == 0) {
        struct pack chosen;
        pack_init(&chosen);
        rc = select_scenes(src, opts, &chosen, err);
        if (rc == 0)
            unpack_scene_list(&list, &chosen);
        pack_free(&chosen);
    }
    rc = comm_share(comm, rc, pack_scene_list, unpack_scene_list, &list, err);
    *names = list.names;
    *n_names = list.n;
    return rc;
}

/* Collective: each scene's listings to rank 0 in turn, compared there (the
 * files to read left in p->jobs), so rank 0 holds one scene's at a time. */
static void compare_all(MPI_Comm comm, struct planner *p, char **names, size_t n_names,
                        struct dwalk *from, struct dwalk *to)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        p->plan->n_scenes = n_names;
        p->plan->scenes = xcalloc(n_names ? n_names : 1, sizeof *p->plan->scenes);
    }
    for (size_t k = 0; k < n_names; k++) {
        struct dwalk_result src_files, dst_files;
        dwalk_take(comm, from, k, &src_files);
        dwalk_take(comm, to, k, &dst_files);
        if (rank == 0) {
            p->plan->scenes[k].name = xstrdup(names[k]);
            compare_scene(p, k, &src_files, &dst_files);
        }
        dwalk_result_free(&src_files);
        dwalk_result_free(&dst_files);
    }
}

int plan_build(MPI_Comm comm, struct backend *src, struct backend *dst,
               const struct plan_options *opts, struct plan *out,
               struct ferry_error *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    memset(out, 0, sizeof *out);
    char **names;
    size_t n_names;
    int rc = share_scenes(comm, src, opts, &names, &n_names, err);
    if (rc != 0)
        return rc;
    if (opts->latest_only) {
        /* Scenes are siblings too ("sweep_v1", "sweep_v2"). */
        bool *older = xcalloc(n_names + 1, sizeof *older);
        versions_older(names, n_names, older);
        size_t kept = 0;
        for (size_t k = 0; k < n_names; k++) {
            if (older[k])
                free(names[k]);
            else
                names[kept++] = names[k];
        }
        n_names = kept;
        free(older);
    }

    /* Walks and hashing are shared per folder and per file, not per scene:
     * one scene of ten million files keeps every rank busy. */
    struct dwalk_top *tops = xcalloc(n_names ? n_names : 1, sizeof *tops);
    for (size_t k = 0; k < n_names; k++)
        tops[k] = (struct dwalk_top){names[k], strcmp(names[k], PLAN_ROOT_SCENE) != 0};
    struct dwalk *from = dwalk_start(comm, src, tops, n_names, &opts->filter);
    struct dwalk *to = dwalk_start(comm, dst, tops, n_names, &opts->filter);
    struct planner p = {.src = src, .dst = dst, .opts = opts, .plan = out};
    compare_all(comm, &p, names, n_names, from, to);
    struct hasher h = {.src = src, .dst = dst};
    pack_init(&h.results);
    hash_jobs(comm, &p, &h);
    if (rank == 0)
        finish_plan(out);
    long long folders = 0, files = 0;
    dwalk_counts(from, &folders, &files);
    dwalk_counts(to, &folders, &files);
    FLOG(LOG_DEBUG, "plan: this rank walked %lld folders and %lld files, read %lld files "
         "(%lld bytes) to hash them", folders, files, h.files, h.bytes);

    pack_free(&h.results);
    jobs_free(&p);
    dwalk_end(from);
    dwalk_end(to);
    free(tops);
    for (size_t k = 0; k < n_names; k++)
        free(names[k]);
    free(names);
    return 0;
}

void plan_format_bytes(long long bytes, char *buf, size_t len)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof *units) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%lld B", bytes);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
}

static void print_row(FILE *out, const char *name, const struct plan_counts *transfer,
                      const struct plan_counts *unchanged, const struct plan_counts *remove)
{
    char tb[32], ub[32], db[32];
    plan_format_bytes(transfer->bytes, tb, sizeof tb);
    plan_format_bytes(unchanged->bytes, ub, sizeof ub);
    plan_format_bytes(remove->bytes, db, sizeof db);
    fprintf(out, "%-32s %9lld %11s %9lld %11s %9lld %11s\n", escape_display(name),
            transfer->files, tb, unchanged->files, ub, remove->files, db);
}

void plan_print_text(const struct plan *plan, FILE *out)
{
    fprintf(out, "%-32s %9s %11s %9s %11s %9s %11s\n", "scene", "transfer", "bytes",
            "unchanged", "bytes", "delete", "bytes");
    for (size_t i = 0; i < plan->n_scenes; i++) {
        const struct plan_scene *s = &plan->scenes[i];
        print_row(out, *s->name ? s->name : "(root files)", &s->transfer,
                  &s->unchanged, &s->remove);
        if (s->walk_error)
            fprintf(out, "  (could not be read completely: nothing is deleted in it)\n");
    }
    print_row(out, "total", &plan->total_transfer, &plan->total_unchanged,
              &plan->total_remove);
}

static cJSON *counts_json(const struct plan_counts *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "files", (double)c->files);
    cJSON_AddNumberToObject(o, "bytes", (double)c->bytes);
    return o;
}

static void add_counts(cJSON *o, const struct plan_counts *transfer,
                       const struct plan_counts *unchanged, const struct plan_counts *remove)
{
    cJSON_AddItemToObject(o, "transfer", counts_json(transfer));
    cJSON_AddItemToObject(o, "unchanged", counts_json(unchanged));
    cJSON_AddItemToObject(o, "delete", counts_json(remove));
}

void plan_print_json(const struct plan *plan, const char *command,
                     const char *src, const char *dst, FILE *out)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "event", "plan");
    cJSON_AddStringToObject(root, "command", command);
    cJSON_AddStringToObject(root, "source", src);
    cJSON_AddStringToObject(root, "destination", dst);
    cJSON *scenes = cJSON_AddArrayToObject(root, "scenes");
    for (size_t i = 0; i < plan->n_scenes; i++) {
        const struct plan_scene *s = &plan->scenes[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", s->name);
        add_counts(o, &s->transfer, &s->unchanged, &s->remove);
        cJSON_AddBoolToObject(o, "walk_error", s->walk_error);
        cJSON_AddItemToArray(scenes, o);
    }
    cJSON *totals = cJSON_AddObjectToObject(root, "totals");
    add_counts(totals, &plan->total_transfer, &plan->total_unchanged, &plan->total_remove);
    char *text = cJSON_PrintUnformatted(root);
    fprintf(out, "%s\n", text);
    fflush(out);
    free(text);
    cJSON_Delete(root);
}

void plan_free(struct plan *plan)
{
    for (size_t i = 0; i < plan->n_scenes; i++)
        free(plan->scenes[i].name);
    free(plan->scenes);
    for (size_t i = 0; i < plan->n_transfer; i++) {
        free(plan->transfer[i].path);
        free(plan->transfer[i].etag);
    }
    free(plan->transfer);
    for (size_t i = 0; i < plan->n_deletes; i++)
        free(plan->deletes[i]);
    free(plan->deletes);
    for (size_t i = 0; i < plan->n_unpack; i++)
        free(plan->unpack[i].path);
    free(plan->unpack);
    memset(plan, 0, sizeof *plan);
}

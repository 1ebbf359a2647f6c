#include "ferry/job.h"
#include "ferry/comm.h"
#include "ferry/fsutil.h"
#include "ferry/hashcache.h"
#include "ferry/journal.h"
#include "ferry/limiter.h"
#include "ferry/lock.h"
#include "ferry/log.h"
#include "ferry/xalloc.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* DST/.ferry/catalog: which content (hash) each file ferry fetched holds. */
#define JOB_CATALOG "catalog"
/* SRC/.ferry/hashes: the hashes of local files uploaded before. */
#define JOB_HASHES "hashes"
#define JOB_FILES_PER_COMMIT 100         /* the Hub's guidance */
#define JOB_COMMIT_BYTES (64LL << 20)    /* inline content in one commit */

static int writable(const struct job_options *opts, struct backend **dst,
                    struct ferry_error *err)
{
    if ((*dst)->ops->write_open)
        return 0;
    int rc = err_set(err, FERRY_EUSAGE, "%s: ferry cannot write to %s locations yet",
                     opts->dst, (*dst)->ops->name);
    backend_close(*dst);
    *dst = NULL;
    return rc;
}

/* The source, and the destination unless it is the Hugging Face cache: its
 * folders are named after the commit, which the prepared source knows. */
static int open_ends(const struct job_options *opts, struct backend **src,
                     struct backend **dst, struct ferry_error *err)
{
    int rc = backend_open(opts->src, src, err);
    if (rc == 0 && !opts->hf_cache && (rc = backend_open(opts->dst, dst, err)) == 0)
        rc = writable(opts, dst, err);
    if (rc == 0 && *dst && (*src)->ops == &backend_local && (*dst)->ops == &backend_local)
        rc = fs_check_apart(fs_file_url_path(opts->src), fs_file_url_path(opts->dst), err);
    /* Refused before the source lists itself over the network. */
    if (rc == 0 && opts->hf_cache && !(*src)->ops->open_cache)
        rc = err_set(err, FERRY_EUSAGE, "%s: --hf-cache needs a Hub repository (hf://...) "
                     "as the source", opts->src);
    if (rc != 0) {
        backend_close(*src);
        backend_close(*dst);
        *src = *dst = NULL;
    }
    return rc;
}

/* A destination that keeps no state of its own (the Hub) keeps it in the
 * source's: SRC/.ferry/push.  A fresh string, or NULL. */
static char *state_dir_of(const struct job_options *opts, struct backend *src,
                          struct backend *dst)
{
    if (opts->state_dir)
        return xstrdup(opts->state_dir);
    const char *own = dst->ops->state_dir ? dst->ops->state_dir(dst) : NULL;
    if (own)
        return xstrdup(own);
    const char *src_dir = dst->ops->upload_plan && src->ops->state_dir
                        ? src->ops->state_dir(src) : NULL;
    return src_dir ? xasprintf("%s/push", src_dir) : NULL;
}

/* Rank 0, before the destination lists itself: make it if asked to. */
static int create_destination(MPI_Comm comm, const struct job_options *opts,
                              struct backend *dst, struct ferry_error *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (!opts->create || opts->dry_run || strcmp(opts->command, "plan") == 0)
        return 0;
    int rc = 0;
    if (!dst->ops->create)
        rc = err_set(err, FERRY_EUSAGE, "--create: %s is not a Hub repository", opts->dst);
    else if (rank == 0)
        rc = dst->ops->create(dst, opts->public, err);
    return comm_agree(comm, rc, err);
}

/* The destination lists itself (a Hub repository); a missing one says how
 * to make it. */
static int prepare_destination(MPI_Comm comm, const struct job_options *opts,
                               struct backend *dst, struct ferry_error *err)
{
    if (!dst->ops->prepare)
        return 0;
    int rc = dst->ops->prepare(dst, comm, err);
    if (rc == FERRY_ENOTFOUND && dst->ops->create && !opts->create) {
        char cause[FERRY_ERRMSG_MAX];
        snprintf(cause, sizeof cause, "%s", err->msg);
        rc = err_set(err, rc, "%s; pass --create to create it (private; --public for a public "
                     "one)", cause);
    }
    return rc;
}

/* The folder the user named that holds state_dir: --state-dir itself, DST,
 * or SRC (the Hub's push state).  Below it no folder is made through a link.
 * A fresh string. */
static char *state_base(const struct job_options *opts, const char *state_dir)
{
    const char *ends[] = {fs_file_url_path(opts->dst), fs_file_url_path(opts->src)};
    for (size_t i = 0; !opts->state_dir && i < 2; i++) {
        size_t n = strlen(ends[i]);
        while (n > 1 && ends[i][n - 1] == '/')
            n--;
        if (strncmp(state_dir, ends[i], n) == 0 && state_dir[n] == '/')
            return xstrndup(ends[i], n);
    }
    return xstrdup(state_dir);
}

/* Any failure to write the state is a pre-flight failure: nothing has moved. */
static int not_writable(int rc, struct ferry_error *err)
{
    if (rc == 0 || rc == FERRY_EPREFLIGHT)
        return rc;
    char cause[FERRY_ERRMSG_MAX];
    snprintf(cause, sizeof cause, "%s", err->msg);
    return err_set(err, FERRY_EPREFLIGHT, "destination not writable: %s", cause);
}

/* Rank 0: make the state directory and take the lock.  Anything but a held
 * lock is a destination we cannot write to: a pre-flight failure too. */
static int take_lock(const struct job_options *opts, const char *state_dir,
                     struct ferry_error *err)
{
    if (!state_dir)
        return err_set(err, FERRY_EUSAGE, "%s cannot hold ferry's state: pass --state-dir",
                       opts->dst);
    char *base = state_base(opts, state_dir);
    int rc = fs_mkdirs_under(base, state_dir, err);
    free(base);
    if (rc == 0)
        rc = lock_acquire(state_dir, opts->force, opts->lock_ttl, err);
    return not_writable(rc, err);
}

/* What the part files of an earlier run already hold is not written again
 * (a rerun after a disk-full failure); a stale, longer part file is cut. */
static long long bytes_in_parts(const struct plan *plan, struct backend *dst)
{
    long long have = 0;
    for (size_t i = 0; dst->ops->part_size && i < plan->n_transfer; i++) {
        long long part = dst->ops->part_size(dst, plan->transfer[i].path);
        if (part > 0)
            have += part < plan->transfer[i].size ? part : plan->transfer[i].size;
    }
    return have;
}

static int check_space(const struct plan *plan, struct backend *dst,
                       struct ferry_error *err)
{
    long long free_bytes = dst->ops->free_bytes ? dst->ops->free_bytes(dst) : -1;
    long long need = plan->total_transfer.bytes;
    /* Looking for part files costs a stat per file: only when it matters. */
    if (free_bytes >= 0 && free_bytes < need)
        need -= bytes_in_parts(plan, dst);
    if (free_bytes < 0 || free_bytes >= need)
        return 0;
    char have[32], want[32];
    plan_format_bytes(free_bytes, have, sizeof have);
    plan_format_bytes(need, want, sizeof want);
    return err_set(err, FERRY_EPREFLIGHT, "%s: %s free, %s to write", dst->location, have, want);
}

/* Scenes that could not be read completely count as failures of the run. */
static void report_walk_errors(const struct plan *plan, struct sched_report *report)
{
    for (size_t i = 0; i < plan->n_scenes; i++) {
        if (!plan->scenes[i].walk_error)
            continue;
        sched_report_fail(report, *plan->scenes[i].name ? plan->scenes[i].name : "(root files)",
                          "could not be read completely (see the log); nothing deleted in it");
    }
}

char *job_report_json(const char *command, const struct sched_report *report, int status)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", "summary");
    cJSON_AddStringToObject(o, "command", command);
    cJSON_AddNumberToObject(o, "status", err_exit_status(status));
    cJSON_AddNumberToObject(o, "planned_files", (double)report->planned_files);
    cJSON_AddNumberToObject(o, "planned_bytes", (double)report->planned_bytes);
    cJSON_AddNumberToObject(o, "files_done", (double)report->files_done);
    cJSON_AddNumberToObject(o, "bytes_done", (double)report->bytes_done);
    cJSON_AddNumberToObject(o, "bytes_resumed", (double)report->bytes_resumed);
    cJSON_AddNumberToObject(o, "files_deleted", (double)report->files_deleted);
    cJSON_AddNumberToObject(o, "files_failed", (double)report->files_failed);
    cJSON_AddNumberToObject(o, "items", (double)report->items);
    cJSON_AddNumberToObject(o, "items_rank0", (double)report->items_self);
    cJSON_AddNumberToObject(o, "seconds", report->seconds);
    cJSON_AddBoolToObject(o, "interrupted", report->interrupted);
    cJSON *calls = cJSON_AddObjectToObject(o, "hub_calls");
    cJSON *throttled = cJSON_AddObjectToObject(o, "hub_429");
    for (int c = 0; c < LIMIT_CLASSES; c++) {
        cJSON_AddNumberToObject(calls, limiter_class_name(c), (double)report->limits.calls[c]);
        cJSON_AddNumberToObject(throttled, limiter_class_name(c),
                                (double)report->limits.throttled[c]);
    }
    cJSON_AddNumberToObject(o, "hub_wait_seconds", report->limits.waited);
    if (report->archives) {                   /* get --extract, ferry extract */
        cJSON *x = cJSON_AddObjectToObject(o, "extract");
        cJSON_AddNumberToObject(x, "archives", (double)report->archives);
        cJSON_AddNumberToObject(x, "archives_done", (double)report->archives_done);
        cJSON_AddNumberToObject(x, "archives_skipped", (double)report->archives_skipped);
        cJSON_AddNumberToObject(x, "archives_failed", (double)report->archives_failed);
        cJSON_AddNumberToObject(x, "entries_extracted", (double)report->entries.extracted);
        cJSON_AddNumberToObject(x, "entries_skipped", (double)report->entries.skipped);
        cJSON_AddNumberToObject(x, "entries_refused", (double)report->entries.refused);
        cJSON_AddNumberToObject(x, "entries_failed", (double)report->entries.failed);
        cJSON_AddNumberToObject(x, "bytes", (double)report->entries.bytes);
    }
    if (report->n_scenes) {
        cJSON *scenes = cJSON_AddArrayToObject(o, "scenes");
        for (size_t i = 0; i < report->n_scenes; i++) {
            const struct scene_outcome *s = &report->scenes[i];
            cJSON *one = cJSON_CreateObject();
            cJSON_AddStringToObject(one, "scene", s->name);
            cJSON_AddNumberToObject(one, "files_uploaded", (double)s->files_up);
            cJSON_AddNumberToObject(one, "bytes_uploaded", (double)s->bytes_up);
            cJSON_AddNumberToObject(one, "files_deleted", (double)s->files_deleted);
            cJSON_AddNumberToObject(one, "files_unchanged", (double)s->files_unchanged);
            cJSON_AddNumberToObject(one, "bytes_unchanged", (double)s->bytes_unchanged);
            cJSON_AddItemToArray(scenes, one);
        }
    }
    cJSON *failures = cJSON_AddArrayToObject(o, "failures");
    for (size_t i = 0; i < report->n_failures; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "path", report->failures[i].path);
        cJSON_AddStringToObject(f, "reason", report->failures[i].reason);
        cJSON_AddItemToArray(failures, f);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *copy = xstrdup(text);
    free(text);
    return copy;
}

static void save_report(const char *state_dir, const char *command,
                        const struct sched_report *report, int status)
{
    struct ferry_error err = {0};
    char *json = job_report_json(command, report, status);
    char *path = xasprintf("%s/report.json", state_dir);
    if (fs_write_atomic(path, json, strlen(json), &err) != 0)
        FLOG(LOG_WARN, "could not save the report: %s", err.msg);
    free(path);
    free(json);
}

/* Rank 0 after planning: ask, check space, open the journal and catalog. */
static int prepare(const struct job_options *opts, const struct plan *plan,
                   struct backend *dst, const char *state_dir, struct journal **journal,
                   struct journal **catalog, struct ferry_error *err)
{
    int rc = opts->confirm(plan, opts->confirm_ud, err);
    /* FERRY_EFAIL says some items failed: before any ran, a file that could
     * not be written (--schedule's job script) fails the pre-flight. */
    if (rc <= 0)
        return rc == FERRY_EFAIL ? not_writable(rc, err) : rc;
    rc = check_space(plan, dst, err);
    if (rc == 0)
        rc = not_writable(journal_open(state_dir, journal, err), err);
    if (rc == 0)
        rc = not_writable(journal_open_named(state_dir, JOB_CATALOG, catalog, err), err);
    return rc == 0 ? 1 : rc;
}

/* get --extract: the bytes of the archives to extract, which the progress
 * shows apart from the transfer's. */
static long long archive_bytes(const struct plan *plan, const struct sched_stage_ops *stage)
{
    long long bytes = 0;
    for (size_t i = 0; i < plan->n_transfer; i++)
        if (stage->feeds(plan->transfer[i].path))
            bytes += plan->transfer[i].size;
    for (size_t i = 0; i < plan->n_unpack; i++)
        bytes += plan->unpack[i].size;
    return bytes;
}

/* What the plan asks of a destination that uploads (rank 0); the arrays
 * are fresh, the strings the plan's. */
static void upload_request_of(const struct plan *plan, struct upload_request *req)
{
    struct file_meta *files = xcalloc(plan->n_transfer + 1, sizeof *files);
    for (size_t i = 0; i < plan->n_transfer; i++) {
        const struct plan_file *f = &plan->transfer[i];
        files[i] = (struct file_meta){f->path, f->size, f->mtime, f->mode, f->etag};
    }
    char **scenes = xcalloc(plan->n_scenes + 1, sizeof *scenes);
    for (size_t i = 0; i < plan->n_scenes; i++)
        scenes[i] = plan->scenes[i].name;
    *req = (struct upload_request){files, plan->n_transfer, plan->deletes, plan->n_deletes,
                                   scenes, plan->n_scenes};
}

static void upload_end(struct backend *dst, struct upload_request *req, struct upload_plan *up)
{
    dst->ops->upload_free(dst, up);
    free((void *)req->files);
    free((void *)req->scenes);
}

static int run_planned(MPI_Comm comm, const struct job_options *opts, struct plan *plan,
                       struct backend *src, struct backend *dst, const char *state_dir,
                       struct sched_report *report, struct ferry_error *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    struct journal *journal = NULL, *catalog = NULL, *extracted = NULL;
    char *extract_state = opts->extract_dest && opts->stage
        ? xasprintf("%s/%s", opts->extract_dest, opts->stage->state) : NULL;
    int go = rank == 0 ? prepare(opts, plan, dst, state_dir, &journal, &catalog, err) : 0;
    if (go > 0 && extract_state &&
        journal_open_named(extract_state, opts->stage->journal, &extracted, err) != 0)
        go = err->code;
    /* A destination that says how each file goes (the Hub) says it now. */
    struct upload_plan up = {0};
    struct upload_request req = {0};
    struct upload_options uo = {
        .files_per_commit = opts->files_per_commit > 0 ? opts->files_per_commit
                                                       : JOB_FILES_PER_COMMIT,
        .batch_bytes = JOB_COMMIT_BYTES, .command = opts->command,
        .chunk_size = opts->chunk_size,
    };
    bool uploading = dst->ops->upload_plan != NULL;
    if (go > 0 && uploading) {
        upload_request_of(plan, &req);
        if ((go = dst->ops->upload_plan(dst, src, &req, &uo, &up, err)) == 0)
            go = 1;
    }
    go = comm_agree(comm, go, err);
    if (go <= 0) {
        if (uploading && rank == 0)
            upload_end(dst, &req, &up);
        journal_close(journal);
        journal_close(catalog);
        free(extract_state);
        return go;
    }

    struct progress *progress = NULL;
    if (rank == 0)
        progress = progress_new(opts->quiet ? PROGRESS_NEVER : opts->progress, opts->json,
                                opts->command, plan->total_transfer.files,
                                plan->total_transfer.bytes);
    if (progress && extract_state)
        progress_expect_unpacked(progress, archive_bytes(plan, opts->stage));
    struct sched_stage_target x = {
        .dest = opts->extract_dest, .root = dst->location, .journal = extracted,
    };
    struct sched_options so = {
        .chunk_size = opts->chunk_size, .fsync = opts->fsync, .journal = journal,
        .progress = progress, .connections = opts->connections, .catalog = catalog,
        .stage_target = extract_state ? &x : NULL, .stage = extract_state ? opts->stage : NULL,
        .upload = uploading && rank == 0 ? &up : NULL,
    };
    int rc = sched_run(comm, plan, src, dst, &so, report);
    if (uploading && rank == 0)
        upload_end(dst, &req, &up);
    limiter_report(&report->limits);
    if (rank == 0) {
        report->planned_files = plan->total_transfer.files;
        report->planned_bytes = plan->total_transfer.bytes;
        progress_free(progress);
        report_walk_errors(plan, report);
        if (rc == 0 && report->files_failed)
            rc = FERRY_EFAIL;
        if (rc == 0 && dst->ops->finish && (rc = dst->ops->finish(dst, err)) != 0)
            sched_report_fail(report, dst->location, err->msg);
        /* All in place: the destination itself is now the record. */
        if (rc == 0 && journal_reset(journal, err) != 0)
            FLOG(LOG_WARN, "could not reset the journal: %s", err->msg);
        journal_close(journal);
        journal_close(catalog);
        journal_close(extracted);
        save_report(state_dir, opts->command, report, rc);
    }
    free(extract_state);
    return comm_agree(comm, rc, err);
}

static int transfer(MPI_Comm comm, const struct job_options *opts,
                    struct sched_report *report, struct ferry_error *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    struct backend *src = NULL, *dst = NULL;
    int rc = comm_agree(comm, open_ends(opts, &src, &dst, err), err);
    if (rc != 0)
        return rc;

    /* A remote source lists itself once, on rank 0, for every rank; before
     * the lock, so a wrong name or token leaves nothing behind in DST. */
    if (src->ops->prepare)
        rc = src->ops->prepare(src, comm, err);
    if (rc == 0 && dst)
        rc = create_destination(comm, opts, dst, err);
    if (rc == 0 && dst)
        rc = prepare_destination(comm, opts, dst, err);
    if (rc == 0 && opts->hf_cache)
        rc = comm_agree(comm, src->ops->open_cache(src, opts->dst, &dst, err), err);
    if (rc != 0) {
        backend_close(src);
        backend_close(dst);
        return rc;
    }

    char *state_dir = state_dir_of(opts, src, dst);
    bool locking = !opts->dry_run && strcmp(opts->command, "plan") != 0;
    if (locking && rank == 0)
        rc = take_lock(opts, state_dir, err);
    /* The extraction's folder has a lock of its own: it may be DST itself,
     * or shared by several gets, or by a ferry extract. */
    char *extract_state = opts->extract_dest && opts->stage
        ? xasprintf("%s/%s", opts->extract_dest, opts->stage->state) : NULL;
    bool extract_locked = false;
    if (rc == 0 && locking && rank == 0 && extract_state) {
        rc = fs_mkdirs_under(opts->extract_dest, extract_state, err);
        if (rc == 0)
            rc = lock_acquire(extract_state, opts->force, opts->lock_ttl, err);
        extract_locked = rc == 0;
        if (rc != 0)
            lock_release(state_dir);
    }
    rc = comm_agree(comm, rc, err);
    bool locked = locking && rc == 0;

    struct plan plan;
    memset(&plan, 0, sizeof plan);
    struct plan_options plan_opts = opts->plan;
    struct journal *catalog = NULL;
    if (rc == 0 && journal_load(state_dir, JOB_CATALOG, &catalog, err) == 0)
        plan_opts.catalog = catalog;
    plan_opts.dst_upload_time = dst->ops->upload_time;
    if (dst->ops->upload_plan && state_dir && !dst->ops->upload_time && !dst->ops->keeps_mtime) {
        char *path = xasprintf("%s/%s", state_dir, JOB_HASHES);
        plan_opts.hash_sources = true;
        plan_opts.hashes = hashcache_load(path);
        free(path);
    }
    plan_opts.keep = dst->ops->keep;
    struct journal *extracted = NULL;
    if (rc == 0 && extract_state &&
        journal_load(extract_state, opts->stage->journal, &extracted, err) == 0) {
        plan_opts.extracted = extracted;
        plan_opts.stage = opts->stage;
        plan_opts.root = dst->location;
    }
    if (rc == 0)
        rc = plan_build(comm, src, dst, &plan_opts, &plan, err);
    journal_close(extracted);
    struct ferry_error cache_err = {0};
    if (rc == 0 && rank == 0 && plan_opts.hashes && locked &&
        hashcache_save(plan_opts.hashes, &cache_err) != 0)
        FLOG(LOG_WARN, "could not save the hashes for the next run: %s", cache_err.msg);
    hashcache_free(plan_opts.hashes);
    journal_close(catalog);
    if (rc == 0)
        rc = run_planned(comm, opts, &plan, src, dst, state_dir, report, err);

    if (locked && rank == 0)
        lock_release(state_dir);
    if (extract_locked)
        lock_release(extract_state);
    free(extract_state);
    free(state_dir);
    plan_free(&plan);
    backend_close(src);
    backend_close(dst);
    return rc;
}

int job_transfer(MPI_Comm comm, const struct job_options *opts,
                 struct sched_report *report, struct ferry_error *err)
{
    memset(report, 0, sizeof *report);
    /* Every Hub call of the job, on every rank, draws on one budget. */
    int rc = limiter_start(comm, &opts->limits, err);
    if (rc != 0)
        return rc;
    rc = transfer(comm, opts, report, err);
    limiter_stop();
    return rc;
}

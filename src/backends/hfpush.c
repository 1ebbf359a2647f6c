/* Uploading a plan to a Hub repository: put and sync.
 *
 *  1. Rank 0 asks how each file goes (preupload, 256 files a call) and where
 *     each LFS object goes (LFS batch, 256 objects a call).  An object the
 *     Hub already stores gets no actions: nothing is sent for it, which is
 *     also what makes a killed upload resume without sending it again.
 *  2. Every rank PUTs a share of the objects and multipart parts, largest
 *     first, straight to storage without the token.
 *  3. Rank 0 completes the multipart uploads, then commits scene by scene
 *     (regular files inline, at most files_per_commit entries and
 *     commit_bytes of content a commit), each on top of the last
 *     (parentCommit).  A commit whose answer was lost is never sent again
 *     blindly: the branch head and the paths say whether it landed. */
#include "hf.h"
#include "ferry/comm.h"
#include "ferry/fetch.h"
#include "ferry/hash.h"
#include "ferry/hfjson.h"
#include "ferry/limiter.h"
#include "ferry/log.h"
#include "ferry/plan.h"
#include "ferry/progress.h"
#include "ferry/sched.h"
#include "ferry/signals.h"
#include "ferry/xalloc.h"

#include <openssl/evp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PUSH_BATCH 256               /* files per preupload call, objects per LFS batch */
#define PUSH_PATHS_INFO 1000         /* paths per paths-info call */
#define PUSH_SAMPLE 512              /* bytes of each file the preupload call sees */
#define PUSH_ATTEMPTS 8              /* tries of one PUT or one commit */
#define PUSH_THROTTLES 30            /* 429s one commit waits out */
#define PUSH_REPORT_EVERY 0.5        /* seconds between a rank's progress messages */
#define LFS_TYPE "application/vnd.git-lfs+json"

enum push_tag { TAG_BYTES = 1, TAG_DONE };

struct object {                      /* a distinct LFS object */
    const char *sha256;
    long long size;
    const char *path;                /* a file that holds it */
    bool stored;                     /* no actions: the Hub has it */
    char *href;                      /* basic PUT, or the multipart completion */
    char *verify;
    char **parts;
    char **etags;
    int n_parts;
    long long chunk;
    char *error;                     /* why it cannot be committed */
};

struct item {                        /* a file of the plan */
    const struct plan_file *file;
    const char *sha256;              /* from the plan's etag */
    bool lfs, ignored;
    int object;                      /* lfs: index into objects */
};

struct task {                        /* one PUT: a whole object or a part */
    int object, part;                /* part 0: the whole object */
    char *path, *url;
    long long offset, length;
    int owner;
};

struct push {
    struct hf_backend *hb;
    struct backend *src;
    const struct plan *plan;
    const struct push_options *opts;
    struct sched_report *report;
    MPI_Comm comm;
    int rank, size;
    struct item *items;
    size_t n_items;
    struct object *objects;
    size_t n_objects;
    struct task *tasks;
    size_t n_tasks;
    char *head;                      /* the branch's commit we build on */
    struct scene_outcome *scene;     /* the scene being committed */
};

/* ---- small helpers -------------------------------------------------------- */

static char *base64(const unsigned char *data, size_t len)
{
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

/* Up to len bytes of a source file from its start; returns the bytes read. */
static long long read_head(struct push *p, const char *path, unsigned char *buf, long long len,
                           struct ferry_error *err)
{
    int fd = -1;
    if (p->src->ops->open_read(p->src, path, &fd, err) != 0)
        return -1;
    long long got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, (size_t)(len - got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += n;
    }
    close(fd);
    return got;
}

static const char *repo_prefix(const struct hf_backend *hb)
{
    return hfurl_url_prefix(hb->url.type);
}

static const char *branch(const struct hf_backend *hb)
{
    return hb->url.revision ? hb->url.revision : "main";
}

/* The path in the repository: the location's PATH, then the file's. */
static char *repo_path(const struct hf_backend *hb, const char *path)
{
    return *hb->url.path ? xasprintf("%s/%s", hb->url.path, path) : xstrdup(path);
}

static char *api_url(const struct hf_backend *hb, const char *verb)
{
    char *rev = net_escape(branch(hb), false);
    char *url = xasprintf("%s/api/%s/%s/%s/%s", hb->endpoint, hfurl_api_kind(hb->url.type),
                          hb->url.repo_id, verb, rev);
    free(rev);
    return url;
}

/* POST a JSON document to the Hub with the token and retries. */
static struct net_transfer *post(struct push *p, const char *url, cJSON *body, const char *type,
                                 struct ferry_error *err)
{
    char *text = cJSON_PrintUnformatted(body);
    struct net_request req = {.url = url, .token = p->hb->remote.token, .post_body = text,
                              .content_type = type, .accept = type, .fd = -1, .range_end = -1};
    struct net_transfer *t = hf_api(p->hb, &req, true, err);
    free(text);
    return t;
}

/* The same, with the answer as JSON. */
static cJSON *post_json(struct push *p, const char *url, cJSON *body, const char *type,
                        const char *what, struct ferry_error *err)
{
    struct net_transfer *t = post(p, url, body, type, err);
    if (!t)
        return NULL;
    cJSON *json = hf_json(p->hb, t, what, err);
    net_free(t);
    return json;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- 1. how each file goes ------------------------------------------------- */

static int preupload(struct push *p, size_t first, size_t n, struct ferry_error *err)
{
    cJSON *body = cJSON_CreateObject();
    cJSON *files = cJSON_AddArrayToObject(body, "files");
    for (size_t i = first; i < first + n; i++) {
        const struct plan_file *f = p->items[i].file;
        unsigned char sample[PUSH_SAMPLE];
        long long got = read_head(p, f->path, sample, PUSH_SAMPLE, err);
        if (got < 0) {
            cJSON_Delete(body);
            return err->code;
        }
        char *encoded = base64(sample, (size_t)got);
        char *path = repo_path(p->hb, f->path);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", path);
        cJSON_AddStringToObject(o, "sample", encoded);
        cJSON_AddNumberToObject(o, "size", (double)f->size);
        cJSON_AddItemToArray(files, o);
        free(encoded);
        free(path);
    }
    char *url = api_url(p->hb, "preupload");
    cJSON *answer = post_json(p, url, body, NULL, "preupload", err);
    free(url);
    cJSON_Delete(body);
    if (!answer)
        return err->code;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(answer, "files");
    int rc = cJSON_IsArray(list) ? 0
           : err_set(err, FERRY_EFAIL, "%s: the preupload answer has no files",
                     p->hb->remote.base.location);
    /* The answer names paths, in the order asked; a server need not keep
     * that order, so a path is looked for in the whole batch if need be. */
    char **asked = xcalloc(n, sizeof *asked);
    for (size_t k = 0; k < n; k++)
        asked[k] = repo_path(p->hb, p->items[first + k].file->path);
    size_t at = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, list) {
        const char *path = json_str(o, "path"), *mode = json_str(o, "uploadMode");
        for (size_t k = 0; path && k < n; k++, at = (at + 1) % n) {
            if (strcmp(asked[at], path) != 0)
                continue;
            struct item *it = &p->items[first + at];
            it->lfs = mode && strcmp(mode, "lfs") == 0;
            it->ignored = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "shouldIgnore"));
            at = (at + 1) % n;
            break;
        }
    }
    for (size_t k = 0; k < n; k++)
        free(asked[k]);
    free(asked);
    cJSON_Delete(answer);
    return rc;
}

static int find_object(const struct push *p, const char *sha256)
{
    for (size_t i = 0; i < p->n_objects; i++)
        if (strcmp(p->objects[i].sha256, sha256) == 0)
            return (int)i;
    return -1;
}

/* The distinct LFS objects (two files with the same bytes are one object). */
static void collect_objects(struct push *p)
{
    size_t cap = 0;
    for (size_t i = 0; i < p->n_items; i++) {
        struct item *it = &p->items[i];
        if (!it->lfs || it->ignored)
            continue;
        it->object = find_object(p, it->sha256);
        if (it->object >= 0)
            continue;
        xgrow((void **)&p->objects, &cap, p->n_objects + 1, sizeof *p->objects);
        p->objects[p->n_objects] = (struct object){
            .sha256 = it->sha256, .size = it->file->size, .path = it->file->path,
        };
        it->object = (int)p->n_objects++;
    }
}

static void take_actions(struct object *obj, const cJSON *answer)
{
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(answer, "error");
    if (error) {
        const char *msg = json_str(error, "message");
        obj->error = xasprintf("the Hub refused the object: %s", msg ? msg : "no reason given");
        return;
    }
    const cJSON *actions = cJSON_GetObjectItemCaseSensitive(answer, "actions");
    const cJSON *upload = cJSON_GetObjectItemCaseSensitive(actions, "upload");
    const cJSON *verify = cJSON_GetObjectItemCaseSensitive(actions, "verify");
    if (!upload) {
        obj->stored = true;
        return;
    }
    const char *href = json_str(upload, "href");
    obj->href = href ? xstrdup(href) : NULL;
    if (verify && json_str(verify, "href"))
        obj->verify = xstrdup(json_str(verify, "href"));
    const cJSON *header = cJSON_GetObjectItemCaseSensitive(upload, "header");
    const char *chunk = json_str(header, "chunk_size");
    if (chunk) {
        obj->chunk = atoll(chunk);
        long long n = obj->chunk > 0 ? (obj->size + obj->chunk - 1) / obj->chunk : 0;
        obj->parts = xcalloc((size_t)n + 1, sizeof *obj->parts);
        obj->etags = xcalloc((size_t)n + 1, sizeof *obj->etags);
        obj->n_parts = (int)n;
        for (int k = 1; k <= obj->n_parts; k++) {
            char key[16];
            snprintf(key, sizeof key, "%05d", k);
            const char *url = json_str(header, key);
            if (!url) {
                obj->error = xasprintf("the Hub's multipart answer lacks part %d", k);
                return;
            }
            obj->parts[k - 1] = xstrdup(url);
        }
    }
    if (!obj->href)
        obj->error = xstrdup("the Hub's upload action has no URL");
}

static int lfs_batch(struct push *p, size_t first, size_t n, struct ferry_error *err)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "operation", "upload");
    cJSON *transfers = cJSON_AddArrayToObject(body, "transfers");
    cJSON_AddItemToArray(transfers, cJSON_CreateString("basic"));
    cJSON_AddItemToArray(transfers, cJSON_CreateString("multipart"));
    cJSON *objects = cJSON_AddArrayToObject(body, "objects");
    for (size_t i = first; i < first + n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "oid", p->objects[i].sha256);
        cJSON_AddNumberToObject(o, "size", (double)p->objects[i].size);
        cJSON_AddItemToArray(objects, o);
    }
    cJSON_AddStringToObject(body, "hash_algo", "sha256");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "ref"), "name", branch(p->hb));
    char *url = xasprintf("%s/%s%s.git/info/lfs/objects/batch", p->hb->endpoint,
                          repo_prefix(p->hb), p->hb->url.repo_id);
    cJSON *answer = post_json(p, url, body, LFS_TYPE, "LFS batch", err);
    free(url);
    cJSON_Delete(body);
    if (!answer)
        return err->code;
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(answer, "objects")) {
        const char *oid = json_str(o, "oid");
        int k = oid ? find_object(p, oid) : -1;
        if (k >= (int)first && k < (int)(first + n))
            take_actions(&p->objects[k], o);
    }
    for (size_t i = first; i < first + n; i++)
        if (!p->objects[i].stored && !p->objects[i].href && !p->objects[i].error)
            p->objects[i].error = xstrdup("the LFS batch answer does not mention it");
    cJSON_Delete(answer);
    return 0;
}

/* ---- 2. the PUTs, over every rank ------------------------------------------- */

static int compare_tasks(const void *a, const void *b)
{
    long long x = ((const struct task *)a)->length, y = ((const struct task *)b)->length;
    return (x < y) - (x > y);
}

static void add_task(struct push *p, size_t *cap, int object, int part, const char *url,
                     long long offset, long long length)
{
    xgrow((void **)&p->tasks, cap, p->n_tasks + 1, sizeof *p->tasks);
    p->tasks[p->n_tasks++] = (struct task){
        .object = object, .part = part, .path = xstrdup(p->objects[object].path),
        .url = xstrdup(url), .offset = offset, .length = length,
    };
}

/* Rank 0: every PUT, largest first, each to the rank with the fewest bytes. */
static void plan_tasks(struct push *p)
{
    size_t cap = 0;
    for (size_t i = 0; i < p->n_objects; i++) {
        struct object *obj = &p->objects[i];
        if (obj->stored || obj->error)
            continue;
        if (obj->n_parts == 0) {
            add_task(p, &cap, (int)i, 0, obj->href, 0, obj->size);
            continue;
        }
        for (int k = 0; k < obj->n_parts; k++) {
            long long off = (long long)k * obj->chunk;
            long long len = obj->size - off < obj->chunk ? obj->size - off : obj->chunk;
            add_task(p, &cap, (int)i, k + 1, obj->parts[k], off, len);
        }
    }
    qsort(p->tasks, p->n_tasks, sizeof *p->tasks, compare_tasks);
    long long *load = xcalloc((size_t)p->size, sizeof *load);
    for (size_t t = 0; t < p->n_tasks; t++) {
        int best = 0;
        for (int r = 1; r < p->size; r++)
            if (load[r] < load[best])
                best = r;
        p->tasks[t].owner = best;
        load[best] += p->tasks[t].length;
    }
    free(load);
}

static void share_tasks(struct push *p)
{
    struct pack pk;
    pack_init(&pk);
    if (p->rank == 0) {
        pack_i64(&pk, (long long)p->n_tasks);
        for (size_t t = 0; t < p->n_tasks; t++) {
            const struct task *k = &p->tasks[t];
            pack_i64(&pk, k->object);
            pack_i64(&pk, k->part);
            pack_str(&pk, k->path);
            pack_str(&pk, k->url);
            pack_i64(&pk, k->offset);
            pack_i64(&pk, k->length);
            pack_i64(&pk, k->owner);
        }
    }
    comm_bcast_pack(p->comm, &pk);
    if (p->rank != 0) {
        p->n_tasks = (size_t)unpack_i64(&pk);
        p->tasks = xcalloc(p->n_tasks + 1, sizeof *p->tasks);
        for (size_t t = 0; t < p->n_tasks; t++) {
            struct task *k = &p->tasks[t];
            k->object = (int)unpack_i64(&pk);
            k->part = (int)unpack_i64(&pk);
            k->path = unpack_str(&pk);
            k->url = unpack_str(&pk);
            k->offset = unpack_i64(&pk);
            k->length = unpack_i64(&pk);
            k->owner = (int)unpack_i64(&pk);
        }
    }
    pack_free(&pk);
}

struct running {
    struct task *task;
    size_t index;
    struct net_transfer *t;
    int fd;
    int attempts;
    double not_before;
    long long counted;               /* bytes reported as progress */
};

static bool start_put(struct push *p, struct running *r, struct ferry_error *err)
{
    if (r->fd < 0 && p->src->ops->open_read(p->src, r->task->path, &r->fd, err) != 0)
        return false;
    /* No token: storage URLs are presigned. */
    struct net_request req = {.url = r->task->url, .fd = -1, .range_end = -1,
                              .put_fd = r->fd, .put_offset = r->task->offset,
                              .put_length = r->task->length};
    r->t = net_start(&req);
    return true;
}

/* A PUT that ended: 0 done, 1 to try again, -1 failed (reason in out). */
static int settle_put(struct running *r, struct pack *out)
{
    long status = net_status(r->t);
    enum net_outcome outcome = net_outcome(r->t);
    if (outcome == NET_ANSWERED && status >= 200 && status < 300) {
        const char *etag = net_headers(r->t)->etag;
        pack_i64(out, (long long)r->index);
        pack_i64(out, 0);
        pack_str(out, etag ? etag : "");
        return 0;
    }
    bool transient = outcome == NET_TRANSPORT || status == 408 || status == 429 || status >= 500;
    if (transient && ++r->attempts < PUSH_ATTEMPTS) {
        r->not_before = progress_now() + fetch_backoff(r->attempts);
        return 1;
    }
    char reason[FERRY_ERRMSG_MAX];
    if (outcome == NET_ANSWERED)
        snprintf(reason, sizeof reason, "%s: storage answered HTTP %ld to the upload",
                 r->task->path, status);
    else
        snprintf(reason, sizeof reason, "%s: upload failed: %s", r->task->path,
                 net_reason(r->t));
    pack_i64(out, (long long)r->index);
    pack_i64(out, 1);
    pack_str(out, reason);
    return -1;
}

/* Rank 0: take the other ranks' progress messages. */
static int take_progress(struct push *p, MPI_Comm comm)
{
    int done = 0, flag;
    MPI_Status st;
    while (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm, &flag, &st), flag) {
        int64_t bytes;
        MPI_Recv(&bytes, 1, MPI_INT64_T, st.MPI_SOURCE, st.MPI_TAG, comm, MPI_STATUS_IGNORE);
        if (p->opts->progress)
            progress_add(p->opts->progress, 0, bytes);
        done += st.MPI_TAG == TAG_DONE;
    }
    return done;
}

/* Every rank runs its own PUTs, connections at a time; results (index,
 * failed, etag or reason) are packed into out. */
static void run_tasks(struct push *p, MPI_Comm comm, struct pack *out)
{
    int slots = p->opts->connections > 0 ? p->opts->connections : SCHED_DEFAULT_CONNECTIONS;
    struct running *run = xcalloc((size_t)slots, sizeof *run);
    size_t next = 0;
    int active = 0, workers_done = 0;
    long long puts = 0, bytes = 0;
    int64_t unreported = 0;
    double last_report = progress_now();
    for (;;) {
        /* A stop signal: drop what is in flight, start nothing more.  Parts
         * not completed are sent again by the rerun; whole objects that
         * reached storage are not. */
        for (int s = 0; signals_pending() && s < slots; s++) {
            if (!run[s].task)
                continue;
            net_free(run[s].t);
            if (run[s].fd >= 0)
                close(run[s].fd);
            run[s] = (struct running){0};
            active--;
        }
        if (signals_pending())
            next = p->n_tasks;
        for (int s = 0; s < slots; s++) {
            if (run[s].task)
                continue;
            while (next < p->n_tasks && p->tasks[next].owner != p->rank)
                next++;
            if (next == p->n_tasks)
                break;
            run[s] = (struct running){.task = &p->tasks[next], .index = next, .fd = -1};
            next++;
            active++;
        }
        if (active == 0 && (p->rank != 0 || workers_done == p->size - 1))
            break;
        net_wait(active ? 5 : 1);
        net_drive();
        limiter_poll();
        for (int s = 0; s < slots; s++) {
            struct running *r = &run[s];
            if (!r->task)
                continue;
            struct ferry_error err = {0};
            if (!r->t && progress_now() >= r->not_before && !start_put(p, r, &err)) {
                pack_i64(out, (long long)r->index);
                pack_i64(out, 1);
                pack_str(out, err.msg);
            } else if (!r->t || net_outcome(r->t) == NET_RUNNING) {
                continue;
            } else {
                int again = settle_put(r, out);
                if (again == 0) {
                    unreported += r->task->length;
                    puts++;
                    bytes += r->task->length;
                }
                net_free(r->t);
                r->t = NULL;
                if (again == 1)
                    continue;
            }
            if (r->fd >= 0)
                close(r->fd);
            r->task = NULL;
            active--;
        }
        if (p->rank == 0) {
            workers_done += take_progress(p, comm);
            if (p->opts->progress) {
                progress_add(p->opts->progress, 0, unreported);
                progress_tick(p->opts->progress);
            }
            unreported = 0;
        } else if (unreported && progress_now() - last_report >= PUSH_REPORT_EVERY) {
            MPI_Send(&unreported, 1, MPI_INT64_T, 0, TAG_BYTES, comm);
            unreported = 0;
            last_report = progress_now();
        }
    }
    if (p->rank != 0)
        MPI_Send(&unreported, 1, MPI_INT64_T, 0, TAG_DONE, comm);
    if (puts) {
        char text[32];
        plan_format_bytes(bytes, text, sizeof text);
        FLOG(LOG_INFO, "this rank uploaded %lld objects and parts, %s", puts, text);
    }
    free(run);
}

/* All ranks: the PUTs, then every result on rank 0 (etags into parts). */
static void upload_objects(struct push *p)
{
    share_tasks(p);
    MPI_Comm comm;
    MPI_Comm_dup(p->comm, &comm);
    struct pack mine, all;
    pack_init(&mine);
    run_tasks(p, comm, &mine);
    MPI_Comm_free(&comm);
    int *lens, *offsets;
    comm_gather_packs(p->comm, &mine, &all, &lens, &offsets);
    pack_free(&mine);
    if (p->rank == 0) {
        struct pack in;
        pack_wrap(&in, all.data, all.len);
        while (!pack_done(&in)) {
            struct task *k = &p->tasks[unpack_i64(&in)];
            bool failed = unpack_i64(&in) != 0;
            char *text = unpack_str(&in);
            struct object *obj = &p->objects[k->object];
            if (failed && !obj->error)
                obj->error = text;
            else if (!failed && k->part > 0)
                obj->etags[k->part - 1] = text;
            else
                free(text);
            p->report->items++;
        }
    }
    pack_free(&all);
    free(lens);
    free(offsets);
}

/* Rank 0: finish multipart uploads and run verify actions (no token for the
 * completion URL, which the protocol presigns; the token for verify). */
static void complete_objects(struct push *p)
{
    for (size_t i = 0; i < p->n_objects; i++) {
        struct object *obj = &p->objects[i];
        if (obj->stored || obj->error)
            continue;
        struct ferry_error err = {0};
        if (obj->n_parts > 0) {
            cJSON *body = cJSON_CreateObject();
            cJSON_AddStringToObject(body, "oid", obj->sha256);
            cJSON *parts = cJSON_AddArrayToObject(body, "parts");
            for (int k = 0; k < obj->n_parts; k++) {
                cJSON *part = cJSON_CreateObject();
                cJSON_AddNumberToObject(part, "partNumber", k + 1);
                cJSON_AddStringToObject(part, "etag", obj->etags[k] ? obj->etags[k] : "");
                cJSON_AddItemToArray(parts, part);
            }
            char *text = cJSON_PrintUnformatted(body);
            cJSON_Delete(body);
            struct net_request req = {.url = obj->href, .post_body = text, .content_type = LFS_TYPE,
                                      .accept = LFS_TYPE, .fd = -1, .range_end = -1};
            struct net_transfer *t = hf_api(p->hb, &req, true, &err);
            free(text);
            if (!t)
                obj->error = xasprintf("completing the multipart upload: %s", err.msg);
            net_free(t);
        }
        if (!obj->error && obj->verify) {
            cJSON *body = cJSON_CreateObject();
            cJSON_AddStringToObject(body, "oid", obj->sha256);
            cJSON_AddNumberToObject(body, "size", (double)obj->size);
            cJSON *answer = post_json(p, obj->verify, body, LFS_TYPE, "LFS verify", &err);
            cJSON_Delete(body);
            if (!answer)
                obj->error = xasprintf("the Hub could not verify it: %s", err.msg);
            cJSON_Delete(answer);
        }
    }
}

/* ---- 3. commits ------------------------------------------------------------ */

struct entry {                       /* one line of a commit */
    const struct item *item;         /* an upload, or NULL for a delete */
    const char *deleted;
    char sha1[HASH_SHA1_HEX];        /* regular files: the git blob sha1 */
};

struct commit {
    struct entry *entries;
    size_t n, cap;
    char *body;                      /* the entries' lines; the header goes first when sent */
    size_t body_len, body_cap;
};

static void body_line(struct commit *c, cJSON *line)
{
    char *text = cJSON_PrintUnformatted(line);
    size_t len = strlen(text);
    xgrow((void **)&c->body, &c->body_cap, c->body_len + len + 2, 1);
    memcpy(c->body + c->body_len, text, len);
    c->body_len += len;
    c->body[c->body_len++] = '\n';
    c->body[c->body_len] = '\0';
    free(text);
    cJSON_Delete(line);
}

static cJSON *keyed(const char *key, cJSON **value)
{
    cJSON *line = cJSON_CreateObject();
    cJSON_AddStringToObject(line, "key", key);
    *value = cJSON_AddObjectToObject(line, "value");
    return line;
}

/* The line of one entry; regular files are read and sent inline. */
static int entry_line(struct push *p, struct commit *c, struct entry *e, struct ferry_error *err)
{
    cJSON *v;
    if (e->deleted) {
        char *path = repo_path(p->hb, e->deleted);
        cJSON *line = keyed("deletedFile", &v);
        cJSON_AddStringToObject(v, "path", path);
        body_line(c, line);
        free(path);
        return 0;
    }
    const struct plan_file *f = e->item->file;
    char *path = repo_path(p->hb, f->path);
    int rc = 0;
    if (e->item->lfs) {
        cJSON *line = keyed("lfsFile", &v);
        cJSON_AddStringToObject(v, "path", path);
        cJSON_AddStringToObject(v, "algo", "sha256");
        cJSON_AddStringToObject(v, "oid", e->item->sha256);
        cJSON_AddNumberToObject(v, "size", (double)f->size);
        body_line(c, line);
    } else {
        unsigned char *data = xmalloc((size_t)f->size + 1);
        long long got = read_head(p, f->path, data, f->size, err);
        if (got == f->size) {
            struct hash_state *h = hash_begin_only(f->size, false, true);
            hash_update(h, data, (size_t)f->size);
            hash_end(h, NULL, e->sha1);
            char *encoded = base64(data, (size_t)f->size);
            cJSON *line = keyed("file", &v);
            cJSON_AddStringToObject(v, "path", path);
            cJSON_AddStringToObject(v, "content", encoded);
            cJSON_AddStringToObject(v, "encoding", "base64");
            body_line(c, line);
            free(encoded);
        } else if (got >= 0) {
            rc = err_set(err, FERRY_EFAIL, "%s: changed while it was uploaded", f->path);
        } else {
            rc = err->code;
        }
        free(data);
    }
    free(path);
    return rc;
}

/* Is every entry of the commit in the tree of commit `at`? */
static bool landed(struct push *p, const struct commit *c, const char *at)
{
    cJSON *found = cJSON_CreateObject();        /* path -> oid */
    bool ok = true;
    for (size_t first = 0; first < c->n && ok; first += PUSH_PATHS_INFO) {
        size_t n = c->n - first < PUSH_PATHS_INFO ? c->n - first : PUSH_PATHS_INFO;
        cJSON *body = cJSON_CreateObject();
        cJSON *paths = cJSON_AddArrayToObject(body, "paths");
        for (size_t i = first; i < first + n; i++) {
            const struct entry *e = &c->entries[i];
            char *path = repo_path(p->hb, e->deleted ? e->deleted : e->item->file->path);
            cJSON_AddItemToArray(paths, cJSON_CreateString(path));
            free(path);
        }
        cJSON_AddBoolToObject(body, "expand", false);
        char *url = xasprintf("%s/api/%s/%s/paths-info/%s", p->hb->endpoint,
                              hfurl_api_kind(p->hb->url.type), p->hb->url.repo_id, at);
        struct ferry_error err = {0};
        struct hfjson_entries info = {0};
        struct net_transfer *t = post(p, url, body, NULL, &err);
        cJSON_Delete(body);
        size_t len;
        const char *text = t ? net_body(t, &len) : NULL;
        ok = t && hfjson_paths_info(text, len, &info, &err) == 0;
        if (!ok)
            FLOG(LOG_WARN, "could not check the commit (%s): %s", url, err.msg);
        net_free(t);
        free(url);
        for (size_t i = 0; i < info.count; i++) {
            const struct hfjson_entry *o = &info.entry[i];
            const char *oid = o->lfs_oid ? o->lfs_oid : o->oid;
            if (!o->directory && oid && !cJSON_GetObjectItemCaseSensitive(found, o->path))
                cJSON_AddStringToObject(found, o->path, oid);
        }
        hfjson_entries_free(&info);
    }
    for (size_t i = 0; i < c->n && ok; i++) {
        const struct entry *e = &c->entries[i];
        char *path = repo_path(p->hb, e->deleted ? e->deleted : e->item->file->path);
        const char *oid = json_str(found, path);
        if (e->deleted)
            ok = oid == NULL;
        else
            ok = oid && strcmp(oid, e->item->lfs ? e->item->sha256 : e->sha1) == 0;
        free(path);
    }
    cJSON_Delete(found);
    return ok;
}

/* After an answer that leaves it open whether the commit landed: read the
 * head.  Returns 1 landed (head moved to it), 0 not (head updated to build
 * on), -1 the head could not be read. */
static int check_landed(struct push *p, const struct commit *c, struct ferry_error *err)
{
    char *now = hf_head(p->hb, err);
    if (!now)
        return -1;
    if (strcmp(now, p->head) == 0) {
        free(now);
        return 0;
    }
    bool ok = landed(p, c, now);
    free(p->head);
    p->head = now;
    return ok ? 1 : 0;
}

static char *commit_oid(struct net_transfer *t)
{
    cJSON *json = cJSON_Parse(net_body(t, NULL));
    const char *oid = json_str(json, "commitOid");
    char *out = oid && strlen(oid) == 40 ? xstrdup(oid) : NULL;
    cJSON_Delete(json);
    return out;
}

/* Send one commit; 0 when it is on the branch. */
static int send_commit(struct push *p, struct commit *c, const char *summary,
                       struct ferry_error *err)
{
    char *url = api_url(p->hb, "commit");
    int rc = FERRY_EFAIL, throttles = 0;
    for (int attempt = 1; attempt <= PUSH_ATTEMPTS; attempt++) {
        /* The header names the head we build on: a moved branch is a 412. */
        cJSON *v, *line = keyed("header", &v);
        cJSON_AddStringToObject(v, "summary", summary);
        cJSON_AddStringToObject(v, "description", "");
        cJSON_AddStringToObject(v, "parentCommit", p->head);
        char *text = cJSON_PrintUnformatted(line);
        cJSON_Delete(line);
        char *body = xasprintf("%s\n%s", text, c->body);
        free(text);
        struct net_request req = {.url = url, .token = p->hb->remote.token, .post_body = body,
                                  .content_type = "application/x-ndjson", .fd = -1,
                                  .range_end = -1, .fresh_connection = true};
        limiter_take_wait(LIMIT_COMMIT);
        limiter_take_wait(LIMIT_API);
        struct net_transfer *t = net_run(&req);
        free(body);
        long status = net_status(t);
        bool answered = net_outcome(t) == NET_ANSWERED;
        if (answered)
            limiter_learn(status == 429 ? LIMIT_COMMIT : LIMIT_API, status, net_headers(t));
        char *oid = answered && status == 200 ? commit_oid(t) : NULL;
        if (oid) {
            free(p->head);
            p->head = oid;
            net_free(t);
            rc = 0;
            break;
        }
        if (answered && status == 429 && ++throttles <= PUSH_THROTTLES) {
            net_free(t);                          /* refused before it counted: wait, again */
            attempt--;
            continue;
        }
        if (answered && status != 412 && status < 500 && status != 408) {
            const struct net_headers *h = net_headers(t);
            rc = fetch_http_error(status, h->error_code, h->error_message, true, summary, err);
            net_free(t);
            break;
        }
        /* Lost, refused for a moved branch, or a server error: it may have
         * landed.  Never send it again without looking. */
        FLOG(LOG_WARN, "%s: %s; checking whether the commit landed", summary,
             answered ? "the Hub answered an error" : net_reason(t));
        net_free(t);
        int state = check_landed(p, c, err);
        if (state == 1) {
            FLOG(LOG_INFO, "%s: it had landed", summary);
            rc = 0;
            break;
        }
        if (state < 0 || attempt == PUSH_ATTEMPTS) {
            rc = state < 0 ? err->code : err_set(err, FERRY_EFAIL, "%s: not committed after %d "
                                                 "tries", summary, PUSH_ATTEMPTS);
            break;
        }
        limiter_sleep(fetch_backoff(attempt));
    }
    free(url);
    return rc;
}

static void commit_reset(struct commit *c)
{
    c->n = 0;
    c->body_len = 0;
    if (c->body)
        c->body[0] = '\0';
}

static void fail_entry(struct push *p, const char *path, const char *reason)
{
    sched_report_fail(p->report, path, reason);
}

/* Commit what c holds, and count it. */
static void flush_commit(struct push *p, struct commit *c, const char *scene, int *part)
{
    if (c->n == 0)
        return;
    char summary[300];
    snprintf(summary, sizeof summary, "ferry %s: %s%s (part %d)", p->opts->command,
             *scene ? "scene " : "", *scene ? scene : "files at the root", ++*part);
    struct ferry_error err = {0};
    int rc = send_commit(p, c, summary, &err);
    for (size_t i = 0; i < c->n; i++) {
        const struct entry *e = &c->entries[i];
        const char *path = e->deleted ? e->deleted : e->item->file->path;
        if (rc != 0)
            fail_entry(p, path, err.msg);
        else if (e->deleted) {
            p->report->files_deleted++;
            p->scene->files_deleted++;
        } else {
            p->report->files_done++;
            p->report->bytes_done += e->item->file->size;
            p->scene->files_up++;
            p->scene->bytes_up += e->item->file->size;
            if (p->opts->progress)
                progress_add(p->opts->progress, 1, e->item->lfs ? 0 : e->item->file->size);
        }
    }
    p->report->items += (long long)c->n;
    if (rc == 0)
        FLOG(LOG_INFO, "%s: committed %zu entries as %.12s", summary, c->n, p->head);
    commit_reset(c);
}

static const char *scene_of(const char *path, char *buf, size_t len)
{
    const char *slash = strchr(path, '/');
    if (!slash)
        return PLAN_ROOT_SCENE;
    snprintf(buf, len, "%.*s", (int)(slash - path), path);
    return buf;
}

static void add_entry(struct push *p, struct commit *c, const char *scene, int *part,
                      struct entry e)
{
    struct ferry_error err = {0};
    if (c->n >= (size_t)p->opts->files_per_commit)
        flush_commit(p, c, scene, part);
    size_t before = c->body_len;
    if (entry_line(p, c, &e, &err) != 0) {
        fail_entry(p, e.item->file->path, err.msg);
        return;
    }
    /* Content over the payload limit goes to the next commit. */
    if (c->n > 0 && (long long)c->body_len > p->opts->commit_bytes) {
        char *line = xstrndup(c->body + before, c->body_len - before);
        c->body_len = before;
        c->body[before] = '\0';
        flush_commit(p, c, scene, part);
        xgrow((void **)&c->body, &c->body_cap, strlen(line) + 1, 1);
        strcpy(c->body, line);
        c->body_len = strlen(line);
        free(line);
    }
    xgrow((void **)&c->entries, &c->cap, c->n + 1, sizeof *c->entries);
    c->entries[c->n++] = e;
}

/* Scene by scene, in the plan's scene order. */
static void commit_scenes(struct push *p)
{
    struct commit c = {0};
    char buf[4096];
    p->report->scenes = xcalloc(p->plan->n_scenes + 1, sizeof *p->report->scenes);
    p->report->n_scenes = p->plan->n_scenes;
    for (size_t s = 0; s < p->plan->n_scenes; s++) {
        const char *scene = p->plan->scenes[s].name;
        int part = 0;
        p->scene = &p->report->scenes[s];
        *p->scene = (struct scene_outcome){
            .name = xstrdup(scene), .files_unchanged = p->plan->scenes[s].unchanged.files,
            .bytes_unchanged = p->plan->scenes[s].unchanged.bytes,
        };
        for (size_t i = 0; i < p->n_items; i++) {
            const struct item *it = &p->items[i];
            if (strcmp(scene_of(it->file->path, buf, sizeof buf), scene) != 0 || it->ignored)
                continue;
            const struct object *obj = it->lfs ? &p->objects[it->object] : NULL;
            if (obj && obj->error) {
                char reason[FERRY_ERRMSG_MAX];
                snprintf(reason, sizeof reason, "%s: %s", it->file->path, obj->error);
                fail_entry(p, it->file->path, reason);
                continue;
            }
            add_entry(p, &c, scene, &part, (struct entry){.item = it});
        }
        for (size_t d = 0; d < p->plan->n_deletes; d++)
            if (strcmp(scene_of(p->plan->deletes[d], buf, sizeof buf), scene) == 0)
                add_entry(p, &c, scene, &part, (struct entry){.deleted = p->plan->deletes[d]});
        flush_commit(p, &c, scene, &part);
    }
    free(c.entries);
    free(c.body);
}

/* ---- the whole push ---------------------------------------------------------- */

static int prepare_on_rank0(struct push *p, struct ferry_error *err)
{
    p->items = xcalloc(p->plan->n_transfer + 1, sizeof *p->items);
    p->n_items = p->plan->n_transfer;
    for (size_t i = 0; i < p->n_items; i++) {
        const struct plan_file *f = &p->plan->transfer[i];
        if (!f->etag || strncmp(f->etag, "sha256:", 7) != 0)
            return err_set(err, FERRY_EFAIL, "%s: no content hash in the plan", f->path);
        p->items[i] = (struct item){.file = f, .sha256 = f->etag + 7, .object = -1};
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < p->n_items; i += PUSH_BATCH)
        rc = preupload(p, i, p->n_items - i < PUSH_BATCH ? p->n_items - i : PUSH_BATCH, err);
    collect_objects(p);
    for (size_t i = 0; rc == 0 && i < p->n_objects; i += PUSH_BATCH)
        rc = lfs_batch(p, i, p->n_objects - i < PUSH_BATCH ? p->n_objects - i : PUSH_BATCH, err);
    if (rc == 0) {
        size_t stored = 0;
        for (size_t i = 0; i < p->n_objects; i++)
            stored += p->objects[i].stored;
        /* What the Hub holds already counts as moved, so progress reaches the end. */
        for (size_t i = 0; p->opts->progress && i < p->n_items; i++)
            if (p->items[i].object >= 0 && p->objects[p->items[i].object].stored)
                progress_add(p->opts->progress, 0, p->items[i].file->size);
        size_t ignored = 0;
        for (size_t i = 0; i < p->n_items; i++)
            ignored += p->items[i].ignored;
        if (ignored)
            FLOG(LOG_WARN, "%zu files left out: the Hub says to ignore them (shouldIgnore)",
                 ignored);
        FLOG(LOG_INFO, "%zu files to commit: %zu LFS objects, %zu of them on the Hub already",
             p->n_items - ignored, p->n_objects, stored);
        plan_tasks(p);
    }
    return rc;
}

static void push_free(struct push *p)
{
    for (size_t i = 0; i < p->n_objects; i++) {
        struct object *o = &p->objects[i];
        for (int k = 0; k < o->n_parts; k++) {
            free(o->parts[k]);
            free(o->etags[k]);
        }
        free(o->parts);
        free(o->etags);
        free(o->href);
        free(o->verify);
        free(o->error);
    }
    for (size_t t = 0; t < p->n_tasks; t++) {
        free(p->tasks[t].path);
        free(p->tasks[t].url);
    }
    free(p->tasks);
    free(p->objects);
    free(p->items);
    free(p->head);
}

int hf_push(struct backend *b, MPI_Comm comm, struct backend *src, const struct plan *plan,
            const struct push_options *opts, struct sched_report *report,
            struct ferry_error *err)
{
    struct push p = {.hb = (struct hf_backend *)b, .src = src, .plan = plan, .opts = opts,
                     .report = report, .comm = comm};
    MPI_Comm_rank(comm, &p.rank);
    MPI_Comm_size(comm, &p.size);
    double start = progress_now();
    int rc = p.rank == 0 ? prepare_on_rank0(&p, err) : 0;
    rc = comm_agree(comm, rc, err);
    if (rc == 0)
        upload_objects(&p);
    /* Stopped by a signal: nothing is committed; a rerun commits it all. */
    if (rc == 0 && comm_agree(comm, p.rank == 0 && signals_pending() ? FERRY_EINTR : 0, err)) {
        report->interrupted = true;
        rc = err_set(err, FERRY_EINTR, "stopped by signal %d before the commits",
                     signals_pending());
    }
    if (rc == 0 && p.rank == 0) {
        complete_objects(&p);
        p.head = xstrdup(p.hb->commit);
        commit_scenes(&p);
        report->seconds = progress_now() - start;
    }
    push_free(&p);
    if (rc != 0)
        return rc;
    return comm_agree(comm, p.rank == 0 && report->files_failed ? FERRY_EFAIL : 0, err);
}

int hf_create(struct backend *b, bool public, struct ferry_error *err)
{
    struct hf_backend *hb = (struct hf_backend *)b;
    if (net_init(err) != 0)
        return err->code;
    const char *slash = strchr(hb->url.repo_id, '/');
    char *owner = xstrndup(hb->url.repo_id, (size_t)(slash - hb->url.repo_id));
    static const char *types[] = {"model", "dataset", "space"};
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "name", slash + 1);
    cJSON_AddStringToObject(body, "organization", owner);
    cJSON_AddStringToObject(body, "type", types[hb->url.type]);
    cJSON_AddBoolToObject(body, "private", !public);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    free(owner);
    char *url = xasprintf("%s/api/repos/create", hb->endpoint);
    struct net_request req = {.url = url, .token = hb->remote.token, .post_body = text, .fd = -1,
                              .range_end = -1};
    struct net_transfer *t = hf_api(hb, &req, true, err);
    free(url);
    free(text);
    int rc = 0;
    if (t)
        FLOG(LOG_INFO, "%s: created (%s)", b->location, public ? "public" : "private");
    else if (strstr(err->msg, "HTTP 409"))
        rc = 0;                     /* it exists already */
    else
        rc = err->code;
    net_free(t);
    return rc;
}

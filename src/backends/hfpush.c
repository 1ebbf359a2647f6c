/* Uploading to a Hub repository (put and sync): the Hub's protocol only.
 * The scheduler (core/sched.c) runs the uploads like any other work.
 *
 *  1. upload_plan, rank 0: how each file goes (preupload, 256 files a call),
 *     where each LFS object goes (LFS batch, 256 objects a call), and which
 *     commit (batch) takes it: scene by scene, at most files_per_commit
 *     entries and batch_bytes of inline content a commit.  An object the
 *     Hub already stores is STORED: nothing is sent for it, which is also
 *     what makes a killed upload resume without sending it again.
 *  2. write_open/poll/close, any rank: one PUT of a whole object or of a
 *     multipart part, straight to storage without the token; the part's
 *     ETag is the receipt.
 *  3. finish_batch, rank 0, once a batch's PUTs are in: complete its
 *     multipart uploads, then commit it (regular files inline) on top of the
 *     last commit (parentCommit).  A commit whose answer was lost is never
 *     sent again blindly: the branch head and the paths say whether it
 *     landed. */
#include "hf.h"
#include "ferry/fetch.h"
#include "ferry/hash.h"
#include "ferry/hfjson.h"
#include "ferry/log.h"
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
#define PUSH_LINE_BYTES 200          /* a commit line, less its path and content */
#define LFS_TYPE "application/vnd.git-lfs+json"

struct object {                      /* a distinct LFS object */
    const char *sha256;
    long long size;
    size_t holder;                   /* the file (first in batch order) that sends it */
    bool stored;                     /* no actions: the Hub has it */
    char *href;                      /* basic PUT, or the multipart completion */
    char *verify;
    char **parts;
    int n_parts;
    long long chunk;
    char *error;                     /* why it cannot be committed */
};

struct item {                        /* a file to upload */
    const struct file_meta *file;
    const char *sha256;              /* from its etag */
    bool lfs, ignored;
    int object;                      /* lfs: index into objects */
};

struct batch {                       /* one commit */
    const char *scene;
    int part;                        /* of the scene's commits, from 1 */
    size_t first_file, first_delete; /* into order and delete_order */
};

struct push {
    struct hf_backend *hb;
    struct backend *src;
    const struct upload_request *req;
    struct upload_options opts;
    struct item *items;
    size_t n_items;
    struct object *objects;
    size_t n_objects;
    size_t *order;                   /* items in batch order */
    size_t n_order;
    size_t *delete_order;            /* req->deletes in batch order */
    size_t n_delete_order;
    struct batch *batches;           /* n_batches + 1: the last one ends the lists */
    char *head;                      /* the branch's commit we build on */
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
    struct net_request req = {.url = url, .auth = &p->hb->remote.auth, .post_body = text,
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

/* ---- 1a. what the Hub wants of each file (preupload, LFS batch) ------------ */

static int preupload(struct push *p, size_t first, size_t n, struct ferry_error *err)
{
    cJSON *body = cJSON_CreateObject();
    cJSON *files = cJSON_AddArrayToObject(body, "files");
    for (size_t i = first; i < first + n; i++) {
        const struct file_meta *f = p->items[i].file;
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

/* ---- 1b. batches, and how each file goes ----------------------------------- */

static int new_batch(struct push *p, struct upload_plan *up, size_t *cap, const char *scene,
                     int part)
{
    xgrow((void **)&p->batches, cap, (size_t)up->n_batches + 2, sizeof *p->batches);
    p->batches[up->n_batches] = (struct batch){scene, part, p->n_order, p->n_delete_order};
    return up->n_batches++;
}

/* What a file adds to its commit's body. */
static long long line_bytes(const struct item *it)
{
    long long bytes = PUSH_LINE_BYTES + (long long)strlen(it->file->path);
    return it->lfs ? bytes : bytes + 4 * ((it->file->size + 2) / 3);
}

static bool in_scene(const char *path, const char *scene)
{
    size_t n = strlen(scene);
    if (n == 0)
        return strchr(path, '/') == NULL;
    return strncmp(path, scene, n) == 0 && path[n] == '/';
}

/* Scene by scene, in the request's scene order: a commit holds at most
 * files_per_commit entries and batch_bytes of content (a file that does not
 * fit goes to the next), deletes last. */
static void assign_batches(struct push *p, struct upload_plan *up)
{
    size_t cap = 0;
    const struct upload_request *req = p->req;
    p->order = xcalloc(p->n_items + 1, sizeof *p->order);
    p->delete_order = xcalloc(req->n_deletes + 1, sizeof *p->delete_order);
    up->delete_batch = xcalloc(req->n_deletes + 1, sizeof *up->delete_batch);
    for (size_t i = 0; i < req->n_deletes; i++)
        up->delete_batch[i] = -1;
    for (size_t s = 0; s < req->n_scenes; s++) {
        const char *scene = req->scenes[s];
        int batch = -1, part = 0;
        long long n = 0, bytes = 0;
        for (size_t i = 0; i < p->n_items; i++) {
            struct item *it = &p->items[i];
            if (it->ignored || !in_scene(it->file->path, scene))
                continue;
            long long more = line_bytes(it);
            if (batch < 0 || n >= p->opts.files_per_commit ||
                (n > 0 && bytes + more > p->opts.batch_bytes)) {
                batch = new_batch(p, up, &cap, scene, ++part);
                n = bytes = 0;
            }
            up->files[i].batch = batch;
            p->order[p->n_order++] = i;
            n++;
            bytes += more;
        }
        for (size_t d = 0; d < req->n_deletes; d++) {
            if (!in_scene(req->deletes[d], scene))
                continue;
            if (batch < 0 || n >= p->opts.files_per_commit) {
                batch = new_batch(p, up, &cap, scene, ++part);
                n = bytes = 0;
            }
            up->delete_batch[d] = batch;
            p->delete_order[p->n_delete_order++] = d;
            n++;
        }
    }
    xgrow((void **)&p->batches, &cap, (size_t)up->n_batches + 1, sizeof *p->batches);
    p->batches[up->n_batches] = (struct batch){NULL, 0, p->n_order, p->n_delete_order};
}

/* The distinct LFS objects (two files with the same bytes are one object),
 * in batch order: the file that sends one is in the first batch to commit
 * it, so it is in storage before any commit names it. */
static void collect_objects(struct push *p)
{
    size_t cap = 0;
    for (size_t k = 0; k < p->n_order; k++) {
        struct item *it = &p->items[p->order[k]];
        if (!it->lfs)
            continue;
        it->object = find_object(p, it->sha256);
        if (it->object >= 0)
            continue;
        xgrow((void **)&p->objects, &cap, p->n_objects + 1, sizeof *p->objects);
        p->objects[p->n_objects] = (struct object){
            .sha256 = it->sha256, .size = it->file->size, .holder = p->order[k],
        };
        it->object = (int)p->n_objects++;
    }
}

/* Each file's way, and the PUTs of the objects to send. */
static void set_ways(struct push *p, struct upload_plan *up)
{
    for (size_t i = 0; i < p->n_items; i++) {
        const struct item *it = &p->items[i];
        struct upload_file *u = &up->files[i];
        const struct object *obj = it->lfs && it->object >= 0 ? &p->objects[it->object] : NULL;
        if (it->ignored)
            u->way = WRITE_SKIPPED;
        else if (u->batch < 0) {
            u->way = WRITE_FAILED;
            u->reason = xasprintf("%s: in none of the scenes asked for", it->file->path);
        } else if (it->lfs && !obj)
            u->way = WRITE_FAILED;
        else if (!obj)
            u->way = WRITE_INLINE;
        else if (obj->error) {
            u->way = WRITE_FAILED;
            u->reason = xasprintf("%s: %s", it->file->path, obj->error);
        } else if (obj->stored || obj->holder != i) {
            u->way = WRITE_STORED;   /* a copy's object is sent by its holder */
        } else {
            u->way = WRITE_PARTS;
            u->n_parts = obj->n_parts > 0 ? obj->n_parts : 1;
            u->part_bytes = obj->n_parts > 0 ? obj->chunk : it->file->size;
            u->targets = obj->n_parts > 0 ? obj->parts : &p->objects[it->object].href;
            u->receipts = xcalloc((size_t)u->n_parts, sizeof *u->receipts);
        }
    }
}

int hf_upload_plan(struct backend *b, struct backend *src, const struct upload_request *req,
                   const struct upload_options *opts, struct upload_plan *up,
                   struct ferry_error *err)
{
    struct push *p = xcalloc(1, sizeof *p);
    *p = (struct push){.hb = (struct hf_backend *)b, .src = src, .req = req, .opts = *opts};
    memset(up, 0, sizeof *up);
    up->state = p;
    up->files = xcalloc(req->n_files + 1, sizeof *up->files);
    p->items = xcalloc(req->n_files + 1, sizeof *p->items);
    p->n_items = req->n_files;
    p->head = xstrdup(p->hb->commit);
    for (size_t i = 0; i < p->n_items; i++) {
        const struct file_meta *f = &req->files[i];
        up->files[i].batch = -1;
        if (!f->etag || strncmp(f->etag, "sha256:", 7) != 0)
            return err_set(err, FERRY_EFAIL, "%s: no content hash to upload it by", f->path);
        p->items[i] = (struct item){.file = f, .sha256 = f->etag + 7, .object = -1};
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < p->n_items; i += PUSH_BATCH)
        rc = preupload(p, i, p->n_items - i < PUSH_BATCH ? p->n_items - i : PUSH_BATCH, err);
    if (rc != 0)
        return rc;
    assign_batches(p, up);
    collect_objects(p);
    for (size_t i = 0; rc == 0 && i < p->n_objects; i += PUSH_BATCH)
        rc = lfs_batch(p, i, p->n_objects - i < PUSH_BATCH ? p->n_objects - i : PUSH_BATCH, err);
    if (rc != 0)
        return rc;
    set_ways(p, up);
    size_t stored = 0, ignored = 0;
    for (size_t i = 0; i < p->n_objects; i++)
        stored += p->objects[i].stored;
    for (size_t i = 0; i < p->n_items; i++)
        ignored += p->items[i].ignored;
    if (ignored)
        FLOG(LOG_WARN, "%zu files left out: the Hub says to ignore them (shouldIgnore)", ignored);
    FLOG(LOG_INFO, "%zu files to commit in %d commits: %zu LFS objects, %zu of them on the Hub "
         "already", p->n_items - ignored, up->n_batches, p->n_objects, stored);
    return 0;
}

void hf_upload_free(struct backend *b, struct upload_plan *up)
{
    (void)b;
    struct push *p = up->state;
    for (size_t i = 0; p && i < p->n_items; i++)
        upload_file_clear(&up->files[i]);
    for (size_t i = 0; p && i < p->n_objects; i++) {
        struct object *o = &p->objects[i];
        for (int k = 0; k < o->n_parts; k++)
            free(o->parts[k]);
        free(o->parts);
        free(o->href);
        free(o->verify);
        free(o->error);
    }
    if (p) {
        free(p->objects);
        free(p->items);
        free(p->order);
        free(p->delete_order);
        free(p->batches);
        free(p->head);
        free(p);
    }
    free(up->files);
    free(up->delete_batch);
    memset(up, 0, sizeof *up);
}

/* ---- 2. one PUT, on any rank -------------------------------------------------- */

int hf_write_open(struct backend *b, const struct write_spec *spec,
                         struct backend_write **out, struct ferry_error *err)
{
    (void)b;
    if (!spec->target || spec->src_fd < 0)
        return err_set(err, FERRY_EFAIL, "%s: nothing to upload it to", spec->meta.path);
    /* No token: storage URLs are presigned. */
    struct remote_write *w = remote_write_new(sizeof *w, spec, spec->target, NULL, false,
                                              PUSH_ATTEMPTS);
    *out = &w->head;
    return 0;
}

/* 0 stored (moved: its bytes), BACKEND_WAITING while it runs or waits to
 * be tried again, a negative ferry_err when storage will not take it. */
int hf_write_poll(struct backend_write *bw, long long *moved, struct ferry_error *err)
{
    struct remote_write *w = (struct remote_write *)bw;
    *moved = 0;
    if (remote_put_poll(&w->put) == BACKEND_WAITING)
        return BACKEND_WAITING;
    struct net_transfer *t = w->put.t;
    long status = net_status(t);
    bool answered = net_outcome(t) == NET_ANSWERED;
    if (answered && status >= 200 && status < 300) {
        const char *etag = net_headers(t)->etag;
        w->etag = etag ? xstrdup(etag) : NULL;
        *moved = w->put.length;
        return 0;
    }
    if (remote_transient(t) && remote_put_again(&w->put))
        return BACKEND_WAITING;
    if (answered)
        return err_set(err, FERRY_EFAIL, "%s: storage answered HTTP %ld to the upload", w->path,
                       status);
    return err_set(err, FERRY_EFAIL, "%s: upload failed: %s", w->path, net_reason(t));
}

/* Rank 0: finish a multipart upload and run the verify action (no token for
 * the completion URL, which the protocol presigns; the token for verify). */
static void complete_object(struct push *p, struct object *obj, char **etags)
{
    struct ferry_error err = {0};
    if (obj->n_parts > 0) {
        cJSON *body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "oid", obj->sha256);
        cJSON *parts = cJSON_AddArrayToObject(body, "parts");
        for (int k = 0; k < obj->n_parts; k++) {
            cJSON *part = cJSON_CreateObject();
            cJSON_AddNumberToObject(part, "partNumber", k + 1);
            cJSON_AddStringToObject(part, "etag", etags[k] ? etags[k] : "");
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
    const struct file_meta *f = e->item->file;
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
        struct net_request req = {.url = url, .auth = &p->hb->remote.auth, .post_body = body,
                                  .content_type = "application/x-ndjson", .fd = -1,
                                  .range_end = -1, .fresh_connection = true};
        int ticket = 0;
        bool metered = hf_gate_wait(p->hb, url, &ticket);
        struct net_transfer *t = net_run(&req);
        free(body);
        long status = net_status(t);
        bool answered = net_outcome(t) == NET_ANSWERED;
        if (metered)
            net_gate_settle(ticket, t);
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
        net_gate_idle(fetch_backoff(attempt));
    }
    free(url);
    return rc;
}


/* ---- 3b. a batch: its objects completed, then its commit -------------------- */

/* The objects this batch sent: completed, or failed with their file. */
static void complete_batch_objects(struct push *p, struct upload_plan *up, const struct batch *bt)
{
    for (size_t k = bt->first_file; k < bt[1].first_file; k++) {
        size_t i = p->order[k];
        struct upload_file *u = &up->files[i];
        const struct item *it = &p->items[i];
        if (!it->lfs || p->objects[it->object].holder != i || p->objects[it->object].stored)
            continue;
        struct object *obj = &p->objects[it->object];
        if (u->way == WRITE_FAILED && !obj->error)
            obj->error = xstrdup(u->reason ? u->reason : "not uploaded");
        else if (u->way == WRITE_PARTS)
            complete_object(p, obj, u->receipts);
    }
}

int hf_finish_batch(struct backend *b, struct upload_plan *up, int batch,
                    struct ferry_error *err)
{
    (void)b;
    struct push *p = up->state;
    const struct batch *bt = &p->batches[batch];
    complete_batch_objects(p, up, bt);
    struct commit c = {0};
    for (size_t k = bt->first_file; k < bt[1].first_file; k++) {
        size_t i = p->order[k];
        struct upload_file *u = &up->files[i];
        const struct item *it = &p->items[i];
        if (u->way == WRITE_FAILED || u->way == WRITE_SKIPPED)
            continue;
        const struct object *obj = it->lfs ? &p->objects[it->object] : NULL;
        struct ferry_error why = {0};
        if (obj && obj->error) {
            u->way = WRITE_FAILED;
            u->reason = xasprintf("%s: %s", it->file->path, obj->error);
            continue;
        }
        struct entry e = {.item = it};
        if (entry_line(p, &c, &e, &why) != 0) {
            u->way = WRITE_FAILED;
            u->reason = xstrdup(why.msg);
            continue;
        }
        xgrow((void **)&c.entries, &c.cap, c.n + 1, sizeof *c.entries);
        c.entries[c.n++] = e;
    }
    for (size_t k = bt->first_delete; k < bt[1].first_delete; k++) {
        struct entry e = {.deleted = p->req->deletes[p->delete_order[k]]};
        entry_line(p, &c, &e, err);
        xgrow((void **)&c.entries, &c.cap, c.n + 1, sizeof *c.entries);
        c.entries[c.n++] = e;
    }
    int rc = 0;
    if (c.n > 0) {
        char summary[300];
        snprintf(summary, sizeof summary, "ferry %s: %s%s (part %d)", p->opts.command,
                 *bt->scene ? "scene " : "", *bt->scene ? bt->scene : "files at the root",
                 bt->part);
        rc = send_commit(p, &c, summary, err);
        if (rc == 0)
            FLOG(LOG_INFO, "%s: committed %zu entries as %.12s", summary, c.n, p->head);
    }
    free(c.entries);
    free(c.body);
    return rc;
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
    struct net_request req = {.url = url, .auth = &hb->remote.auth, .post_body = text, .fd = -1,
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


#include "remote.h"
#include "ferry/comm.h"
#include "ferry/fetch.h"
#include "ferry/fsutil.h"
#include "ferry/log.h"
#include "ferry/net.h"
#include "ferry/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Hidden folders (.git, .cache, .ferry) are never transferred. */
static bool in_hidden_folder(const char *path)
{
    for (const char *seg = path;;) {
        const char *end = strchr(seg, '/');
        if (!end)
            return false;
        if (seg[0] == '.')
            return true;
        seg = end + 1;
    }
}

void remote_refuse(struct remote_backend *rb, const char *path, const char *why)
{
    rb->refused = xrealloc(rb->refused, (rb->n_refused + 1) * sizeof *rb->refused);
    rb->refused[rb->n_refused++] = xasprintf("%s: %s", path, why);
}

static void refuse(struct remote_backend *rb, const char *path, const char *why)
{
    char *refused = xasprintf("refused: %s", why);
    remote_refuse(rb, path, refused);
    free(refused);
}

struct remote_entry *remote_add(struct remote_backend *rb, const char *path, long long size,
                                long long mtime, const char *etag, char **urls, size_t n_urls)
{
    const char *why;
    if (!fs_relpath_safe(path, &why)) {
        refuse(rb, path, why);
        return NULL;
    }
    if (in_hidden_folder(path))
        return NULL;
    xgrow((void **)&rb->entries, &rb->cap, rb->count + 1, sizeof *rb->entries);
    struct remote_entry *e = &rb->entries[rb->count++];
    *e = (struct remote_entry){.path = xstrdup(path), .size = size, .mtime = mtime, .mode = 0644,
                               .etag = etag ? xstrdup(etag) : NULL, .n_urls = n_urls};
    if (n_urls) {
        e->urls = xcalloc(n_urls, sizeof *e->urls);
        for (size_t i = 0; i < n_urls; i++)
            e->urls[i] = xstrdup(urls[i]);
    }
    return e;
}

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const struct remote_entry *)a)->path, ((const struct remote_entry *)b)->path);
}

static void entry_free(struct remote_entry *e)
{
    free(e->path);
    free(e->etag);
    for (size_t i = 0; i < e->n_urls; i++)
        free(e->urls[i]);
    free(e->urls);
}

void remote_finish(struct remote_backend *rb)
{
    qsort(rb->entries, rb->count, sizeof *rb->entries, compare_entries);
    size_t kept = 0;
    for (size_t i = 0; i < rb->count; i++) {
        if (kept > 0 && strcmp(rb->entries[kept - 1].path, rb->entries[i].path) == 0) {
            refuse(rb, rb->entries[i].path, "listed twice");
            entry_free(&rb->entries[i]);
            continue;
        }
        rb->entries[kept++] = rb->entries[i];
    }
    rb->count = kept;
}

static void pack_listing(void *ud, struct pack *p)
{
    const struct remote_backend *rb = ud;
    pack_str(p, rb->url_prefix ? rb->url_prefix : "");
    pack_u64(p, rb->n_refused);
    for (size_t i = 0; i < rb->n_refused; i++)
        pack_str(p, rb->refused[i]);
    pack_u64(p, rb->count);
    for (size_t i = 0; i < rb->count; i++) {
        const struct remote_entry *e = &rb->entries[i];
        pack_str(p, e->path);
        pack_i64(p, e->size);
        pack_i64(p, e->mtime);
        pack_u64(p, e->mode);
        pack_str(p, e->etag ? e->etag : "");
        pack_u64(p, e->n_urls);
        for (size_t u = 0; u < e->n_urls; u++)
            pack_str(p, e->urls[u]);
        pack_u64(p, e->hub);
    }
}

static void unpack_listing(void *ud, struct pack *p)
{
    struct remote_backend *rb = ud;
    free(rb->url_prefix);
    rb->url_prefix = unpack_str(p);
    rb->n_refused = unpack_u64(p);
    rb->refused = xcalloc(rb->n_refused ? rb->n_refused : 1, sizeof *rb->refused);
    for (size_t i = 0; i < rb->n_refused; i++)
        rb->refused[i] = unpack_str(p);
    size_t count = unpack_u64(p);
    rb->entries = xcalloc(count ? count : 1, sizeof *rb->entries);
    rb->cap = rb->count = count;
    for (size_t i = 0; i < count; i++) {
        struct remote_entry *e = &rb->entries[i];
        e->path = unpack_str(p);
        e->size = unpack_i64(p);
        e->mtime = unpack_i64(p);
        e->mode = (unsigned)unpack_u64(p);
        e->etag = unpack_str(p);
        if (!*e->etag) {
            free(e->etag);
            e->etag = NULL;
        }
        e->n_urls = unpack_u64(p);
        e->urls = e->n_urls ? xcalloc(e->n_urls, sizeof *e->urls) : NULL;
        for (size_t u = 0; u < e->n_urls; u++)
            e->urls[u] = unpack_str(p);
        e->hub = unpack_u64(p) != 0;
    }
}

int remote_share(struct remote_backend *rb, MPI_Comm comm, int rc, struct ferry_error *err)
{
    return comm_share(comm, rc, pack_listing, unpack_listing, rb, err);
}

/* ---- a listing spread over the ranks by folders ------------------------------ */

/* A rank's share of the folders, listed in full, as packed entries. */
static void pack_entries(const struct remote_backend *rb, struct pack *p)
{
    for (size_t i = 0; i < rb->count; i++) {
        const struct remote_entry *e = &rb->entries[i];
        pack_u64(p, 1);
        pack_str(p, e->path);
        pack_i64(p, e->size);
        pack_i64(p, e->mtime);
        pack_u64(p, e->mode);
        pack_str(p, e->etag ? e->etag : "");
    }
    for (size_t i = 0; i < rb->n_refused; i++) {
        pack_u64(p, 0);
        pack_str(p, rb->refused[i]);
    }
}

static void unpack_entries(struct remote_backend *rb, struct pack *p)
{
    while (!pack_done(p) && !p->bad) {
        bool entry = unpack_u64(p) != 0;
        char *path = unpack_str(p);
        if (entry) {
            long long size = unpack_i64(p), mtime = unpack_i64(p);
            unsigned mode = (unsigned)unpack_u64(p);
            char *etag = unpack_str(p);
            struct remote_entry *e = NULL;
            if (!p->bad)
                e = remote_add(rb, path, size, mtime, *etag ? etag : NULL, NULL, 0);
            if (e)
                e->mode = mode;
            free(etag);
        } else if (!p->bad) {
            rb->refused = xrealloc(rb->refused, (rb->n_refused + 1) * sizeof *rb->refused);
            rb->refused[rb->n_refused++] = xstrdup(path);
        }
        free(path);
    }
}

struct folders {
    char **names;
    size_t n;
};

static void pack_folders(void *ud, struct pack *out)
{
    const struct folders *f = ud;
    pack_u64(out, f->n);
    for (size_t i = 0; i < f->n; i++)
        pack_str(out, f->names[i]);
}

static void unpack_folders(void *ud, struct pack *in)
{
    struct folders *f = ud;
    f->n = unpack_u64(in);
    f->names = xcalloc(f->n + 1, sizeof *f->names);
    for (size_t i = 0; i < f->n; i++)
        f->names[i] = unpack_str(in);
}

int remote_list_spread(struct remote_backend *rb, MPI_Comm comm, int rc, size_t spread_min,
                       remote_lister list, void *ud, struct ferry_error *err)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    struct folders top = {0};
    if (rc == 0 && rank == 0)
        rc = list(ud, rb, "", &top.names, &top.n, err);
    rc = comm_share(comm, rc, pack_folders, unpack_folders, &top, err);
    if (rc == 0) {
        bool spread = size > 1 && top.n >= spread_min;
        struct remote_backend mine = {0};
        for (size_t i = 0; i < top.n; i++) {
            if ((int)(spread ? i % (size_t)size : 0) != rank)
                continue;
            struct ferry_error lerr = {0};
            if (list(ud, &mine, top.names[i], NULL, NULL, &lerr) != 0)
                remote_refuse(&mine, top.names[i], lerr.msg);
        }
        struct pack packed, all;
        pack_init(&packed);
        pack_init(&all);
        pack_entries(&mine, &packed);
        int *lens = NULL, *offsets = NULL;
        comm_gather_packs(comm, &packed, &all, &lens, &offsets);
        for (int r = 0; rank == 0 && r < size; r++) {
            struct pack p;
            pack_wrap(&p, all.data + offsets[r], (size_t)lens[r]);
            unpack_entries(rb, &p);
        }
        free(lens);
        free(offsets);
        pack_free(&packed);
        pack_free(&all);
        remote_free(&mine);
        if (rank == 0)
            remote_finish(rb);
    }
    for (size_t i = 0; i < top.n; i++)
        free(top.names[i]);
    free(top.names);
    return remote_share(rb, comm, rc, err);
}

void remote_plan_by_file(const struct upload_request *req, long long chunk,
                         long long (*part_bytes)(long long size, long long chunk),
                         struct upload_plan *out)
{
    out->files = xcalloc(req->n_files + 1, sizeof *out->files);
    out->n_batches = (int)req->n_files;
    out->delete_batch = NULL;
    for (size_t i = 0; i < req->n_files; i++) {
        long long size = req->files[i].size;
        struct upload_file *u = &out->files[i];
        u->batch = (int)i;
        u->way = WRITE_PARTS;
        u->part_bytes = part_bytes(size, chunk);
        u->n_parts = size > u->part_bytes ? (int)((size + u->part_bytes - 1) / u->part_bytes) : 1;
        if (u->n_parts == 1)
            u->part_bytes = size;
        u->targets = xcalloc((size_t)u->n_parts, sizeof *u->targets);
        u->receipts = xcalloc((size_t)u->n_parts, sizeof *u->receipts);
    }
}

void remote_plan_free(struct upload_plan *up)
{
    for (int i = 0; up->files && i < up->n_batches; i++) {
        upload_file_clear(&up->files[i]);
        free(up->files[i].targets);
    }
    free(up->files);
    memset(up, 0, sizeof *up);
}

const struct remote_entry *remote_find(const struct remote_backend *rb, const char *path)
{
    struct remote_entry key = {.path = (char *)path};
    return bsearch(&key, rb->entries, rb->count, sizeof key, compare_entries);
}

void remote_free(struct remote_backend *rb)
{
    for (size_t i = 0; i < rb->count; i++)
        entry_free(&rb->entries[i]);
    free(rb->entries);
    for (size_t i = 0; i < rb->n_refused; i++)
        free(rb->refused[i]);
    free(rb->refused);
    free(rb->url_prefix);
    net_auth_clear(&rb->auth);
}

int remote_list_scenes(struct backend *b, char ***names, size_t *count, bool *root_files,
                       struct ferry_error *err)
{
    (void)err;
    struct remote_backend *rb = (struct remote_backend *)b;
    size_t cap = 0;
    *names = NULL;
    *count = 0;
    /* The root's walk reports every entry that could not be listed, so a
     * source whose entries all failed is never an empty, finished one. */
    *root_files = rb->n_refused > 0;
    for (size_t i = 0; i < rb->count; i++) {
        const char *path = rb->entries[i].path, *slash = strchr(path, '/');
        if (!slash) {
            *root_files = true;
            continue;
        }
        size_t len = (size_t)(slash - path);
        /* Sorted by path, so a scene's entries are adjacent. */
        if (*count && strlen((*names)[*count - 1]) == len && strncmp((*names)[*count - 1], path, len) == 0)
            continue;
        xgrow((void **)names, &cap, *count + 1, sizeof **names);
        (*names)[(*count)++] = xstrndup(path, len);
    }
    return 0;
}

int remote_walk(struct backend *b, const char *dir, bool recursive, walk_fn fn, void *ud,
                struct ferry_error *err)
{
    struct remote_backend *rb = (struct remote_backend *)b;
    size_t dir_len = strlen(dir);
    bool found = dir_len == 0;
    for (size_t i = 0; i < rb->count; i++) {
        const struct remote_entry *e = &rb->entries[i];
        const char *rest = e->path;
        if (dir_len) {
            if (strncmp(e->path, dir, dir_len) != 0 || e->path[dir_len] != '/')
                continue;
            rest = e->path + dir_len + 1;
        }
        if (!recursive && strchr(rest, '/'))
            continue;
        found = true;
        struct file_meta meta = {e->path, e->size, e->mtime, e->mode, e->etag};
        if (fn(&meta, ud) != 0)
            break;
    }
    /* Refused entries make the walk of their scene incomplete: the plan then
     * deletes nothing there, and the run ends with an error naming them. */
    const char *first = NULL;
    size_t n = 0;
    for (size_t i = 0; i < rb->n_refused; i++) {
        const char *path = rb->refused[i];
        if (dir_len == 0 || (strncmp(path, dir, dir_len) == 0 && path[dir_len] == '/')) {
            first = first ? first : path;
            n++;
        }
    }
    if (n == 1)
        return err_set(err, FERRY_EFAIL, "%s", first);
    if (n > 1)
        return err_set(err, FERRY_EFAIL, "%s (and %zu more)", first, n - 1);
    return found ? 0 : FERRY_ENOTFOUND;
}

struct backend_read {
    struct fetch *fetch;
};

int remote_read_start(struct backend *b, const struct read_spec *spec,
                      struct backend_read **out, struct ferry_error *err)
{
    struct remote_backend *rb = (struct remote_backend *)b;
    const struct remote_entry *e = remote_find(rb, spec->path);
    if (!e)
        return err_set(err, FERRY_EFAIL, "%s: not in the source's listing", spec->path);
    char *own_url = NULL;
    const char *const *urls = (const char *const *)e->urls;
    size_t n_urls = e->n_urls;
    if (n_urls == 0) {
        char *escaped = net_escape(e->path, true);
        own_url = xasprintf("%s%s", rb->url_prefix, escaped);
        free(escaped);
        urls = (const char *const *)&own_url;
        n_urls = 1;
    }
    /* The Hub's CDN redirects are the Hub's own, not a URL list's hops. */
    struct fetch_spec fs = {
        .urls = urls, .n_urls = n_urls, .auth = &rb->auth, .location = spec->location,
        .check_hop = rb->check_hops && !e->hub ? backend_check_allowed : NULL,
        .what = spec->path, .fd = spec->fd, .offset = spec->offset, .length = spec->length,
        .size = spec->size,
    };
    *out = xcalloc(1, sizeof **out);
    (*out)->fetch = fetch_start(&fs);
    free(own_url);
    return 0;
}

int remote_read_poll(struct backend_read *r, long long *moved, struct ferry_error *err)
{
    return fetch_poll(r->fetch, moved, err);
}

void remote_read_end(struct backend_read *r)
{
    if (!r)
        return;
    fetch_free(r->fetch);
    free(r);
}

/* Let the network move: block until some transfer can (at most ms), then
 * move every transfer as far as it can go. */
void remote_wait(struct backend *b, int ms)
{
    (void)b;
    if (ms > 0)
        net_wait(ms);
    net_drive();
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void remote_put_init(struct remote_put *p, const char *url, const struct net_auth *auth, int fd,
                     long long offset, long long length, bool md5, int max_attempts)
{
    *p = (struct remote_put){.url = xstrdup(url), .auth = auth, .fd = fd, .offset = offset,
                             .length = length, .md5 = md5, .max_attempts = max_attempts};
}

int remote_put_poll(struct remote_put *p)
{
    if (!p->t) {
        if (mono_now() < p->not_before)
            return BACKEND_WAITING;
        /* A metered origin (a bucket's) may be paused for every rank. */
        int admitted = net_gate_admit(p->url, &p->ticket);
        if (admitted < 0)
            return BACKEND_WAITING;
        p->gated = admitted > 0;
        struct net_request req = {.url = p->url, .auth = p->auth, .fd = -1, .range_end = -1,
                                  .put_fd = p->fd, .put_offset = p->offset,
                                  .put_length = p->length, .put_md5 = p->md5};
        p->t = net_start(&req);
    }
    if (net_outcome(p->t) == NET_RUNNING)
        return BACKEND_WAITING;
    if (p->gated)
        net_gate_settle(p->ticket, p->t);
    p->gated = false;
    return 0;
}

bool remote_transient(const struct net_transfer *t)
{
    long status = net_status(t);
    return net_outcome(t) == NET_TRANSPORT || status == 408 || status == 429 ||
           (status >= 500 && status != 501);
}

bool remote_put_again(struct remote_put *p)
{
    if (p->attempts + 1 >= p->max_attempts)
        return false;                /* t stays, for the caller's message */
    net_free(p->t);
    p->t = NULL;
    p->attempts++;
    p->not_before = mono_now() + fetch_backoff(p->attempts);
    return true;
}

void remote_put_free(struct remote_put *p)
{
    if (p->gated)
        net_gate_settle(p->ticket, NULL);
    net_free(p->t);
    free(p->url);
    memset(p, 0, sizeof *p);
}

struct remote_write *remote_write_new(size_t size, const struct write_spec *spec, const char *url,
                                      const struct net_auth *auth, bool md5, int max_attempts)
{
    struct remote_write *w = xcalloc(1, size);
    w->head.fd = -1;
    w->path = xstrdup(spec->meta.path);
    remote_put_init(&w->put, url, auth, spec->src_fd, spec->offset, spec->length, md5,
                    max_attempts);
    remote_put_poll(&w->put);
    return w;
}

void remote_write_abort(struct backend_write *bw)
{
    struct remote_write *w = (struct remote_write *)bw;
    if (!w)
        return;
    remote_put_free(&w->put);
    free(w->path);
    free(w->etag);
    free(w);
}

int remote_write_close(struct backend_write *bw, char **receipt, struct ferry_error *err)
{
    (void)err;
    struct remote_write *w = (struct remote_write *)bw;
    *receipt = w->etag;
    w->etag = NULL;
    remote_write_abort(bw);
    return 0;
}

/* Hugging Face Hub repositories as a source: hf://datasets/OWNER/NAME[@REV][/PATH].
 *
 * Rank 0 resolves the revision to a commit once and lists the tree at that
 * commit (a page per 1,000 files), or, when PATH names a file, that file
 * alone; every download URL names the commit, so a push during the run
 * cannot mix two versions.  hfjson.c reads the answers.  Files download
 * through /resolve/, which redirects LFS files to a signed CDN URL; the token
 * goes to the Hub's own origin only (see fetch.h). */
#include "hf.h"
#include "ferry/hfcache.h"
#include "ferry/comm.h"
#include "ferry/fetch.h"
#include "ferry/hfjson.h"
#include "ferry/hfurl.h"
#include "ferry/log.h"
#include "ferry/net.h"
#include "ferry/token.h"
#include "ferry/xalloc.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define HF_API_ATTEMPTS 8
#define HF_LOCATE_PARALLEL 16
#define HF_GATE_IDLE 0.002        /* seconds between asks at a gate that said wait */
#define HF_GATE_SAY_AFTER 2.0     /* seconds of waiting at the gate before saying so */

static bool hf_claims(const char *location)
{
    return strncmp(location, "hf://", 5) == 0;
}

/* HF_HUB_OFFLINE takes the values huggingface_hub takes. */
static bool offline(void)
{
    const char *v = getenv("HF_HUB_OFFLINE");
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 ||
                 strcasecmp(v, "yes") == 0 || strcasecmp(v, "on") == 0);
}

static int hf_open(const char *location, struct backend **out, struct ferry_error *err)
{
    if (offline())
        return err_set(err, FERRY_EUSAGE, "%s: HF_HUB_OFFLINE is set, so ferry makes no network "
                       "request; unset it to reach the Hub", location);
    int rc = backend_check_allowed(location, err);
    if (rc != 0)
        return rc;
    struct hf_backend *hb = xcalloc(1, sizeof *hb);
    rc = hfurl_parse(location, &hb->url, err);
    if (rc != 0) {
        free(hb);
        return rc;
    }
    hb->endpoint = hfurl_endpoint();
    net_auth_set(&hb->remote.auth, token_find(NULL), hb->endpoint);
    *out = &hb->remote.base;
    return 0;
}

static struct hf_backend *hf_of(struct backend *b)
{
    return (struct hf_backend *)b;
}

char *hf_request_name(const struct hf_backend *hb, const struct net_request *req)
{
    const char *method = req->post_body ? "POST" : req->head ? "HEAD" : "GET";
    return xasprintf("%s: %s %s", hb->remote.base.location, method, req->url);
}

/* A long wait is said, so that it does not look like a hang. */
bool hf_gate_wait(struct hf_backend *hb, const char *url, int *ticket)
{
    int gated;
    double waited = 0;
    while ((gated = net_gate_admit(url, ticket)) < 0) {
        if (waited < HF_GATE_SAY_AFTER && waited + HF_GATE_IDLE >= HF_GATE_SAY_AFTER)
            FLOG(LOG_INFO, "%s: the Hub's budget of calls is spent for now: waiting",
                 hb->remote.base.location);
        net_gate_idle(HF_GATE_IDLE);
        waited += HF_GATE_IDLE;
    }
    return gated == 1;
}

struct net_transfer *hf_api(struct hf_backend *hb, const struct net_request *req, bool retry,
                            struct ferry_error *err)
{
    for (int attempt = 1;; attempt++) {
        int ticket = 0;
        bool metered = hf_gate_wait(hb, req->url, &ticket);
        struct net_transfer *t = net_run(req);
        long status = net_status(t);
        const struct net_headers *h = net_headers(t);
        if (metered)
            net_gate_settle(ticket, t);
        if (net_outcome(t) == NET_ANSWERED && status >= 200 && status < 300)
            return t;
        /* A 429 is refused before anything happened: safe to send again. */
        bool transient = status == 429 ||
                         (retry && (net_outcome(t) == NET_TRANSPORT || status == 408 ||
                                    status >= 500));
        if (!transient || attempt >= HF_API_ATTEMPTS) {
            char *what = hf_request_name(hb, req);
            if (net_outcome(t) == NET_ANSWERED)
                fetch_http_error(status, h->error_code, h->error_message,
                                 net_auth_applies(req->auth, req->url), what, err);
            else
                err_set(err, FERRY_EFAIL, "%s: %s", what, net_reason(t));
            size_t n = strlen(err->msg);
            if (attempt > 1)
                snprintf(err->msg + n, sizeof err->msg - n, " (after %d tries)", attempt);
            free(what);
            net_free(t);
            return NULL;
        }
        /* The gate waits out a 429 for every rank; unmetered, wait here. */
        double wait = status == 429 && metered ? 0
                    : status == 429 && h->retry_after >= 0 ? (double)h->retry_after
                    : status == 429 && h->ratelimit_reset >= 0 ? (double)h->ratelimit_reset + 1
                    : fetch_backoff(attempt);
        if (status != 429)
            FLOG(LOG_INFO, "%s: %s; trying again in %.1f s", hb->remote.base.location,
                 net_outcome(t) == NET_ANSWERED ? "server error" : net_reason(t), wait);
        net_free(t);
        net_gate_idle(wait);
    }
}

cJSON *hf_json(struct hf_backend *hb, struct net_transfer *t, const char *what,
               struct ferry_error *err)
{
    cJSON *json = cJSON_Parse(net_body(t, NULL));
    if (!json)
        err_set(err, FERRY_EFAIL, "%s: the Hub's %s answer is not JSON", hb->remote.base.location,
                what);
    return json;
}

/* One call whose answer is read by parse: a GET, or a POST of a JSON body.
 * 0, or err names the request and what went wrong. */
typedef int (*answer_fn)(const char *text, size_t len, void *out, struct ferry_error *err);

static int api_read(struct hf_backend *hb, const char *url, const char *body, answer_fn parse,
                    void *out, char **next, struct ferry_error *err)
{
    struct net_request req = {.url = url, .auth = &hb->remote.auth, .post_body = body,
                              .fd = -1, .range_end = -1};
    struct net_transfer *t = hf_api(hb, &req, true, err);
    if (!t)
        return err->code;
    size_t len;
    const char *text = net_body(t, &len);
    struct ferry_error why = {0};
    int rc = parse(text, len, out, &why);
    if (rc != 0) {
        char *what = hf_request_name(hb, &req);
        err_set(err, why.code, "%s: %s", what, why.msg);
        free(what);
    }
    /* A next page on another origin is asked without the token (net_auth). */
    const char *link = rc == 0 && next ? net_headers(t)->link_next : NULL;
    if (next)
        *next = rc == 0 && link ? xstrdup(link) : NULL;
    net_free(t);
    return rc;
}

struct revision {
    char sha[41];
    long long modified;
};

static int read_revision(const char *text, size_t len, void *out, struct ferry_error *err)
{
    struct revision *r = out;
    return hfjson_revision(text, len, r->sha, &r->modified, err);
}

static int read_tree_page(const char *text, size_t len, void *out, struct ferry_error *err)
{
    return hfjson_tree_page(text, len, out, err);
}

/* The commit the revision points at now, and its time (a fresh string). */
static char *revision_commit(struct hf_backend *hb, long long *when, struct ferry_error *err)
{
    const char *kind = hfurl_api_kind(hb->url.type);
    char *rev = net_escape(hb->url.revision ? hb->url.revision : "main", false);
    char *url = xasprintf("%s/api/%s/%s/revision/%s", hb->endpoint, kind, hb->url.repo_id, rev);
    free(rev);
    struct revision r;
    int rc = api_read(hb, url, NULL, read_revision, &r, NULL, err);
    free(url);
    if (rc != 0)
        return NULL;
    *when = r.modified >= 0 ? r.modified : (long long)time(NULL);
    return xstrdup(r.sha);
}

char *hf_head(struct hf_backend *hb, struct ferry_error *err)
{
    long long when;
    return revision_commit(hb, &when, err);
}

static int resolve_revision(struct hf_backend *hb, long long *when, struct ferry_error *err)
{
    hb->commit = revision_commit(hb, when, err);
    return hb->commit ? 0 : err->code;
}

/* A listed file, its path made relative to the location's PATH. */
static void add_file(struct hf_backend *hb, const struct hfjson_entry *e, long long when)
{
    const char *rel = e->path;
    size_t root_len = strlen(hb->url.path);
    if (root_len) {
        if (strncmp(rel, hb->url.path, root_len) != 0 || rel[root_len] != '/')
            return;
        rel += root_len + 1;
    }
    char etag[80] = "";
    if (e->lfs_oid)
        snprintf(etag, sizeof etag, "sha256:%s", e->lfs_oid);
    else if (e->oid)
        snprintf(etag, sizeof etag, "sha1:%s", e->oid);
    remote_add(&hb->remote, rel, e->size, when, etag[0] ? etag : NULL, NULL, 0);
}

static int list_tree(struct hf_backend *hb, long long when, struct ferry_error *err)
{
    const char *kind = hfurl_api_kind(hb->url.type);
    char *path = net_escape(hb->url.path, false);
    char *url = xasprintf("%s/api/%s/%s/tree/%s%s%s?recursive=true&expand=false", hb->endpoint,
                          kind, hb->url.repo_id, hb->commit, *path ? "/" : "", path);
    free(path);
    int rc = 0;
    long long pages = 0;
    while (url && rc == 0) {
        char *next = NULL;
        struct hfjson_entries page = {0};
        rc = api_read(hb, url, NULL, read_tree_page, &page, &next, err);
        for (size_t i = 0; rc == 0 && i < page.count; i++)
            if (!page.entry[i].directory)
                add_file(hb, &page.entry[i], when);
        hfjson_entries_free(&page);
        free(url);
        url = next;
        pages++;
    }
    free(url);
    if (rc == 0)
        FLOG(LOG_INFO, "%s: %zu files at commit %.12s (%lld listing pages)",
             hb->remote.base.location, hb->remote.count, hb->commit, pages);
    return rc;
}

static int read_paths_info(const char *text, size_t len, void *out, struct ferry_error *err)
{
    return hfjson_paths_info(text, len, out, err);
}

/* Is PATH a file?  Then the listing is that file alone, under its basename
 * in DST (as curl -O and hf download put it), and the root its folder. */
static int single_file(struct hf_backend *hb, long long when, bool *file,
                       struct ferry_error *err)
{
    char *url = xasprintf("%s/api/%s/%s/paths-info/%s", hb->endpoint,
                          hfurl_api_kind(hb->url.type), hb->url.repo_id, hb->commit);
    cJSON *ask = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(ask, "paths"), cJSON_CreateString(hb->url.path));
    cJSON_AddBoolToObject(ask, "expand", false);
    char *body = cJSON_PrintUnformatted(ask);
    cJSON_Delete(ask);
    struct hfjson_entries info = {0};
    int rc = api_read(hb, url, body, read_paths_info, &info, NULL, err);
    const struct hfjson_entry *e = NULL;
    for (size_t i = 0; rc == 0 && i < info.count; i++)
        if (strcmp(info.entry[i].path, hb->url.path) == 0)
            e = &info.entry[i];
    if (rc == 0 && !e)
        rc = err_set(err, FERRY_ENOTFOUND, "%s: no file or folder '%s' at commit %.12s (%s)",
                     hb->remote.base.location, hb->url.path, hb->commit, url);
    *file = rc == 0 && !e->directory;
    if (*file) {
        char *slash = strrchr(hb->url.path, '/');
        *(slash ? slash : hb->url.path) = '\0';
        add_file(hb, e, when);
    }
    hfjson_entries_free(&info);
    free(body);
    free(url);
    return rc;
}

static int list_on_rank0(struct hf_backend *hb, struct ferry_error *err)
{
    int rc = net_init(err);
    long long when = 0;
    bool file = false;
    if (rc == 0)
        rc = resolve_revision(hb, &when, err);
    if (rc == 0 && *hb->url.path)
        rc = single_file(hb, when, &file, err);
    if (rc == 0 && !file)
        rc = list_tree(hb, when, err);
    if (rc == 0 && hb->remote.count == 0 && hb->remote.n_refused == 0 && *hb->url.path)
        rc = err_set(err, FERRY_ENOTFOUND, "%s: no files under '%s' at commit %.12s",
                     hb->remote.base.location, hb->url.path, hb->commit);
    if (rc == 0)
        remote_finish(&hb->remote);
    return rc;
}

static void pack_pin(void *ud, struct pack *out)
{
    const struct hf_backend *hb = ud;
    pack_str(out, hb->commit);
    pack_str(out, hb->url.path);        /* a single file's folder */
}

static void unpack_pin(void *ud, struct pack *in)
{
    struct hf_backend *hb = ud;
    hb->commit = unpack_str(in);
    free(hb->url.path);
    hb->url.path = unpack_str(in);
}

static int hf_prepare(struct backend *b, MPI_Comm comm, struct ferry_error *err)
{
    struct hf_backend *hb = hf_of(b);
    int rank;
    MPI_Comm_rank(comm, &rank);
    int rc = rank == 0 ? list_on_rank0(hb, err) : net_init(err);
    rc = comm_share(comm, rc, pack_pin, unpack_pin, hb, err);
    if (rc != 0)
        return rc;
    char *root = net_escape(hb->url.path, true);
    hb->remote.url_prefix = xasprintf("%s/%s%s/resolve/%s/%s%s", hb->endpoint,
                                      hfurl_url_prefix(hb->url.type), hb->url.repo_id, hb->commit,
                                      root, *root ? "/" : "");
    free(root);
    return remote_share(&hb->remote, comm, 0, err);
}

/* hb's listing into another under folder, each file by its own resolve URL
 * at the listed commit. */
static void merge_listing(struct remote_backend *into, const struct hf_backend *hb,
                          const char *folder)
{
    const struct remote_backend *from = &hb->remote;
    for (size_t i = 0; i < from->count; i++) {
        const struct remote_entry *e = &from->entries[i];
        char *path = xasprintf("%s/%s", folder, e->path);
        char *escaped = net_escape(e->path, true);
        char *url = xasprintf("%s%s", from->url_prefix, escaped);
        size_t before = into->count;
        remote_add(into, path, e->size, e->mtime, e->etag, &url, 1);
        if (into->count > before)
            into->entries[before].hub = true;
        free(url);
        free(escaped);
        free(path);
    }
    into->refused = xrealloc(into->refused,
                             (into->n_refused + from->n_refused + 1) * sizeof *into->refused);
    for (size_t i = 0; i < from->n_refused; i++)
        into->refused[into->n_refused++] = xasprintf("%s/%s", folder, from->refused[i]);
}

int hf_list_into(struct remote_backend *into, const char *location, const char *folder,
                 MPI_Comm comm, struct ferry_error *err)
{
    struct backend *b = NULL;
    int rank;
    MPI_Comm_rank(comm, &rank);
    int rc = backend_open(location, &b, err);
    if (rc == 0)
        rc = b->ops->prepare(b, comm, err);
    if (rc == 0 && rank == 0)
        merge_listing(into, hf_of(b), folder);
    /* The Hub's token, for the Hub's origin only, like the Hub backend's. */
    if (rc == 0 && !into->auth.token && hf_of(b)->remote.auth.token)
        net_auth_set(&into->auth, xstrdup(hf_of(b)->remote.auth.token), hf_of(b)->endpoint);
    backend_close(b);
    return rc;
}

/* HEAD each LFS file's resolve URL, several at a time, and keep the CDN URL
 * the redirect names.  Regular files are served by the Hub itself: asking
 * would cost a resolve call and tell nothing. */
static void hf_locate(struct backend *b, char **paths, size_t n, char **locations)
{
    struct hf_backend *hb = hf_of(b);
    struct net_transfer *running[HF_LOCATE_PARALLEL] = {0};
    size_t slot_of[HF_LOCATE_PARALLEL];
    int ticket[HF_LOCATE_PARALLEL];
    bool gated[HF_LOCATE_PARALLEL];
    size_t next = 0, active = 0;
    char origin[512];
    net_origin(hb->endpoint, origin, sizeof origin);
    while (next < n || active > 0) {
        for (int s = 0; s < HF_LOCATE_PARALLEL && next < n; s++) {
            if (running[s])
                continue;
            const struct remote_entry *e = remote_find(&hb->remote, paths[next]);
            if (!e || !e->etag || strncmp(e->etag, "sha256:", 7) != 0) {
                locations[next++] = NULL;
                continue;
            }
            char *escaped = net_escape(paths[next], true);
            char *url = xasprintf("%s%s", hb->remote.url_prefix, escaped);
            int admitted = net_gate_admit(url, &ticket[s]);
            if (admitted < 0) {
                free(escaped);
                free(url);
                break;
            }
            gated[s] = admitted == 1;
            struct net_request req = {.url = url, .auth = &hb->remote.auth, .head = true,
                                      .fd = -1, .range_end = -1};
            running[s] = net_start(&req);
            slot_of[s] = next++;
            active++;
            free(escaped);
            free(url);
        }
        if (active == 0) {
            net_gate_idle(HF_GATE_IDLE);        /* out of tokens for now */
            continue;
        }
        net_wait(20);
        net_drive();
        for (int s = 0; s < HF_LOCATE_PARALLEL; s++) {
            struct net_transfer *t = running[s];
            if (!t || net_outcome(t) == NET_RUNNING)
                continue;
            if (gated[s])
                net_gate_settle(ticket[s], t);
            const char *target = net_headers(t)->location;
            char there[512];
            locations[slot_of[s]] = NULL;
            if (net_status(t) / 100 == 3 && target && net_origin(target, there, sizeof there) &&
                strcmp(there, origin) != 0)
                locations[slot_of[s]] = xstrdup(target);
            net_free(t);
            running[s] = NULL;
            active--;
        }
    }
}

static bool is_commit(const char *revision)
{
    return strlen(revision) == 40 && strspn(revision, "0123456789abcdef") == 40;
}

/* huggingface_hub's names: "datasets--OWNER--NAME", refs/main for no revision. */
static int hf_open_cache(struct backend *b, const char *cache_dir, struct backend **out,
                         struct ferry_error *err)
{
    struct hf_backend *hb = hf_of(b);
    if (!hb->repo_folder) {
        const char *kind = hfurl_api_kind(hb->url.type), *id = hb->url.repo_id;
        char *folder = xmalloc(strlen(kind) + 3 * strlen(id) + 3), *end = folder;
        end += sprintf(end, "%s--", kind);
        for (; *id; id++)
            end += *id == '/' ? sprintf(end, "--") : sprintf(end, "%c", *id);
        hb->repo_folder = folder;
    }
    const char *revision = hb->url.revision ? hb->url.revision : "main";
    struct cache_place place = {
        .repo_folder = hb->repo_folder,
        .commit = hb->commit,
        .ref = is_commit(revision) ? NULL : revision,
        .path = hb->url.path,
    };
    return hfcache_open(cache_dir, b->location, &place, out, err);
}

static void hf_close(struct backend *b)
{
    struct hf_backend *hb = hf_of(b);
    remote_free(&hb->remote);
    hfurl_free(&hb->url);
    free(hb->endpoint);
    free(hb->commit);
    free(hb->repo_folder);
    free(hb);
}

const struct backend_ops backend_hf = {
    .name = "hf",
    .claims = hf_claims,
    .open = hf_open,
    .prepare = hf_prepare,
    .list_scenes = remote_list_scenes,
    .walk = remote_walk,
    .read_start = remote_read_start,
    .read_poll = remote_read_poll,
    .read_end = remote_read_end,
    .wait = remote_wait,
    .locate = hf_locate,
    .open_cache = hf_open_cache,
    .create = hf_create,
    .write_open = hf_write_open,
    .write_poll = hf_write_poll,
    .write_close = remote_write_close,
    .write_abort = remote_write_abort,
    .upload_plan = hf_upload_plan,
    .finish_batch = hf_finish_batch,
    .upload_free = hf_upload_free,
    .keep = ".gitattributes",
    .close = hf_close,
};

/* Hugging Face Hub repositories as a source: hf://datasets/OWNER/NAME[@REV][/PATH].
 *
 * Rank 0 resolves the revision to a commit once and lists the tree at that
 * commit (a page per 1,000 files); every download URL names the commit, so a
 * push during the run cannot mix two versions.  Files download through
 * /resolve/, which redirects LFS files to a signed CDN URL; the token goes to
 * the Hub's own origin only (see fetch.h). */
#include "hf.h"
#include "ferry/comm.h"
#include "ferry/fetch.h"
#include "ferry/hfjson.h"
#include "ferry/hfurl.h"
#include "ferry/limiter.h"
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
    hb->remote.token = token_find(NULL);
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

struct net_transfer *hf_api(struct hf_backend *hb, const struct net_request *req, bool retry,
                            struct ferry_error *err)
{
    enum limiter_class cls;
    bool metered = limiter_class_of(req->url, &cls);
    for (int attempt = 1;; attempt++) {
        if (metered)
            limiter_take_wait(cls);
        struct net_transfer *t = net_run(req);
        long status = net_status(t);
        const struct net_headers *h = net_headers(t);
        if (metered && net_outcome(t) == NET_ANSWERED)
            limiter_learn(cls, status, h);
        if (net_outcome(t) == NET_ANSWERED && status >= 200 && status < 300)
            return t;
        /* A 429 is refused before anything happened: safe to send again. */
        bool transient = status == 429 ||
                         (retry && (net_outcome(t) == NET_TRANSPORT || status == 408 ||
                                    status >= 500));
        if (!transient || attempt >= HF_API_ATTEMPTS) {
            char *what = hf_request_name(hb, req);
            if (net_outcome(t) == NET_ANSWERED)
                fetch_http_error(status, h->error_code, h->error_message, hb->remote.token != NULL,
                                 what, err);
            else
                err_set(err, FERRY_EFAIL, "%s: %s", what, net_reason(t));
            size_t n = strlen(err->msg);
            if (attempt > 1)
                snprintf(err->msg + n, sizeof err->msg - n, " (after %d tries)", attempt);
            free(what);
            net_free(t);
            return NULL;
        }
        /* The limiter waits out a 429 for every rank; unmetered, wait here. */
        double wait = status == 429 && metered ? 0
                    : status == 429 && h->retry_after >= 0 ? (double)h->retry_after
                    : status == 429 && h->ratelimit_reset >= 0 ? (double)h->ratelimit_reset + 1
                    : fetch_backoff(attempt);
        if (status != 429)
            FLOG(LOG_INFO, "%s: %s; trying again in %.1f s", hb->remote.base.location,
                 net_outcome(t) == NET_ANSWERED ? "server error" : net_reason(t), wait);
        net_free(t);
        limiter_sleep(wait);
    }
}

/* One GET on the Hub's API, with retries. */
static struct net_transfer *api_get(struct hf_backend *hb, const char *url,
                                    struct ferry_error *err)
{
    struct net_request req = {.url = url, .token = hb->remote.token, .fd = -1, .range_end = -1};
    return hf_api(hb, &req, true, err);
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

/* An answer that came but makes no sense: name the request, then what is wrong. */
static int bad_answer(struct hf_backend *hb, const char *url, const struct ferry_error *why,
                      struct ferry_error *err)
{
    struct net_request req = {.url = url};
    char *what = hf_request_name(hb, &req);
    err_set(err, why->code, "%s: %s", what, why->msg);
    free(what);
    return err->code;
}

/* One GET whose answer is read by parse: 0, or err names the request. */
typedef int (*answer_fn)(const char *text, size_t len, void *out, struct ferry_error *err);

static int api_read(struct hf_backend *hb, const char *url, answer_fn parse, void *out,
                    char **next, struct ferry_error *err)
{
    struct net_transfer *t = api_get(hb, url, err);
    if (!t)
        return err->code;
    size_t len;
    const char *text = net_body(t, &len);
    struct ferry_error why = {0};
    int rc = parse(text, len, out, &why);
    if (rc != 0)
        bad_answer(hb, url, &why, err);
    if (next)
        *next = rc == 0 && net_headers(t)->link_next ? xstrdup(net_headers(t)->link_next) : NULL;
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
    int rc = api_read(hb, url, read_revision, &r, NULL, err);
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
    struct hfjson_entries listed = {0};
    int rc = 0;
    long long pages = 0;
    while (url && rc == 0) {
        char *next = NULL;
        rc = api_read(hb, url, read_tree_page, &listed, &next, err);
        free(url);
        url = next;
        pages++;
    }
    free(url);
    for (size_t i = 0; rc == 0 && i < listed.count; i++)
        if (!listed.entry[i].directory)
            add_file(hb, &listed.entry[i], when);
    hfjson_entries_free(&listed);
    if (rc == 0)
        FLOG(LOG_INFO, "%s: %zu files at commit %.12s (%lld listing pages)",
             hb->remote.base.location, hb->remote.count, hb->commit, pages);
    return rc;
}

static int list_on_rank0(struct hf_backend *hb, struct ferry_error *err)
{
    int rc = net_init(err);
    long long when = 0;
    if (rc == 0)
        rc = resolve_revision(hb, &when, err);
    if (rc == 0)
        rc = list_tree(hb, when, err);
    if (rc == 0 && hb->remote.count == 0 && hb->remote.n_refused == 0 && *hb->url.path)
        rc = err_set(err, FERRY_ENOTFOUND, "%s: no files under '%s' at commit %.12s",
                     hb->remote.base.location, hb->url.path, hb->commit);
    if (rc == 0)
        remote_finish(&hb->remote);
    return rc;
}

static int hf_prepare(struct backend *b, MPI_Comm comm, struct ferry_error *err)
{
    struct hf_backend *hb = hf_of(b);
    int rank;
    MPI_Comm_rank(comm, &rank);
    int rc = rank == 0 ? list_on_rank0(hb, err) : net_init(err);
    rc = comm_agree(comm, rc, err);
    if (rc != 0)
        return rc;
    struct pack p;
    pack_init(&p);
    if (rank == 0)
        pack_str(&p, hb->commit);
    comm_bcast_pack(comm, &p);
    if (rank != 0)
        hb->commit = unpack_str(&p);
    pack_free(&p);
    char *root = net_escape(hb->url.path, true);
    hb->remote.url_prefix = xasprintf("%s/%s%s/resolve/%s/%s%s", hb->endpoint,
                                      hfurl_url_prefix(hb->url.type), hb->url.repo_id, hb->commit,
                                      root, *root ? "/" : "");
    free(root);
    remote_share(&hb->remote, comm);
    return 0;
}

/* HEAD each LFS file's resolve URL, several at a time, and keep the CDN URL
 * the redirect names.  Regular files are served by the Hub itself: asking
 * would cost a resolve call and tell nothing. */
static void hf_locate(struct backend *b, char **paths, size_t n, char **locations)
{
    struct hf_backend *hb = hf_of(b);
    struct net_transfer *running[HF_LOCATE_PARALLEL] = {0};
    size_t slot_of[HF_LOCATE_PARALLEL];
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
            if (!limiter_take(LIMIT_RESOLVE))
                break;
            char *escaped = net_escape(paths[next], true);
            char *url = xasprintf("%s%s", hb->remote.url_prefix, escaped);
            struct net_request req = {.url = url, .token = hb->remote.token, .head = true,
                                      .fd = -1, .range_end = -1};
            running[s] = net_start(&req);
            slot_of[s] = next++;
            active++;
            free(escaped);
            free(url);
        }
        if (active == 0) {
            limiter_sleep(0.002);       /* out of tokens for now */
            continue;
        }
        net_wait(20);
        net_drive();
        for (int s = 0; s < HF_LOCATE_PARALLEL; s++) {
            struct net_transfer *t = running[s];
            if (!t || net_outcome(t) == NET_RUNNING)
                continue;
            if (net_outcome(t) == NET_ANSWERED)
                limiter_learn(LIMIT_RESOLVE, net_status(t), net_headers(t));
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
static int hf_cache_place(struct backend *b, struct cache_place *out, struct ferry_error *err)
{
    struct hf_backend *hb = hf_of(b);
    (void)err;
    if (!hb->repo_folder) {
        const char *kind = hfurl_api_kind(hb->url.type), *id = hb->url.repo_id;
        char *folder = xmalloc(strlen(kind) + 3 * strlen(id) + 3), *end = folder;
        end += sprintf(end, "%s--", kind);
        for (; *id; id++)
            end += *id == '/' ? sprintf(end, "--") : sprintf(end, "%c", *id);
        hb->repo_folder = folder;
    }
    const char *revision = hb->url.revision ? hb->url.revision : "main";
    *out = (struct cache_place){
        .repo_folder = hb->repo_folder,
        .commit = hb->commit,
        .ref = is_commit(revision) ? NULL : revision,
        .path = hb->url.path,
    };
    return 0;
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
    .cache_place = hf_cache_place,
    .create = hf_create,
    .push = hf_push,
    .keep = ".gitattributes",
    .close = hf_close,
};

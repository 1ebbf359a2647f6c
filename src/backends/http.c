/* http(s):// URLs and aria2-style manifests (@FILE) as a source.
 *
 * A URL is a one-line manifest.  Rank 0 asks every entry for its size (a
 * HEAD through fetch, several at a time: redirects, retries and mirrors as
 * for the download itself) and shares the listing.  An entry that cannot be
 * sized is remembered with its reason and fails the run; it never just
 * drops out of it.  A manifest's sha-256 checksum becomes the entry's
 * content hash, checked before the file is renamed into place.  A
 * manifest's hf:// lines are listed by the Hub backend and join the listing
 * under their folders. */
#include "hf.h"
#include "remote.h"
#include "ferry/comm.h"
#include "ferry/fetch.h"
#include "ferry/log.h"
#include "ferry/manifest.h"
#include "ferry/net.h"
#include "ferry/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HTTP_HEAD_PARALLEL 16

struct http_backend {
    struct remote_backend remote;    /* first: a struct backend underneath */
    struct manifest manifest;
    struct manifest hubs;            /* the manifest's hf:// lines, listed by hf.c */
};

/* The manifest's hf:// entries move to hb->hubs: they are listed, not probed. */
static void split_hubs(struct http_backend *hb)
{
    struct manifest *m = &hb->manifest;
    size_t kept = 0;
    for (size_t i = 0; i < m->count; i++) {
        struct manifest *to = strncmp(m->entries[i].urls[0], "hf://", 5) == 0 ? &hb->hubs : m;
        size_t at = to == m ? kept++ : to->count++;
        if (to != m)
            to->entries = xrealloc(to->entries, to->count * sizeof *to->entries);
        to->entries[at] = m->entries[i];
    }
    m->count = kept;
}

static bool http_claims(const char *location)
{
    return strncmp(location, "http://", 7) == 0 || strncmp(location, "https://", 8) == 0 ||
           location[0] == '@';
}

static int http_open(const char *location, struct backend **out, struct ferry_error *err)
{
    struct http_backend *hb = xcalloc(1, sizeof *hb);
    int rc;
    if (location[0] == '@') {
        rc = manifest_load(location + 1, &hb->manifest, err);
    } else {
        char *line = xasprintf("%s\n", location);
        rc = manifest_parse(line, strlen(line), location, &hb->manifest, err);
        free(line);
    }
    /* Every URL is checked before any request is made. */
    for (size_t i = 0; rc == 0 && i < hb->manifest.count; i++)
        for (size_t u = 0; rc == 0 && u < hb->manifest.entries[i].n_urls; u++)
            if (strncmp(hb->manifest.entries[i].urls[u], "file://", 7) != 0)
                rc = backend_check_allowed(hb->manifest.entries[i].urls[u], err);
    if (rc == 0 && hb->manifest.count == 0)
        rc = err_set(err, FERRY_EUSAGE, "%s: the manifest lists no URL", location + 1);
    if (rc != 0) {
        manifest_free(&hb->manifest);
        free(hb);
        return rc;
    }
    hb->remote.check_hops = true;
    split_hubs(hb);
    *out = &hb->remote.base;
    return 0;
}

static struct http_backend *http_of(struct backend *b)
{
    return (struct http_backend *)b;
}

/* One entry's probe: a HEAD through fetch (redirects, retries, mirrors). */
struct probe {
    struct fetch *fetch;
    int rc;                          /* FETCH_WAITING while running */
    struct ferry_error err;
};

static void probe_start(const struct manifest_entry *e, struct probe *p)
{
    struct fetch_spec spec = {
        .urls = (const char *const *)e->urls, .n_urls = e->n_urls, .head = true, .fd = -1,
        .check_hop = backend_check_allowed, .what = e->urls[e->n_urls - 1],
    };
    p->fetch = fetch_start(&spec);
    p->rc = FETCH_WAITING;
}

/* Move a running probe; true when it has just ended. */
static bool probe_poll(struct probe *p)
{
    long long moved;
    int rc = fetch_poll(p->fetch, &moved, &p->err);
    if (rc == FETCH_WAITING || rc == 1)
        return false;
    p->rc = rc;
    return true;
}

/* The copy of a file:// source is never more open than the source. */
static unsigned entry_mode(const struct manifest_entry *e)
{
    unsigned mode = 0644;
    for (size_t u = 0; u < e->n_urls; u++) {
        char *path = net_file_path(e->urls[u]);
        struct stat st;
        if (path && stat(path, &st) == 0)
            mode &= (unsigned)st.st_mode;
        free(path);
    }
    return mode;
}

static void probe_record(struct http_backend *hb, const struct manifest_entry *e, struct probe *p)
{
    if (p->rc != 0) {
        char *why = xasprintf("%s%s", e->n_urls > 1 ? "no mirror answered: " : "", p->err.msg);
        /* A manifest's failures are each named here; the run's report has
         * room for one per scene. */
        if (hb->remote.base.location[0] == '@')
            FLOG(LOG_ERROR, "%s: %s", e->path, why);
        remote_refuse(&hb->remote, e->path, why);
        free(why);
        return;
    }
    long long size, mtime;
    fetch_probed(p->fetch, &size, &mtime);
    char etag[80];
    if (e->sha256)
        snprintf(etag, sizeof etag, "sha256:%s", e->sha256);
    /* Without Last-Modified the size alone tells a rerun what it has. */
    struct remote_entry *re = remote_add(&hb->remote, e->path, size, mtime >= 0 ? mtime : 0,
                                         e->sha256 ? etag : NULL, e->urls, e->n_urls);
    if (re)
        re->mode = entry_mode(e);
}

/* Every entry's size, HTTP_HEAD_PARALLEL requests on the wire (a probe
 * waiting to try again holds none, so dead hosts do not stall the rest);
 * the first failure's code in *first_rc. */
static void probe_all(struct http_backend *hb, int *first_rc)
{
    const struct manifest *m = &hb->manifest;
    struct probe *probes = xcalloc(m->count ? m->count : 1, sizeof *probes);
    size_t next = 0, settled = 0, on_wire = 0;
    *first_rc = 0;
    while (settled < m->count) {
        for (; on_wire < HTTP_HEAD_PARALLEL && next < m->count; next++, on_wire++)
            probe_start(&m->entries[next], &probes[next]);
        net_wait(20);
        net_drive();
        on_wire = 0;
        for (size_t i = 0; i < next; i++) {
            struct probe *p = &probes[i];
            if (!p->fetch)
                continue;
            if (!probe_poll(p)) {
                on_wire += fetch_in_flight(p->fetch);
                continue;
            }
            probe_record(hb, &m->entries[i], p);
            if (p->rc != 0 && *first_rc == 0)
                *first_rc = p->rc;
            fetch_free(p->fetch);
            p->fetch = NULL;
            settled++;
        }
    }
    free(probes);
}

static int http_prepare(struct backend *b, MPI_Comm comm, struct ferry_error *err)
{
    struct http_backend *hb = http_of(b);
    int rank;
    MPI_Comm_rank(comm, &rank);
    int rc = net_init(err);
    for (size_t i = 0; rc == 0 && i < hb->hubs.count; i++)
        rc = hf_list_into(&hb->remote, hb->hubs.entries[i].urls[0], hb->hubs.entries[i].path,
                          comm, err);
    if (rc == 0 && rank == 0) {
        int first_rc;
        probe_all(hb, &first_rc);
        remote_finish(&hb->remote);
        /* One URL on the command line: its failure is the run's. */
        if (hb->remote.count == 0 && hb->remote.n_refused == 1 && hb->manifest.count == 1 &&
            b->location[0] != '@')
            rc = err_set(err, first_rc, "%s", hb->remote.refused[0]);
    }
    return remote_share(&hb->remote, comm, rc, err);
}

static void http_close(struct backend *b)
{
    struct http_backend *hb = http_of(b);
    remote_free(&hb->remote);
    manifest_free(&hb->manifest);
    manifest_free(&hb->hubs);
    free(hb);
}

const struct backend_ops backend_http = {
    .name = "http",
    .claims = http_claims,
    .open = http_open,
    .prepare = http_prepare,
    .list_scenes = remote_list_scenes,
    .walk = remote_walk,
    .read_start = remote_read_start,
    .read_poll = remote_read_poll,
    .read_end = remote_read_end,
    .wait = remote_wait,
    .close = http_close,
};

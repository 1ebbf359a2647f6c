/* http(s):// URLs and aria2-style manifests (@FILE) as a source.
 *
 * A URL is a one-line manifest.  Rank 0 asks every entry's first mirror for
 * its size (HEAD, several at a time; a file:// mirror is stat'ed), falling
 * back to the next mirror, and shares the listing.  A manifest's sha-256
 * checksum becomes the entry's content hash, checked before the file is
 * renamed into place.  A manifest's hf:// lines are listed by the Hub
 * backend and join the listing under their folders. */
#include "hf.h"
#include "remote.h"
#include "ferry/comm.h"
#include "ferry/log.h"
#include "ferry/manifest.h"
#include "ferry/net.h"
#include "ferry/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (rc != 0) {
        manifest_free(&hb->manifest);
        free(hb);
        return rc;
    }
    split_hubs(hb);
    *out = &hb->remote.base;
    return 0;
}

static struct http_backend *http_of(struct backend *b)
{
    return (struct http_backend *)b;
}

/* What probing one entry's mirrors learnt. */
struct probe {
    size_t mirror;
    struct net_transfer *t;
    long long size, mtime;
    char reason[256];
};

static void probe_start(const struct manifest_entry *e, struct probe *p)
{
    struct net_request req = {.url = e->urls[p->mirror], .head = true, .fd = -1, .range_end = -1,
                              .connect_timeout = 10};
    p->t = net_start(&req);
}

/* The probe's answer; true when the entry is settled (sized or out of mirrors). */
static bool probe_settle(const struct manifest_entry *e, struct probe *p)
{
    long status = net_status(p->t);
    bool file = strncmp(e->urls[p->mirror], "file://", 7) == 0;
    if (net_outcome(p->t) == NET_ANSWERED && (status == 200 || (file && status == 0)) &&
        net_content_length(p->t) >= 0) {
        p->size = net_content_length(p->t);
        p->mtime = net_last_modified(p->t);
    } else if (net_outcome(p->t) == NET_ANSWERED) {
        snprintf(p->reason, sizeof p->reason, "%s: HTTP %ld", e->urls[p->mirror], status);
    } else {
        snprintf(p->reason, sizeof p->reason, "%s: %s", e->urls[p->mirror], net_reason(p->t));
    }
    net_free(p->t);
    p->t = NULL;
    if (p->size >= 0 || ++p->mirror >= e->n_urls)
        return true;
    probe_start(e, p);
    return false;
}

static void probe_all(struct http_backend *hb)
{
    const struct manifest *m = &hb->manifest;
    struct probe *probes = xcalloc(m->count ? m->count : 1, sizeof *probes);
    size_t next = 0, active = 0, settled = 0;
    while (settled < m->count) {
        while (active < HTTP_HEAD_PARALLEL && next < m->count) {
            probes[next].size = -1;
            probe_start(&m->entries[next], &probes[next]);
            next++;
            active++;
        }
        net_wait(20);
        net_drive();
        for (size_t i = 0; i < next; i++) {
            struct probe *p = &probes[i];
            if (p->t && net_outcome(p->t) != NET_RUNNING && probe_settle(&m->entries[i], p)) {
                active--;
                settled++;
            }
        }
    }
    for (size_t i = 0; i < m->count; i++) {
        const struct manifest_entry *e = &m->entries[i];
        if (probes[i].size < 0) {
            char *why = xasprintf("no mirror answered (%s)", probes[i].reason);
            hb->remote.refused = xrealloc(hb->remote.refused,
                                          (hb->remote.n_refused + 1) * sizeof *hb->remote.refused);
            hb->remote.refused[hb->remote.n_refused++] = xasprintf("%s: %s", e->path, why);
            free(why);
            continue;
        }
        char etag[80];
        if (e->sha256)
            snprintf(etag, sizeof etag, "sha256:%s", e->sha256);
        /* Without Last-Modified the size alone tells a rerun what it has. */
        long long mtime = probes[i].mtime >= 0 ? probes[i].mtime : 0;
        remote_add(&hb->remote, e->path, probes[i].size, mtime, e->sha256 ? etag : NULL, e->urls,
                   e->n_urls);
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
        probe_all(hb);
        remote_finish(&hb->remote);
        if (hb->remote.count == 0 && hb->remote.n_refused == 1 && hb->manifest.count == 1 &&
            b->location[0] != '@')
            rc = err_set(err, FERRY_ENOTFOUND, "%s", hb->remote.refused[0]);
    }
    rc = comm_agree(comm, rc, err);
    if (rc == 0)
        remote_share(&hb->remote, comm);
    return rc;
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

#include "ferry/fetch.h"
#include "ferry/net.h"
#include "ferry/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FETCH_MAX_ATTEMPTS 8      /* failed tries in a row on one mirror */
#define FETCH_MAX_EXPIRIES 8      /* signed URLs that expired under one fetch */
#define FETCH_MAX_HOPS 10         /* redirects in a row */
#define FETCH_MAX_THROTTLES 30    /* 429 answers waited out */
#define FETCH_BACKOFF_BASE 0.25
#define FETCH_BACKOFF_CAP 30.0
#define FETCH_THROTTLE_CAP 330.0  /* a 5-minute window and a margin */
#define FETCH_PROBE_BODY_MAX 65536

struct fetch {
    char **urls;
    size_t n_urls, mirror;
    const struct net_auth *auth;
    int (*check_hop)(const char *url, struct ferry_error *err);
    char *what;
    int fd;
    long long offset, length, size;
    bool head;
    bool head_refused;            /* a probe asks with a one-byte GET instead */
    long long probed_size, probed_mtime;

    char *url;                    /* what the next or current request asks */
    bool url_is_hop;              /* named by a server, not by our caller */
    bool url_is_target;           /* a redirect's target: a 403 there means expired */
    bool gated;                   /* the request in flight holds a ticket of the net gate */
    int ticket;
    char *location;               /* the last target on another origin */
    struct net_transfer *t;
    long long done;
    int attempts, expiries, hops, throttles;
    double not_before;
    char reason[FERRY_ERRMSG_MAX + 64];
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double fetch_backoff(int attempt)
{
    double ceiling = FETCH_BACKOFF_BASE;
    for (int i = 1; i < attempt && ceiling < FETCH_BACKOFF_CAP; i++)
        ceiling *= 2;
    if (ceiling > FETCH_BACKOFF_CAP)
        ceiling = FETCH_BACKOFF_CAP;
    return ceiling * ((double)random() / (double)RAND_MAX);
}

int fetch_http_error(long status, const char *error_code, const char *error_message,
                     bool sent_token, const char *what, struct ferry_error *err)
{
    const char *code = error_code ? error_code : "";
    const char *detail = error_message ? error_message : "";
    /* The Hub answers 401 to an anonymous caller for a private repo and for
     * a missing one alike (X-Error-Code RepoNotFound): without a token that
     * is an authentication problem first. */
    if (status == 401 && strstr(detail, "nvalid"))
        return err_set(err, FERRY_EAUTH, "%s: the token was refused (HTTP 401: %s)", what, detail);
    if (status == 401 && !sent_token)
        return err_set(err, FERRY_EAUTH, "%s: not found, or private and no token was given: "
                       "set HF_TOKEN (or HF_TOKEN_PATH) to a token that can read it (HTTP 401)",
                       what);
    if (strcmp(code, "RepoNotFound") == 0)
        return err_set(err, status == 401 ? FERRY_EAUTH : FERRY_ENOTFOUND,
                       "%s: repository not found, or this token cannot read it (HTTP %ld)",
                       what, status);
    if (strcmp(code, "RevisionNotFound") == 0)
        return err_set(err, FERRY_ENOTFOUND, "%s: revision not found (HTTP %ld)", what, status);
    if (strcmp(code, "EntryNotFound") == 0)
        return err_set(err, FERRY_ENOTFOUND, "%s: no such file in the repository (HTTP %ld)",
                       what, status);
    if (strcmp(code, "GatedRepo") == 0)
        return err_set(err, FERRY_EAUTH, "%s: the repository is gated: accept its conditions on "
                       "the Hub with this token's account (HTTP %ld)", what, status);
    if (status == 401)
        return err_set(err, FERRY_EAUTH, "%s: not authorized (HTTP 401%s%s)", what,
                       *detail ? ": " : "", detail);
    if (status == 403)
        return err_set(err, FERRY_EAUTH, "%s: access denied (HTTP 403%s%s)", what,
                       *detail ? ": " : "", detail);
    if (status == 404 || status == 410)
        return err_set(err, FERRY_ENOTFOUND, "%s: not found (HTTP %ld)", what, status);
    return err_set(err, FERRY_EFAIL, "%s: HTTP %ld%s%s", what, status, *detail ? ": " : "", detail);
}

static void aim(struct fetch *f, const char *url, bool hop, bool target)
{
    free(f->url);
    f->url = xstrdup(url);
    f->url_is_hop = hop;
    f->url_is_target = target;
}

/* Back to the mirror's own URL (resolving again where it redirects). */
static void aim_at_mirror(struct fetch *f)
{
    aim(f, f->urls[f->mirror], false, false);
}

struct fetch *fetch_start(const struct fetch_spec *spec)
{
    struct fetch *f = xcalloc(1, sizeof *f);
    f->urls = xcalloc(spec->n_urls, sizeof *f->urls);
    for (size_t i = 0; i < spec->n_urls; i++)
        f->urls[i] = xstrdup(spec->urls[i]);
    f->n_urls = spec->n_urls;
    f->auth = spec->auth;
    f->check_hop = spec->check_hop;
    f->what = xstrdup(spec->what);
    f->fd = spec->head ? -1 : spec->fd;
    f->offset = spec->offset;
    f->length = spec->length;
    f->size = spec->size;
    f->head = spec->head;
    f->probed_size = f->probed_mtime = -1;
    if (spec->location && net_is_http(spec->location)) {
        f->location = xstrdup(spec->location);
        aim(f, spec->location, true, true);
    } else {
        aim_at_mirror(f);
    }
    return f;
}

static void launch(struct fetch *f)
{
    long long start = f->offset + f->done, end = f->offset + f->length - 1;
    bool whole = f->offset == 0 && f->done == 0 && f->length == f->size;
    struct net_request req = {
        .url = f->url,
        .auth = f->auth,
        .local_file = !f->url_is_hop,
        .head = f->head && !f->head_refused,
        .range_start = f->head ? 0 : start,
        .range_end = f->head_refused ? 0 : whole || f->head ? -1 : end,
        .fd = f->fd,
        .fd_offset = start,
        /* A probe's answer is a byte, or an error page kept for its message. */
        .max_body = f->head                ? FETCH_PROBE_BODY_MAX
                    : f->length > f->done ? f->length - f->done
                                          : 1,
    };
    f->t = net_start(&req);
}

/* Wait before the next try; false when this mirror is out of tries.  A
 * mirror with others after it gets one try: the next one may well work. */
static bool again_later(struct fetch *f, bool progressed)
{
    if (f->mirror + 1 < f->n_urls && !progressed)
        return false;
    f->attempts = progressed ? 1 : f->attempts + 1;
    if (f->attempts > FETCH_MAX_ATTEMPTS)
        return false;
    f->not_before = now_seconds() + fetch_backoff(f->attempts);
    return true;
}

/* This mirror failed for good: the next one, or the end. */
static int next_mirror(struct fetch *f, int code, struct ferry_error *err)
{
    if (f->mirror + 1 < f->n_urls) {
        f->mirror++;
        f->attempts = f->expiries = f->hops = 0;
        free(f->location);
        f->location = NULL;
        aim_at_mirror(f);
        return FETCH_WAITING;
    }
    if (code == FERRY_EFAIL)
        return err_set(err, FERRY_EFAIL, "%s: %s", f->what, f->reason);
    return code;
}

static bool range_matches(const struct fetch *f)
{
    const char *cr = net_headers(f->t)->content_range;
    long long first;
    long long start = f->offset + f->done - net_received(f->t);
    return cr && sscanf(cr, "bytes %lld-", &first) == 1 && first == start;
}

/* A redirect: the next hop, held to the rules the caller's URL met. */
static int follow(struct fetch *f, const char *location, struct ferry_error *err)
{
    if (++f->hops > FETCH_MAX_HOPS) {
        snprintf(f->reason, sizeof f->reason, "more than %d redirects", FETCH_MAX_HOPS);
        return next_mirror(f, FERRY_EFAIL, err);
    }
    char *target = net_join(f->url, location);
    struct ferry_error why = {0};
    if (!net_is_http(target)) {
        snprintf(f->reason, sizeof f->reason, "redirected to %.200s, which is not http(s): refused",
                 target);
    } else if (f->check_hop && f->check_hop(target, &why) != 0) {
        snprintf(f->reason, sizeof f->reason, "redirected: %s", why.msg);
    } else {
        char here[NET_ORIGIN_MAX], there[NET_ORIGIN_MAX];
        bool same = net_origin(f->url, here, sizeof here) &&
                    net_origin(target, there, sizeof there) && strcmp(here, there) == 0;
        aim(f, target, true, !same || f->url_is_target);
        if (!same) {
            free(f->location);
            f->location = xstrdup(target);
        }
        free(target);
        return FETCH_WAITING;
    }
    free(target);
    return next_mirror(f, FERRY_EFAIL, err);
}

/* A probe's answer: the size (and time) of what a GET would bring; after a
 * one-byte GET, the total of its Content-Range. */
static int probed(struct fetch *f, struct ferry_error *err)
{
    const char *cr = net_headers(f->t)->content_range;
    const char *total = cr ? strchr(cr, '/') : NULL;
    f->probed_size = net_status(f->t) == 206 || net_status(f->t) == 416
                   ? (total && total[1] != '*' ? atoll(total + 1) : -1)
                   : net_content_length(f->t);
    f->probed_mtime = net_last_modified(f->t);
    if (f->probed_size >= 0)
        return 0;
    snprintf(f->reason, sizeof f->reason, "the server does not say the size (no Content-Length)");
    return next_mirror(f, FERRY_EFAIL, err);
}

/* Decide what an answered or failed request means. */
static int settle(struct fetch *f, struct ferry_error *err)
{
    struct net_transfer *t = f->t;
    long status = net_status(t);
    const struct net_headers *h = net_headers(t);
    long long got = net_received(t);
    enum net_outcome outcome = net_outcome(t);
    if (f->gated)
        net_gate_settle(f->ticket, t);
    f->gated = false;

    if (outcome == NET_LOCAL)
        return err_set(err, FERRY_EFAIL, "%s: %s", f->what, net_reason(t));
    if (outcome == NET_TRANSPORT) {
        snprintf(f->reason, sizeof f->reason, "%s", net_reason(t));
        return again_later(f, got > 0) ? FETCH_WAITING : next_mirror(f, FERRY_EFAIL, err);
    }
    if (status >= 300 && status < 400 && h->location)
        return follow(f, h->location, err);
    if (f->head && (status == 0 || (status >= 200 && status < 300) ||
                    (f->head_refused && status == 416)))
        return probed(f, err);
    if (f->head && !f->head_refused && (status == 403 || status == 405 || status == 501)) {
        /* Some servers (URLs signed for GET) refuse HEAD: ask for one byte. */
        f->head_refused = true;
        return FETCH_WAITING;
    }
    if (status == 0 || (status >= 200 && status < 300)) {
        bool asked_range = !(f->offset == 0 && f->done - got == 0 && f->length == f->size);
        if (status == 206 && !range_matches(f))
            return err_set(err, FERRY_EFAIL, "%s: the server answered a different range (%s)",
                           f->what, h->content_range ? h->content_range : "none");
        if (status == 200 && asked_range && f->length > 0 && f->offset + f->done - got > 0)
            return err_set(err, FERRY_EFAIL, "%s: the server ignores Range requests", f->what);
        f->hops = 0;
        if (f->done >= f->length)
            return 0;
        snprintf(f->reason, sizeof f->reason, "the answer ended after %lld of %lld bytes",
                 f->done, f->length);
        return again_later(f, got > 0) ? FETCH_WAITING : next_mirror(f, FERRY_EFAIL, err);
    }
    if (status == 403 && f->url_is_target) {
        /* A signed URL that expired: ask the Hub for a fresh one. */
        if (++f->expiries > FETCH_MAX_EXPIRIES) {
            snprintf(f->reason, sizeof f->reason, "the download URL expired %d times",
                     FETCH_MAX_EXPIRIES);
            return next_mirror(f, FERRY_EFAIL, err);
        }
        free(f->location);
        f->location = NULL;
        f->hops = 0;
        aim_at_mirror(f);
        if (f->expiries > 1)     /* the first is normal; more mean a clock or CDN problem */
            f->not_before = now_seconds() + fetch_backoff(f->expiries - 1);
        return FETCH_WAITING;
    }
    if (status == 429) {
        if (++f->throttles > FETCH_MAX_THROTTLES)
            return err_set(err, FERRY_EFAIL, "%s: rate limited %d times in a row", f->what,
                           FETCH_MAX_THROTTLES);
        double wait = h->retry_after >= 0 ? (double)h->retry_after
                    : h->ratelimit_reset >= 0 ? (double)h->ratelimit_reset + 1
                    : fetch_backoff(f->throttles);
        if (wait > FETCH_THROTTLE_CAP)
            wait = FETCH_THROTTLE_CAP;
        f->not_before = now_seconds() + wait;
        return FETCH_WAITING;
    }
    if (status == 408 || status >= 500) {
        snprintf(f->reason, sizeof f->reason, "HTTP %ld", status);
        return again_later(f, false) ? FETCH_WAITING : next_mirror(f, FERRY_EFAIL, err);
    }
    int rc = fetch_http_error(status, h->error_code, h->error_message,
                              net_auth_applies(f->auth, f->url), f->what, err);
    snprintf(f->reason, sizeof f->reason, "%s", err->msg);
    return next_mirror(f, rc, err);
}

int fetch_poll(struct fetch *f, long long *moved, struct ferry_error *err)
{
    *moved = 0;
    if (!f->t) {
        if (now_seconds() < f->not_before)
            return FETCH_WAITING;
        int admitted = net_gate_admit(f->url, &f->ticket);
        if (admitted < 0)
            return FETCH_WAITING;
        f->gated = admitted == 1;
        launch(f);
        return FETCH_WAITING;
    }
    *moved = net_take_new(f->t);
    f->done += *moved;
    if (net_outcome(f->t) == NET_RUNNING)
        return *moved ? 1 : FETCH_WAITING;
    int rc = settle(f, err);
    net_free(f->t);
    f->t = NULL;
    if (rc == FETCH_WAITING && *moved)
        return 1;
    return rc;
}

const char *fetch_location(const struct fetch *f)
{
    return f->location;
}

bool fetch_in_flight(const struct fetch *f)
{
    return f->t != NULL;
}

void fetch_probed(const struct fetch *f, long long *size, long long *mtime)
{
    *size = f->probed_size;
    *mtime = f->probed_mtime;
}

void fetch_free(struct fetch *f)
{
    if (!f)
        return;
    if (f->gated)
        net_gate_settle(f->ticket, NULL);
    net_free(f->t);
    for (size_t i = 0; i < f->n_urls; i++)
        free(f->urls[i]);
    free(f->urls);
    free(f->what);
    free(f->url);
    free(f->location);
    free(f);
}

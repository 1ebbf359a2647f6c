/* Fetching one byte range of one remote file into a local file, with every
 * recovery the network needs in one place:
 *   - redirects are followed here, at most 10 in a row, to http(s) URLs
 *     only, each hop checked as the caller checked the first URL; the token
 *     goes only to its own origin (net_auth), never to a CDN or storage;
 *   - timeouts, resets, stalls and 5xx are retried with exponential backoff
 *     and full jitter, resuming with Range from the last byte written;
 *   - a 403 from a redirect target is an expired signed URL: resolve again;
 *   - 429 waits as RateLimit/Retry-After say;
 *   - 401, 403 and 404 from the first URL are final, mapped to auth or
 *     not-found errors with the server's X-Error-Code;
 *   - mirrors are tried in turn when one fails for good.
 * A probe (head) runs the same way and learns the size a GET would bring.
 * A fetch is polled, never blocks, so a rank keeps many in flight. */
#ifndef FERRY_FETCH_H
#define FERRY_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include "ferry/err.h"
#include "ferry/net.h"

#define FETCH_WAITING 2           /* fetch_poll: nothing moved, nothing to do yet */

struct fetch_spec {
    const char *const *urls;      /* mirrors, tried in turn */
    size_t n_urls;
    const struct net_auth *auth;  /* the token and its origin, or NULL; outlives the fetch */
    /* Each redirect target must pass this (allowed_prefixes); may be NULL. */
    int (*check_hop)(const char *url, struct ferry_error *err);
    bool head;                    /* a probe: HEAD, no bytes; see fetch_probed */
    const char *location;         /* a known redirect target of urls[0], or NULL */
    const char *what;             /* the file's name in messages */
    int fd;                       /* bytes land at the same offsets in fd */
    long long offset, length;     /* the range; length 0 with size 0: an empty file */
    long long size;               /* the whole file's size */
};

struct fetch;

struct fetch *fetch_start(const struct fetch_spec *spec);

/* Returns 1 when bytes moved (*moved says how many), FETCH_WAITING when none
 * did, 0 when the range is complete, or a negative ferry_err (err says why). */
int fetch_poll(struct fetch *f, long long *moved, struct ferry_error *err);

/* Is a request of f on the wire (not waiting to try again)? */
bool fetch_in_flight(const struct fetch *f);

/* What a finished probe learnt: the size, and Last-Modified (-1: unknown). */
void fetch_probed(const struct fetch *f, long long *size, long long *mtime);

/* The redirect target the bytes came from (a CDN URL), or NULL. */
const char *fetch_location(const struct fetch *f);

void fetch_free(struct fetch *f);

/* Delay before retry number attempt (1, 2, ...): uniform in
 * [0, min(cap, base * 2^(attempt-1))] seconds ("full jitter"). */
double fetch_backoff(int attempt);

/* The ferry_err for a final HTTP answer, with a message for people:
 * X-Error-Code says which (RepoNotFound, RevisionNotFound, EntryNotFound,
 * GatedRepo), the status says the rest. */
int fetch_http_error(long status, const char *error_code, const char *error_message,
                     bool sent_token, const char *what, struct ferry_error *err);

#endif

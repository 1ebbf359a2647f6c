/* HTTP transfers on one libcurl multi handle per process, so every transfer
 * a rank runs shares one connection pool and one event loop.
 *
 * Nothing here follows redirects or retries: the caller sees every answer
 * and decides (see fetch.h).  A token travels only to the origin it belongs
 * to, whatever URL a request names (struct net_auth), and only http(s) is
 * spoken unless a request says the user typed its file:// URL.  Bodies go
 * to a file descriptor at an offset (downloads) or into memory (API
 * answers, capped). */
#ifndef FERRY_NET_H
#define FERRY_NET_H

#include <stdbool.h>
#include <stddef.h>
#include "ferry/err.h"

/* The answer's headers ferry acts on; NULL when absent. */
struct net_headers {
    char *location;
    char *etag;
    char *linked_etag;           /* X-Linked-Etag */
    char *repo_commit;           /* X-Repo-Commit */
    char *error_code;            /* X-Error-Code */
    char *error_message;         /* X-Error-Message */
    char *content_range;
    char *link_next;             /* the rel="next" URL of a Link header */
    long long linked_size;       /* X-Linked-Size, -1 when absent */
    long long retry_after;       /* Retry-After seconds, -1 when absent */
    /* RateLimit: "api";r=R;t=T and RateLimit-Policy: "fixed window";"api";q=Q;w=W */
    char ratelimit_name[16];     /* the quota's name ("api", "resolvers"); "" when absent */
    long long ratelimit_remaining;   /* r=, -1 when absent */
    long long ratelimit_reset;   /* t=, seconds to the window's end; -1 when absent */
    long long ratelimit_quota;   /* q=, -1 when absent */
    long long ratelimit_window;  /* w=, seconds; -1 when absent */
};

/* Frees what h holds and marks every header absent; also makes a zeroed
 * struct ready for net_parse_header. */
void net_headers_clear(struct net_headers *h);
/* One received header line (len bytes, not NUL-terminated, CRLF included or
 * not) into h; a status line ("HTTP/...") starts a new answer and clears h.
 * Pure: no I/O, any bytes accepted. */
void net_parse_header(struct net_headers *h, const char *line, size_t len);

#define NET_ORIGIN_MAX 512

/* Credentials and the one origin ("scheme://host:port") they may be sent
 * to: net_start attaches them to a request for that origin and to no other.
 * Either a Bearer token, or (sigv4 set) an access key pair that libcurl signs
 * each request with (AWS Signature V4; token is then the session token). */
struct net_auth {
    char *token;                 /* NULL: none; wiped when cleared */
    char *key_id, *secret;       /* sigv4's key pair; wiped when cleared */
    char sigv4[64];              /* "PROVIDER:PROVIDER2:REGION:SERVICE" ("aws:amz:us-east-1:s3"),
                                  * as CURLOPT_AWS_SIGV4 takes it; "": a Bearer token */
    char origin[NET_ORIGIN_MAX];
};

struct net_request {
    const char *url;
    const struct net_auth *auth; /* sent as a Bearer token where its origin is url's; may be NULL */
    bool local_file;             /* a file:// URL the user wrote may be read */
    bool head;                   /* HEAD instead of GET */
    const char *post_body;       /* POST this (JSON) instead of GET */
    const char *content_type;    /* of post_body; NULL: application/json */
    const char *accept;          /* an Accept header, or NULL */
    const char *method;          /* another method ("DELETE", "POST" with no body), or NULL */
    const char *const *headers;  /* more header lines ("Name: value"), NULL-terminated, or NULL */
    int put_fd;                  /* > 0 with put_length >= 0: PUT these bytes of put_fd */
    long long put_offset, put_length;
    bool put_md5;                /* keep the MD5 of the PUT's bytes (net_put_md5) */
    long long range_start;       /* with range_end >= 0: ask for these bytes */
    long long range_end;         /* inclusive; -1: no range */
    int fd;                      /* >= 0: write the body at fd_offset onwards */
    long long fd_offset;
    long long max_body;          /* most bytes accepted (memory or fd); 0: 64 MiB in memory */
    long connect_timeout;        /* seconds; 0: the default */
    /* A new connection, closed after: libcurl sends a request again by itself
     * when a reused connection dies before the answer, which must never
     * happen to a request that is not idempotent (a commit). */
    bool fresh_connection;
};

enum net_outcome {
    NET_RUNNING = 0,
    NET_ANSWERED,                /* an HTTP answer came (any status) */
    NET_TRANSPORT,               /* timeout, reset, refused, stalled: worth a retry */
    NET_LOCAL,                   /* our side failed (disk full, too much body): not retried */
};

struct net_transfer;

int net_init(struct ferry_error *err);
/* A transfer that moves under 1 KiB/s for this long is cut (and retried by
 * its caller); 0 keeps the default, 30 s.  Before net_init or after. */
void net_set_stall_timeout(long seconds);
void net_cleanup(void);

/* Start a request; it moves when net_drive runs. */
struct net_transfer *net_start(const struct net_request *req);

/* Move every transfer in flight as far as it can without blocking. */
void net_drive(void);

/* Block until a transfer can move, or at most ms milliseconds. */
void net_wait(int ms);

enum net_outcome net_outcome(const struct net_transfer *t);
/* The HTTP status (0 for file:// or before an answer). */
long net_status(const struct net_transfer *t);
const struct net_headers *net_headers(const struct net_transfer *t);
/* The body kept in memory (NUL-terminated), when fd < 0. */
const char *net_body(const struct net_transfer *t, size_t *len);
/* Body bytes received so far, and those received since the last call. */
long long net_received(const struct net_transfer *t);
long long net_take_new(struct net_transfer *t);
/* Why a transfer failed, for messages ("connection reset", "No space left"). */
const char *net_reason(const struct net_transfer *t);
/* Content-Length of the answer, -1 when unknown; Last-Modified, -1 when unknown. */
long long net_content_length(const struct net_transfer *t);
long long net_last_modified(const struct net_transfer *t);

/* The MD5 of the whole body a PUT sent (put_md5), lowercase hex; false when
 * it was not kept or not all of it went. */
bool net_put_md5(const struct net_transfer *t, char hex[33]);

/* Stop it if still running, and free it. */
void net_free(struct net_transfer *t);

/* A gate meters requests before they start: the job's budget of Hub calls
 * (limiter.h) installs one.  net only asks and reports; what is metered,
 * and how, is the gate's business.  Without a gate nothing is metered. */
struct net_gate {
    /* May a request to url start now?  0: url is not metered; 1: yes, on
     * *ticket, which must be settled once; -1: not now, ask again shortly.
     * Never blocks. */
    int (*admit)(const char *url, int *ticket);
    /* A ticket's request is over: answered with status and headers h, or
     * h NULL when no answer came (failed, cancelled, never sent). */
    void (*settle)(int ticket, long status, const struct net_headers *h);
    /* Wait about seconds, moving the gate's own traffic meanwhile. */
    void (*idle)(double seconds);
};

/* An object store's origin (of url), marked by its backend so that the
 * gate meters its requests and shares its SlowDown answers; at most a few. */
void net_mark_store(const char *url);
bool net_is_store(const char *url);

/* gate (kept, not copied) or NULL for none. */
void net_set_gate(const struct net_gate *gate);
int net_gate_admit(const char *url, int *ticket);
/* t's answer settles ticket; t NULL or unanswered: no answer came. */
void net_gate_settle(int ticket, const struct net_transfer *t);
/* Sleep about seconds; the gate's idle where there is one. */
void net_gate_idle(double seconds);

/* Start, then drive until answered or failed (for rank 0's listing calls). */
struct net_transfer *net_run(const struct net_request *req);

/* token (taken over; may be NULL) for base_url's origin only. */
void net_auth_set(struct net_auth *a, char *token, const char *base_url);
/* A key pair that signs requests to base_url's origin only (AWS SigV4 as
 * sigv4 names it, see struct net_auth); key_id, secret and session_token
 * (may be NULL) are taken over.  False, with everything wiped, when
 * base_url has no origin or sigv4 is too long. */
bool net_auth_set_sigv4(struct net_auth *a, const char *sigv4, char *key_id, char *secret,
                        char *session_token, const char *base_url);
void net_auth_clear(struct net_auth *a);
/* Does a's token go to url?  The one place that decides. */
bool net_auth_applies(const struct net_auth *a, const char *url);
/* Is url http:// or https://, the only schemes a server may send ferry to? */
bool net_is_http(const char *url);

/* The local path a file:// URL names (fresh string), or NULL for any other URL. */
char *net_file_path(const char *url);

/* "scheme://host:port" of url into buf; false for a URL without one. */
bool net_origin(const char *url, char *buf, size_t len);
/* target (absolute, or relative to base) as an absolute URL (fresh string). */
char *net_join(const char *base, const char *target);
/* path with every byte outside [A-Za-z0-9-._~/] %-escaped (fresh string);
 * keep_slash false escapes '/' too. */
char *net_escape(const char *path, bool keep_slash);

#endif

#include "ferry/net.h"
#include "ferry/xalloc.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define NET_DEFAULT_MAX_BODY (64LL << 20)
#define NET_CONNECT_TIMEOUT 30L
#define NET_ERROR_BODY_MAX 65536
/* A transfer slower than this for this long is cut and retried: a stalled
 * connection must not hold a chunk forever. */
#define NET_LOW_SPEED_BYTES 1024L
#define NET_LOW_SPEED_SECONDS 30L

struct net_transfer {
    CURL *easy;
    struct curl_slist *headers_out;
    char *auth_header;               /* wiped before it is freed */
    struct net_headers headers;
    enum net_outcome outcome;
    long status;
    int fd;
    long long fd_offset, max_body;
    int put_fd;                      /* the body of a PUT, read with pread */
    long long put_offset, put_length, put_sent;
    EVP_MD_CTX *put_md5;             /* the MD5 of the bytes sent, when asked for */
    char *body;
    size_t body_len, body_cap;
    long long received, reported;
    int local_errno;                 /* a write to fd failed */
    bool too_long;
    char reason[CURL_ERROR_SIZE];
};

static CURLM *multi;
static long stall_seconds = NET_LOW_SPEED_SECONDS;

void net_set_stall_timeout(long seconds)
{
    stall_seconds = seconds > 0 ? seconds : NET_LOW_SPEED_SECONDS;
}

int net_init(struct ferry_error *err)
{
    if (multi)
        return 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return err_set(err, FERRY_EFAIL, "libcurl could not start");
    multi = curl_multi_init();
    if (!multi)
        return err_set(err, FERRY_EFAIL, "libcurl could not make a multi handle");
    /* Separate connections, not HTTP/2 streams on one: a single TCP
     * connection is what limits a transfer across a WAN. */
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
    return 0;
}

void net_cleanup(void)
{
    if (!multi)
        return;
    curl_multi_cleanup(multi);
    multi = NULL;
    curl_global_cleanup();
}

void net_headers_clear(struct net_headers *h)
{
    free(h->location);
    free(h->etag);
    free(h->linked_etag);
    free(h->repo_commit);
    free(h->error_code);
    free(h->error_message);
    free(h->content_range);
    free(h->link_next);
    memset(h, 0, sizeof *h);
    h->linked_size = h->retry_after = -1;
    h->ratelimit_remaining = h->ratelimit_reset = h->ratelimit_quota = -1;
    h->ratelimit_window = -1;
}

/* A Link header's rel="next" target: <URL>; rel="next". */
static char *link_next(const char *value)
{
    const char *open = strchr(value, '<');
    const char *close = open ? strchr(open, '>') : NULL;
    if (!close || !strstr(close, "rel=\"next\""))
        return NULL;
    return xstrndup(open + 1, (size_t)(close - open - 1));
}

/* The count whose digits start text, or -1: a server's "-5", an HTTP date
 * or "99999999999999999999" is no count. */
static long long count_at(const char *text)
{
    if (!isdigit((unsigned char)*text))
        return -1;
    errno = 0;
    long long n = strtoll(text, NULL, 10);
    return errno == ERANGE ? -1 : n;
}

/* The number after ";key=" in a structured header, or -1. */
static long long param(const char *value, const char *key)
{
    char needle[8];
    snprintf(needle, sizeof needle, ";%s=", key);
    const char *at = strstr(value, needle);
    return at ? count_at(at + strlen(needle)) : -1;
}

/* The last quoted name before the parameters: "api" in both
 *   RateLimit: "api";r=0;t=123
 *   RateLimit-Policy: "fixed window";"api";q=2500;w=300 */
static void ratelimit_name(const char *value, char *name, size_t len)
{
    const char *end = strchr(value, ';');
    while (end && end[1] == '"')
        end = strchr(end + 1, ';');
    const char *close = end ? end - 1 : value + strlen(value) - 1;
    if (close <= value || *close != '"')
        return;
    const char *open = close - 1;
    while (open >= value && *open != '"')
        open--;
    size_t n = (size_t)(close - open - 1);
    if (open < value || n == 0 || n >= len)
        return;
    memcpy(name, open + 1, n);
    name[n] = '\0';
}

static void set_header(struct net_headers *h, const char *name, size_t name_len,
                       const char *value)
{
#define IS(n) (name_len == sizeof(n) - 1 && strncasecmp(name, n, name_len) == 0)
    char **slot = NULL;
    if (IS("Location"))
        slot = &h->location;
    else if (IS("ETag"))
        slot = &h->etag;
    else if (IS("X-Linked-Etag"))
        slot = &h->linked_etag;
    else if (IS("X-Repo-Commit"))
        slot = &h->repo_commit;
    else if (IS("X-Error-Code"))
        slot = &h->error_code;
    else if (IS("X-Error-Message"))
        slot = &h->error_message;
    else if (IS("Content-Range"))
        slot = &h->content_range;
    else if (IS("X-Linked-Size"))
        h->linked_size = count_at(value);
    else if (IS("Retry-After"))
        h->retry_after = count_at(value);
    else if (IS("RateLimit")) {
        ratelimit_name(value, h->ratelimit_name, sizeof h->ratelimit_name);
        h->ratelimit_remaining = param(value, "r");
        h->ratelimit_reset = param(value, "t");
    } else if (IS("RateLimit-Policy")) {
        h->ratelimit_quota = param(value, "q");
        h->ratelimit_window = param(value, "w");
    }
    else if (IS("Link")) {
        char *next = link_next(value);
        if (next) {
            free(h->link_next);
            h->link_next = next;
        }
    }
#undef IS
    if (slot) {
        free(*slot);
        *slot = xstrdup(value);
    }
}

void net_parse_header(struct net_headers *h, const char *line, size_t len)
{
    /* A new status line starts a new answer (after a 100 Continue). */
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        net_headers_clear(h);
        return;
    }
    const char *colon = memchr(line, ':', len);
    if (!colon)
        return;
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    char *value = xstrndup(v, (size_t)(end - v));
    set_header(h, line, (size_t)(colon - line), value);
    free(value);
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    struct net_transfer *t = ud;
    net_parse_header(&t->headers, data, size * n);
    return size * n;
}

/* An error answer's body (an HTML page, a JSON message) must never land in
 * the file: only success bodies go to fd.  Error bodies are kept, capped, for
 * messages. */
static size_t on_error_body(struct net_transfer *t, const char *data, size_t len)
{
    if (t->body_len + len <= NET_ERROR_BODY_MAX) {
        xgrow((void **)&t->body, &t->body_cap, t->body_len + len + 1, 1);
        memcpy(t->body + t->body_len, data, len);
        t->body_len += len;
        t->body[t->body_len] = '\0';
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct net_transfer *t = ud;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    if (t->fd >= 0 && status != 0 && (status < 200 || status > 299))
        return on_error_body(t, data, len);
    if (t->received + (long long)len > t->max_body) {
        t->too_long = true;
        return 0;
    }
    if (t->fd >= 0) {
        for (size_t off = 0; off < len;) {
            ssize_t w = pwrite(t->fd, data + off, len - off, t->fd_offset + t->received + (long long)off);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                t->local_errno = errno;
                return 0;
            }
            off += (size_t)w;
        }
    } else {
        xgrow((void **)&t->body, &t->body_cap, t->body_len + len + 1, 1);
        memcpy(t->body + t->body_len, data, len);
        t->body_len += len;
        t->body[t->body_len] = '\0';
    }
    t->received += (long long)len;
    return len;
}

static size_t on_put_body(char *buf, size_t size, size_t n, void *ud)
{
    struct net_transfer *t = ud;
    long long want = t->put_length - t->put_sent;
    if (want > (long long)(size * n))
        want = (long long)(size * n);
    if (want <= 0)
        return 0;
    ssize_t got = pread(t->put_fd, buf, (size_t)want, t->put_offset + t->put_sent);
    if (got <= 0) {
        t->local_errno = got < 0 ? errno : EIO;    /* the file shrank under us */
        return CURL_READFUNC_ABORT;
    }
    t->put_sent += got;
    if (t->put_md5)
        EVP_DigestUpdate(t->put_md5, buf, (size_t)got);
    return (size_t)got;
}

/* A PUT that libcurl sends again (after a 3xx or a 401) starts over. */
static int on_put_seek(void *ud, curl_off_t offset, int origin)
{
    struct net_transfer *t = ud;
    /* libcurl rewinds only to send the body again from its start. */
    if (origin != SEEK_SET || (t->put_md5 && offset != 0))
        return CURL_SEEKFUNC_CANTSEEK;
    t->put_sent = (long long)offset;
    if (t->put_md5)
        EVP_DigestInit_ex(t->put_md5, EVP_md5(), NULL);
    return CURL_SEEKFUNC_OK;
}

/* The request's credentials: a Bearer header, or libcurl's SigV4 signature
 * over the method, path, query and headers.  The payload is declared
 * unsigned: a part's bytes are read as they are sent, and TLS and the
 * content checksums (see the backends) guard them. */
static void attach_auth(struct net_transfer *t, const struct net_auth *a)
{
    if (!a->sigv4[0]) {
        /* Kept in our own buffer so it can be wiped; never logged. */
        t->auth_header = xasprintf("Authorization: Bearer %s", a->token);
        t->headers_out = curl_slist_append(t->headers_out, t->auth_header);
        return;
    }
    /* "aws:amz:..." signs X-Amz-Date; the payload hash goes in x-amz-content-sha256. */
    char provider[16] = "amz";
    const char *p2 = strchr(a->sigv4, ':');
    if (p2 && p2[1] && p2[1] != ':')
        snprintf(provider, sizeof provider, "%.*s", (int)strcspn(p2 + 1, ":"), p2 + 1);
    char hash[64];
    snprintf(hash, sizeof hash, "x-%s-content-sha256: UNSIGNED-PAYLOAD", provider);
    t->headers_out = curl_slist_append(t->headers_out, hash);
    if (a->token) {
        t->auth_header = xasprintf("x-%s-security-token: %s", provider, a->token);
        t->headers_out = curl_slist_append(t->headers_out, t->auth_header);
    }
    curl_easy_setopt(t->easy, CURLOPT_AWS_SIGV4, a->sigv4);
    curl_easy_setopt(t->easy, CURLOPT_USERNAME, a->key_id);
    curl_easy_setopt(t->easy, CURLOPT_PASSWORD, a->secret);
}

struct net_transfer *net_start(const struct net_request *req)
{
    struct net_transfer *t = xcalloc(1, sizeof *t);
    net_headers_clear(&t->headers);
    t->fd = req->fd;
    t->fd_offset = req->fd_offset;
    t->max_body = req->max_body > 0 ? req->max_body : NET_DEFAULT_MAX_BODY;
    t->easy = curl_easy_init();
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->reason);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    /* A server's answer never makes ferry read a local file: file:// only
     * where the user wrote it. */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, req->local_file ? "http,https,file" : "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_FILETIME, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, req->connect_timeout > 0 ? req->connect_timeout
                                                                         : NET_CONNECT_TIMEOUT);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, NET_LOW_SPEED_BYTES);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, stall_seconds);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ferry/" FERRY_VERSION);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
    if (req->head)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    if (req->fresh_connection) {
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
    if (req->post_body) {
        char type[128];
        snprintf(type, sizeof type, "Content-Type: %s",
                 req->content_type ? req->content_type : "application/json");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(req->post_body));
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->post_body);
        t->headers_out = curl_slist_append(t->headers_out, type);
    }
    if (req->put_fd > 0 && req->put_length >= 0) {
        t->put_fd = req->put_fd;
        t->put_offset = req->put_offset;
        t->put_length = req->put_length;
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_put_body);
        curl_easy_setopt(e, CURLOPT_READDATA, t);
        curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_put_seek);
        curl_easy_setopt(e, CURLOPT_SEEKDATA, t);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->put_length);
        if (req->put_md5) {
            t->put_md5 = EVP_MD_CTX_new();
            EVP_DigestInit_ex(t->put_md5, EVP_md5(), NULL);
        }
        /* No "Expect: 100-continue" round trip before each part; but
         * libcurl 7.88 signs a removed header as if it were sent, so a
         * SigV4-signed PUT keeps it (and the store can refuse a part
         * before its bytes go). */
        bool signed_v4 = net_auth_applies(req->auth, req->url) && req->auth->sigv4[0];
        if (!signed_v4)
            t->headers_out = curl_slist_append(t->headers_out, "Expect:");
    }
    if (req->accept) {
        char accept[128];
        snprintf(accept, sizeof accept, "Accept: %s", req->accept);
        t->headers_out = curl_slist_append(t->headers_out, accept);
    }
    if (req->range_end >= 0) {
        char range[64];
        snprintf(range, sizeof range, "%lld-%lld", req->range_start, req->range_end);
        curl_easy_setopt(e, CURLOPT_RANGE, range);
    }
    if (req->method)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    for (const char *const *h = req->headers; h && *h; h++)
        t->headers_out = curl_slist_append(t->headers_out, *h);
    if (net_auth_applies(req->auth, req->url))
        attach_auth(t, req->auth);
    if (t->headers_out)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers_out);
    curl_multi_add_handle(multi, e);
    return t;
}

static void wipe(char *s)
{
    if (s) {
        volatile char *p = s;
        while (*p)
            *p++ = 0;
    }
}

static void finish(struct net_transfer *t, CURLcode code)
{
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
    if (t->local_errno) {
        t->outcome = NET_LOCAL;
        snprintf(t->reason, sizeof t->reason, "%s", strerror(t->local_errno));
    } else if (t->too_long) {
        t->outcome = NET_LOCAL;
        snprintf(t->reason, sizeof t->reason, "the server sent more than %lld bytes", t->max_body);
    } else if (code == CURLE_OK) {
        t->outcome = NET_ANSWERED;
    } else if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL ||
               code == CURLE_FILE_COULDNT_READ_FILE || code == CURLE_OUT_OF_MEMORY) {
        t->outcome = NET_LOCAL;
    } else {
        t->outcome = NET_TRANSPORT;
    }
    if (!t->reason[0])
        snprintf(t->reason, sizeof t->reason, "%s", curl_easy_strerror(code));
}

void net_drive(void)
{
    int running, left;
    curl_multi_perform(multi, &running);
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct net_transfer *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode code = msg->data.result;
        curl_multi_remove_handle(multi, msg->easy_handle);
        if (t)
            finish(t, code);
    }
}

void net_wait(int ms)
{
    curl_multi_poll(multi, NULL, 0, ms, NULL);
}

enum net_outcome net_outcome(const struct net_transfer *t) { return t->outcome; }
long net_status(const struct net_transfer *t) { return t->status; }
const struct net_headers *net_headers(const struct net_transfer *t) { return &t->headers; }
long long net_received(const struct net_transfer *t) { return t->received; }
const char *net_reason(const struct net_transfer *t) { return t->reason; }

const char *net_body(const struct net_transfer *t, size_t *len)
{
    if (len)
        *len = t->body_len;
    return t->body ? t->body : "";
}

long long net_take_new(struct net_transfer *t)
{
    long long n = t->received - t->reported;
    t->reported = t->received;
    return n;
}

long long net_content_length(const struct net_transfer *t)
{
    curl_off_t len = -1;
    curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    return (long long)len;
}

long long net_last_modified(const struct net_transfer *t)
{
    curl_off_t when = -1;
    curl_easy_getinfo(t->easy, CURLINFO_FILETIME_T, &when);
    return (long long)when;
}

void net_free(struct net_transfer *t)
{
    if (!t)
        return;
    if (t->outcome == NET_RUNNING)
        curl_multi_remove_handle(multi, t->easy);
    curl_easy_cleanup(t->easy);
    EVP_MD_CTX_free(t->put_md5);
    for (struct curl_slist *s = t->headers_out; s; s = s->next)
        wipe(s->data);
    curl_slist_free_all(t->headers_out);
    wipe(t->auth_header);
    free(t->auth_header);
    net_headers_clear(&t->headers);
    free(t->body);
    free(t);
}

struct net_transfer *net_run(const struct net_request *req)
{
    struct net_transfer *t = net_start(req);
    while (t->outcome == NET_RUNNING) {
        net_drive();
        if (t->outcome == NET_RUNNING)
            net_wait(50);
    }
    return t;
}

/* ---- the gate -------------------------------------------------------------- */

static const struct net_gate *gate;

void net_set_gate(const struct net_gate *g)
{
    gate = g;
}

int net_gate_admit(const char *url, int *ticket)
{
    return gate ? gate->admit(url, ticket) : 0;
}

void net_gate_settle(int ticket, const struct net_transfer *t)
{
    if (!gate)
        return;
    if (t && t->outcome == NET_ANSWERED)
        gate->settle(ticket, net_status(t), net_headers(t));
    else
        gate->settle(ticket, 0, NULL);
}

void net_gate_idle(double seconds)
{
    if (gate) {
        gate->idle(seconds);
        return;
    }
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}

/* url's "scheme://host:port" as libcurl reads it (default port filled in,
 * lower case), so that no spelling of a URL (user info, an explicit default
 * port, odd case) can pass for another origin. */
static bool canonical_origin(const char *url, char *buf, size_t len)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
    if (ok)
        ok = snprintf(buf, len, "%s://%s:%s", scheme, host, port) < (int)len;
    for (char *p = buf; ok && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

void net_auth_set(struct net_auth *a, char *token, const char *base_url)
{
    net_auth_clear(a);
    if (token && canonical_origin(base_url, a->origin, sizeof a->origin)) {
        a->token = token;
        return;
    }
    if (token) {
        wipe(token);
        free(token);
    }
}

static void wipe_free(char **s)
{
    wipe(*s);
    free(*s);
    *s = NULL;
}

void net_auth_clear(struct net_auth *a)
{
    wipe_free(&a->token);
    wipe_free(&a->key_id);
    wipe_free(&a->secret);
    a->sigv4[0] = '\0';
    a->origin[0] = '\0';
}

bool net_auth_set_sigv4(struct net_auth *a, const char *sigv4, char *key_id, char *secret,
                        char *session_token, const char *base_url)
{
    net_auth_clear(a);
    a->key_id = key_id;
    a->secret = secret;
    a->token = session_token;
    if (!key_id || !secret || strlen(sigv4) >= sizeof a->sigv4 ||
        !canonical_origin(base_url, a->origin, sizeof a->origin)) {
        net_auth_clear(a);
        return false;
    }
    strcpy(a->sigv4, sigv4);
    return true;
}

bool net_auth_applies(const struct net_auth *a, const char *url)
{
    char origin[NET_ORIGIN_MAX];
    return a && (a->sigv4[0] ? a->key_id != NULL : a->token != NULL) && a->origin[0] &&
           canonical_origin(url, origin, sizeof origin) &&
           strcmp(origin, a->origin) == 0;
}

bool net_is_http(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

char *net_file_path(const char *url)
{
    if (strncasecmp(url, "file://", 7) != 0)
        return NULL;
    CURLU *u = curl_url();
    char *path = NULL, *out = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) == CURLUE_OK)
        out = xstrdup(path);
    curl_free(path);
    curl_url_cleanup(u);
    return out;
}

bool net_origin(const char *url, char *buf, size_t len)
{
    const char *scheme_end = strstr(url, "://");
    if (!scheme_end)
        return false;
    const char *host = scheme_end + 3;
    size_t n = strcspn(host, "/?#");
    snprintf(buf, len, "%.*s", (int)(host + n - url), url);
    for (char *p = buf; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return true;
}

char *net_join(const char *base, const char *target)
{
    if (strstr(target, "://"))
        return xstrdup(target);
    char origin[512];
    if (!net_origin(base, origin, sizeof origin))
        return xstrdup(target);
    if (target[0] == '/')
        return xasprintf("%s%s", origin, target);
    /* Relative to the base's directory. */
    const char *path = base + strlen(origin);
    size_t dir = strcspn(path, "?#");
    while (dir > 0 && path[dir - 1] != '/')
        dir--;
    return xasprintf("%s%.*s%s", origin, (int)dir, path, target);
}

char *net_escape(const char *path, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = xmalloc(strlen(path) * 3 + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (isalnum(*p) || strchr("-._~", *p) || (keep_slash && *p == '/')) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

bool net_put_md5(const struct net_transfer *t, char hex[33])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (!t->put_md5 || t->put_sent != t->put_length)
        return false;
    EVP_MD_CTX *copy = EVP_MD_CTX_new();
    bool ok = EVP_MD_CTX_copy_ex(copy, t->put_md5) && EVP_DigestFinal_ex(copy, digest, &len) &&
              len == 16;
    EVP_MD_CTX_free(copy);
    for (unsigned i = 0; ok && i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return ok;
}

#define NET_STORES_MAX 8
static char store_origins[NET_STORES_MAX][NET_ORIGIN_MAX];
static int n_store_origins;

void net_mark_store(const char *url)
{
    char origin[NET_ORIGIN_MAX];
    if (!canonical_origin(url, origin, sizeof origin) || net_is_store(url) ||
        n_store_origins == NET_STORES_MAX)
        return;
    strcpy(store_origins[n_store_origins++], origin);
}

bool net_is_store(const char *url)
{
    char origin[NET_ORIGIN_MAX];
    if (n_store_origins == 0 || !canonical_origin(url, origin, sizeof origin))
        return false;
    for (int i = 0; i < n_store_origins; i++)
        if (strcmp(store_origins[i], origin) == 0)
            return true;
    return false;
}

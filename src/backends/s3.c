/* Object stores that speak the S3 protocol: s3://BUCKET/PREFIX (AWS S3 and
 * S3-compatible stores: MinIO, Ceph RGW) and gs://BUCKET/PREFIX (Google
 * Cloud Storage through its XML API, which is S3's).
 *
 * Requests are signed by libcurl (CURLOPT_AWS_SIGV4, see net_auth) with the
 * key pair found the way the provider's own tools find it, or carry a Google
 * OAuth token (gauth.h); neither is ever sent to another origin.
 *
 * As a source: the listing (ListObjectsV2 pages; the folders under the
 * prefix dealt over ranks when there are several) is made once and shared,
 * and reads are ranged GETs through fetch, like any remote source.  An
 * object stored in one piece has its MD5 as ETag, which the copy is checked
 * against before it is renamed into place.
 *
 * As a destination: an object up to the part size goes in one PUT; a bigger
 * one as a multipart upload whose parts any rank sends, completed by rank 0
 * once they are all in (finish_batch), aborted when one cannot be sent.  The
 * store's answer to each PUT is checked against the MD5 of the bytes sent.
 * A run killed mid-upload leaves its upload open: the next run finds it
 * (ListMultipartUploads), keeps the parts whose ETag is the MD5 of the same
 * bytes here (ListParts), and sends only the rest. */
#include "remote.h"
#include "ferry/comm.h"
#include "ferry/fetch.h"
#include "ferry/fsutil.h"
#include "ferry/gauth.h"
#include "ferry/hash.h"
#include "ferry/ini.h"
#include "ferry/log.h"
#include "ferry/net.h"
#include "ferry/xalloc.h"
#include "ferry/xmlscan.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S3_ATTEMPTS 6                        /* tries of one request */
#define S3_MIN_PART (5LL << 20)              /* S3's smallest part but the last */
#define S3_MAX_PARTS 10000
#define S3_DEFAULT_PART (64LL << 20)
#define S3_LIST_BODY_MAX (16LL << 20)
#define S3_SPLIT_MIN_SCENES 2                /* list folders on several ranks from this many */

struct s3_backend {
    struct remote_backend remote;    /* first: the listing, reads, the credentials */
    bool google;
    char *bucket;
    char *prefix;                    /* "" or "a/b/": keys are prefix + path */
    char *bucket_url;                /* an object is bucket_url + "/" + escaped key */
    char *list_url;                  /* bucket-level requests: list_url + query */
    char *creds_from;                /* where the credentials came from, for messages */
    struct gauth *gauth;             /* gs:// with an OAuth token */
    long long token_expires;
};

static struct s3_backend *s3_of(struct backend *b)
{
    return (struct s3_backend *)b;
}

static bool s3_claims(const char *location)
{
    return strncmp(location, "s3://", 5) == 0 || strncmp(location, "gs://", 5) == 0;
}

/* ---- where and who -------------------------------------------------------- */

static char *env_or_null(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? xstrdup(v) : NULL;
}

/* ~/NAME, or the file an environment variable names instead. */
static char *home_file(const char *env, const char *name)
{
    const char *v = getenv(env);
    if (v && *v)
        return xstrdup(v);
    const char *home = getenv("HOME");
    return home && *home ? xasprintf("%s/%s", home, name) : NULL;
}

/* One INI file's value, or NULL. */
static char *file_value(const char *path, const char *section, const char *key)
{
    size_t len = 0;
    char *text = path ? ini_load(path, &len) : NULL;
    char *value = text ? ini_get(text, len, section, key) : NULL;
    if (text) {
        memset(text, 0, len);        /* it may hold secrets */
        free(text);
    }
    if (value && !*value) {
        free(value);
        value = NULL;
    }
    return value;
}

/* The AWS CLI's files for profile: credentials first, then config. */
struct aws_files {
    char *credentials, *config;
    char *profile, *config_section;
};

static void aws_files_find(struct aws_files *f)
{
    f->credentials = home_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    f->config = home_file("AWS_CONFIG_FILE", ".aws/config");
    f->profile = env_or_null("AWS_PROFILE");
    if (!f->profile)
        f->profile = env_or_null("AWS_DEFAULT_PROFILE");
    if (!f->profile)
        f->profile = xstrdup("default");
    f->config_section = strcmp(f->profile, "default") == 0 ? xstrdup("default")
                                                          : xasprintf("profile %s", f->profile);
}

static void aws_files_free(struct aws_files *f)
{
    free(f->credentials);
    free(f->config);
    free(f->profile);
    free(f->config_section);
}

static char *aws_setting(const struct aws_files *f, const char *key)
{
    char *v = file_value(f->credentials, f->profile, key);
    return v ? v : file_value(f->config, f->config_section, key);
}

/* "http://host:port" from an endpoint given with or without its scheme;
 * NULL unless http(s). */
static char *endpoint_url(const char *given)
{
    char *url = strstr(given, "://") ? xstrdup(given) : xasprintf("http://%s", given);
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
    if (!net_is_http(url)) {
        free(url);
        return NULL;
    }
    return url;
}

static bool bucket_name_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 222)
        return false;
    for (const char *p = b; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '.' ||
              *p == '-' || *p == '_'))
            return false;
    return true;
}

/* The bucket's URLs: virtual-host addressing on AWS itself (a bucket name
 * with dots would not match the certificate, so those go path-style),
 * path-style on any other endpoint unless its config says virtual. */
static void set_urls(struct s3_backend *sb, const char *endpoint, bool virtual_host)
{
    if (virtual_host) {
        const char *host = strstr(endpoint, "://") + 3;
        sb->bucket_url = xasprintf("%.*s%s.%s", (int)(host - endpoint), endpoint, sb->bucket, host);
        sb->list_url = xasprintf("%s/?", sb->bucket_url);
    } else {
        sb->bucket_url = xasprintf("%s/%s", endpoint, sb->bucket);
        sb->list_url = xasprintf("%s?", sb->bucket_url);
    }
}

static int s3_configure(struct s3_backend *sb, const char *location, struct ferry_error *err)
{
    struct aws_files f;
    aws_files_find(&f);
    char *region = env_or_null("AWS_REGION");
    if (!region)
        region = env_or_null("AWS_DEFAULT_REGION");
    if (!region)
        region = aws_setting(&f, "region");
    if (!region)
        region = xstrdup("us-east-1");
    const char *given = backend_endpoint();
    char *endpoint_given = given ? xstrdup(given) : env_or_null("AWS_ENDPOINT_URL_S3");
    if (!endpoint_given)
        endpoint_given = env_or_null("AWS_ENDPOINT_URL");
    if (!endpoint_given)
        endpoint_given = aws_setting(&f, "endpoint_url");
    char *style = aws_setting(&f, "addressing_style");
    int rc = 0;
    char *endpoint = endpoint_given ? endpoint_url(endpoint_given)
                                    : xasprintf("https://s3.%s.amazonaws.com", region);
    if (!endpoint) {
        rc = err_set(err, FERRY_EUSAGE, "%s: the S3 endpoint must be an http(s) URL",
                     location);
    } else {
        bool virtual_host = endpoint_given ? style && strcmp(style, "virtual") == 0
                                           : !strchr(sb->bucket, '.') &&
                                                 !(style && strcmp(style, "path") == 0);
        set_urls(sb, endpoint, virtual_host);
    }

    /* Keys: the environment, then the profile's files; none: anonymous. */
    char *key_id = env_or_null("AWS_ACCESS_KEY_ID"), *secret = env_or_null("AWS_SECRET_ACCESS_KEY");
    char *session = NULL;
    if (key_id && secret) {
        session = env_or_null("AWS_SESSION_TOKEN");
        sb->creds_from = xstrdup("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    } else {
        gauth_wipe_free(key_id);
        gauth_wipe_free(secret);
        key_id = aws_setting(&f, "aws_access_key_id");
        secret = aws_setting(&f, "aws_secret_access_key");
        session = aws_setting(&f, "aws_session_token");
        sb->creds_from = xasprintf("profile '%s' of %s", f.profile,
                                   f.credentials ? f.credentials : "~/.aws/credentials");
    }
    if (rc == 0 && key_id && secret) {
        char sigv4[64];
        snprintf(sigv4, sizeof sigv4, "aws:amz:%s:s3", region);
        if (!net_auth_set_sigv4(&sb->remote.auth, sigv4, key_id, secret, session, endpoint))
            rc = err_set(err, FERRY_EUSAGE, "%s: region '%s' is too long",
                         location, region);
    } else {
        gauth_wipe_free(key_id);
        gauth_wipe_free(secret);
        gauth_wipe_free(session);
        free(sb->creds_from);
        sb->creds_from = xstrdup("no credentials (set AWS_ACCESS_KEY_ID and "
                                 "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)");
    }
    FLOG(LOG_DEBUG, "%s: %s, region %s, %s", location,
         sb->bucket_url ? sb->bucket_url : "-", region, sb->creds_from);
    free(endpoint);
    free(endpoint_given);
    free(style);
    free(region);
    aws_files_free(&f);
    return rc;
}

/* gs://: HMAC keys (the XML API takes S3's signature), else a Google OAuth
 * token, else anonymous (public buckets). */
static int gs_configure(struct s3_backend *sb, const char *location, struct ferry_error *err)
{
    const char *given = backend_endpoint();
    char *endpoint_given = given ? xstrdup(given) : env_or_null("STORAGE_EMULATOR_HOST");
    char *endpoint = endpoint_given ? endpoint_url(endpoint_given)
                                    : xstrdup("https://storage.googleapis.com");
    free(endpoint_given);
    if (!endpoint)
        return err_set(err, FERRY_EUSAGE, "%s: the storage endpoint must be an http(s) URL",
                       location);
    set_urls(sb, endpoint, false);
    char *key_id = env_or_null("GS_ACCESS_KEY_ID"), *secret = env_or_null("GS_SECRET_ACCESS_KEY");
    const char *from = "GS_ACCESS_KEY_ID and GS_SECRET_ACCESS_KEY";
    char *boto = NULL;
    if (!key_id || !secret) {
        gauth_wipe_free(key_id);
        gauth_wipe_free(secret);
        boto = home_file("BOTO_CONFIG", ".boto");
        key_id = file_value(boto, "Credentials", "gs_access_key_id");
        secret = file_value(boto, "Credentials", "gs_secret_access_key");
        from = boto;
    }
    int rc = 0;
    if (key_id && secret) {
        sb->creds_from = xasprintf("HMAC key from %s", from);
        net_auth_set_sigv4(&sb->remote.auth, "aws:amz:auto:s3", key_id, secret, NULL, endpoint);
    } else {
        gauth_wipe_free(key_id);
        gauth_wipe_free(secret);
        rc = gauth_open(&sb->gauth, err);
        sb->creds_from = sb->gauth ? xstrdup(gauth_describe(sb->gauth))
                                   : xstrdup("no credentials (set GOOGLE_APPLICATION_CREDENTIALS, "
                                             "or GS_ACCESS_KEY_ID and GS_SECRET_ACCESS_KEY)");
    }
    FLOG(LOG_DEBUG, "%s: %s, %s", location, sb->bucket_url, sb->creds_from);
    free(boto);
    free(endpoint);
    return rc;
}

/* A Google token good for a while yet (a no-op for signed requests). */
static int fresh_token(struct s3_backend *sb, struct ferry_error *err)
{
    if (!sb->gauth || (sb->remote.auth.token && time(NULL) + 60 < sb->token_expires))
        return 0;
    const char *token;
    int rc = gauth_token(sb->gauth, &token, &sb->token_expires, err);
    if (rc == 0)
        net_auth_set(&sb->remote.auth, xstrdup(token), sb->bucket_url);
    return rc;
}

static int s3_open(const char *location, struct backend **out, struct ferry_error *err)
{
    int rc = backend_check_allowed(location, err);
    if (rc != 0)
        return rc;
    struct s3_backend *sb = xcalloc(1, sizeof *sb);
    sb->google = location[0] == 'g';
    const char *rest = location + 5, *slash = strchr(rest, '/');
    sb->bucket = slash ? xstrndup(rest, (size_t)(slash - rest)) : xstrdup(rest);
    const char *prefix = slash ? slash + 1 : "";
    while (*prefix == '/')
        prefix++;
    size_t n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '/')
        n--;
    sb->prefix = n ? xasprintf("%.*s/", (int)n, prefix) : xstrdup("");
    char *trimmed = xstrndup(prefix, n);
    const char *why = NULL;
    if (!bucket_name_ok(sb->bucket))
        rc = err_set(err, FERRY_EUSAGE, "%s: '%s' is not a bucket name (3 to 222 of a-z 0-9 . - _)",
                     location, sb->bucket);
    else if (n && !fs_relpath_safe(trimmed, &why))
        rc = err_set(err, FERRY_EUSAGE, "%s: the prefix is not a safe path: %s", location, why);
    else
        rc = sb->google ? gs_configure(sb, location, err) : s3_configure(sb, location, err);
    free(trimmed);
    if (rc == 0) {
        net_mark_store(sb->bucket_url);
        char *escaped = net_escape(sb->prefix, true);
        sb->remote.url_prefix = xasprintf("%s/%s", sb->bucket_url, escaped);
        free(escaped);
    }
    if (rc != 0) {
        sb->remote.base.ops = &backend_s3;
        backend_s3.close(&sb->remote.base);
        return rc;
    }
    *out = &sb->remote.base;
    return 0;
}

/* ---- one request, with retries -------------------------------------------- */

/* An S3 error document's code and message into buf, for people. */
static void s3_error_text(const struct net_transfer *t, char *buf, size_t len)
{
    size_t n;
    const char *body = net_body(t, &n);
    char *code = body ? xml_text(body, n, "Code") : NULL;
    char *message = body ? xml_text(body, n, "Message") : NULL;
    snprintf(buf, len, "HTTP %ld%s%s%s%s", net_status(t), code ? " " : "", code ? code : "",
             message ? ": " : "", message ? message : "");
    free(code);
    free(message);
}


/* A failed answer as a ferry error about what. */
static int answer_error(struct s3_backend *sb, const struct net_transfer *t, const char *what,
                        struct ferry_error *err)
{
    if (net_outcome(t) != NET_ANSWERED)
        return err_set(err, FERRY_EFAIL, "%s: %s", what, net_reason(t));
    char text[FERRY_ERRMSG_MAX / 2];
    s3_error_text(t, text, sizeof text);
    long status = net_status(t);
    if (status == 401 || status == 403)
        return err_set(err, FERRY_EAUTH, "%s: refused (%s); credentials: %s", what, text,
                       sb->creds_from);
    if (status == 404 && strstr(text, "NoSuchBucket"))
        return err_set(err, FERRY_ENOTFOUND, "%s: no bucket '%s' (%s)", what, sb->bucket, text);
    if (status == 404)
        return err_set(err, FERRY_ENOTFOUND, "%s: not found (%s)", what, text);
    return err_set(err, FERRY_EFAIL, "%s: %s", what, text);
}

/* Run one request until it is answered for good: transport failures, 5xx
 * (InternalError, SlowDown) and 429 are tried again with backoff.  Returns
 * the answered transfer (2xx) in *out, or an error about what. */
static int s3_call(struct s3_backend *sb, struct net_request *req, const char *what,
                   struct net_transfer **out, struct ferry_error *err)
{
    *out = NULL;
    req->auth = &sb->remote.auth;
    for (int attempt = 1;; attempt++) {
        int rc = fresh_token(sb, err);
        if (rc != 0)
            return rc;
        int ticket, admitted;
        while ((admitted = net_gate_admit(req->url, &ticket)) < 0)
            net_gate_idle(0.05);
        struct net_transfer *t = net_run(req);
        if (admitted > 0)
            net_gate_settle(ticket, t);
        long status = net_status(t);
        if (net_outcome(t) == NET_ANSWERED && status >= 200 && status < 300) {
            /* CompleteMultipartUpload can fail after a 200: the error is the body. */
            size_t n;
            const char *body = net_body(t, &n);
            size_t pos = 0, at, len;
            if (!(body && n && xml_element(body, n < 512 ? n : 512, &pos, "Error", &at, &len))) {
                *out = t;
                return 0;
            }
        }
        if (!remote_transient(t) && !(status >= 200 && status < 300)) {
            rc = answer_error(sb, t, what, err);
            net_free(t);
            return rc;
        }
        if (attempt >= S3_ATTEMPTS) {
            rc = answer_error(sb, t, what, err);
            net_free(t);
            return rc;
        }
        char text[160];
        s3_error_text(t, text, sizeof text);
        FLOG(LOG_DEBUG, "%s: %s; trying again", what,
             net_outcome(t) == NET_ANSWERED ? text : net_reason(t));
        net_free(t);
        net_gate_idle(fetch_backoff(attempt));
    }
}

/* The object URL of a path under the prefix (fresh). */
static char *object_url(const struct s3_backend *sb, const char *path)
{
    char *key = xasprintf("%s%s", sb->prefix, path);
    char *escaped = net_escape(key, true);
    char *url = xasprintf("%s/%s", sb->bucket_url, escaped);
    free(escaped);
    free(key);
    return url;
}

/* ---- listing -------------------------------------------------------------- */

/* "2026-12-06T20:00:33.000Z" as unix seconds; 0 when unreadable. */
static long long iso_time(const char *s)
{
    struct tm tm = {0};
    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return (long long)timegm(&tm);
}

/* An ETag that is the MD5 of the whole object ("32 hex", quotes included
 * or not) as "md5:HEX" into buf; false for a multipart or encrypted one. */
static bool md5_etag(const char *etag, char *buf, size_t len)
{
    if (!etag)
        return false;
    const char *p = etag[0] == '"' ? etag + 1 : etag;
    size_t n = strlen(p) - (etag[0] == '"' && strlen(p) > 0 && p[strlen(p) - 1] == '"');
    if (n != 32)
        return false;
    for (size_t i = 0; i < 32; i++)
        if (!isxdigit((unsigned char)p[i]))
            return false;
    snprintf(buf, len, "md5:%.32s", p);
    for (char *c = buf; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return true;
}

/* What one listing page gave: objects into rb, folders into *dirs. */
static void take_page(struct s3_backend *sb, struct remote_backend *rb, const char *body, size_t n,
                      char ***dirs, size_t *n_dirs)
{
    size_t pos = 0, at, len, plen = strlen(sb->prefix);
    while (xml_element(body, n, &pos, "Contents", &at, &len)) {
        char *key = xml_text(body + at, len, "Key");
        char *size = xml_text(body + at, len, "Size");
        char *modified = xml_text(body + at, len, "LastModified");
        char *etag = xml_text(body + at, len, "ETag");
        if (!key || !size) {
            remote_refuse(rb, key ? key : "(a key)", "unreadable entry in the bucket's listing");
        } else if (strncmp(key, sb->prefix, plen) != 0) {
            remote_refuse(rb, key, "listed outside the prefix");
        } else if (key[strlen(key) - 1] != '/') {    /* "folder/" markers hold nothing */
            char md5[40];
            remote_add(rb, key + plen, strtoll(size, NULL, 10), iso_time(modified),
                       md5_etag(etag, md5, sizeof md5) ? md5 : NULL, NULL, 0);
        }
        free(key);
        free(size);
        free(modified);
        free(etag);
    }
    pos = 0;
    while (dirs && xml_element(body, n, &pos, "CommonPrefixes", &at, &len)) {
        char *p = xml_text(body + at, len, "Prefix");
        if (p && strncmp(p, sb->prefix, plen) == 0 && p[plen]) {
            *dirs = xrealloc(*dirs, (*n_dirs + 1) * sizeof **dirs);
            (*dirs)[(*n_dirs)++] = xstrdup(p + plen);
        }
        free(p);
    }
}

/* Every page of ListObjectsV2 under prefix + sub (with delimiter '/': only
 * its own objects, and its folders into *dirs). */
static int list_pages(struct s3_backend *sb, struct remote_backend *rb, const char *sub,
                      char ***dirs, size_t *n_dirs, struct ferry_error *err)
{
    char *full = xasprintf("%s%s", sb->prefix, sub);
    char *prefix = net_escape(full, false);
    char *token = NULL;
    int rc = 0;
    do {
        char *escaped_token = token ? net_escape(token, false) : NULL;
        /* Parameters in their canonical order, so the signature is S3's. */
        char *url = xasprintf("%s%s%s%s%slist-type=2&prefix=%s", sb->list_url,
                              token ? "continuation-token=" : "", token ? escaped_token : "",
                              token ? "&" : "", dirs ? "delimiter=%2F&" : "", prefix);
        struct net_request req = {.url = url, .fd = -1, .range_end = -1,
                                  .max_body = S3_LIST_BODY_MAX};
        struct net_transfer *t;
        char what[FERRY_ERRMSG_MAX / 2];
        snprintf(what, sizeof what, "listing %s://%s/%s", sb->google ? "gs" : "s3", sb->bucket,
                 full);
        rc = s3_call(sb, &req, what, &t, err);
        free(url);
        free(escaped_token);
        free(token);
        token = NULL;
        if (rc != 0)
            break;
        size_t n;
        const char *body = net_body(t, &n);
        take_page(sb, rb, body, n, dirs, n_dirs);
        char *truncated = xml_text(body, n, "IsTruncated");
        if (truncated && strcmp(truncated, "true") == 0) {
            token = xml_text(body, n, "NextContinuationToken");
            if (!token)
                rc = err_set(err, FERRY_EFAIL, "%s: a truncated page without a continuation token",
                             what);
        }
        free(truncated);
        net_free(t);
    } while (token && rc == 0);
    free(token);
    free(prefix);
    free(full);
    return rc;
}

static int s3_lister(void *ud, struct remote_backend *rb, const char *sub, char ***folders,
                     size_t *n_folders, struct ferry_error *err)
{
    return list_pages(ud, rb, sub, folders, n_folders, err);
}

/* Collective: the listing is spread over the ranks by folders (remote.h). */
static int s3_prepare(struct backend *b, MPI_Comm comm, struct ferry_error *err)
{
    struct s3_backend *sb = s3_of(b);
    int rc = net_init(err);
    return remote_list_spread(&sb->remote, comm, rc, S3_SPLIT_MIN_SCENES, s3_lister, sb, err);
}

/* Reads go through fetch (retries, Range resume) with the credentials; a
 * Google token is renewed first when it is close to its end. */
static int s3_read_start(struct backend *b, const struct read_spec *spec,
                         struct backend_read **out, struct ferry_error *err)
{
    int rc = fresh_token(s3_of(b), err);
    return rc != 0 ? rc : remote_read_start(b, spec, out, err);
}

/* ---- writing: one PUT of an object or a part, on any rank ------------------ */

struct s3_write {
    struct remote_write rw;          /* first: the PUT, its name and receipt */
    struct s3_backend *sb;
};

static int s3_write_open(struct backend *b, const struct write_spec *spec,
                         struct backend_write **out, struct ferry_error *err)
{
    struct s3_backend *sb = s3_of(b);
    if (spec->src_fd < 0)
        return err_set(err, FERRY_EFAIL, "%s: nothing to read it from", spec->meta.path);
    int rc = fresh_token(sb, err);
    if (rc != 0)
        return rc;
    char *url = object_url(sb, spec->meta.path);
    /* A part of a multipart upload: target is its upload id. */
    if (spec->target && *spec->target) {
        char *id = net_escape(spec->target, false);
        char *part = xasprintf("%s?partNumber=%d&uploadId=%s", url, spec->part, id);
        free(id);
        free(url);
        url = part;
    }
    struct s3_write *w = (struct s3_write *)remote_write_new(
        sizeof *w, spec, url, &sb->remote.auth, true, S3_ATTEMPTS);
    w->sb = sb;
    free(url);
    *out = &w->rw.head;
    return 0;
}

/* 0 stored (moved: its bytes), BACKEND_WAITING while it runs or waits to be
 * tried again, a negative ferry_err when the store will not take it.  The
 * store's ETag must be the MD5 of what was sent, or the part goes again. */
static int s3_write_poll(struct backend_write *bw, long long *moved, struct ferry_error *err)
{
    struct s3_write *w = (struct s3_write *)bw;
    *moved = 0;
    if (remote_put_poll(&w->rw.put) == BACKEND_WAITING)
        return BACKEND_WAITING;
    struct net_transfer *t = w->rw.put.t;
    long status = net_status(t);
    bool retry = remote_transient(t);
    char why[FERRY_ERRMSG_MAX / 2];
    if (net_outcome(t) == NET_ANSWERED && status >= 200 && status < 300) {
        const char *etag = net_headers(t)->etag;
        char sent[33], got[40];
        if (!etag) {
            snprintf(why, sizeof why, "the store's answer has no ETag");
        } else if (md5_etag(etag, got, sizeof got) && net_put_md5(t, sent) &&
                   strcmp(got + 4, sent) != 0) {
            snprintf(why, sizeof why, "the store holds other bytes than were sent "
                     "(ETag %s, MD5 %s)", got + 4, sent);
        } else {
            w->rw.etag = xstrdup(etag);
            *moved = w->rw.put.length;
            return 0;
        }
        retry = true;
    } else if (net_outcome(t) == NET_ANSWERED) {
        s3_error_text(t, why, sizeof why);
    } else {
        snprintf(why, sizeof why, "%s", net_reason(t));
    }
    if (retry && remote_put_again(&w->rw.put)) {
        FLOG(LOG_DEBUG, "%s: %s; sending it again", w->rw.path, why);
        return BACKEND_WAITING;
    }
    if (status == 401 || status == 403)
        return err_set(err, FERRY_EAUTH, "%s: the upload was refused (%s); credentials: %s",
                       w->rw.path, why, w->sb->creds_from);
    return err_set(err, FERRY_EFAIL, "%s: upload failed: %s", w->rw.path, why);
}

/* ---- the upload plan and its finish, rank 0 -------------------------------- */

struct s3_upload {
    char *path;
    char *upload_id;                 /* a multipart upload, or NULL for one PUT */
};

struct s3_plan {
    struct s3_upload *files;
    size_t n_files;
};

/* The MD5 of [offset, offset + length) of fd, lowercase hex (hash.h's
 * md5: etag kind, the digest a part's ETag is). */
static int md5_range(int fd, long long offset, long long length, char hex[HASH_HEX_MAX],
                     struct ferry_error *err, const char *what)
{
    struct hash_state *h = hash_begin_etag("md5:", length);
    size_t cap = 4 << 20;
    char *buf = xmalloc(cap);
    int rc = 0;
    for (long long done = 0; done < length;) {
        size_t want = (size_t)(length - done < (long long)cap ? length - done : (long long)cap);
        ssize_t n = pread(fd, buf, want, offset + done);
        if (n <= 0) {
            rc = err_sys(err, FERRY_EFAIL, n < 0 ? errno : EIO, "reading %s", what);
            break;
        }
        hash_update(h, buf, (size_t)n);
        done += n;
    }
    hash_end_etag(h, hex);
    free(buf);
    return rc;
}

/* The newest multipart upload an earlier run left for key, or NULL. */
static char *open_upload(struct s3_backend *sb, const char *path, struct ferry_error *err)
{
    char *key = xasprintf("%s%s", sb->prefix, path);
    char *escaped = net_escape(key, false);
    char *url = xasprintf("%sprefix=%s&uploads=", sb->list_url, escaped);
    struct net_request req = {.url = url, .fd = -1, .range_end = -1,
                              .max_body = S3_LIST_BODY_MAX};
    struct net_transfer *t;
    char *found = NULL, *found_when = NULL;
    if (s3_call(sb, &req, path, &t, err) == 0) {
        size_t n, pos = 0, at, len;
        const char *body = net_body(t, &n);
        while (xml_element(body, n, &pos, "Upload", &at, &len)) {
            char *k = xml_text(body + at, len, "Key"), *id = xml_text(body + at, len, "UploadId");
            char *when = xml_text(body + at, len, "Initiated");
            if (k && id && strcmp(k, key) == 0 &&
                (!found || (when && found_when && strcmp(when, found_when) > 0))) {
                free(found);
                free(found_when);
                found = id;
                found_when = when;
                id = when = NULL;
            }
            free(k);
            free(id);
            free(when);
        }
        net_free(t);
    }
    free(found_when);
    free(url);
    free(escaped);
    free(key);
    return found;
}

/* Parts of upload id already stored whose bytes are this file's: their
 * ETags into u->receipts.  Anything unexpected just means sending again. */
static void reuse_parts(struct s3_backend *sb, struct backend *src, const struct file_meta *f,
                        const char *id, struct upload_file *u)
{
    int fd = -1;
    struct ferry_error err = {0};
    if (!src->ops->open_read || src->ops->open_read(src, f->path, &fd, &err) != 0)
        return;
    char *object = object_url(sb, f->path), *eid = net_escape(id, false);
    int marker = 0, kept = 0;
    for (bool more = true; more;) {
        char *url = xasprintf("%s?part-number-marker=%d&uploadId=%s", object, marker, eid);
        struct net_request req = {.url = url, .fd = -1, .range_end = -1,
                                  .max_body = S3_LIST_BODY_MAX};
        struct net_transfer *t;
        more = false;
        if (s3_call(sb, &req, f->path, &t, &err) == 0) {
            size_t n, pos = 0, at, len;
            const char *body = net_body(t, &n);
            while (xml_element(body, n, &pos, "Part", &at, &len)) {
                char *num = xml_text(body + at, len, "PartNumber");
                char *etag = xml_text(body + at, len, "ETag"), *size = xml_text(body + at, len, "Size");
                int k = num ? atoi(num) : 0;
                long long off = (long long)(k - 1) * u->part_bytes;
                long long want = k == u->n_parts ? f->size - off : u->part_bytes;
                char md5[40], local[HASH_HEX_MAX];
                if (k >= 1 && k <= u->n_parts && size && strtoll(size, NULL, 10) == want &&
                    md5_etag(etag, md5, sizeof md5) &&
                    md5_range(fd, off, want, local, &err, f->path) == 0 &&
                    strcmp(md5 + 4, local) == 0 && !u->receipts[k - 1]) {
                    u->receipts[k - 1] = xstrdup(etag);
                    kept++;
                }
                marker = k > marker ? k : marker;
                free(num);
                free(etag);
                free(size);
            }
            char *truncated = xml_text(body, n, "IsTruncated");
            more = truncated && strcmp(truncated, "true") == 0;
            free(truncated);
            net_free(t);
        }
        free(url);
    }
    if (kept)
        FLOG(LOG_INFO, "%s: %d of %d parts are stored already (upload left by an earlier run)",
             f->path, kept, u->n_parts);
    close(fd);
    free(object);
    free(eid);
}

static char *create_upload(struct s3_backend *sb, const char *path, struct ferry_error *err)
{
    char *object = object_url(sb, path);
    char *url = xasprintf("%s?uploads=", object);
    struct net_request req = {.url = url, .fd = -1, .range_end = -1, .post_body = "",
                              .content_type = "application/octet-stream"};
    struct net_transfer *t;
    char *id = NULL;
    if (s3_call(sb, &req, path, &t, err) == 0) {
        size_t n;
        const char *body = net_body(t, &n);
        id = xml_text(body, n, "UploadId");
        if (!id)
            err_set(err, FERRY_EFAIL, "%s: the store's answer to starting an upload has no "
                    "UploadId", path);
        net_free(t);
    }
    free(url);
    free(object);
    return id;
}

/* How big each part of a size-byte object is: the chunk size, but never
 * under S3's 5 MiB nor so small that more than 10,000 parts are needed. */
static long long part_bytes_for(long long size, long long chunk)
{
    long long part = chunk > 0 ? chunk : S3_DEFAULT_PART;
    if (part < S3_MIN_PART)
        part = S3_MIN_PART;
    long long least = (size + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
    return part < least ? least : part;
}

/* Never fails as a whole: an object whose upload cannot be started is
 * FAILED with the reason, and the rest go. */
static int s3_upload_plan(struct backend *b, struct backend *src, const struct upload_request *req,
                          const struct upload_options *opts, struct upload_plan *out,
                          struct ferry_error *err)
{
    (void)err;
    struct s3_backend *sb = s3_of(b);
    struct s3_plan *plan = xcalloc(1, sizeof *plan);
    plan->files = xcalloc(req->n_files + 1, sizeof *plan->files);
    plan->n_files = req->n_files;
    /* Each object is its own batch: a multipart upload completes as soon as
     * its parts are in, whatever else is still going. */
    remote_plan_by_file(req, opts->chunk_size, part_bytes_for, out);
    out->state = plan;
    for (size_t i = 0; i < req->n_files; i++) {
        const struct file_meta *f = &req->files[i];
        struct upload_file *u = &out->files[i];
        plan->files[i].path = xstrdup(f->path);
        if (u->n_parts == 1)
            continue;
        struct ferry_error ferr = {0};
        char *id = open_upload(sb, f->path, &ferr);
        if (id)
            reuse_parts(sb, src, f, id, u);
        else
            id = create_upload(sb, f->path, &ferr);
        if (!id) {
            u->way = WRITE_FAILED;
            u->reason = xstrdup(ferr.msg);
            continue;
        }
        plan->files[i].upload_id = id;
        for (int k = 0; k < u->n_parts; k++)
            u->targets[k] = id;
    }
    return 0;
}

/* The CompleteMultipartUpload document: the parts in order with their ETags. */
static char *complete_body(const struct upload_file *u)
{
    size_t cap = 64 + (size_t)u->n_parts * 96, len = 0;
    char *body = xmalloc(cap);
    len += (size_t)snprintf(body, cap, "<CompleteMultipartUpload>");
    for (int k = 0; k < u->n_parts; k++) {
        const char *etag = u->receipts[k] ? u->receipts[k] : "";
        size_t need = strlen(etag) + 96;
        if (len + need >= cap) {
            cap = (cap + need) * 2;
            body = xrealloc(body, cap);
        }
        len += (size_t)snprintf(body + len, cap - len,
                                "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", k + 1,
                                etag);
    }
    snprintf(body + len, cap - len, "</CompleteMultipartUpload>");
    return body;
}

static int upload_request(struct s3_backend *sb, const char *path, const char *id,
                          const char *body, const char *what, struct ferry_error *err)
{
    char *object = object_url(sb, path), *eid = net_escape(id, false);
    char *url = xasprintf("%s?uploadId=%s", object, eid);
    struct net_request req = {.url = url, .fd = -1, .range_end = -1, .post_body = body,
                              .content_type = "application/xml",
                              .method = body ? NULL : "DELETE"};
    struct net_transfer *t;
    char label[FERRY_ERRMSG_MAX / 2];
    snprintf(label, sizeof label, "%s: %s", path, what);
    int rc = s3_call(sb, &req, label, &t, err);
    net_free(t);
    free(url);
    free(eid);
    free(object);
    return rc;
}

/* Rank 0, once every part of the batch's one object is in: complete its
 * multipart upload, or abort it when a part could not be sent (no part is
 * then left to cost storage). */
static int s3_finish_batch(struct backend *b, struct upload_plan *up, int batch,
                           struct ferry_error *err)
{
    struct s3_backend *sb = s3_of(b);
    struct s3_plan *plan = up->state;
    struct upload_file *u = &up->files[batch];
    const struct s3_upload *o = &plan->files[batch];
    if (!o->upload_id)
        return 0;
    if (u->way == WRITE_FAILED) {
        struct ferry_error aerr = {0};
        if (upload_request(sb, o->path, o->upload_id, NULL, "aborting the upload", &aerr) != 0)
            FLOG(LOG_WARN, "%s (its stored parts are left for a rerun or a lifecycle rule)",
                 aerr.msg);
        return 0;
    }
    char *body = complete_body(u);
    int rc = upload_request(sb, o->path, o->upload_id, body, "completing the upload", err);
    free(body);
    return rc;
}

static void s3_upload_free(struct backend *b, struct upload_plan *up)
{
    (void)b;
    struct s3_plan *plan = up->state;
    for (size_t i = 0; plan && i < plan->n_files; i++) {
        free(plan->files[i].upload_id);
        free(plan->files[i].path);
    }
    if (plan)
        free(plan->files);
    free(plan);
    remote_plan_free(up);
}

static int s3_remove(struct backend *b, const char *path, struct ferry_error *err)
{
    struct s3_backend *sb = s3_of(b);
    char *url = object_url(sb, path);
    struct net_request req = {.url = url, .fd = -1, .range_end = -1, .method = "DELETE"};
    struct net_transfer *t;
    int rc = s3_call(sb, &req, path, &t, err);
    net_free(t);
    free(url);
    return rc;
}

static void s3_close(struct backend *b)
{
    struct s3_backend *sb = s3_of(b);
    remote_free(&sb->remote);
    gauth_close(sb->gauth);
    free(sb->bucket);
    free(sb->prefix);
    free(sb->bucket_url);
    free(sb->list_url);
    free(sb->creds_from);
    free(sb);
}

const struct backend_ops backend_s3 = {
    .name = "s3",
    .claims = s3_claims,
    .open = s3_open,
    .prepare = s3_prepare,
    .list_scenes = remote_list_scenes,
    .walk = remote_walk,
    .read_start = s3_read_start,
    .read_poll = remote_read_poll,
    .read_end = remote_read_end,
    .wait = remote_wait,
    .write_open = s3_write_open,
    .write_poll = s3_write_poll,
    .write_close = remote_write_close,
    .write_abort = remote_write_abort,
    .upload_plan = s3_upload_plan,
    .finish_batch = s3_finish_batch,
    .upload_free = s3_upload_free,
    .remove = s3_remove,
    .upload_time = true,
    .close = s3_close,
};

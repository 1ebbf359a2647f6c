#include "ferry/gauth.h"
#include "ferry/escape.h"
#include "ferry/fetch.h"
#include "ferry/fsutil.h"
#include "ferry/log.h"
#include "ferry/net.h"
#include "ferry/xalloc.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define GAUTH_KEY_MAX (64 * 1024)         /* a key file is about 2.4 KiB */
#define GAUTH_ANSWER_MAX (64 * 1024)
#define GAUTH_TOKEN_MAX (16 * 1024)       /* Google reserves 2 KiB; room for more */
#define GAUTH_LIFETIME_MAX (7LL * 86400)  /* longer is not an access token */
#define GAUTH_JWT_LIFETIME 3600           /* the most Google accepts */
#define GAUTH_MARGIN 300
#define GAUTH_STILL_GOOD 60               /* seconds a token must have left to serve */
#define GAUTH_ATTEMPTS 5
#define GAUTH_CONNECT_TIMEOUT 10
#define GAUTH_PROBE_CONNECT 1
#define GAUTH_PROBE_SECONDS 2.0
#define GAUTH_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define GAUTH_METADATA_HOST "metadata.google.internal"
#define GAUTH_METADATA_ACCOUNT "/computeMetadata/v1/instance/service-accounts/default/"
#define GAUTH_GRANT "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"

struct gauth {
    bool metadata;                /* the metadata server, else a key file */
    char *email, *key_pem, *key_id, *token_uri;   /* the key file's; key_pem wiped */
    char *host;                   /* the metadata server's */
    char *describe;
    char *token;                  /* wiped */
    long long obtained_at, expires_at;
};

void gauth_wipe_free(char *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

/* ---- the key --------------------------------------------------------------- */

/* A key with a passphrase is refused, not prompted for: nobody answers a
 * prompt on a compute node. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* The RSA private key in pem, or NULL with *why (never the key's content). */
static EVP_PKEY *load_key(const char *pem, const char **why)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    if (!pkey) {
        *why = "private_key is not a PEM private key (or it has a passphrase)";
        return NULL;
    }
    if (!EVP_PKEY_is_a(pkey, "RSA")) {
        EVP_PKEY_free(pkey);
        *why = "private_key is not an RSA key (RS256 needs one)";
        return NULL;
    }
    return pkey;
}

static const char *text_field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) && v->valuestring && *v->valuestring ? v->valuestring : NULL;
}

/* cJSON frees without wiping: clear a secret member before cJSON_Delete. */
static void wipe_field(cJSON *o, const char *name)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (cJSON_IsString(v) && v->valuestring)
        OPENSSL_cleanse(v->valuestring, strlen(v->valuestring));
}

/* Google's credential types ("authorized_user", "external_account"): a
 * type is quoted in a message only when it looks like one, so a mangled
 * file never has other content (a key) quoted. */
static bool a_name(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz_");
    return n > 0 && n <= 40 && s[n] == '\0';
}

/* Why a key file's JSON is not a usable service account key, or NULL. */
static const char *key_problem(const cJSON *root, const char **type)
{
    *type = NULL;
    if (!cJSON_IsObject(root))
        return "not JSON (a service account key file is a JSON object)";
    *type = text_field(root, "type");
    if (!*type)
        return "no \"type\": not a Google credentials file";
    if (strcmp(*type, "service_account") != 0)
        return NULL;              /* the caller names the type */
    if (!text_field(root, "client_email"))
        return "no \"client_email\"";
    if (!text_field(root, "private_key"))
        return "no \"private_key\"";
    const char *uri = text_field(root, "token_uri");
    if (uri && !net_is_http(uri))
        return "\"token_uri\" is not an http(s) URL";
    return NULL;
}

int gauth_from_key(const char *text, size_t len, const char *file, struct gauth **out,
                   struct ferry_error *err)
{
    *out = NULL;
    if (len > GAUTH_KEY_MAX)
        return err_set(err, FERRY_EAUTH, "%s: too big for a service account key (%zu bytes)",
                       file, len);
    cJSON *root = cJSON_ParseWithLength(text, len);
    const char *type;
    const char *why = key_problem(root, &type);
    int rc = 0;
    if (why)
        rc = err_set(err, FERRY_EAUTH, "%s: %s", file, why);
    else if (strcmp(type, "service_account") != 0)
        rc = err_set(err, FERRY_EAUTH, "%s: credentials of type \"%s\"; only service "
                     "account keys (\"service_account\") are supported", file,
                     a_name(type) ? type : "?");
    EVP_PKEY *pkey = rc == 0 ? load_key(text_field(root, "private_key"), &why) : NULL;
    if (rc == 0 && !pkey)
        rc = err_set(err, FERRY_EAUTH, "%s: %s", file, why);
    if (rc == 0) {
        EVP_PKEY_free(pkey);
        struct gauth *g = xcalloc(1, sizeof *g);
        const char *key_id = text_field(root, "private_key_id");
        const char *uri = text_field(root, "token_uri");
        g->email = xstrdup(text_field(root, "client_email"));
        g->key_pem = xstrdup(text_field(root, "private_key"));
        g->key_id = key_id ? xstrdup(key_id) : NULL;
        g->token_uri = xstrdup(uri ? uri : GAUTH_DEFAULT_TOKEN_URI);
        g->describe = xasprintf("service account %s (%s)", g->email, file);
        *out = g;
    }
    wipe_field(root, "private_key");
    cJSON_Delete(root);
    return rc;
}

static int read_key_file(const char *path, char **text, size_t *len, struct ferry_error *err)
{
    int fd;
    long long size;
    int rc = fs_open_read(path, &fd, &size, err);
    if (rc != 0)
        return rc;
    if (size > GAUTH_KEY_MAX) {
        close(fd);
        return err_set(err, FERRY_EAUTH, "%s: too big for a service account key (%lld bytes)",
                       path, size);
    }
    char *buf = xmalloc((size_t)size + 1);
    size_t n = 0;
    ssize_t got = 0;
    while (n < (size_t)size && (got = read(fd, buf + n, (size_t)size - n)) > 0)
        n += (size_t)got;
    int errnum = errno;
    close(fd);
    buf[n] = '\0';
    if (got < 0) {
        OPENSSL_cleanse(buf, n);
        free(buf);
        return err_sys(err, FERRY_EAUTH, errnum, "%s", path);
    }
    *text = buf;
    *len = n;
    return 0;
}

/* ---- the JWT ---------------------------------------------------------------- */

/* base64url without padding (RFC 7515), fresh. */
static char *b64url(const unsigned char *data, size_t len)
{
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

static char *b64url_json(cJSON *o)
{
    char *text = cJSON_PrintUnformatted(o);
    char *out = b64url((const unsigned char *)text, strlen(text));
    cJSON_free(text);
    return out;
}

/* The RS256 signature of data, base64url; NULL when OpenSSL refuses. */
static char *sign_rs256(EVP_PKEY *pkey, const char *data)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *sig = NULL;
    size_t len = 0;
    char *out = NULL;
    if (ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
        EVP_DigestSign(ctx, NULL, &len, (const unsigned char *)data, strlen(data)) == 1) {
        sig = xmalloc(len);
        if (EVP_DigestSign(ctx, sig, &len, (const unsigned char *)data, strlen(data)) == 1)
            out = b64url(sig, len);
        free(sig);
    }
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return out;
}

int gauth_make_jwt(const char *client_email, const char *key_pem, const char *key_id,
                   const char *scope, const char *audience, long long now, char **jwt,
                   struct ferry_error *err)
{
    *jwt = NULL;
    if (!client_email || !key_pem || !scope || !audience)
        return err_set(err, FERRY_EAUTH, "a JWT needs an issuer, a key, a scope and an audience");
    const char *why;
    EVP_PKEY *pkey = load_key(key_pem, &why);
    if (!pkey)
        return err_set(err, FERRY_EAUTH, "%s", why);
    cJSON *header = cJSON_CreateObject();
    cJSON_AddStringToObject(header, "alg", "RS256");
    cJSON_AddStringToObject(header, "typ", "JWT");
    if (key_id && *key_id)
        cJSON_AddStringToObject(header, "kid", key_id);
    cJSON *claims = cJSON_CreateObject();
    cJSON_AddStringToObject(claims, "iss", client_email);
    cJSON_AddStringToObject(claims, "scope", scope);
    cJSON_AddStringToObject(claims, "aud", audience);
    cJSON_AddNumberToObject(claims, "iat", (double)now);
    cJSON_AddNumberToObject(claims, "exp", (double)(now + GAUTH_JWT_LIFETIME));
    char *h64 = b64url_json(header), *c64 = b64url_json(claims);
    cJSON_Delete(header);
    cJSON_Delete(claims);
    char *input = xasprintf("%s.%s", h64, c64);
    free(h64);
    free(c64);
    char *s64 = sign_rs256(pkey, input);
    EVP_PKEY_free(pkey);
    int rc = 0;
    if (s64)
        *jwt = xasprintf("%s.%s", input, s64);
    else
        rc = err_set(err, FERRY_EAUTH, "OpenSSL could not sign the JWT with private_key");
    free(input);
    free(s64);
    return rc;
}

/* ---- the token answer --------------------------------------------------------- */

/* A token goes into an Authorization header: visible ASCII only, so an
 * answer can never add a header line of its own. */
static bool token_chars_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] < 0x21 || s[n] > 0x7e)
            return false;
    return n <= GAUTH_TOKEN_MAX;
}

static const char *answer_problem(const cJSON *root, double *lifetime)
{
    if (!cJSON_IsObject(root))
        return "the answer is not a JSON object";
    const cJSON *token = cJSON_GetObjectItemCaseSensitive(root, "access_token");
    if (!cJSON_IsString(token) || !token->valuestring || !*token->valuestring)
        return "the answer has no access_token";
    if (!token_chars_ok(token->valuestring))
        return "the answer's access_token is too long or holds characters a header cannot carry";
    const cJSON *expires = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
    if (!cJSON_IsNumber(expires))
        return "the answer has no expires_in number";
    if (!(expires->valuedouble >= 1 && expires->valuedouble <= (double)GAUTH_LIFETIME_MAX))
        return "the answer's expires_in is not a lifetime between 1 s and 7 days";
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "token_type");
    if (type && !(cJSON_IsString(type) && type->valuestring &&
                  strcasecmp(type->valuestring, "Bearer") == 0))
        return "the answer's token_type is not Bearer";
    *lifetime = expires->valuedouble;
    return NULL;
}

int gauth_parse_token_answer(const char *body, size_t len, long long now, char **token,
                             long long *expires_at, struct ferry_error *err)
{
    *token = NULL;
    if (len > GAUTH_ANSWER_MAX)
        return err_set(err, FERRY_EAUTH, "the answer is too big for a token (%zu bytes)", len);
    cJSON *root = cJSON_ParseWithLength(body, len);
    double lifetime = 0;
    const char *why = answer_problem(root, &lifetime);
    int rc = 0;
    if (why) {
        rc = err_set(err, FERRY_EAUTH, "%s", why);
    } else {
        *token = xstrdup(cJSON_GetObjectItemCaseSensitive(root, "access_token")->valuestring);
        *expires_at = now + (long long)lifetime;
    }
    wipe_field(root, "access_token");
    cJSON_Delete(root);
    return rc;
}

/* ---- asking for a token ------------------------------------------------------- */

static const char *const metadata_headers[] = {"Metadata-Flavor: Google", NULL};

static char *metadata_url(const char *host, const char *what)
{
    return xasprintf("http://%s" GAUTH_METADATA_ACCOUNT "%s", host, what);
}

/* The final error for a request that did not bring a token: the status and
 * what the server said in OAuth2's "error" and "error_description". */
static int refused(const struct gauth *g, const char *url, struct net_transfer *t, int attempt,
                   struct ferry_error *err)
{
    char tries[32] = "";
    if (attempt > 1)
        snprintf(tries, sizeof tries, " (after %d tries)", attempt);
    if (net_outcome(t) != NET_ANSWERED)
        return err_set(err, FERRY_EAUTH, "%s: no token from %s: %s%s", g->describe, url,
                       net_reason(t), tries);
    long status = net_status(t);
    size_t len;
    const char *body = net_body(t, &len);
    cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
    const char *code = text_field(root, "error");
    const char *detail = text_field(root, "error_description");
    int rc = err_set(err, status >= 500 || status == 429 ? FERRY_EFAIL : FERRY_EAUTH,
                     "%s: %s refused a token: HTTP %ld%s%.80s%s%.200s%s", g->describe, url,
                     status, code ? " " : "", code ? code : "", detail ? ": " : "",
                     detail ? detail : "", tries);
    cJSON_Delete(root);
    return rc;
}

/* One token from g's source, asked for at *now (updated per try), with
 * retries of what may pass. */
static int ask(struct gauth *g, long long *now, char **token, long long *expires_at,
               struct ferry_error *err)
{
    struct net_request req = {.fd = -1, .range_end = -1, .max_body = GAUTH_ANSWER_MAX,
                              .connect_timeout = GAUTH_CONNECT_TIMEOUT};
    char *url, *form = NULL;
    if (g->metadata) {
        url = metadata_url(g->host, "token");
        req.headers = metadata_headers;
    } else {
        char *jwt;
        struct ferry_error why = {0};
        int rc = gauth_make_jwt(g->email, g->key_pem, g->key_id, GAUTH_SCOPE, g->token_uri,
                                *now, &jwt, &why);
        if (rc != 0)
            return err_set(err, rc, "%s: %s", g->describe, why.msg);
        form = xasprintf("grant_type=%s&assertion=%s", GAUTH_GRANT, jwt);
        gauth_wipe_free(jwt);
        url = xstrdup(g->token_uri);
        req.post_body = form;
        req.content_type = "application/x-www-form-urlencoded";
    }
    req.url = url;
    int rc;
    for (int attempt = 1;; attempt++) {
        *now = (long long)time(NULL);
        struct net_transfer *t = net_run(&req);
        long status = net_status(t);
        if (net_outcome(t) == NET_ANSWERED && status == 200) {
            size_t len;
            const char *body = net_body(t, &len);
            struct ferry_error why = {0};
            rc = gauth_parse_token_answer(body ? body : "", body ? len : 0, *now, token,
                                          expires_at, &why);
            if (rc != 0)
                err_set(err, rc, "%s: %s: %s", g->describe, url, why.msg);
            net_free(t);
            break;
        }
        bool transient = net_outcome(t) == NET_TRANSPORT ||
                         (net_outcome(t) == NET_ANSWERED &&
                          (status >= 500 || status == 429 || status == 408));
        if (!transient || attempt >= GAUTH_ATTEMPTS) {
            rc = refused(g, url, t, attempt, err);
            net_free(t);
            break;
        }
        net_free(t);
        net_gate_idle(fetch_backoff(attempt));
    }
    gauth_wipe_free(form);
    free(url);
    return rc;
}

int gauth_token(struct gauth *g, const char **token, long long *expires_at,
                struct ferry_error *err)
{
    long long now = (long long)time(NULL);
    long long lifetime = g->expires_at - g->obtained_at;
    long long margin = lifetime / 3 < GAUTH_MARGIN ? lifetime / 3 : GAUTH_MARGIN;
    if (!g->token || now >= g->expires_at - margin) {
        struct ferry_error why = {0};
        int rc = net_init(&why);
        char *fresh = NULL;
        long long expires = 0;
        if (rc == 0)
            rc = ask(g, &now, &fresh, &expires, &why);
        /* A renewal that fails early is tried again at the next call; the
         * token in hand still serves meanwhile. */
        if (rc != 0 && g->token && now + GAUTH_STILL_GOOD < g->expires_at) {
            FLOG(LOG_WARN, "%s; the current token is good for %lld s more",
                 escape_display(why.msg), g->expires_at - now);
        } else if (rc != 0) {
            return err_set(err, rc, "%s", why.msg);
        }
        if (fresh) {
            gauth_wipe_free(g->token);
            g->token = fresh;
            g->obtained_at = now;
            g->expires_at = expires;
            FLOG(LOG_DEBUG, "a Google access token from %s, good for %lld s", g->describe,
                 expires - now);
        }
    }
    *token = g->token;
    if (expires_at)
        *expires_at = g->expires_at;
    return 0;
}

/* ---- finding credentials ---------------------------------------------------- */

struct gauth *gauth_from_metadata(const char *host)
{
    struct gauth *g = xcalloc(1, sizeof *g);
    g->metadata = true;
    g->host = xstrdup(host);
    g->describe = xasprintf("the metadata server at %s", host);
    return g;
}

/* HOST[:PORT] and nothing that would change the URL's path or authority. */
static bool plain_host(const char *host)
{
    return *host && strcspn(host, "/?#@\\ \t\r\n") == strlen(host);
}

static bool looks_like_email(const char *s, size_t len)
{
    if (len == 0 || len > 256 || !memchr(s, '@', len))
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    return true;
}

/* Does a metadata server at host answer, within GAUTH_PROBE_SECONDS, with
 * the VM's service account?  A name that resolves elsewhere (a captive
 * portal, a search page) answers something else. */
static bool metadata_answers(const char *host)
{
    char *url = metadata_url(host, "email");
    struct net_request req = {.url = url, .fd = -1, .range_end = -1, .max_body = 4096,
                              .connect_timeout = GAUTH_PROBE_CONNECT,
                              .headers = metadata_headers};
    struct net_transfer *t = net_start(&req);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        net_drive();
        clock_gettime(CLOCK_MONOTONIC, &now);
        double spent = (double)(now.tv_sec - start.tv_sec) +
                       (double)(now.tv_nsec - start.tv_nsec) * 1e-9;
        if (net_outcome(t) != NET_RUNNING || spent >= GAUTH_PROBE_SECONDS)
            break;
        net_wait(50);
    }
    size_t len = 0;
    const char *body = net_outcome(t) == NET_ANSWERED && net_status(t) == 200
                     ? net_body(t, &len) : NULL;
    bool yes = body && looks_like_email(body, len);
    net_free(t);
    free(url);
    return yes;
}

int gauth_open(struct gauth **out, struct ferry_error *err)
{
    *out = NULL;
    const char *file = getenv("GOOGLE_APPLICATION_CREDENTIALS");
    if (file && *file) {
        char *text = NULL;
        size_t len = 0;
        struct ferry_error why = {0};
        if (read_key_file(file, &text, &len, &why) != 0)
            return err_set(err, FERRY_EAUTH, "GOOGLE_APPLICATION_CREDENTIALS: %s", why.msg);
        int rc = gauth_from_key(text, len, file, out, err);
        OPENSSL_cleanse(text, len);
        free(text);
        return rc;
    }
    const char *host = getenv("GCE_METADATA_HOST");
    if (host && *host) {
        if (!plain_host(host))
            return err_set(err, FERRY_EUSAGE, "GCE_METADATA_HOST=%.200s: not a HOST[:PORT]", host);
        *out = gauth_from_metadata(host);
        return 0;
    }
    int rc = net_init(err);
    if (rc != 0)
        return rc;
    if (metadata_answers(GAUTH_METADATA_HOST))
        *out = gauth_from_metadata(GAUTH_METADATA_HOST);
    return 0;
}

const char *gauth_describe(const struct gauth *g)
{
    return g ? g->describe : "no Google credentials";
}

void gauth_close(struct gauth *g)
{
    if (!g)
        return;
    gauth_wipe_free(g->key_pem);
    gauth_wipe_free(g->token);
    free(g->email);
    free(g->key_id);
    free(g->token_uri);
    free(g->host);
    free(g->describe);
    free(g);
}

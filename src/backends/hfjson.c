#include "ferry/hfjson.h"
#include "ferry/xalloc.h"

#include <cjson/cJSON.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HFJSON_QUOTE_MAX 160

/* s between quotes for a message: control bytes as \xHH, cut when long, so
 * a hostile value can neither hide its bytes nor flood the message. */
static const char *quote(const char *s, size_t n, char *buf, size_t size)
{
    size_t at = 0;
    buf[at++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        /* Room for the widest byte (4), or for "...", '"' and the NUL (5). */
        if (i == HFJSON_QUOTE_MAX || at + 9 > size) {
            at += (size_t)snprintf(buf + at, size - at, "...");
            break;
        }
        if (c < 0x20 || c == 0x7f)
            at += (size_t)snprintf(buf + at, size - at, "\\x%02x", c);
        else
            buf[at++] = (char)c;
    }
    snprintf(buf + at, size - at, "\"");
    return buf;
}

/* cJSON ends a string at a NUL (raw or \u0000) and keeps no length, so a
 * listed "a\u0000b" would read as "a".  Find such a string in the raw text;
 * its start and length (as written, escaped) go to *at and *n. */
static bool find_nul_string(const char *text, size_t len, size_t *at, size_t *n)
{
    size_t start = 0;
    bool in_string = false, nul = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (!in_string) {
            if (c == '"') {
                in_string = true;
                nul = false;
                start = i + 1;
            }
        } else if (c == '"') {
            in_string = false;
            if (nul) {
                *at = start;
                *n = i - start;
                return true;
            }
        } else if (c == '\0') {
            nul = true;
        } else if (c == '\\' && i + 1 < len) {
            i++;
            if (text[i] == 'u' && i + 4 < len && memcmp(text + i + 1, "0000", 4) == 0)
                nul = true;
        }
    }
    if (in_string && nul) {
        *at = start;
        *n = len - start;
        return true;
    }
    return false;
}

static cJSON *parse(const char *text, size_t len, const char *what, struct ferry_error *err)
{
    size_t at, n;
    char q[HFJSON_QUOTE_MAX + 16];
    if (find_nul_string(text, len, &at, &n)) {
        err_set(err, FERRY_EFAIL, "the %s answer has a NUL byte in %s", what,
                quote(text + at, n, q, sizeof q));
        return NULL;
    }
    cJSON *json = cJSON_ParseWithLength(text, len);
    if (!json)
        err_set(err, FERRY_EFAIL, "the %s answer is not JSON (it starts %s)", what,
                quote(text, len < 40 ? len : 40, q, sizeof q));
    return json;
}

static bool is_hex(const char *s, size_t n)
{
    return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

/* An optional hex id: absent is fine, anything else but n hex digits is not. */
static int take_id(const cJSON *v, size_t n, char **out)
{
    *out = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsString(v) || !is_hex(v->valuestring, n))
        return -1;
    *out = xstrdup(v->valuestring);
    return 0;
}

static int take_size(const cJSON *v, long long *out)
{
    if (!cJSON_IsNumber(v))
        return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= (double)HFJSON_MAX_SIZE) || d != floor(d))
        return -1;
    *out = (long long)d;
    return 0;
}

static int file_entry(const cJSON *item, struct hfjson_entry *e, const char *what,
                      const char *qpath, struct ferry_error *err)
{
    const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(item, "lfs");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(item, "size");
    char q[64];
    if (lfs && !cJSON_IsObject(lfs))
        return err_set(err, FERRY_EFAIL, "the %s answer's entry %s has an lfs that is not an "
                       "object", what, qpath);
    if (take_id(cJSON_GetObjectItemCaseSensitive(item, "oid"), 40, &e->oid) != 0)
        return err_set(err, FERRY_EFAIL, "the %s answer's entry %s has an oid that is not 40 hex "
                       "digits", what, qpath);
    if (lfs) {
        if (take_id(cJSON_GetObjectItemCaseSensitive(lfs, "oid"), 64, &e->lfs_oid) != 0 ||
            !e->lfs_oid)
            return err_set(err, FERRY_EFAIL, "the %s answer's entry %s has an lfs oid that is "
                           "not 64 hex digits", what, qpath);
        size = cJSON_GetObjectItemCaseSensitive(lfs, "size");
    }
    if (take_size(size, &e->size) != 0) {
        char *shown = size ? cJSON_PrintUnformatted(size) : NULL;
        err_set(err, FERRY_EFAIL, "the %s answer's entry %s has %s size%s%s", what, qpath,
                shown ? "a bad" : "no", shown ? " " : "",
                shown ? quote(shown, strlen(shown), q, sizeof q) : "");
        free(shown);
        return err->code;
    }
    return 0;
}

static void entry_free(struct hfjson_entry *e)
{
    free(e->path);
    free(e->oid);
    free(e->lfs_oid);
}

/* Entry i of an answer: an object with a string type ("file" or
 * "directory") and a path; a file has a size and well-formed ids. */
static int read_entry(const cJSON *item, size_t i, const char *what, struct hfjson_entry *e,
                      struct ferry_error *err)
{
    char qpath[HFJSON_QUOTE_MAX + 16];
    memset(e, 0, sizeof *e);
    if (!cJSON_IsObject(item))
        return err_set(err, FERRY_EFAIL, "the %s answer's entry %zu is not an object", what, i);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(item, "path");
    if (!cJSON_IsString(path) || !*path->valuestring)
        return err_set(err, FERRY_EFAIL, "the %s answer's entry %zu has no path", what, i);
    quote(path->valuestring, strlen(path->valuestring), qpath, sizeof qpath);
    bool file = cJSON_IsString(type) && strcmp(type->valuestring, "file") == 0;
    e->directory = cJSON_IsString(type) && strcmp(type->valuestring, "directory") == 0;
    if (!file && !e->directory)
        return err_set(err, FERRY_EFAIL, "the %s answer's entry %s is neither a file nor a "
                       "directory", what, qpath);
    int rc = file ? file_entry(item, e, what, qpath, err) : 0;
    if (rc != 0) {
        entry_free(e);
        return rc;
    }
    e->path = xstrdup(path->valuestring);
    return 0;
}

static int read_entries(const char *text, size_t len, const char *what,
                        struct hfjson_entries *out, struct ferry_error *err)
{
    cJSON *json = parse(text, len, what, err);
    if (!json)
        return err->code;
    int rc = 0;
    if (!cJSON_IsArray(json))
        rc = err_set(err, FERRY_EFAIL, "the %s answer is not a list", what);
    size_t i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, json) {
        if (rc != 0)
            break;
        struct hfjson_entry e;
        rc = read_entry(item, i++, what, &e, err);
        if (rc == 0) {
            xgrow((void **)&out->entry, &out->cap, out->count + 1, sizeof *out->entry);
            out->entry[out->count++] = e;
        }
    }
    cJSON_Delete(json);
    return rc;
}

int hfjson_tree_page(const char *text, size_t len, struct hfjson_entries *out,
                     struct ferry_error *err)
{
    return read_entries(text, len, "tree", out, err);
}

int hfjson_paths_info(const char *text, size_t len, struct hfjson_entries *out,
                      struct ferry_error *err)
{
    return read_entries(text, len, "paths-info", out, err);
}

/* "2024-01-02T03:04:05.000Z" as unix seconds, or -1. */
static long long parse_time(const cJSON *v)
{
    struct tm tm = {0};
    if (cJSON_IsString(v) && strptime(v->valuestring, "%Y-%m-%dT%H:%M:%S", &tm))
        return (long long)timegm(&tm);
    return -1;
}

int hfjson_revision(const char *text, size_t len, char sha[41], long long *modified,
                    struct ferry_error *err)
{
    cJSON *json = parse(text, len, "revision", err);
    if (!json)
        return err->code;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(json, "sha");
    char q[HFJSON_QUOTE_MAX + 16];
    int rc = 0;
    if (!cJSON_IsObject(json))
        rc = err_set(err, FERRY_EFAIL, "the revision answer is not an object");
    else if (!cJSON_IsString(id))
        rc = err_set(err, FERRY_EFAIL, "the revision answer has no sha (commit id)");
    else if (!is_hex(id->valuestring, 40))
        rc = err_set(err, FERRY_EFAIL, "the revision answer's sha %s is not a commit id "
                     "(40 hex digits)", quote(id->valuestring, strlen(id->valuestring), q,
                                              sizeof q));
    if (rc == 0) {
        memcpy(sha, id->valuestring, 41);
        *modified = parse_time(cJSON_GetObjectItemCaseSensitive(json, "lastModified"));
    }
    cJSON_Delete(json);
    return rc;
}

void hfjson_entries_free(struct hfjson_entries *entries)
{
    for (size_t i = 0; i < entries->count; i++)
        entry_free(&entries->entry[i]);
    free(entries->entry);
    memset(entries, 0, sizeof *entries);
}

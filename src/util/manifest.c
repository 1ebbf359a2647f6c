#include "ferry/manifest.h"
#include "ferry/fsutil.h"
#include "ferry/hfurl.h"
#include "ferry/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What one URL line and its options say, before the path is made. */
struct pending {
    struct manifest_entry e;
    char *dir, *out;
};

static bool known_scheme(const char *url)
{
    return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0 ||
           strncmp(url, "file://", 7) == 0 || strncmp(url, "hf://", 5) == 0;
}

/* An hf:// line stands alone (the Hub has no mirrors, and gives the hashes);
 * its folder in the destination is out=, else OWNER/NAME. */
static int hub_folder(const struct pending *p, const char *name, char **file,
                      struct ferry_error *err)
{
    int line = p->e.line;
    if (p->e.n_urls > 1)
        return err_set(err, FERRY_EUSAGE, "%s:%d: an hf:// location has no mirrors", name, line);
    if (p->e.sha256)
        return err_set(err, FERRY_EUSAGE, "%s:%d: an hf:// location takes no checksum= (the "
                       "Hub gives each file's hash)", name, line);
    struct hf_url url;
    struct ferry_error why = {0};
    if (hfurl_parse(p->e.urls[0], &url, &why) != 0)
        return err_set(err, FERRY_EUSAGE, "%s:%d: %s", name, line, why.msg);
    *file = p->out ? xstrdup(p->out) : xstrdup(url.repo_id);
    hfurl_free(&url);
    return 0;
}

static int hex_value(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? tolower(c) - 'a' + 10 : -1;
}

/* The URL's last path segment, %-decoded: the name aria2 would give it. */
static char *url_basename(const char *url)
{
    const char *start = strstr(url, "://") + 3;
    size_t end = strcspn(start, "?#");
    const char *slash = NULL;
    for (const char *p = start; p < start + end; p++)
        if (*p == '/')
            slash = p;
    if (!slash)
        return xstrdup("");
    char *name = xstrndup(slash + 1, (size_t)(start + end - slash - 1)), *o = name;
    for (const char *p = name; *p; p++) {
        if (p[0] == '%' && hex_value((unsigned char)p[1]) >= 0 && hex_value((unsigned char)p[2]) >= 0) {
            *o++ = (char)(hex_value((unsigned char)p[1]) * 16 + hex_value((unsigned char)p[2]));
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return name;
}

static int parse_checksum(const char *value, const char *name, int line, char **out,
                          struct ferry_error *err)
{
    const char *eq = strchr(value, '=');
    if (!eq)
        return err_set(err, FERRY_EUSAGE, "%s:%d: checksum= wants TYPE=HEX", name, line);
    size_t alg = (size_t)(eq - value);
    if (!((alg == 7 && strncasecmp(value, "sha-256", 7) == 0) ||
          (alg == 6 && strncasecmp(value, "sha256", 6) == 0)))
        return err_set(err, FERRY_EUSAGE, "%s:%d: checksum type '%.*s': only sha-256 is "
                       "supported", name, line, (int)alg, value);
    const char *hex = eq + 1;
    if (strlen(hex) != 64)
        return err_set(err, FERRY_EUSAGE, "%s:%d: a sha-256 checksum has 64 hex digits, not %zu",
                       name, line, strlen(hex));
    char *lower = xstrdup(hex);
    for (char *p = lower; *p; p++) {
        if (!isxdigit((unsigned char)*p)) {
            free(lower);
            return err_set(err, FERRY_EUSAGE, "%s:%d: the checksum is not hexadecimal", name, line);
        }
        *p = (char)tolower((unsigned char)*p);
    }
    free(*out);
    *out = lower;
    return 0;
}

static int apply_option(struct pending *p, const char *opt, const char *name, int line,
                        struct ferry_error *err)
{
    const char *eq = strchr(opt, '=');
    if (!eq)
        return err_set(err, FERRY_EUSAGE, "%s:%d: an option line needs KEY=VALUE", name, line);
    size_t klen = (size_t)(eq - opt);
    const char *value = eq + 1;
    if (klen == 3 && strncmp(opt, "out", 3) == 0) {
        free(p->out);
        p->out = xstrdup(value);
    } else if (klen == 3 && strncmp(opt, "dir", 3) == 0) {
        free(p->dir);
        p->dir = xstrdup(value);
    } else if (klen == 8 && strncmp(opt, "checksum", 8) == 0) {
        return parse_checksum(value, name, line, &p->e.sha256, err);
    }
    return 0;
}

/* Finish an entry: make and check its path, refuse duplicates. */
static int close_entry(struct manifest *m, struct pending *p, const char *name,
                       struct ferry_error *err)
{
    char *file = NULL;
    bool hub = false;
    for (size_t i = 0; i < p->e.n_urls; i++)
        hub = hub || strncmp(p->e.urls[i], "hf://", 5) == 0;
    if (hub) {
        int rc = hub_folder(p, name, &file, err);
        if (rc != 0)
            return rc;
    } else {
        file = p->out ? xstrdup(p->out) : url_basename(p->e.urls[0]);
    }
    if (!*file) {
        free(file);
        return err_set(err, FERRY_EUSAGE, "%s:%d: the URL names no file: add an out= line",
                       name, p->e.line);
    }
    char *path = p->dir && *p->dir ? xasprintf("%s/%s", p->dir, file) : xstrdup(file);
    free(file);
    /* "dir/" and "./x" are harmless spellings; trim them before checking. */
    while (strncmp(path, "./", 2) == 0)
        memmove(path, path + 2, strlen(path + 2) + 1);
    for (char *dup; (dup = strstr(path, "//")) != NULL;)
        memmove(dup, dup + 1, strlen(dup + 1) + 1);
    const char *why;
    if (!fs_relpath_safe(path, &why)) {
        int rc = err_set(err, FERRY_EUSAGE, "%s:%d: refusing '%s': %s", name, p->e.line, path, why);
        free(path);
        return rc;
    }
    for (size_t i = 0; i < m->count; i++) {
        if (strcmp(m->entries[i].path, path) == 0) {
            int rc = err_set(err, FERRY_EUSAGE, "%s:%d: '%s' is also the output of line %d",
                             name, p->e.line, path, m->entries[i].line);
            free(path);
            return rc;
        }
    }
    p->e.path = path;
    m->entries = xrealloc(m->entries, (m->count + 1) * sizeof *m->entries);
    m->entries[m->count++] = p->e;
    memset(&p->e, 0, sizeof p->e);
    free(p->dir);
    free(p->out);
    p->dir = p->out = NULL;
    return 0;
}

static void pending_free(struct pending *p)
{
    for (size_t i = 0; i < p->e.n_urls; i++)
        free(p->e.urls[i]);
    free(p->e.urls);
    free(p->e.sha256);
    free(p->dir);
    free(p->out);
    memset(p, 0, sizeof *p);
}

static int open_entry(struct pending *p, char *line, const char *name, int lineno,
                      struct ferry_error *err)
{
    p->e.line = lineno;
    for (char *save = NULL, *url = strtok_r(line, "\t", &save); url;
         url = strtok_r(NULL, "\t", &save)) {
        while (*url == ' ')
            url++;
        size_t len = strlen(url);
        while (len > 0 && url[len - 1] == ' ')
            url[--len] = '\0';
        if (!len)
            continue;
        if (!known_scheme(url))
            return err_set(err, FERRY_EUSAGE, "%s:%d: '%.60s': only http://, https://, "
                           "file:// and hf:// locations are supported", name, lineno, url);
        p->e.urls = xrealloc(p->e.urls, (p->e.n_urls + 1) * sizeof *p->e.urls);
        p->e.urls[p->e.n_urls++] = xstrdup(url);
    }
    return 0;
}

int manifest_parse(const char *text, size_t len, const char *name, struct manifest *out,
                   struct ferry_error *err)
{
    memset(out, 0, sizeof *out);
    struct pending p = {0};
    bool open = false;
    int rc = 0, lineno = 0;
    for (size_t pos = 0; pos < len && rc == 0;) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        char *line = xstrndup(text + pos, end - pos);
        pos = end + 1;
        lineno++;
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        bool indented = line[0] == ' ' || line[0] == '\t';
        char *body = line + strspn(line, " \t");
        if (!*body || body[0] == '#') {
            free(line);
            continue;
        }
        if (indented) {
            rc = open ? apply_option(&p, body, name, lineno, err)
                      : err_set(err, FERRY_EUSAGE, "%s:%d: an option line before any URL",
                                name, lineno);
        } else {
            if (open)
                rc = close_entry(out, &p, name, err);
            if (rc == 0)
                rc = open_entry(&p, body, name, lineno, err);
            open = true;
        }
        free(line);
    }
    if (rc == 0 && open)
        rc = close_entry(out, &p, name, err);
    pending_free(&p);
    if (rc != 0)
        manifest_free(out);
    return rc;
}

int manifest_load(const char *file, struct manifest *out, struct ferry_error *err)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return err_sys(err, errno == ENOENT ? FERRY_ENOTFOUND : FERRY_EUSAGE, errno, "%s", file);
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    char buf[65536];
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        xgrow((void **)&text, &cap, len + n + 1, 1);
        memcpy(text + len, buf, n);
        len += n;
    }
    fclose(f);
    int rc = manifest_parse(text ? text : "", len, file, out, err);
    free(text);
    return rc;
}

void manifest_free(struct manifest *m)
{
    for (size_t i = 0; i < m->count; i++) {
        struct manifest_entry *e = &m->entries[i];
        for (size_t u = 0; u < e->n_urls; u++)
            free(e->urls[u]);
        free(e->urls);
        free(e->path);
        free(e->sha256);
    }
    free(m->entries);
    memset(m, 0, sizeof *m);
}

#include "ferry/hashcache.h"
#include "ferry/fsutil.h"
#include "ferry/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    char *path;
    long long size, mtime;
    char sha256[HASH_SHA256_HEX];
    char sha1[HASH_SHA1_HEX];
};

struct hashcache {
    char *path;
    struct entry *loaded;            /* sorted by path, for bsearch */
    size_t n_loaded, cap_loaded;
    struct entry *added;             /* this run's, in the order they came */
    size_t n_added, cap_added;
};

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static bool is_hex(const char *s, size_t len)
{
    return strlen(s) == len && strspn(s, "0123456789abcdef") == len;
}

struct hashcache *hashcache_load(const char *path)
{
    struct hashcache *c = xcalloc(1, sizeof *c);
    c->path = xstrdup(path);
    FILE *f = fopen(path, "r");
    if (!f)
        return c;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        struct entry e = {0};
        int at = 0;
        if (sscanf(line, "%64s %40s %lld %lld %n", e.sha256, e.sha1, &e.size, &e.mtime, &at) != 4 ||
            at == 0 || !line[at] || !is_hex(e.sha256, 64) || !is_hex(e.sha1, 40))
            continue;
        e.path = xstrdup(line + at);
        xgrow((void **)&c->loaded, &c->cap_loaded, c->n_loaded + 1, sizeof *c->loaded);
        c->loaded[c->n_loaded++] = e;
    }
    free(line);
    fclose(f);
    qsort(c->loaded, c->n_loaded, sizeof *c->loaded, by_path);
    return c;
}

void hashcache_free(struct hashcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_loaded; i++)
        free(c->loaded[i].path);
    for (size_t i = 0; i < c->n_added; i++)
        free(c->added[i].path);
    free(c->loaded);
    free(c->added);
    free(c->path);
    free(c);
}

bool hashcache_get(const struct hashcache *c, const char *path, long long size, long long mtime,
                   char sha256[HASH_SHA256_HEX], char sha1[HASH_SHA1_HEX])
{
    if (!c)
        return false;
    struct entry key = {.path = (char *)path};
    const struct entry *e = bsearch(&key, c->loaded, c->n_loaded, sizeof key, by_path);
    if (!e || e->size != size || e->mtime != mtime)
        return false;
    memcpy(sha256, e->sha256, HASH_SHA256_HEX);
    memcpy(sha1, e->sha1, HASH_SHA1_HEX);
    return true;
}

void hashcache_put(struct hashcache *c, const char *path, long long size, long long mtime,
                   const char *sha256, const char *sha1)
{
    /* A path with a newline could not be read back: such files are hashed each time. */
    if (!c || strchr(path, '\n') || !is_hex(sha256, 64) || !is_hex(sha1, 40))
        return;
    struct entry e = {.path = xstrdup(path), .size = size, .mtime = mtime};
    memcpy(e.sha256, sha256, HASH_SHA256_HEX);
    memcpy(e.sha1, sha1, HASH_SHA1_HEX);
    xgrow((void **)&c->added, &c->cap_added, c->n_added + 1, sizeof *c->added);
    c->added[c->n_added++] = e;
}

static void append(char **text, size_t *len, size_t *cap, const struct entry *e)
{
    size_t need = strlen(e->path) + 160;
    xgrow((void **)text, cap, *len + need, 1);
    *len += (size_t)snprintf(*text + *len, *cap - *len, "%s %s %lld %lld %s\n", e->sha256,
                             e->sha1, e->size, e->mtime, e->path);
}

int hashcache_save(const struct hashcache *c, struct ferry_error *err)
{
    if (c->n_added == 0)
        return 0;
    /* This run's hashes replace the loaded ones of the same path. */
    struct entry *added = xmalloc(c->n_added * sizeof *added);
    memcpy(added, c->added, c->n_added * sizeof *added);
    qsort(added, c->n_added, sizeof *added, by_path);
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < c->n_loaded; i++)
        if (!bsearch(&c->loaded[i], added, c->n_added, sizeof *added, by_path))
            append(&text, &len, &cap, &c->loaded[i]);
    for (size_t i = 0; i < c->n_added; i++)
        if (i + 1 == c->n_added || strcmp(added[i].path, added[i + 1].path) != 0)
            append(&text, &len, &cap, &added[i]);
    int rc = fs_write_atomic(c->path, text, len, err);
    free(text);
    free(added);
    return rc;
}

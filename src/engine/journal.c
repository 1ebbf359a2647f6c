#include "ferry/journal.h"
#include "ferry/fsutil.h"
#include "ferry/log.h"
#include "ferry/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define JOURNAL_SYNC_EVERY 1.0

/* Records live in one open-addressing hash set of their line text (without
 * the newline), so replay and lookups cost one string compare each. */
struct journal {
    int fd;
    char *path;
    char **slots;
    size_t cap, count;
    double last_sync;
    bool dirty;
};

static void forget_all(struct journal *j);

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static size_t slot_of(char **slots, size_t cap, const char *key)
{
    size_t i = fnv1a(key) & (cap - 1);
    while (slots[i] && strcmp(slots[i], key) != 0)
        i = (i + 1) & (cap - 1);
    return i;
}

static void set_grow(struct journal *j)
{
    size_t cap = j->cap ? j->cap * 2 : 1024;
    char **slots = xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i < j->cap; i++)
        if (j->slots[i])
            slots[slot_of(slots, cap, j->slots[i])] = j->slots[i];
    free(j->slots);
    j->slots = slots;
    j->cap = cap;
}

/* Take ownership of key; false if it was there already. */
static bool set_add(struct journal *j, char *key)
{
    if ((j->count + 1) * 2 > j->cap)
        set_grow(j);
    size_t i = slot_of(j->slots, j->cap, key);
    if (j->slots[i]) {
        free(key);
        return false;
    }
    j->slots[i] = key;
    j->count++;
    return true;
}

static bool set_has(const struct journal *j, const char *key)
{
    return j->cap && j->slots[slot_of(j->slots, j->cap, key)] != NULL;
}

/* '\\' and '\n' in a path would break the one-record-a-line rule. */
static char *escape_path(const char *path)
{
    char *out = xmalloc(2 * strlen(path) + 1), *o = out;
    for (const char *p = path; *p; p++) {
        if (*p == '\\' || *p == '\n') {
            *o++ = '\\';
            *o++ = *p == '\n' ? 'n' : '\\';
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static char *file_key(const char *path, const char *version)
{
    char *escaped = escape_path(path);
    char *key = xasprintf("F %s %s", version, escaped);
    free(escaped);
    return key;
}

static char *chunk_key(const char *path, const char *version, long long offset, long long length)
{
    char *escaped = escape_path(path);
    char *key = xasprintf("C %lld %lld %s %s", offset, length, version, escaped);
    free(escaped);
    return key;
}

/* A line is a record if it has the shape of one; anything else (a torn
 * write, a foreign line) is skipped. */
static bool well_formed(const char *line)
{
    if (line[0] == 'F' && line[1] == ' ')
        return strchr(line + 2, ' ') != NULL;
    long long offset, length;
    int used = 0;
    if (line[0] != 'C' || sscanf(line, "C %lld %lld %*s %n", &offset, &length, &used) < 2)
        return false;
    return used > 0 && line[used] != '\0' && offset >= 0 && length > 0;
}

static int replay(struct journal *j, struct ferry_error *err)
{
    FILE *f = fopen(j->path, "r");
    if (!f)
        return errno == ENOENT ? 0 : err_sys(err, FERRY_EFAIL, errno, "%s", j->path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long long skipped = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n') {      /* the torn last line of a killed run */
            skipped++;
            break;
        }
        line[n - 1] = '\0';
        if (well_formed(line))
            set_add(j, xstrdup(line));
        else
            skipped++;
    }
    free(line);
    fclose(f);
    if (skipped)
        FLOG(LOG_WARN, "%s: %lld incomplete or malformed lines ignored", j->path, skipped);
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int journal_open(const char *state_dir, struct journal **out, struct ferry_error *err)
{
    return journal_open_named(state_dir, "journal", out, err);
}

int journal_load(const char *state_dir, const char *name, struct journal **out,
                 struct ferry_error *err)
{
    struct journal *j = xcalloc(1, sizeof *j);
    j->fd = -1;
    j->path = xasprintf("%s/%s", state_dir, name);
    int rc = replay(j, err);
    if (rc != 0) {
        journal_close(j);
        return rc;
    }
    *out = j;
    return 0;
}

int journal_open_named(const char *state_dir, const char *name, struct journal **out,
                       struct ferry_error *err)
{
    int rc = fs_mkdirs(state_dir, err);
    if (rc != 0)
        return rc;
    struct journal *j = xcalloc(1, sizeof *j);
    j->path = xasprintf("%s/%s", state_dir, name);
    j->last_sync = now_seconds();
    rc = replay(j, err);
    if (rc == 0) {
        j->fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (j->fd < 0)
            rc = err_sys(err, FERRY_EFAIL, errno, "%s", j->path);
    }
    if (rc != 0) {
        j->fd = -1;
        journal_close(j);
        return rc;
    }
    *out = j;
    return 0;
}

int journal_summarize(const char *state_dir, struct journal_summary *out,
                      struct ferry_error *err)
{
    struct journal j = {.fd = -1};
    j.path = xasprintf("%s/journal", state_dir);
    memset(out, 0, sizeof *out);
    int rc = replay(&j, err);
    for (size_t i = 0; i < j.cap && rc == 0; i++) {
        const char *key = j.slots[i];
        long long offset, length;
        if (!key)
            continue;
        if (key[0] == 'F') {
            out->files++;
        } else if (sscanf(key, "C %lld %lld", &offset, &length) == 2) {
            out->chunks++;
            out->chunk_bytes += length;
        }
    }
    forget_all(&j);
    free(j.path);
    return rc;
}

/* One write(2) per record: a killed process loses nothing it wrote, and a
 * record is never split between two writes. */
static int append(struct journal *j, char *key)
{
    if (!set_add(j, key))
        return 0;
    size_t len = strlen(key);
    key[len] = '\n';
    ssize_t n = write(j->fd, key, len + 1);
    key[len] = '\0';
    if (n != (ssize_t)(len + 1)) {
        FLOG(LOG_ERROR, "%s: cannot append: %s", j->path, strerror(n < 0 ? errno : EIO));
        return FERRY_EFAIL;
    }
    j->dirty = true;
    return 0;
}

int journal_add_file(struct journal *j, const char *path, const char *version)
{
    return append(j, file_key(path, version));
}

int journal_add_chunk(struct journal *j, const char *path, const char *version,
                      long long offset, long long length)
{
    return append(j, chunk_key(path, version, offset, length));
}

bool journal_has_file(const struct journal *j, const char *path, const char *version)
{
    char *key = file_key(path, version);
    bool has = set_has(j, key);
    free(key);
    return has;
}

bool journal_has_chunk(const struct journal *j, const char *path, const char *version,
                       long long offset, long long length)
{
    char *key = chunk_key(path, version, offset, length);
    bool has = set_has(j, key);
    free(key);
    return has;
}

long long journal_count(const struct journal *j)
{
    return (long long)j->count;
}

void journal_tick(struct journal *j)
{
    if (j->fd < 0 || !j->dirty || now_seconds() - j->last_sync < JOURNAL_SYNC_EVERY)
        return;
    fdatasync(j->fd);
    j->dirty = false;
    j->last_sync = now_seconds();
}

static void forget_all(struct journal *j)
{
    for (size_t i = 0; i < j->cap; i++)
        free(j->slots[i]);
    free(j->slots);
    j->slots = NULL;
    j->cap = j->count = 0;
}

int journal_reset(struct journal *j, struct ferry_error *err)
{
    forget_all(j);
    if (ftruncate(j->fd, 0) != 0)
        return err_sys(err, FERRY_EFAIL, errno, "%s", j->path);
    j->dirty = true;
    return 0;
}

void journal_close(struct journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0) {
        fdatasync(j->fd);
        close(j->fd);
    }
    forget_all(j);
    free(j->path);
    free(j);
}

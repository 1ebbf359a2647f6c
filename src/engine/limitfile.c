#include "ferry/limitfile.h"
#include "ferry/log.h"
#include "ferry/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LIMITFILE_MAX_RECORDS 8
#define LIMITFILE_MAX_BYTES 4096
#define LIMITFILE_LOCK_SECONDS 10.0     /* then the lock counts as broken */
#define LIMITFILE_SAME_WINDOW 0.5       /* seconds two window starts may differ by */
#define LIMITFILE_HEADER "# ferry limiter file: Hub calls claimed per class and window\n"

struct limitfile {
    int fd;
    char *path;
};

struct record {
    char name[16];
    double start, window;
    long long used;
    double paused_until;
};

enum txn_op { TXN_CLAIM, TXN_GIVE_BACK, TXN_PAUSE };

struct txn {
    enum txn_op op;
    const char *name;
    double start, window;
    long long cap, n;               /* n: tokens wanted or handed back */
    long long seen;                 /* the server's count */
    double until;
    long long claimed;              /* out */
    double paused_until;            /* out */
};

int limitfile_open(const char *path, struct limitfile **out, struct ferry_error *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_set(err, FERRY_EUSAGE, "--limiter-file %s: %s", path, strerror(errno));
    struct limitfile *f = xcalloc(1, sizeof *f);
    f->fd = fd;
    f->path = xstrdup(path);
    *out = f;
    return 0;
}

void limitfile_close(struct limitfile *f)
{
    if (!f)
        return;
    close(f->fd);           /* also drops any lock this process holds on it */
    free(f->path);
    free(f);
}

/* F_SETLK in a loop rather than F_SETLKW: a lock manager that never answers
 * must not hang the job; after a while the lock counts as broken. */
static int lock_file(struct limitfile *f, short type, struct ferry_error *err)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (type == F_UNLCK) {
        fcntl(f->fd, F_SETLK, &fl);
        return 0;
    }
    for (int tries = 0;; tries++) {
        if (fcntl(f->fd, F_SETLK, &fl) == 0)
            return 0;
        if (errno != EAGAIN && errno != EACCES && errno != EINTR)
            return err_set(err, FERRY_EFAIL, "%s: cannot lock: %s", f->path, strerror(errno));
        if (tries * 0.002 > LIMITFILE_LOCK_SECONDS)
            return err_set(err, FERRY_EFAIL, "%s: still locked by another job after %.0f s",
                           f->path, LIMITFILE_LOCK_SECONDS);
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
}

/* Parse the file's records; false when any line is damaged. */
static bool parse(char *text, struct record *recs, size_t *n)
{
    bool whole = true;
    *n = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        struct record r = {0};
        int used_chars = 0;
        if (*n == LIMITFILE_MAX_RECORDS ||
            sscanf(line, "%15s %lf %lf %lld %lf%n", r.name, &r.start, &r.window, &r.used,
                   &r.paused_until, &used_chars) != 5 || line[used_chars] != '\0' ||
            !isfinite(r.start) || !isfinite(r.paused_until) || !(r.window > 0) || r.used < 0) {
            whole = false;
            continue;
        }
        recs[(*n)++] = r;
    }
    return whole;
}

static int read_records(struct limitfile *f, struct record *recs, size_t *n, bool *whole,
                        struct ferry_error *err)
{
    char text[LIMITFILE_MAX_BYTES + 1];
    ssize_t got = pread(f->fd, text, LIMITFILE_MAX_BYTES, 0);
    if (got < 0)
        return err_set(err, FERRY_EFAIL, "%s: cannot read: %s", f->path, strerror(errno));
    text[got] = '\0';
    bool no_nul = strlen(text) == (size_t)got;     /* before parse cuts it into lines */
    *whole = parse(text, recs, n) && no_nul;
    return 0;
}

static int write_records(struct limitfile *f, const struct record *recs, size_t n,
                         struct ferry_error *err)
{
    char text[LIMITFILE_MAX_BYTES];
    int len = snprintf(text, sizeof text, "%s", LIMITFILE_HEADER);
    for (size_t i = 0; i < n && len < (int)sizeof text; i++)
        len += snprintf(text + len, sizeof text - (size_t)len, "%s %.3f %.0f %lld %.3f\n",
                        recs[i].name, recs[i].start, recs[i].window, recs[i].used,
                        recs[i].paused_until);
    if (len >= (int)sizeof text)
        return err_set(err, FERRY_EFAIL, "%s: too many records", f->path);
    if (pwrite(f->fd, text, (size_t)len, 0) != len || ftruncate(f->fd, len) != 0)
        return err_set(err, FERRY_EFAIL, "%s: cannot write: %s", f->path, strerror(errno));
    return 0;
}

/* The record of t's class, made or restarted for t's window. */
static struct record *record_for(struct record *recs, size_t *n, bool whole,
                                 const struct txn *t)
{
    struct record *r = NULL;
    for (size_t i = 0; i < *n && !r; i++)
        if (strcmp(recs[i].name, t->name) == 0)
            r = &recs[i];
    if (!r) {
        r = &recs[(*n)++];
        memset(r, 0, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s", t->name);
        r->start = t->start;
        r->window = t->window;
        /* A damaged file may have lost what other jobs claimed: count the
         * window as spent rather than hand out a whole budget again. */
        r->used = whole ? 0 : t->cap;
        return r;
    }
    /* A record of an earlier window counts for nothing now.  One of a later
     * window (a job whose clock runs ahead) is honoured as it is. */
    if (r->start + LIMITFILE_SAME_WINDOW < t->start && t->op != TXN_GIVE_BACK) {
        r->start = t->start;
        r->window = t->window;
        r->used = 0;
    }
    return r;
}

static void apply(struct record *r, struct txn *t)
{
    switch (t->op) {
    case TXN_CLAIM: {
        if (r->used < t->seen)
            r->used = t->seen;
        long long left = t->cap - r->used;
        t->claimed = t->n < left ? t->n : left > 0 ? left : 0;
        r->used += t->claimed;
        break;
    }
    case TXN_GIVE_BACK:
        if (fabs(r->start - t->start) < LIMITFILE_SAME_WINDOW)
            r->used -= t->n < r->used ? t->n : r->used;
        break;
    case TXN_PAUSE:
        if (t->until > r->paused_until)
            r->paused_until = t->until;
        if (r->used < t->cap)
            r->used = t->cap;
        break;
    }
    t->paused_until = r->paused_until;
}

static int transact(struct limitfile *f, struct txn *t, struct ferry_error *err)
{
    int rc = lock_file(f, F_WRLCK, err);
    if (rc != 0)
        return rc;
    struct record recs[LIMITFILE_MAX_RECORDS + 1];
    size_t n = 0;
    bool whole = true;
    rc = read_records(f, recs, &n, &whole, err);
    if (rc == 0 && !whole)
        FLOG(LOG_WARN, "%s: damaged lines dropped; counting this window as spent", f->path);
    if (rc == 0) {
        apply(record_for(recs, &n, whole, t), t);
        rc = write_records(f, recs, n, err);
    }
    lock_file(f, F_UNLCK, err);
    return rc;
}

long long limitfile_claim(struct limitfile *f, const char *name, double start, double window,
                          long long cap, long long want, long long seen, double *paused_until,
                          struct ferry_error *err)
{
    struct txn t = {.op = TXN_CLAIM, .name = name, .start = start, .window = window, .cap = cap,
                    .n = want, .seen = seen};
    if (transact(f, &t, err) != 0)
        return -1;
    *paused_until = t.paused_until;
    return t.claimed;
}

int limitfile_give_back(struct limitfile *f, const char *name, double start, long long n,
                        struct ferry_error *err)
{
    struct txn t = {.op = TXN_GIVE_BACK, .name = name, .start = start, .window = 1, .n = n};
    return transact(f, &t, err);
}

int limitfile_pause(struct limitfile *f, const char *name, double start, double window,
                    long long cap, double until, struct ferry_error *err)
{
    struct txn t = {.op = TXN_PAUSE, .name = name, .start = start, .window = window, .cap = cap,
                    .until = until};
    return transact(f, &t, err);
}

#include "ferry/sftpjobs.h"
#include "ferry/log.h"
#include "ferry/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One SFTP request's bytes: OpenSSH serves reads and takes writes of up to
 * 256 KiB; 64 KiB requests, many in flight, keep a connection's pipe full. */
#define SFTP_BLOCK (64 * 1024)
#define SFTP_READS_IN_FLIGHT 32
/* New connections after a drop, with 1, 2, 4, 8, 16 s pauses between. */
#define SFTP_RECONNECTS 5

enum job_kind { JOB_READ, JOB_WRITE, JOB_PUT };
enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_ENDED };

struct sftp_job {
    struct sftp_pool *pool;
    enum job_kind kind;
    char *remote;
    char *final;                     /* PUT: where the finished part goes */
    unsigned mode;                   /* PUT: the file's mode and mtime there */
    long long mtime;
    int fd;                          /* the job's own dup: the caller's may close first */
    long long offset, length;
    atomic_llong done;               /* bytes moved, by the thread */
    long long reported;              /* of done, told to the poller */
    enum job_state state;            /* under the pool's lock */
    atomic_bool dropped;             /* sftp_job_free came first: the thread stops, frees it */
    struct ferry_error err;          /* once ENDED: code 0, or why it failed */
    struct sftp_job *next;
};

struct sftp_pool {
    struct ssh_where where;
    pthread_mutex_t lock;
    pthread_cond_t work;
    struct sftp_job *head, *tail;    /* queued */
    pthread_t *threads;
    int n_threads, max_threads, idle;
    atomic_bool stop;
    int wake[2];                     /* a byte per ended job, for sftp_pool_wait */
};

/* ---- one job on one connection --------------------------------------------- */

/* Why a job step failed: the connection (worth another), or for good. */
enum step { STEP_OK, STEP_CONNECTION, STEP_FATAL };

static enum step remote_failed(struct sftp_job *j, struct sshconn *c, const char *what)
{
    if (!sshconn_alive(c))
        return STEP_CONNECTION;
    err_set(&j->err, FERRY_EFAIL, "%s: %s: %s", j->remote, what, sshconn_why(c));
    return STEP_FATAL;
}

static enum step local_failed(struct sftp_job *j, const char *what)
{
    err_sys(&j->err, FERRY_EFAIL, errno, "%s: %s", j->remote, what);
    return STEP_FATAL;
}

static enum step stopped(struct sftp_job *j)
{
    err_set(&j->err, FERRY_EINTR, "%s: stopped", j->remote);
    return STEP_FATAL;
}

/* The pool is stopping, or nobody waits for the job any more. */
static bool halted(struct sftp_job *j)
{
    return atomic_load(&j->pool->stop) || atomic_load(&j->dropped);
}

/* A whole file's try after a dropped connection: go on where the part
 * ends, or, when the part is gone, either it was put in place before the
 * drop (done) or the file starts again. */
static bool put_resumed(struct sftp_job *j, struct sshconn *c, bool *placed)
{
    sftp_session sftp = sshconn_sftp(c);
    sftp_attributes part = sftp_stat(sftp, j->remote);
    bool there = part && (long long)part->size >= atomic_load(&j->done);
    sftp_attributes_free(part);
    if (there || !sshconn_alive(c))
        return there;
    sftp_attributes final = sftp_stat(sftp, j->final);
    *placed = final && (long long)final->size == j->length && final->mtime == (uint32_t)j->mtime;
    sftp_attributes_free(final);
    atomic_store(&j->done, 0);
    return false;
}

static enum step write_range(struct sftp_job *j, struct sshconn *c, char *buf)
{
    /* A whole file starts its part afresh; a range never truncates what
     * other ranks write beside it, nor what a dropped try had sent. */
    bool placed = false, resumed = j->kind != JOB_PUT || (atomic_load(&j->done) > 0 &&
                                                           put_resumed(j, c, &placed));
    if (placed) {
        atomic_store(&j->done, j->length);
        return STEP_OK;
    }
    int flags = O_WRONLY | O_CREAT | (resumed ? 0 : O_TRUNC);
    sftp_file f = sftp_open(sshconn_sftp(c), j->remote, flags, 0600);
    if (!f)
        return remote_failed(j, c, "cannot open for writing");
    long long done = atomic_load(&j->done);
    enum step rc = STEP_OK;
    if (sftp_seek64(f, (uint64_t)(j->offset + done)) != 0)
        rc = remote_failed(j, c, "cannot seek");
    while (rc == STEP_OK && done < j->length) {
        if (halted(j)) {
            rc = stopped(j);
            break;
        }
        size_t want = (size_t)(j->length - done < SFTP_BLOCK ? j->length - done : SFTP_BLOCK);
        ssize_t got = pread(j->fd, buf, want, j->offset + done);
        if (got <= 0) {
            if (got == 0)
                errno = EIO;
            rc = local_failed(j, "reading the local file");
            break;
        }
        for (ssize_t sent = 0; sent < got && rc == STEP_OK;) {
            ssize_t n = sftp_write(f, buf + sent, (size_t)(got - sent));
            if (n <= 0)
                rc = remote_failed(j, c, "cannot write");
            else
                sent += n;
        }
        /* Counted only once the server took the whole block: a resume
         * starts at a byte the server is known to hold. */
        if (rc == STEP_OK) {
            done += got;
            atomic_store(&j->done, done);
        }
    }
    if (sftp_close(f) != SSH_NO_ERROR && rc == STEP_OK)
        rc = remote_failed(j, c, "cannot close after writing");
    if (rc == STEP_OK && j->kind == JOB_PUT) {
        const char *failed = sshconn_place(c, j->remote, j->final, j->length, j->mode, j->mtime);
        if (failed)
            rc = remote_failed(j, c, failed);
    }
    return rc;
}

/* Read requests of one pass: begun in order, taken in order. */
struct window {
    uint32_t ids[SFTP_READS_IN_FLIGHT];
    uint32_t lens[SFTP_READS_IN_FLIGHT];
    int first, count;
};

static void drain(sftp_file f, struct window *w, char *buf)
{
    for (; w->count > 0; w->count--, w->first = (w->first + 1) % SFTP_READS_IN_FLIGHT)
        sftp_async_read(f, buf, w->lens[w->first], w->ids[w->first]);
}

static enum step read_range(struct sftp_job *j, struct sshconn *c, char *buf)
{
    sftp_file f = sftp_open(sshconn_sftp(c), j->remote, O_RDONLY, 0);
    if (!f)
        return remote_failed(j, c, "cannot open for reading");
    enum step rc = STEP_OK;
    long long done = atomic_load(&j->done);
    /* A pass asks for the rest in blocks; a short answer (the server may
     * send less) ends the pass, and the next one starts where it stopped. */
    while (rc == STEP_OK && done < j->length) {
        if (sftp_seek64(f, (uint64_t)(j->offset + done)) != 0) {
            rc = remote_failed(j, c, "cannot seek");
            break;
        }
        struct window w = {.first = 0, .count = 0};
        long long asked = done;
        bool short_read = false;
        while (rc == STEP_OK && !short_read && done < j->length) {
            while (w.count < SFTP_READS_IN_FLIGHT && asked < j->length) {
                uint32_t len = (uint32_t)(j->length - asked < SFTP_BLOCK ? j->length - asked
                                                                         : SFTP_BLOCK);
                int id = sftp_async_read_begin(f, len);
                if (id < 0) {
                    rc = remote_failed(j, c, "cannot read");
                    break;
                }
                int slot = (w.first + w.count++) % SFTP_READS_IN_FLIGHT;
                w.ids[slot] = (uint32_t)id;
                w.lens[slot] = len;
                asked += len;
            }
            if (rc != STEP_OK || w.count == 0)
                break;
            if (halted(j)) {
                rc = stopped(j);
                break;
            }
            uint32_t len = w.lens[w.first];
            int n = sftp_async_read(f, buf, len, w.ids[w.first]);
            w.first = (w.first + 1) % SFTP_READS_IN_FLIGHT;
            w.count--;
            if (n < 0) {
                rc = remote_failed(j, c, "cannot read");
            } else if (n == 0) {
                err_set(&j->err, FERRY_EFAIL, "%s: the file ends at %lld bytes, before the "
                        "listed size (changed while copied?)", j->remote, j->offset + done);
                rc = STEP_FATAL;
            } else if (pwrite(j->fd, buf, (size_t)n, j->offset + done) != n) {
                rc = local_failed(j, "writing the local copy");
            } else {
                done += n;
                atomic_store(&j->done, done);
                short_read = (uint32_t)n < len;
            }
        }
        if (rc == STEP_OK || sshconn_alive(c))
            drain(f, &w, buf);
    }
    sftp_close(f);
    return rc;
}

static void pause_s(int seconds, struct sftp_job *j)
{
    for (int i = 0; i < seconds * 10 && !halted(j); i++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Run j on *conn, opening a connection when there is none and again after
 * a drop; the job ends with j->err set. */
static void run_job(struct sftp_job *j, struct sshconn **conn, char *buf)
{
    struct sftp_pool *p = j->pool;
    for (int attempt = 0;; attempt++) {
        if (halted(j)) {
            stopped(j);
            return;
        }
        if (!*conn) {
            struct ferry_error err = {0};
            if (sshconn_open(&p->where, conn, &err) != 0) {
                /* A refused key or host will not change; a busy or
                 * restarting server may (sshd drops connections beyond
                 * its MaxStartups). */
                if (err.code == FERRY_EAUTH || err.code == FERRY_EUSAGE ||
                    attempt >= SFTP_RECONNECTS) {
                    j->err = err;
                    return;
                }
                FLOG(LOG_DEBUG, "%s; trying again", err.msg);
                pause_s(1 << attempt, j);
                continue;
            }
        }
        memset(&j->err, 0, sizeof j->err);
        enum step rc = j->kind == JOB_READ ? read_range(j, *conn, buf)
                                           : write_range(j, *conn, buf);

        if (rc == STEP_OK || rc == STEP_FATAL)
            return;
        sshconn_close(*conn);
        *conn = NULL;
        if (attempt >= SFTP_RECONNECTS) {
            err_set(&j->err, FERRY_EFAIL, "%s: the connection was lost %d times",
                    j->remote, attempt + 1);
            return;
        }
        FLOG(LOG_WARN, "%s: the connection was lost at byte %lld; connecting again",
             j->remote, j->offset + atomic_load(&j->done));
        pause_s(1 << attempt, j);
    }
}

static void job_free(struct sftp_job *j)
{
    if (j->fd >= 0)
        close(j->fd);
    free(j->remote);
    free(j->final);
    free(j);
}

static void *worker(void *arg)
{
    struct sftp_pool *p = arg;
    struct sshconn *conn = NULL;
    char *buf = xmalloc(SFTP_BLOCK);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!atomic_load(&p->stop) && !p->head) {
            p->idle++;
            pthread_cond_wait(&p->work, &p->lock);
            p->idle--;
        }
        if (atomic_load(&p->stop))
            break;
        struct sftp_job *j = p->head;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        j->state = JOB_RUNNING;
        pthread_mutex_unlock(&p->lock);

        run_job(j, &conn, buf);

        pthread_mutex_lock(&p->lock);
        j->state = JOB_ENDED;
        if (atomic_load(&j->dropped))
            job_free(j);
        else if (write(p->wake[1], "", 1) < 0) {
            /* A full pipe has wake-ups enough already. */
        }
    }
    pthread_mutex_unlock(&p->lock);
    sshconn_close(conn);
    free(buf);
    return NULL;
}

/* ---- the pool ------------------------------------------------------------------ */

struct sftp_pool *sftp_pool_new(const struct ssh_where *where, int max_threads)
{
    struct sftp_pool *p = xcalloc(1, sizeof *p);
    p->where.user = where->user ? xstrdup(where->user) : NULL;
    p->where.host = xstrdup(where->host);
    p->where.port = where->port;
    p->max_threads = max_threads > 0 ? max_threads : 1;
    p->threads = xcalloc((size_t)p->max_threads, sizeof *p->threads);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    if (pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) != 0)
        p->wake[0] = p->wake[1] = -1;
    return p;
}

/* Under the lock: a thread for a new job when none is idle. */
static void add_thread(struct sftp_pool *p)
{
    if (p->idle > 0 || p->n_threads >= p->max_threads)
        return;
    /* Signals stay with the main thread, whose handlers stop the run. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    if (pthread_create(&p->threads[p->n_threads], NULL, worker, p) == 0)
        p->n_threads++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static struct sftp_job *submit(struct sftp_pool *p, enum job_kind kind, const char *remote, int fd,
                               long long offset, long long length, const char *final,
                               unsigned mode, long long mtime)
{
    struct sftp_job *j = xcalloc(1, sizeof *j);
    j->pool = p;
    j->kind = kind;
    j->remote = xstrdup(remote);
    j->final = final ? xstrdup(final) : NULL;
    j->mode = mode;
    j->mtime = mtime;
    j->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (j->fd < 0)
        err_sys(&j->err, FERRY_EFAIL, errno, "%s: cannot keep the local file open", remote);
    j->offset = offset;
    j->length = length;
    atomic_init(&j->done, 0);
    atomic_init(&j->dropped, false);
    pthread_mutex_lock(&p->lock);
    if (j->fd < 0) {
        j->state = JOB_ENDED;
        pthread_mutex_unlock(&p->lock);
        return j;
    }
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    add_thread(p);
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);
    return j;
}

struct sftp_job *sftp_pool_read(struct sftp_pool *p, const char *remote, int fd,
                                long long offset, long long length)
{
    return submit(p, JOB_READ, remote, fd, offset, length, NULL, 0, 0);
}

struct sftp_job *sftp_pool_write(struct sftp_pool *p, const char *remote, int fd,
                                 long long offset, long long length)
{
    return submit(p, JOB_WRITE, remote, fd, offset, length, NULL, 0, 0);
}

struct sftp_job *sftp_pool_put(struct sftp_pool *p, const char *part, const char *final, int fd,
                               long long size, unsigned mode, long long mtime)
{
    return submit(p, JOB_PUT, part, fd, 0, size, final, mode, mtime);
}

int sftp_job_poll(struct sftp_job *j, long long *moved, struct ferry_error *err)
{
    struct sftp_pool *p = j->pool;
    long long done = atomic_load(&j->done);
    /* A file sent again from its start counts only past what was told. */
    *moved = done > j->reported ? done - j->reported : 0;
    if (done > j->reported)
        j->reported = done;
    pthread_mutex_lock(&p->lock);
    bool ended = j->state == JOB_ENDED;
    pthread_mutex_unlock(&p->lock);
    if (*moved > 0)
        return SFTP_JOB_MOVED;
    if (!ended)
        return SFTP_JOB_WAITING;
    if (j->err.code != 0) {
        if (err)
            *err = j->err;
        return j->err.code;
    }
    return 0;
}

void sftp_job_free(struct sftp_job *j)
{
    if (!j)
        return;
    struct sftp_pool *p = j->pool;
    pthread_mutex_lock(&p->lock);
    if (j->state == JOB_RUNNING) {
        atomic_store(&j->dropped, true);
        j = NULL;
    } else if (j->state == JOB_QUEUED) {
        struct sftp_job **at = &p->head, *prev = NULL;
        while (*at && *at != j) {
            prev = *at;
            at = &(*at)->next;
        }
        if (*at)
            *at = j->next;
        if (p->tail == j)
            p->tail = prev;
    }
    pthread_mutex_unlock(&p->lock);
    if (j)
        job_free(j);
}

void sftp_pool_wait(struct sftp_pool *p, int ms)
{
    if (p->wake[0] < 0)
        return;
    struct pollfd pfd = {.fd = p->wake[0], .events = POLLIN};
    if (poll(&pfd, 1, ms) > 0) {
        char sink[64];
        while (read(p->wake[0], sink, sizeof sink) > 0) {
        }
    }
}

void sftp_pool_free(struct sftp_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    /* Whatever the threads did not take, or ended without a poller. */
    for (struct sftp_job *j = p->head, *next; j; j = next) {
        next = j->next;
        job_free(j);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work);
    if (p->wake[0] >= 0) {
        close(p->wake[0]);
        close(p->wake[1]);
    }
    free(p->threads);
    free(p->where.user);
    free(p->where.host);
    free(p);
}

#include "ferry/sched.h"
#include "ferry/log.h"
#include "ferry/signals.h"
#include "ferry/work.h"
#include "ferry/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum sched_tag {
    TAG_REQUEST = 101,   /* worker -> 0: progress bytes, signal seen, results */
    TAG_WORK,            /* 0 -> worker: a batch of items */
    TAG_STOP,            /* 0 -> worker: no more work; the run's status */
    TAG_PROGRESS,        /* worker -> 0: bytes moved since the last report */
};

#define SCHED_STEP_BYTES (4LL << 20)        /* between two looks at the mailbox */
#define SCHED_BATCH_MAX 256                 /* items in one batch */
#define SCHED_PROGRESS_EVERY 0.5            /* seconds between a worker's reports */

/* A queued item on rank 0: small, since a million files make a million. */
struct queued {
    enum work_kind kind;
    long long index;                        /* into plan->transfer or plan->deletes */
    long long offset, length;
};

struct file_state {
    long long chunks_left;
    bool failed;
};

struct sched {
    MPI_Comm comm;
    int size;
    const struct plan *plan;
    struct backend *src, *dst;
    const struct sched_options *opts;
    struct sched_report *report;

    struct queued *queue;                   /* largest first */
    size_t n_queue, next;
    long long queued_bytes;                 /* not yet handed out */
    struct queued *urgent;                  /* finalize items, served first */
    size_t n_urgent, cap_urgent;
    struct file_state *files;
    long long outstanding;                  /* handed out, no result yet */

    int *idle;                              /* workers waiting for a batch */
    int n_idle;
    int n_stopped;
    bool stopping;

    struct work_run self;
    bool self_busy;
};

void sched_version(long long size, long long mtime, char *buf, size_t len)
{
    snprintf(buf, len, "%lld:%lld", size, mtime);
}

static void enqueue(struct sched *s, size_t *cap, struct queued q)
{
    xgrow((void **)&s->queue, cap, s->n_queue + 1, sizeof *s->queue);
    s->queue[s->n_queue++] = q;
    s->queued_bytes += q.length;
}

static void push_urgent(struct sched *s, struct queued q)
{
    xgrow((void **)&s->urgent, &s->cap_urgent, s->n_urgent + 1, sizeof *s->urgent);
    s->urgent[s->n_urgent++] = q;
}

/* Chunks of a big file, less those the journal says are already written. */
static void enqueue_chunks(struct sched *s, size_t *cap, long long index)
{
    const struct plan_file *f = &s->plan->transfer[index];
    long long chunk = s->opts->chunk_size;
    char version[64];
    sched_version(f->size, f->mtime, version, sizeof version);
    /* A journalled chunk counts only if the part file still reaches past it. */
    long long part = s->opts->journal ? s->dst->ops->part_size(s->dst, f->path) : -1;

    for (long long off = 0; off < f->size; off += chunk) {
        long long len = f->size - off < chunk ? f->size - off : chunk;
        if (part >= off + len && journal_has_chunk(s->opts->journal, f->path, version, off, len)) {
            s->report->bytes_resumed += len;
            continue;
        }
        s->files[index].chunks_left++;
        enqueue(s, cap, (struct queued){WORK_COPY, index, off, len});
    }
    if (s->files[index].chunks_left == 0)
        push_urgent(s, (struct queued){WORK_FINALIZE, index, 0, 0});
}

/* Round by round: the first chunk of every big file, then the second, ...;
 * within a round, larger files (lower plan index) first. */
static int compare_rounds(const void *a, const void *b, void *chunk_size)
{
    const struct queued *x = a, *y = b;
    long long chunk = *(const long long *)chunk_size;
    long long rx = x->offset / chunk, ry = y->offset / chunk;
    if (rx != ry)
        return rx < ry ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* The plan lists files largest first, so big files' chunks come before whole
 * small files.  The chunks are dealt round-robin over the big files: ranks
 * working at the same time then mostly write different files, where writes
 * to one file would queue on its inode lock.  Deletes come last. */
static void build_queue(struct sched *s)
{
    size_t cap = 0, n_chunks = 0;
    s->files = xcalloc(s->plan->n_transfer + 1, sizeof *s->files);
    for (size_t i = 0; i < s->plan->n_transfer; i++) {
        const struct plan_file *f = &s->plan->transfer[i];
        if (f->size > s->opts->chunk_size) {
            enqueue_chunks(s, &cap, (long long)i);
            n_chunks = s->n_queue;
        } else {
            enqueue(s, &cap, (struct queued){WORK_COPY, (long long)i, 0, f->size});
        }
    }
    long long chunk = s->opts->chunk_size;
    qsort_r(s->queue, n_chunks, sizeof *s->queue, compare_rounds, &chunk);
    for (size_t i = 0; i < s->plan->n_deletes; i++)
        enqueue(s, &cap, (struct queued){WORK_DELETE, (long long)i, 0, 0});
}

/* The next item to hand out, skipping chunks of files that already failed. */
static bool take(struct sched *s, struct queued *q)
{
    if (s->n_urgent) {
        *q = s->urgent[--s->n_urgent];
        return true;
    }
    while (s->next < s->n_queue) {
        *q = s->queue[s->next++];
        s->queued_bytes -= q->length;
        if (q->kind == WORK_COPY && s->files[q->index].failed) {
            s->files[q->index].chunks_left--;
            continue;
        }
        return true;
    }
    return false;
}

static bool have_work(const struct sched *s)
{
    return s->n_urgent > 0 || s->next < s->n_queue;
}

static void item_of(const struct sched *s, const struct queued *q, struct work_item *item)
{
    memset(item, 0, sizeof *item);
    item->kind = q->kind;
    item->file = q->index;
    item->offset = q->offset;
    item->length = q->length;
    if (q->kind == WORK_DELETE) {
        item->path = s->plan->deletes[q->index];
        return;
    }
    const struct plan_file *f = &s->plan->transfer[q->index];
    item->path = f->path;
    item->size = f->size;
    item->mtime = f->mtime;
    item->mode = f->mode;
    item->whole = q->kind == WORK_COPY && q->length == f->size && f->size <= s->opts->chunk_size;
    item->sync = s->opts->fsync;
}

/* Pack a batch: enough bytes to keep a rank busy for a while, but small
 * enough near the end that every rank finishes at about the same time. */
static int fill_batch(struct sched *s, struct pack *out)
{
    long long target = s->queued_bytes / (4LL * s->size);
    if (target > s->opts->chunk_size)
        target = s->opts->chunk_size;
    long long bytes = 0;
    int count = 0;
    struct queued q;
    while (count < SCHED_BATCH_MAX && (count == 0 || bytes < target) && take(s, &q)) {
        struct work_item item;
        item_of(s, &q, &item);
        work_pack(out, &item);
        bytes += q.length;
        count++;
    }
    s->outstanding += count;
    s->report->items += count;
    return count;
}

static void fail_file(struct sched *s, const char *path, const char *reason)
{
    struct sched_report *r = s->report;
    FLOG(LOG_ERROR, "%s", reason);
    r->failures = xrealloc(r->failures, (r->n_failures + 1) * sizeof *r->failures);
    r->failures[r->n_failures++] = (struct sched_failure){xstrdup(path), xstrdup(reason)};
    r->files_failed++;
}

static void journal_file(struct sched *s, const struct plan_file *f)
{
    char version[64];
    sched_version(f->size, f->mtime, version, sizeof version);
    if (s->opts->journal)
        journal_add_file(s->opts->journal, f->path, version);
    s->report->files_done++;
    if (s->opts->progress)
        progress_add(s->opts->progress, 1, 0);
}

static void on_copy_done(struct sched *s, const struct work_result *r)
{
    const struct plan_file *f = &s->plan->transfer[r->file];
    struct file_state *fs = &s->files[r->file];
    s->report->bytes_done += r->length;
    if (r->length == f->size && f->size <= s->opts->chunk_size) {
        journal_file(s, f);
        return;
    }
    char version[64];
    sched_version(f->size, f->mtime, version, sizeof version);
    if (s->opts->journal)
        journal_add_chunk(s->opts->journal, f->path, version, r->offset, r->length);
    if (--fs->chunks_left == 0 && !fs->failed)
        push_urgent(s, (struct queued){WORK_FINALIZE, r->file, 0, 0});
}

static void on_result(struct sched *s, const struct work_result *r)
{
    s->outstanding--;
    if (r->status == FERRY_EINTR)
        return;
    if (r->kind == WORK_DELETE) {
        if (r->status == 0)
            s->report->files_deleted++;
        else
            fail_file(s, s->plan->deletes[r->file], r->message);
        return;
    }
    const struct plan_file *f = &s->plan->transfer[r->file];
    struct file_state *fs = &s->files[r->file];
    if (r->status != 0) {
        if (r->kind == WORK_COPY && f->size > s->opts->chunk_size)
            fs->chunks_left--;
        if (!fs->failed)
            fail_file(s, f->path, r->message);
        fs->failed = true;
        return;
    }
    if (r->kind == WORK_FINALIZE)
        journal_file(s, f);
    else
        on_copy_done(s, r);
}

static void on_request(struct sched *s, int source, struct pack *in)
{
    long long bytes = unpack_i64(in);
    if (unpack_i64(in) != 0 && !s->stopping) {
        FLOG(LOG_WARN, "rank %d was signalled: stopping", source);
        s->stopping = true;
    }
    if (s->opts->progress)
        progress_add(s->opts->progress, 0, bytes);
    while (!pack_done(in)) {
        struct work_result r;
        work_result_unpack(in, &r);
        on_result(s, &r);
        work_result_free(&r);
    }
    s->idle[s->n_idle++] = source;
}

/* Receive everything waiting in the mailbox.  Returns true if anything came. */
static bool serve_mailbox(struct sched *s)
{
    bool any = false;
    for (;;) {
        int flag;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, s->comm, &flag, &st);
        if (!flag)
            return any;
        any = true;
        int len;
        MPI_Get_count(&st, MPI_BYTE, &len);
        unsigned char *buf = xmalloc((size_t)len);
        MPI_Recv(buf, len, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, s->comm, MPI_STATUS_IGNORE);
        struct pack in;
        pack_wrap(&in, buf, (size_t)len);
        if (st.MPI_TAG == TAG_PROGRESS && s->opts->progress)
            progress_add(s->opts->progress, 0, unpack_i64(&in));
        else if (st.MPI_TAG == TAG_REQUEST)
            on_request(s, st.MPI_SOURCE, &in);
        free(buf);
    }
}

static int run_status(const struct sched *s)
{
    if (s->stopping)
        return FERRY_EINTR;
    return s->report->files_failed ? FERRY_EFAIL : 0;
}

static bool all_done(const struct sched *s)
{
    return !have_work(s) && s->outstanding == 0;
}

/* Answer waiting workers: a batch, or stop when nothing more can come. */
static void answer_idle(struct sched *s)
{
    struct pack out;
    pack_init(&out);
    while (s->n_idle > 0) {
        int rank = s->idle[s->n_idle - 1];
        if (s->stopping || all_done(s)) {
            int status = run_status(s);
            MPI_Send(&status, (int)sizeof status, MPI_BYTE, rank, TAG_STOP, s->comm);
            s->n_stopped++;
        } else {
            pack_clear(&out);
            if (fill_batch(s, &out) == 0)
                break;       /* finalize items may still come: keep it waiting */
            MPI_Send(out.data, (int)out.len, MPI_BYTE, rank, TAG_WORK, s->comm);
        }
        s->n_idle--;
    }
    pack_free(&out);
}

static void finish_self(struct sched *s, int status, const char *message)
{
    struct work_result r = {
        .kind = s->self.item.kind, .file = s->self.item.file,
        .offset = s->self.item.offset, .length = s->self.item.length,
        .status = status, .message = (char *)message,
    };
    work_run_end(&s->self);
    s->self_busy = false;
    on_result(s, &r);
}

/* Rank 0's own share: one step of its current item, or a new item. */
static bool work_self(struct sched *s)
{
    if (!s->self_busy) {
        struct queued q;
        if (s->stopping || !take(s, &q))
            return false;
        struct work_item item;
        item_of(s, &q, &item);
        item.path = xstrdup(item.path);
        work_run_start(&s->self, &item);
        s->self_busy = true;
        s->outstanding++;
        s->report->items++;
        s->report->items_self++;
    }
    if (s->stopping) {
        finish_self(s, FERRY_EINTR, NULL);
        return true;
    }
    struct ferry_error err = {0};
    long long moved;
    int rc = work_run_step(&s->self, s->src, s->dst, SCHED_STEP_BYTES, &moved, &err);
    if (s->opts->progress)
        progress_add(s->opts->progress, 0, moved);
    if (rc <= 0)
        finish_self(s, rc, err.msg);
    return true;
}

static void rank0_loop(struct sched *s)
{
    int workers = s->size - 1;
    while (s->n_stopped < workers || s->self_busy || (!s->stopping && !all_done(s))) {
        if (!s->stopping && signals_pending()) {
            FLOG(LOG_WARN, "signal %d: stopping after the work in flight", signals_pending());
            s->stopping = true;
        }
        bool busy = serve_mailbox(s);
        answer_idle(s);
        busy |= work_self(s);
        if (s->opts->progress)
            progress_tick(s->opts->progress);
        if (s->opts->journal)
            journal_tick(s->opts->journal);
        if (!busy)
            nanosleep(&(struct timespec){0, 100000}, NULL);
    }
}

/* A worker: run a batch, report, ask again, until told to stop. */
struct worker {
    MPI_Comm comm;
    struct backend *src, *dst;
    struct pack results;
    long long unreported;
    double last_report;
};

static void worker_send_progress(struct worker *w)
{
    double now = progress_now();
    if (now - w->last_report < SCHED_PROGRESS_EVERY || w->unreported == 0)
        return;
    int64_t bytes = w->unreported;
    MPI_Send(&bytes, (int)sizeof bytes, MPI_BYTE, 0, TAG_PROGRESS, w->comm);
    w->unreported = 0;
    w->last_report = now;
}

static void worker_run_item(struct worker *w, struct work_item *item)
{
    struct work_run run;
    struct ferry_error err = {0};
    work_run_start(&run, item);
    int rc;
    do {
        long long moved = 0;
        rc = signals_pending() ? FERRY_EINTR
           : work_run_step(&run, w->src, w->dst, SCHED_STEP_BYTES, &moved, &err);
        w->unreported += moved;
        worker_send_progress(w);
    } while (rc > 0);
    struct work_result r = {
        .kind = run.item.kind, .file = run.item.file, .offset = run.item.offset,
        .length = run.item.length, .status = rc, .message = rc ? err.msg : NULL,
    };
    work_result_pack(&w->results, &r);
    work_run_end(&run);
}

static void worker_request(struct worker *w)
{
    struct pack out;
    pack_init(&out);
    pack_i64(&out, w->unreported);
    pack_i64(&out, signals_pending());
    out.data = xrealloc(out.data, out.len + w->results.len);
    memcpy(out.data + out.len, w->results.data, w->results.len);
    out.len += w->results.len;
    MPI_Send(out.data, (int)out.len, MPI_BYTE, 0, TAG_REQUEST, w->comm);
    pack_free(&out);
    pack_clear(&w->results);
    w->unreported = 0;
    w->last_report = progress_now();
}

static int worker_loop(MPI_Comm comm, struct backend *src, struct backend *dst)
{
    struct worker w = {.comm = comm, .src = src, .dst = dst};
    pack_init(&w.results);
    int status = 0;
    for (;;) {
        worker_request(&w);
        MPI_Status st;
        MPI_Probe(0, MPI_ANY_TAG, comm, &st);
        int len;
        MPI_Get_count(&st, MPI_BYTE, &len);
        unsigned char *buf = xmalloc((size_t)len);
        MPI_Recv(buf, len, MPI_BYTE, 0, st.MPI_TAG, comm, MPI_STATUS_IGNORE);
        if (st.MPI_TAG == TAG_STOP) {
            memcpy(&status, buf, sizeof status);
            free(buf);
            break;
        }
        struct pack in;
        pack_wrap(&in, buf, (size_t)len);
        while (!pack_done(&in)) {
            struct work_item item;
            work_unpack(&in, &item);
            worker_run_item(&w, &item);
        }
        free(buf);
    }
    pack_free(&w.results);
    return status;
}

int sched_run(MPI_Comm comm, const struct plan *plan, struct backend *src,
              struct backend *dst, const struct sched_options *opts,
              struct sched_report *report)
{
    /* A communicator of its own, so no other traffic can match its tags. */
    MPI_Comm own;
    MPI_Comm_dup(comm, &own);
    int rank, size;
    MPI_Comm_rank(own, &rank);
    MPI_Comm_size(own, &size);
    memset(report, 0, sizeof *report);
    if (rank != 0) {
        int status = worker_loop(own, src, dst);
        MPI_Comm_free(&own);
        return status;
    }

    double start = progress_now();
    struct sched s = {
        .comm = own, .size = size, .plan = plan, .src = src, .dst = dst,
        .opts = opts, .report = report,
    };
    s.idle = xcalloc((size_t)size, sizeof *s.idle);
    build_queue(&s);
    if (opts->progress)
        progress_add(opts->progress, 0, report->bytes_resumed);
    rank0_loop(&s);
    report->interrupted = s.stopping;
    report->seconds = progress_now() - start;
    free(s.queue);
    free(s.urgent);
    free(s.files);
    free(s.idle);
    MPI_Comm_free(&own);
    return run_status(&s);
}

void sched_report_free(struct sched_report *report)
{
    for (size_t i = 0; i < report->n_failures; i++) {
        free(report->failures[i].path);
        free(report->failures[i].reason);
    }
    free(report->failures);
    memset(report, 0, sizeof *report);
}

#include "ferry/sched.h"
#include "ferry/limiter.h"
#include "ferry/log.h"
#include "ferry/signals.h"
#include "ferry/work.h"
#include "ferry/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum sched_tag {
    TAG_REQUEST = 101,   /* worker -> 0: progress bytes, signal seen, results */
    TAG_WORK,            /* 0 -> worker: a batch of items */
    TAG_STOP,            /* 0 -> worker: no more work; the run's status */
    TAG_PROGRESS,        /* worker -> 0: bytes moved, archive bytes read, entries extracted */
    TAG_RESULTS,         /* worker -> 0: results and progress, without asking for work */
};

#define SCHED_STEP_BYTES (4LL << 20)        /* between two looks at the mailbox */
#define SCHED_BATCH_MAX 256                 /* items in one batch */
#define SCHED_PROGRESS_EVERY 0.5            /* seconds between a worker's reports */
#define SCHED_NET_WAIT_MS 2                 /* longest a rank blocks on the network */
#define SCHED_ZIP_PART_MIN (32LL << 20)     /* a zip is cut into parts no smaller */

/* A queued item on rank 0: small, since a million files make a million. */
struct queued {
    enum work_kind kind;
    long long index;                        /* into plan->transfer, plan->deletes or parts */
    long long offset, length;               /* bytes; WORK_STAGE: entries, weight */
};

/* An archive being extracted, and the parts it was dealt out in. */
struct archive_state {
    char *path;                             /* on disk */
    char *key;                              /* in the extract journal */
    long long size, mtime;
    long long parts_left;
    bool failed;
};

struct archive_part {
    long long archive;                      /* index into archives */
    long long first, count;                 /* its entries */
};

struct file_state {
    long long chunks_left;
    bool failed;
    bool refetched;                         /* its hash mismatched once already */
};

/* The items one rank runs at once: one for local copies (the disk is the
 * limit), --connections for a remote source (the network's latency is). */
struct runner {
    struct backend *src, *dst;
    struct work_run *runs;
    bool *busy;
    int slots, active;
    const struct sched_stage_ops *stage;    /* runs WORK_STAGE items */
    long long uploads, upload_bytes;        /* WORK_UPLOAD items this rank sent */
};

/* The batches of an upload: what each waits for, and what it holds. */
struct batches {
    long long *pending;                     /* per batch: items handed out or queued */
    size_t *files, *file_start;             /* file indices by batch; n_batches + 1 starts */
    size_t *deletes, *delete_start;
    int next;                               /* the first batch not finished */
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
    int *want;                              /* items each idle worker has room for */
    int n_idle;
    int n_stopped;
    bool stopping;

    char **locations;                       /* per file: a URL resolved up front, or NULL */
    struct runner self;

    struct archive_state *archives;
    size_t n_archives, cap_archives;
    struct archive_part *parts;
    size_t n_parts, cap_parts;

    struct upload_plan *up;                 /* NULL: every file by RANGES */
    struct batches batches;
};

struct sched_kind {
    void (*describe)(const struct sched *s, const struct queued *q, struct work_item *item);
    bool (*skip)(struct sched *s, const struct queued *q);
    void (*done)(struct sched *s, const struct work_result *r);
};
static const struct sched_kind sched_kinds[WORK_KINDS];
static void item_of(const struct sched *s, const struct queued *q, struct work_item *item);

void sched_version(long long size, long long mtime, char *buf, size_t len)
{
    snprintf(buf, len, "%lld:%lld", size, mtime);
}

/* A journal record's version: the content hash where the source has one (a
 * new commit that changes the file never matches), else size and mtime. */
static void file_version(const struct plan_file *f, char *buf, size_t len)
{
    if (f->etag)
        snprintf(buf, len, "%s", f->etag);
    else
        sched_version(f->size, f->mtime, buf, len);
}

void sched_catalog_version(const char *etag, long long size, long long mtime, char *buf,
                           size_t len)
{
    snprintf(buf, len, "%s:%lld:%lld", etag, size, mtime);
}

/* Is file index split into chunks?  Files above the chunk size are, except
 * where a remote source could not say where a big file is served from: then
 * every chunk would cost a resolve call of its own, so it goes whole. */
static bool chunked(const struct sched *s, long long index)
{
    if (s->up && s->up->files[index].way != WRITE_RANGES)
        return false;
    if (s->plan->transfer[index].size <= s->opts->chunk_size)
        return false;
    return !s->src->ops->locate || (s->locations && s->locations[index]);
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
    char version[160];
    file_version(f, version, sizeof version);
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

/* Deal an archive out to be extracted, ahead of the transfers still
 * queued: one item, or a big zip's parts (by its entries). */
static void queue_archive(struct sched *s, const char *path, long long size, long long mtime)
{
    const struct sched_stage_target *x = s->opts->stage_target;
    struct archive_state a = {
        .path = x->root ? xasprintf("%s/%s", x->root, path) : xstrdup(path),
        .size = size, .mtime = mtime,
    };
    a.key = s->opts->stage->journal_key(a.path);
    s->report->archives++;
    long long part_bytes = size / (4LL * s->size);
    if (part_bytes < SCHED_ZIP_PART_MIN)
        part_bytes = SCHED_ZIP_PART_MIN;
    struct stage_part *parts;
    size_t n;
    struct ferry_error err = {0};
    if (s->opts->stage->split(a.path, size, part_bytes, &parts, &n, &err) != 0) {
        sched_report_fail(s->report, a.path, err.msg);
        s->report->archives_failed++;
        free(parts);
        free(a.path);
        free(a.key);
        return;
    }
    xgrow((void **)&s->archives, &s->cap_archives, s->n_archives + 1, sizeof *s->archives);
    a.parts_left = (long long)n;
    long long index = (long long)s->n_archives;
    s->archives[s->n_archives++] = a;
    for (size_t k = 0; k < n; k++) {
        xgrow((void **)&s->parts, &s->cap_parts, s->n_parts + 1, sizeof *s->parts);
        s->parts[s->n_parts] = (struct archive_part){index, parts[k].first, parts[k].count};
        push_urgent(s, (struct queued){WORK_STAGE, (long long)s->n_parts++, 0,
                                       parts[k].weight});
    }
    free(parts);
}

/* A file the destination sends itself: its parts as items, or none (inline
 * or stored: only its batch's finish remains). */
static void enqueue_upload(struct sched *s, size_t *cap, long long index)
{
    const struct plan_file *f = &s->plan->transfer[index];
    const struct upload_file *u = &s->up->files[index];
    if (u->way == WRITE_FAILED) {
        sched_report_fail(s->report, f->path, u->reason ? u->reason : "cannot be uploaded");
        s->files[index].failed = true;
        return;
    }
    /* What the remote holds already counts as moved, so progress reaches the end. */
    if (u->way == WRITE_STORED && s->opts->progress)
        progress_add(s->opts->progress, 0, f->size);
    for (int k = 0; u->way == WRITE_PARTS && k < u->n_parts; k++) {
        long long off = (long long)k * u->part_bytes;
        long long len = k == u->n_parts - 1 ? f->size - off : u->part_bytes;
        if (u->receipts[k]) {        /* stored by an earlier run: not sent again */
            s->report->bytes_resumed += len;
            continue;
        }
        enqueue(s, cap, (struct queued){WORK_UPLOAD, index, off, len});
        s->batches.pending[u->batch]++;
    }
}

/* Uploads go out batch by batch, so that a batch can be finished while the
 * next one uploads; largest first within a batch. */
static int compare_batches(const void *a, const void *b, void *up)
{
    const struct queued *x = a, *y = b;
    const struct upload_file *files = ((const struct upload_plan *)up)->files;
    int bx = files[x->index].batch, by = files[y->index].batch;
    if (bx != by)
        return bx < by ? -1 : 1;
    return (x->length < y->length) - (x->length > y->length);
}

/* Index lists (counting sort) of which files and deletes each batch holds. */
static size_t *by_batch(const int *batch_of, size_t stride, size_t n, int n_batches,
                        size_t **start)
{
    *start = xcalloc((size_t)n_batches + 2, sizeof **start);
    for (size_t i = 0; i < n; i++) {
        int b = *(const int *)((const char *)batch_of + i * stride);
        if (b >= 0 && b < n_batches)
            (*start)[b + 2]++;
    }
    for (int b = 2; b < n_batches + 2; b++)
        (*start)[b] += (*start)[b - 1];
    size_t *list = xcalloc(n + 1, sizeof *list);
    for (size_t i = 0; i < n; i++) {
        int b = *(const int *)((const char *)batch_of + i * stride);
        if (b >= 0 && b < n_batches)
            list[(*start)[b + 1]++] = i;
    }
    return list;
}

static void build_batches(struct sched *s)
{
    struct batches *b = &s->batches;
    int n = s->up->n_batches;
    b->pending = xcalloc((size_t)n + 1, sizeof *b->pending);
    b->files = by_batch(&s->up->files[0].batch, sizeof *s->up->files, s->plan->n_transfer, n,
                        &b->file_start);
    int none = -1;
    const int *deletes = s->up->delete_batch ? s->up->delete_batch : &none;
    b->deletes = by_batch(deletes, s->up->delete_batch ? sizeof *deletes : 0,
                          s->up->delete_batch ? s->plan->n_deletes : 0, n, &b->delete_start);
}

/* The plan lists files largest first, so big files' chunks come before whole
 * small files.  The chunks are dealt round-robin over the big files: ranks
 * working at the same time then mostly write different files, where writes
 * to one file would queue on its inode lock.  Deletes come last. */
static void build_queue(struct sched *s)
{
    size_t cap = 0, n_chunks = 0;
    s->files = xcalloc(s->plan->n_transfer + 1, sizeof *s->files);
    if (s->up)
        build_batches(s);
    for (size_t i = 0; i < s->plan->n_transfer; i++) {
        const struct plan_file *f = &s->plan->transfer[i];
        if (s->up && s->up->files[i].way != WRITE_RANGES) {
            enqueue_upload(s, &cap, (long long)i);
        } else if (chunked(s, (long long)i)) {
            enqueue_chunks(s, &cap, (long long)i);
            n_chunks = s->n_queue;
        } else {
            enqueue(s, &cap, (struct queued){WORK_COPY, (long long)i, 0, f->size});
        }
    }
    long long chunk = s->opts->chunk_size;
    if (s->up)
        qsort_r(s->queue, s->n_queue, sizeof *s->queue, compare_batches, s->up);
    else
        qsort_r(s->queue, n_chunks, sizeof *s->queue, compare_rounds, &chunk);
    for (size_t i = 0; (!s->up || !s->up->delete_batch) && i < s->plan->n_deletes; i++)
        enqueue(s, &cap, (struct queued){WORK_DELETE, (long long)i, 0, 0});
    /* Urgent items go last in, first out: the smallest archive in first. */
    for (size_t i = s->plan->n_unpack; s->opts->stage_target && i-- > 0;) {
        const struct plan_file *f = &s->plan->unpack[i];
        queue_archive(s, f->path, f->size, f->mtime);
    }
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
        if (sched_kinds[q->kind].skip && sched_kinds[q->kind].skip(s, q))
            continue;
        return true;
    }
    return false;
}

static bool have_work(const struct sched *s)
{
    return s->n_urgent > 0 || s->next < s->n_queue;
}

static void describe_delete(const struct sched *s, const struct queued *q, struct work_item *item)
{
    item->path = s->plan->deletes[q->index];
}

static void describe_extract(const struct sched *s, const struct queued *q,
                             struct work_item *item)
{
    const struct archive_part *p = &s->parts[q->index];
    item->path = s->archives[p->archive].path;
    item->offset = p->first;
    item->length = p->count;
    item->size = q->length;
    item->dest = (char *)s->opts->stage_target->dest;
    item->overwrite = s->opts->stage_target->overwrite;
}

static void describe_file(const struct sched *s, const struct queued *q, struct work_item *item)
{
    const struct plan_file *f = &s->plan->transfer[q->index];
    item->path = f->path;
    item->size = f->size;
    item->mtime = f->mtime;
    item->mode = f->mode;
    item->etag = f->etag;
    item->url = s->locations ? s->locations[q->index] : NULL;
    item->sync = s->opts->fsync;
}

static void describe_copy(const struct sched *s, const struct queued *q, struct work_item *item)
{
    describe_file(s, q, item);
    item->whole = !chunked(s, q->index);
}

static void describe_upload(const struct sched *s, const struct queued *q, struct work_item *item)
{
    describe_file(s, q, item);
    const struct upload_file *u = &s->up->files[q->index];
    item->part = u->n_parts == 1 ? 1 : (int)(q->offset / u->part_bytes) + 1;
    item->url = u->targets[item->part - 1];
}

/* Pack a batch: enough bytes to keep a rank busy for a while, but small
 * enough near the end that every rank finishes at about the same time. */
static int fill_batch(struct sched *s, struct pack *out, int want)
{
    long long target = s->queued_bytes / (4LL * s->size);
    if (target > s->opts->chunk_size)
        target = s->opts->chunk_size;
    long long bytes = 0;
    int count = 0;
    struct queued q;
    while (count < SCHED_BATCH_MAX && (count < want || bytes < target) && take(s, &q)) {
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

void sched_report_fail(struct sched_report *r, const char *path, const char *reason)
{
    FLOG(LOG_ERROR, "%s", reason);
    r->failures = xrealloc(r->failures, (r->n_failures + 1) * sizeof *r->failures);
    r->failures[r->n_failures++] = (struct sched_failure){xstrdup(path), xstrdup(reason)};
    r->files_failed++;
}

static void fail_file(struct sched *s, const char *path, const char *reason)
{
    sched_report_fail(s->report, path, reason);
}

static void journal_file(struct sched *s, const struct plan_file *f)
{
    char version[160];
    file_version(f, version, sizeof version);
    if (s->opts->journal)
        journal_add_file(s->opts->journal, f->path, version);
    if (f->etag && s->opts->catalog && !s->up) {
        /* The commit gave the file f->mtime: that is what a rerun will see. */
        sched_catalog_version(f->etag, f->size, f->mtime, version, sizeof version);
        journal_add_file(s->opts->catalog, f->path, version);
    }
    s->report->files_done++;
    if (s->opts->progress)
        progress_add(s->opts->progress, 1, 0);
    if (s->opts->stage_target && s->opts->stage->feeds(f->path))
        queue_archive(s, f->path, f->size, f->mtime);
}

/* A part of an archive is extracted (or failed, or was stopped). */
static void on_extracted(struct sched *s, const struct work_result *r)
{
    const struct sched_stage_target *x = s->opts->stage_target;
    struct archive_state *a = &s->archives[s->parts[r->file].archive];
    work_counts_add(&s->report->entries, &r->counts);
    if (r->status == FERRY_EINTR)
        return;
    if (r->status != 0 && !a->failed) {
        a->failed = true;
        s->report->archives_failed++;
        sched_report_fail(s->report, a->path, r->message);
    }
    if (--a->parts_left > 0 || a->failed)
        return;
    char version[64];
    sched_version(a->size, a->mtime, version, sizeof version);
    if (x->journal)
        journal_add_file(x->journal, a->key, version);
    s->report->archives_done++;
    if (s->opts->progress && !s->src)   /* ferry extract: its progress counts archives */
        progress_add(s->opts->progress, 1, 0);
    if (x->remove_archive && unlink(a->path) != 0)
        FLOG(LOG_WARN, "%s: extracted, but not removed: %s", a->path, strerror(errno));
}

static void on_copy_done(struct sched *s, const struct work_result *r)
{
    const struct plan_file *f = &s->plan->transfer[r->file];
    struct file_state *fs = &s->files[r->file];
    s->report->bytes_done += r->length;
    if (!chunked(s, r->file)) {
        journal_file(s, f);
        return;
    }
    char version[160];
    file_version(f, version, sizeof version);
    if (s->opts->journal)
        journal_add_chunk(s->opts->journal, f->path, version, r->offset, r->length);
    if (--fs->chunks_left == 0 && !fs->failed)
        push_urgent(s, (struct queued){WORK_FINALIZE, r->file, 0, 0});
}

/* A file whose bytes did not match its hash is fetched once more, whole. */
static void fetch_again(struct sched *s, const struct work_result *r, const struct plan_file *f,
                        struct file_state *fs)
{
    FLOG(LOG_WARN, "%s; fetching it again", r->message);
    fs->refetched = true;
    long long index = r->file, chunk = s->opts->chunk_size;
    if (!chunked(s, index)) {
        push_urgent(s, (struct queued){WORK_COPY, index, 0, f->size});
        return;
    }
    for (long long off = 0; off < f->size; off += chunk) {
        fs->chunks_left++;
        push_urgent(s, (struct queued){WORK_COPY, index, off,
                                       f->size - off < chunk ? f->size - off : chunk});
    }
}

/* A part the destination sent: keep its receipt for the batch's finish. */
static void on_uploaded(struct sched *s, const struct work_result *r)
{
    struct upload_file *u = &s->up->files[r->file];
    s->batches.pending[u->batch]--;
    if (r->status == FERRY_EINTR)
        return;
    if (r->status != 0) {
        if (!s->files[r->file].failed)
            fail_file(s, s->plan->transfer[r->file].path, r->message);
        s->files[r->file].failed = true;
        u->way = WRITE_FAILED;
        if (!u->reason)
            u->reason = xstrdup(r->message);
        return;
    }
    free(u->receipts[r->part - 1]);
    u->receipts[r->part - 1] = r->receipt ? xstrdup(r->receipt) : NULL;
}

static struct scene_outcome *scene_outcome_of(struct sched *s, const char *path)
{
    const char *slash = strchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 0;
    for (size_t i = 0; i < s->report->n_scenes; i++) {
        const char *name = s->report->scenes[i].name;
        if (strlen(name) == len && strncmp(name, path, len) == 0)
            return &s->report->scenes[i];
    }
    return NULL;
}

/* A file of a finished batch (rc: the finish's outcome, msg its reason). */
static void batch_file_done(struct sched *s, size_t index, int rc, const char *msg)
{
    const struct plan_file *f = &s->plan->transfer[index];
    const struct upload_file *u = &s->up->files[index];
    if (u->way == WRITE_SKIPPED || s->files[index].failed)
        return;
    s->files[index].failed = rc != 0 || u->way == WRITE_FAILED;
    if (s->files[index].failed) {
        fail_file(s, f->path, rc != 0 ? msg : u->reason ? u->reason : "not put in place");
        return;
    }
    s->report->bytes_done += f->size;
    struct scene_outcome *o = scene_outcome_of(s, f->path);
    if (o) {
        o->files_up++;
        o->bytes_up += f->size;
    }
    if (u->way == WRITE_INLINE && s->opts->progress)
        progress_add(s->opts->progress, 0, f->size);
    journal_file(s, f);
}

static void batch_delete_done(struct sched *s, size_t index, int rc, const char *msg)
{
    const char *path = s->plan->deletes[index];
    if (rc != 0) {
        fail_file(s, path, msg);
        return;
    }
    s->report->files_deleted++;
    struct scene_outcome *o = scene_outcome_of(s, path);
    if (o)
        o->files_deleted++;
}

static bool batches_left(const struct sched *s)
{
    return s->up && s->batches.next < s->up->n_batches;
}

/* Rank 0: finish every batch whose items are all done, in order (each
 * commit builds on the one before).  Not once stopping: a rerun commits. */
static void finish_batches(struct sched *s)
{
    struct batches *b = &s->batches;
    while (!s->stopping && batches_left(s) && b->pending[b->next] == 0) {
        int batch = b->next++;
        struct ferry_error err = {0};
        int rc = s->dst->ops->finish_batch
               ? s->dst->ops->finish_batch(s->dst, s->up, batch, &err) : 0;
        for (size_t k = b->file_start[batch]; k < b->file_start[batch + 1]; k++)
            batch_file_done(s, b->files[k], rc, err.msg);
        for (size_t k = b->delete_start[batch]; k < b->delete_start[batch + 1]; k++)
            batch_delete_done(s, b->deletes[k], rc, err.msg);
    }
}

static void on_deleted(struct sched *s, const struct work_result *r)
{
    if (r->status == 0)
        s->report->files_deleted++;
    else if (r->status != FERRY_EINTR)
        fail_file(s, s->plan->deletes[r->file], r->message);
}

/* A copy or a finalize that failed: fetched again once if its bytes did not
 * match, else the file fails.  False when r went well. */
static bool file_failed(struct sched *s, const struct work_result *r, bool chunk)
{
    if (r->status == 0)
        return false;
    if (r->status == FERRY_EINTR)
        return true;
    const struct plan_file *f = &s->plan->transfer[r->file];
    struct file_state *fs = &s->files[r->file];
    if (r->status == FERRY_EINTEGRITY && !fs->refetched && !fs->failed) {
        fetch_again(s, r, f, fs);
        return true;
    }
    if (chunk)
        fs->chunks_left--;
    if (!fs->failed)
        fail_file(s, f->path, r->message);
    fs->failed = true;
    return true;
}

static void on_copied(struct sched *s, const struct work_result *r)
{
    if (!file_failed(s, r, chunked(s, r->file)))
        on_copy_done(s, r);
}

static void on_finalized(struct sched *s, const struct work_result *r)
{
    if (!file_failed(s, r, false))
        journal_file(s, &s->plan->transfer[r->file]);
}

/* Queued chunks and parts of a file that failed are dropped, not handed out. */
static bool skip_chunk(struct sched *s, const struct queued *q)
{
    if (!s->files[q->index].failed)
        return false;
    s->files[q->index].chunks_left--;
    return true;
}

static bool skip_part(struct sched *s, const struct queued *q)
{
    if (!s->files[q->index].failed)
        return false;
    s->batches.pending[s->up->files[q->index].batch]--;
    return true;
}

/* Rank 0's side of each kind of item: what a queued one becomes when handed
 * out, whether to drop it instead, what its result does.  (How an item runs
 * on a rank is work_builtin[], in work.c.)  A new kind is one line here. */
static const struct sched_kind sched_kinds[WORK_KINDS] = {
    [WORK_COPY] = {describe_copy, skip_chunk, on_copied},
    [WORK_FINALIZE] = {describe_file, NULL, on_finalized},
    [WORK_DELETE] = {describe_delete, NULL, on_deleted},
    [WORK_STAGE] = {describe_extract, NULL, on_extracted},
    [WORK_UPLOAD] = {describe_upload, skip_part, on_uploaded},
};

static void item_of(const struct sched *s, const struct queued *q, struct work_item *item)
{
    memset(item, 0, sizeof *item);
    item->kind = q->kind;
    item->file = q->index;
    item->offset = q->offset;
    item->length = q->length;
    sched_kinds[q->kind].describe(s, q, item);
}

static void on_result(struct sched *s, const struct work_result *r)
{
    s->outstanding--;
    sched_kinds[r->kind].done(s, r);
}

/* What ranks report: the bytes transferred, the archive bytes extraction
 * read, the entries it extracted.  Where the run only extracts (ferry
 * extract) the archives' bytes are its bytes; where it transfers too, they
 * are shown apart, so that no figure counts a byte twice. */
static void add_progress(struct sched *s, long long moved, long long unpacked, long long entries)
{
    struct progress *p = s->opts->progress;
    if (!p)
        return;
    progress_add(p, 0, s->src ? moved : moved + unpacked);
    if (s->src)
        progress_add_unpacked(p, unpacked);
    progress_add_entries(p, entries);
}

static void on_request(struct sched *s, int source, struct pack *in, bool asks)
{
    int want = (int)unpack_i64(in);
    long long bytes = unpack_i64(in), unpacked = unpack_i64(in), entries = unpack_i64(in);
    if (unpack_i64(in) != 0 && !s->stopping) {
        FLOG(LOG_WARN, "rank %d was signalled: stopping", source);
        s->stopping = true;
    }
    add_progress(s, bytes, unpacked, entries);
    while (!pack_done(in)) {
        struct work_result r;
        work_result_unpack(in, &r);
        on_result(s, &r);
        work_result_free(&r);
    }
    if (asks) {
        s->want[s->n_idle] = want;
        s->idle[s->n_idle++] = source;
    }
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
        if (st.MPI_TAG == TAG_PROGRESS) {
            long long moved = unpack_i64(&in), unpacked = unpack_i64(&in);
            add_progress(s, moved, unpacked, unpack_i64(&in));
        } else if (st.MPI_TAG == TAG_REQUEST || st.MPI_TAG == TAG_RESULTS)
            on_request(s, st.MPI_SOURCE, &in, st.MPI_TAG == TAG_REQUEST);
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
            if (fill_batch(s, &out, s->want[s->n_idle - 1]) == 0)
                break;       /* finalize items may still come: keep it waiting */
            MPI_Send(out.data, (int)out.len, MPI_BYTE, rank, TAG_WORK, s->comm);
        }
        s->n_idle--;
    }
    pack_free(&out);
}

/* ---- a rank's items in flight ---------------------------------------- */

static void runner_init(struct runner *r, struct backend *src, struct backend *dst, int slots,
                        const struct sched_stage_ops *stage)
{
    memset(r, 0, sizeof *r);
    r->stage = stage;
    r->src = src;
    r->dst = dst;
    bool network = (src && src->ops->read_start) || (dst && dst->ops->write_poll);
    r->slots = network ? slots : 1;
    r->runs = xcalloc((size_t)r->slots, sizeof *r->runs);
    r->busy = xcalloc((size_t)r->slots, sizeof *r->busy);
}

/* The network is driven by whichever end has one (a remote source's reads,
 * a remote destination's writes). */
static struct backend *runner_net(const struct runner *r)
{
    if (r->src && r->src->ops->wait)
        return r->src;
    return r->dst && r->dst->ops->wait ? r->dst : NULL;
}

static void runner_free(struct runner *r)
{
    if (r->uploads) {
        char text[32];
        plan_format_bytes(r->upload_bytes, text, sizeof text);
        FLOG(LOG_INFO, "this rank uploaded %lld objects and parts, %s", r->uploads, text);
    }
    free(r->runs);
    free(r->busy);
}

static int runner_free_slots(const struct runner *r)
{
    return r->slots - r->active;
}

/* Start an item (taking ownership of it) in a free slot. */
static void runner_add(struct runner *r, struct work_item *item)
{
    for (int i = 0; i < r->slots; i++) {
        if (!r->busy[i]) {
            work_run_start(&r->runs[i], item);
            r->runs[i].stage = r->stage;
            r->busy[i] = true;
            r->active++;
            return;
        }
    }
}

typedef void (*result_fn)(void *ud, const struct work_result *result);

static void runner_end(struct runner *r, int i, int status, const char *message,
                       result_fn done, void *ud)
{
    const struct work_item *it = &r->runs[i].item;
    struct work_result res = {
        .kind = it->kind, .file = it->file, .offset = it->offset, .length = it->length,
        .part = it->part, .status = status, .message = status ? (char *)message : NULL,
        .counts = r->runs[i].counts, .receipt = r->runs[i].receipt,
    };
    if (it->kind == WORK_UPLOAD && status == 0) {
        r->uploads++;
        r->upload_bytes += it->length;
    }
    done(ud, &res);
    work_run_end(&r->runs[i], r->src, r->dst);
    r->busy[i] = false;
    r->active--;
}

static long long entries_of(const struct work_run *run)
{
    return run->counts.extracted + run->counts.skipped + run->counts.refused + run->counts.failed;
}

/* One step of every item; *moved gets the bytes transferred, *unpacked the
 * archive bytes extraction read, *entries the entries it went through.
 * Returns true when something happened (bytes, an item finished).  A remote
 * source's network is driven first, blocking briefly only when every item
 * was waiting. */
static bool runner_step(struct runner *r, bool waited_last, long long *moved,
                        long long *unpacked, long long *entries, result_fn done, void *ud)
{
    *moved = *unpacked = *entries = 0;
    if (r->active == 0)
        return false;
    struct backend *net = runner_net(r);
    if (net)
        net->ops->wait(net, waited_last ? SCHED_NET_WAIT_MS : 0);
    bool busy = false;
    for (int i = 0; i < r->slots; i++) {
        if (!r->busy[i])
            continue;
        struct ferry_error err = {0};
        long long n = 0, before = entries_of(&r->runs[i]);
        int rc = signals_pending() ? FERRY_EINTR
               : work_run_step(&r->runs[i], r->src, r->dst, SCHED_STEP_BYTES, &n, &err);
        *(work_builtin[r->runs[i].item.kind].unpacks ? unpacked : moved) += n;
        *entries += entries_of(&r->runs[i]) - before;
        if (rc == WORK_WAITING) {
            busy |= n > 0;
            continue;
        }
        busy = true;
        if (rc <= 0)
            runner_end(r, i, rc, err.msg, done, ud);
    }
    return busy;
}

/* Interrupt everything in flight (a stop signal). */
static void runner_stop(struct runner *r, result_fn done, void *ud)
{
    for (int i = 0; i < r->slots; i++)
        if (r->busy[i])
            runner_end(r, i, FERRY_EINTR, NULL, done, ud);
}

/* ---- rank 0 ------------------------------------------------------------- */

static void self_result(void *ud, const struct work_result *r)
{
    on_result(ud, r);
}

/* Rank 0's own share: keep its slots full, step them.  True if busy. */
static bool work_self(struct sched *s, bool waited_last, bool *waiting)
{
    struct queued q;
    while (!s->stopping && runner_free_slots(&s->self) > 0 && take(s, &q)) {
        struct work_item item;
        item_of(s, &q, &item);
        item.path = xstrdup(item.path);
        item.etag = item.etag ? xstrdup(item.etag) : NULL;
        item.url = item.url ? xstrdup(item.url) : NULL;
        item.dest = item.dest ? xstrdup(item.dest) : NULL;
        runner_add(&s->self, &item);
        s->outstanding++;
        s->report->items++;
        s->report->items_self++;
    }
    if (s->stopping) {
        runner_stop(&s->self, self_result, s);
        return false;
    }
    long long moved, unpacked, entries;
    bool busy = runner_step(&s->self, waited_last, &moved, &unpacked, &entries, self_result, s);
    add_progress(s, moved, unpacked, entries);
    *waiting = s->self.active > 0 && !busy && runner_net(&s->self);
    return busy;
}

static void rank0_loop(struct sched *s)
{
    int workers = s->size - 1;
    bool waited = false;
    while (s->n_stopped < workers || s->self.active > 0 ||
           (!s->stopping && (!all_done(s) || batches_left(s)))) {
        if (!s->stopping && signals_pending()) {
            FLOG(LOG_WARN, "signal %d: stopping after the work in flight", signals_pending());
            s->stopping = true;
        }
        bool busy = serve_mailbox(s);
        answer_idle(s);
        limiter_poll();         /* other ranks' leases of Hub calls */
        bool waiting = false;
        busy |= work_self(s, waited, &waiting);
        waited = waiting;
        finish_batches(s);
        if (s->opts->progress)
            progress_tick(s->opts->progress);
        if (s->opts->journal)
            journal_tick(s->opts->journal);
        if (s->opts->catalog)
            journal_tick(s->opts->catalog);
        if (!busy && !waiting)
            nanosleep(&(struct timespec){0, 100000}, NULL);
    }
}

/* ---- the other ranks ---------------------------------------------------- */

/* A worker keeps its slots busy: it asks rank 0 for more while it still has
 * items queued, so the network never idles waiting for a round trip. */
struct worker {
    MPI_Comm comm;
    struct runner runner;
    struct work_item *queue;        /* received, not started */
    size_t n_queue, queue_cap, queue_next;
    struct pack results;
    long long unreported, unreported_unpacked, unreported_entries;
    double last_report;
    bool asked;                     /* a request is out, no answer yet */
};

static void worker_result(void *ud, const struct work_result *r)
{
    struct worker *w = ud;
    work_result_pack(&w->results, r);
}

static size_t worker_queued(const struct worker *w)
{
    return w->n_queue - w->queue_next;
}

/* tag TAG_REQUEST asks for items, TAG_RESULTS only reports. */
static void worker_send(struct worker *w, int tag)
{
    struct pack out;
    pack_init(&out);
    int free_slots = runner_free_slots(&w->runner) - (int)worker_queued(w);
    pack_i64(&out, free_slots > 0 ? free_slots : 1);
    pack_i64(&out, w->unreported);
    pack_i64(&out, w->unreported_unpacked);
    pack_i64(&out, w->unreported_entries);
    pack_i64(&out, signals_pending());
    out.data = xrealloc(out.data, out.len + w->results.len);
    memcpy(out.data + out.len, w->results.data, w->results.len);
    out.len += w->results.len;
    MPI_Send(out.data, (int)out.len, MPI_BYTE, 0, tag, w->comm);
    pack_free(&out);
    pack_clear(&w->results);
    w->unreported = w->unreported_unpacked = w->unreported_entries = 0;
    w->last_report = progress_now();
    if (tag == TAG_REQUEST)
        w->asked = true;
}

/* Results go back at once when nothing else will carry them soon, progress
 * at most every SCHED_PROGRESS_EVERY seconds. */
static void worker_report(struct worker *w)
{
    bool due = progress_now() - w->last_report >= SCHED_PROGRESS_EVERY;
    if (w->results.len > 0 && (due || w->runner.active == 0 || w->asked))
        worker_send(w, TAG_RESULTS);
    else if (due && (w->unreported > 0 || w->unreported_unpacked > 0 ||
                     w->unreported_entries > 0)) {
        int64_t counts[3] = {w->unreported, w->unreported_unpacked, w->unreported_entries};
        MPI_Send(counts, (int)sizeof counts, MPI_BYTE, 0, TAG_PROGRESS, w->comm);
        w->unreported = w->unreported_unpacked = w->unreported_entries = 0;
        w->last_report = progress_now();
    }
}

/* The answer to a request: a batch (queued) or stop (true, with status). */
static bool worker_receive(struct worker *w, bool block, int *status)
{
    int flag;
    MPI_Status st;
    /* Polled with pauses rather than MPI_Probe, which spins a core: on a
     * node with as many ranks as cores that core is another rank's. */
    for (;;) {
        MPI_Iprobe(0, MPI_ANY_TAG, w->comm, &flag, &st);
        if (flag || !block)
            break;
        nanosleep(&(struct timespec){0, 200000}, NULL);
    }
    if (!flag)
        return false;
    int len;
    MPI_Get_count(&st, MPI_BYTE, &len);
    unsigned char *buf = xmalloc((size_t)len);
    MPI_Recv(buf, len, MPI_BYTE, 0, st.MPI_TAG, w->comm, MPI_STATUS_IGNORE);
    w->asked = false;
    if (st.MPI_TAG == TAG_STOP) {
        memcpy(status, buf, sizeof *status);
        free(buf);
        return true;
    }
    struct pack in;
    pack_wrap(&in, buf, (size_t)len);
    if (w->queue_next == w->n_queue)
        w->queue_next = w->n_queue = 0;
    while (!pack_done(&in)) {
        xgrow((void **)&w->queue, &w->queue_cap, w->n_queue + 1, sizeof *w->queue);
        work_unpack(&in, &w->queue[w->n_queue++]);
    }
    free(buf);
    return false;
}

static int worker_loop(MPI_Comm comm, struct backend *src, struct backend *dst, int slots,
                       const struct sched_stage_ops *stage)
{
    struct worker w = {.comm = comm};
    runner_init(&w.runner, src, dst, slots, stage);
    pack_init(&w.results);
    int status = 0;
    bool waited = false;
    for (;;) {
        while (runner_free_slots(&w.runner) > 0 && worker_queued(&w) > 0)
            runner_add(&w.runner, &w.queue[w.queue_next++]);
        /* Ask for more before the queue runs dry (low water: nothing queued,
         * items still running).  Once signalled, ask only when all is
         * stopped: the request tells rank 0, and its answer is stop. */
        if (!w.asked && worker_queued(&w) == 0 && (!signals_pending() || w.runner.active == 0))
            worker_send(&w, TAG_REQUEST);
        bool idle = w.runner.active == 0 && worker_queued(&w) == 0;
        if (worker_receive(&w, idle, &status))
            break;
        limiter_poll();
        long long moved, unpacked, entries;
        bool busy = runner_step(&w.runner, waited, &moved, &unpacked, &entries, worker_result,
                                &w);
        waited = w.runner.active > 0 && !busy && runner_net(&w.runner);
        w.unreported += moved;
        w.unreported_unpacked += unpacked;
        w.unreported_entries += entries;
        worker_report(&w);
        if (!busy && !waited && !idle)
            nanosleep(&(struct timespec){0, 100000}, NULL);
    }
    /* Rank 0 only says stop with items out when the run is being stopped. */
    runner_stop(&w.runner, worker_result, &w);
    for (size_t i = w.queue_next; i < w.n_queue; i++)
        work_item_free(&w.queue[i]);
    free(w.queue);
    runner_free(&w.runner);
    pack_free(&w.results);
    return status;
}

/* An upload reports what each scene did. */
static void report_scenes(struct sched *s)
{
    const struct plan *plan = s->plan;
    s->report->scenes = xcalloc(plan->n_scenes + 1, sizeof *s->report->scenes);
    s->report->n_scenes = plan->n_scenes;
    for (size_t i = 0; i < plan->n_scenes; i++)
        s->report->scenes[i] = (struct scene_outcome){
            .name = xstrdup(plan->scenes[i].name),
            .files_unchanged = plan->scenes[i].unchanged.files,
            .bytes_unchanged = plan->scenes[i].unchanged.bytes,
        };
}

/* Resolve big files' download URLs once, up front, so their chunks (on any
 * rank) need no resolve call each. */
static void locate_big_files(struct sched *s)
{
    if (!s->src || !s->src->ops->locate)
        return;
    char **paths = NULL;
    long long *which = NULL;
    size_t n = 0;
    for (size_t i = 0; i < s->plan->n_transfer; i++) {
        if (s->plan->transfer[i].size <= s->opts->chunk_size)
            continue;
        paths = xrealloc(paths, (n + 1) * sizeof *paths);
        which = xrealloc(which, (n + 1) * sizeof *which);
        paths[n] = s->plan->transfer[i].path;
        which[n++] = (long long)i;
    }
    if (n == 0)
        return;
    char **found = xcalloc(n, sizeof *found);
    s->src->ops->locate(s->src, paths, n, found);
    s->locations = xcalloc(s->plan->n_transfer, sizeof *s->locations);
    for (size_t i = 0; i < n; i++)
        s->locations[which[i]] = found[i];
    free(found);
    free(paths);
    free(which);
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
    int slots = opts->connections > 0 ? opts->connections : SCHED_DEFAULT_CONNECTIONS;
    if (rank != 0) {
        int status = worker_loop(own, src, dst, slots, opts->stage);
        MPI_Comm_free(&own);
        return status;
    }

    double start = progress_now();
    struct sched s = {
        .comm = own, .size = size, .plan = plan, .src = src, .dst = dst,
        .opts = opts, .report = report, .up = opts->upload,
    };
    s.idle = xcalloc((size_t)size, sizeof *s.idle);
    s.want = xcalloc((size_t)size, sizeof *s.want);
    runner_init(&s.self, src, dst, slots, opts->stage);
    locate_big_files(&s);
    if (s.up)
        report_scenes(&s);
    build_queue(&s);
    if (opts->progress)
        progress_add(opts->progress, 0, report->bytes_resumed);
    rank0_loop(&s);
    report->interrupted = s.stopping;
    report->seconds = progress_now() - start;
    for (size_t i = 0; i < s.n_archives; i++) {
        free(s.archives[i].path);
        free(s.archives[i].key);
    }
    free(s.archives);
    free(s.parts);
    free(s.batches.pending);
    free(s.batches.files);
    free(s.batches.file_start);
    free(s.batches.deletes);
    free(s.batches.delete_start);
    free(s.queue);
    free(s.urgent);
    free(s.files);
    free(s.idle);
    free(s.want);
    runner_free(&s.self);
    if (s.locations)
        for (size_t i = 0; i < plan->n_transfer; i++)
            free(s.locations[i]);
    free(s.locations);
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
    for (size_t i = 0; i < report->n_scenes; i++)
        free(report->scenes[i].name);
    free(report->scenes);
    memset(report, 0, sizeof *report);
}

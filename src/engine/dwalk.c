#include "ferry/dwalk.h"
#include "ferry/comm.h"
#include "ferry/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Tags of the dealer's messages, apart from the scheduler's. */
#define TAG_ASK 0x4677   /* to rank 0: the tasks a finished task added, and a request */
#define TAG_TASK 0x4678  /* from rank 0: tasks to run */
#define TAG_STOP 0x4679  /* from rank 0: nothing is left */

/* The most tasks one request gets: bounds how much more than its share of
 * the largest tasks one rank can be given. */
#define DWALK_HAND_OUT 8

void dwalk_queue_add(struct dwalk_queue *q, const struct pack *task)
{
    xgrow((void **)&q->tasks, &q->cap, q->count + 1, sizeof *q->tasks);
    struct pack *copy = &q->tasks[q->count++];
    pack_init(copy);
    xgrow((void **)&copy->data, &copy->cap, task->len ? task->len : 1, 1);
    memcpy(copy->data, task->data, task->len);
    copy->len = task->len;
}

void dwalk_queue_free(struct dwalk_queue *q)
{
    for (size_t i = q->head; i < q->count; i++)
        pack_free(&q->tasks[i]);
    free(q->tasks);
    memset(q, 0, sizeof *q);
}

static bool queue_empty(const struct dwalk_queue *q)
{
    return q->head == q->count;
}

/* Move the first (or last) task into *task, which the caller frees. */
static void queue_take(struct dwalk_queue *q, bool front, struct pack *task)
{
    *task = front ? q->tasks[q->head++] : q->tasks[--q->count];
    if (queue_empty(q))
        q->head = q->count = 0;
}

/* A message holds tasks as length, bytes; each. */
static void message_add(struct pack *msg, const struct pack *task)
{
    pack_u64(msg, task->len);
    xgrow((void **)&msg->data, &msg->cap, msg->len + task->len, 1);
    memcpy(msg->data + msg->len, task->data, task->len);
    msg->len += task->len;
}

/* A request: what the tasks run since the last one did, then the tasks
 * they added, emptying the queue. */
static void queue_pack(struct dwalk_queue *q, struct pack *out)
{
    pack_clear(out);
    pack_u64(out, (uint64_t)q->done);
    q->done = 0;
    for (size_t i = q->head; i < q->count; i++) {
        message_add(out, &q->tasks[i]);
        pack_free(&q->tasks[i]);
    }
    q->head = q->count = 0;
}

/* A message's tasks into q; a request's count of work done first. */
static void queue_unpack(struct dwalk_queue *q, const unsigned char *data, size_t len,
                         bool request)
{
    struct pack in;
    pack_wrap(&in, data, len);
    if (request)
        q->done += (long long)unpack_u64(&in);
    while (!pack_done(&in)) {
        uint64_t n = unpack_u64(&in);
        if (in.bad || n > in.len - in.pos)
            return;
        struct pack task;
        pack_wrap(&task, in.data + in.pos, n);
        dwalk_queue_add(q, &task);
        in.pos += n;
    }
}

/* Receive the next message from source with tag (either may be a
 * wildcard), polling with short sleeps: a blocking receive spins a core
 * that another rank on the node needs. */
static unsigned char *receive(MPI_Comm comm, int source, int tag, MPI_Status *st, int *len)
{
    int found = 0;
    for (;;) {
        MPI_Iprobe(source, tag, comm, &found, st);
        if (found)
            break;
        nanosleep(&(struct timespec){0, 100000}, NULL);
    }
    MPI_Get_count(st, MPI_BYTE, len);
    unsigned char *buf = xmalloc((size_t)*len + 1);
    MPI_Recv(buf, *len, MPI_BYTE, st->MPI_SOURCE, st->MPI_TAG, comm, MPI_STATUS_IGNORE);
    return buf;
}

static void work_for_rank0(MPI_Comm comm, dwalk_task_fn run, void *ud)
{
    struct dwalk_queue more = {0}, todo = {0};
    struct pack msg;
    pack_init(&msg);
    for (;;) {
        queue_pack(&more, &msg);
        MPI_Send(msg.data, (int)msg.len, MPI_BYTE, 0, TAG_ASK, comm);
        MPI_Status st;
        int len;
        unsigned char *buf = receive(comm, 0, MPI_ANY_TAG, &st, &len);
        if (st.MPI_TAG == TAG_STOP) {
            free(buf);
            break;
        }
        queue_unpack(&todo, buf, (size_t)len, false);
        free(buf);
        while (!queue_empty(&todo)) {
            struct pack task;
            queue_take(&todo, true, &task);
            run(ud, &task, &more);
            pack_free(&task);
        }
    }
    pack_free(&msg);
    dwalk_queue_free(&more);
    dwalk_queue_free(&todo);
}

/* Rank 0: the tasks for one request, from the front: a share of what is
 * left that shrinks as the queue does (guided self-scheduling), so a rank
 * does not wait on rank 0 for each small folder, and the last tasks still
 * spread over every rank. */
static void hand_out(struct dwalk_queue *q, int size, struct pack *msg)
{
    size_t n = (q->count - q->head) / (2 * (size_t)size);
    n = n < 1 ? 1 : n > DWALK_HAND_OUT ? DWALK_HAND_OUT : n;
    pack_clear(msg);
    for (size_t i = 0; i < n && !queue_empty(q); i++) {
        struct pack task;
        queue_take(q, true, &task);
        message_add(msg, &task);
        pack_free(&task);
    }
}

/* Rank 0: take the requests that have come (the tasks they add go to the
 * queue, the ranks to idle); with wait_all, wait until every other rank is
 * idle. */
static void take_requests(MPI_Comm comm, int size, struct dwalk_queue *q, int *idle, int *n_idle,
                          bool wait_all)
{
    for (;;) {
        int found = 0, len;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_ASK, comm, &found, &st);
        if (!found && (!wait_all || *n_idle == size - 1))
            return;
        if (!found) {
            nanosleep(&(struct timespec){0, 100000}, NULL);
            continue;
        }
        unsigned char *buf = receive(comm, st.MPI_SOURCE, TAG_ASK, &st, &len);
        queue_unpack(q, buf, (size_t)len, true);
        free(buf);
        idle[(*n_idle)++] = st.MPI_SOURCE;
    }
}

/* Rank 0, when its queue is empty: add more tasks to q and say so, or
 * say there are no more. */
typedef bool (*feed_fn)(void *ud, struct dwalk_queue *q);

static void deal_from_rank0(MPI_Comm comm, int size, struct dwalk_queue *q, dwalk_task_fn run,
                            feed_fn feed, void *ud)
{
    int *idle = xcalloc((size_t)size, sizeof *idle), n_idle = 0;
    struct pack msg;
    pack_init(&msg);
    /* Every rank's first request before the first task: a rank that comes
     * late to the walk still gets its share of the first folders. */
    take_requests(comm, size, q, idle, &n_idle, true);
    for (;;) {
        take_requests(comm, size, q, idle, &n_idle, false);
        while (n_idle > 0 && !queue_empty(q)) {
            hand_out(q, size, &msg);
            MPI_Send(msg.data, (int)msg.len, MPI_BYTE, idle[--n_idle], TAG_TASK, comm);
        }
        if (queue_empty(q) && feed && feed(ud, q))
            continue;
        if (!queue_empty(q)) {
            struct pack task;
            queue_take(q, false, &task);
            run(ud, &task, q);
            pack_free(&task);
        } else if (n_idle == size - 1) {
            break;
        } else {
            nanosleep(&(struct timespec){0, 100000}, NULL);
        }
    }
    for (int r = 1; r < size; r++)
        MPI_Send(NULL, 0, MPI_BYTE, r, TAG_STOP, comm);
    pack_free(&msg);
    free(idle);
}

static void deal(MPI_Comm comm, struct dwalk_queue *queue, dwalk_task_fn run, feed_fn feed,
                 void *ud)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (rank == 0)
        deal_from_rank0(comm, size, queue, run, feed, ud);
    else
        work_for_rank0(comm, run, ud);
}

void dwalk_deal(MPI_Comm comm, struct dwalk_queue *queue, dwalk_task_fn run, void *ud)
{
    deal(comm, queue, run, NULL, ud);
}

static int size_desc(const void *a, const void *b, void *sizes_)
{
    const long long *sizes = sizes_;
    long long x = sizes[*(const size_t *)a], y = sizes[*(const size_t *)b];
    return (x < y) - (x > y);
}

void dwalk_queue_largest_first(struct dwalk_queue *q, const long long *sizes, size_t n,
                               dwalk_pack_item_fn pack_item, void *ud)
{
    size_t *order = xcalloc(n ? n : 1, sizeof *order);
    for (size_t k = 0; k < n; k++)
        order[k] = k;
    qsort_r(order, n, sizeof *order, size_desc, (void *)sizes);
    struct pack task;
    pack_init(&task);
    for (size_t k = 0; k < n;) {
        size_t count = 0;
        long long bytes = 0;
        while (k + count < n && count < DWALK_TASK_FILES &&
               (count == 0 || bytes + sizes[order[k + count]] <= DWALK_TASK_BYTES))
            bytes += sizes[order[k + count++]];
        pack_clear(&task);
        pack_u64(&task, count);
        for (size_t m = 0; m < count; m++)
            pack_item(ud, order[k + m], &task);
        dwalk_queue_add(q, &task);
        k += count;
    }
    pack_free(&task);
    free(order);
}

/* The walk's tasks: a folder to list, or a batch of a big folder's files. */
enum { TASK_FOLDER, TASK_FILES };

/* A walk's findings, kept by the rank that made them, one pack per top:
 * records of a file (path size mtime mode etag) or an error (message). */
enum { FOUND_FILE, FOUND_ERROR };

/* Rank 0 keeps its own findings as it will hand them out, not packed: one
 * copy of them, not two, while a top is taken. */
struct kept {
    struct dwalk_result r;
    size_t files_cap, errors_cap;
};

struct dwalk {
    struct backend *b;
    const struct pattern_filter *filter;
    struct dwalk_top *tops;  /* rank 0's copies */
    size_t n_tops;
    size_t walked;           /* the tops before this one are walked */
    size_t fed;              /* rank 0: the tops before this one are dealt */
    uint64_t top;            /* of the task being run */
    struct pack *found;      /* per top; rank 0's in kept */
    struct kept *kept;       /* rank 0: per top */
    long long folders, files;
};

static void keep_here(struct kept *k, size_t top, const struct file_meta *meta)
{
    xgrow((void **)&k->r.files, &k->files_cap, k->r.n_files + 1, sizeof *k->r.files);
    k->r.files[k->r.n_files++] = (struct dwalk_file){
        .path = xstrdup(meta->path), .size = meta->size, .mtime = meta->mtime, .mode = meta->mode,
        .etag = meta->etag && *meta->etag ? xstrdup(meta->etag) : NULL, .top = top};
}

static int keep_file(const struct file_meta *meta, void *ud)
{
    struct dwalk *w = ud;
    w->files++;
    if (w->filter && !pattern_filter_allows(w->filter, meta->path))
        return 0;
    if (w->kept) {
        keep_here(&w->kept[w->top], w->top, meta);
        return 0;
    }
    struct pack *p = &w->found[w->top];
    pack_u64(p, FOUND_FILE);
    pack_str(p, meta->path);
    pack_i64(p, meta->size);
    pack_i64(p, meta->mtime);
    pack_u64(p, meta->mode);
    pack_str(p, meta->etag ? meta->etag : "");
    return 0;
}

static void note_error(struct dwalk *w, int rc, const struct ferry_error *err)
{
    if (rc == 0 || rc == FERRY_ENOTFOUND)
        return;
    if (w->kept) {
        struct kept *k = &w->kept[w->top];
        xgrow((void **)&k->r.errors, &k->errors_cap, k->r.n_errors + 1, sizeof *k->r.errors);
        k->r.errors[k->r.n_errors++] = (struct dwalk_error){w->top, xstrdup(err->msg)};
        return;
    }
    pack_u64(&w->found[w->top], FOUND_ERROR);
    pack_str(&w->found[w->top], err->msg);
}

static void add_folder(struct dwalk_queue *q, uint64_t top, const char *dir, bool recursive)
{
    struct pack t;
    pack_init(&t);
    pack_u64(&t, TASK_FOLDER);
    pack_u64(&t, top);
    pack_u64(&t, recursive);
    pack_str(&t, dir);
    dwalk_queue_add(q, &t);
    pack_free(&t);
}

static void stat_batch(struct dwalk *w, char *const *paths, size_t n)
{
    struct ferry_error err = {0};
    note_error(w, w->b->ops->stat_files(w->b, paths, n, keep_file, w, &err), &err);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* List one folder: sub-folders back to rank 0, a few files looked at here,
 * many handed back in batches. */
static void walk_folder(struct dwalk *w, const char *dir, bool recursive,
                        struct dwalk_queue *more)
{
    char **dirs, **files;
    size_t n_dirs, n_files;
    struct ferry_error err = {0};
    int rc = w->b->ops->list_dir(w->b, dir, &dirs, &n_dirs, &files, &n_files, &err);
    if (rc != 0) {
        note_error(w, rc, &err);
        return;
    }
    w->folders++;
    /* Counted when listed, not when looked at: rank 0 learns of a big
     * folder before its batches are done, and stops the round in time. */
    more->done += (long long)n_files;
    for (size_t i = 0; recursive && i < n_dirs; i++)
        add_folder(more, w->top, dirs[i], true);
    if (n_files <= DWALK_BATCH) {
        stat_batch(w, files, n_files);
    } else {
        for (size_t i = 0; i < n_files; i += DWALK_BATCH) {
            size_t n = n_files - i < DWALK_BATCH ? n_files - i : DWALK_BATCH;
            struct pack t;
            pack_init(&t);
            pack_u64(&t, TASK_FILES);
            pack_u64(&t, w->top);
            pack_u64(&t, n);
            for (size_t k = 0; k < n; k++)
                pack_str(&t, files[i + k]);
            dwalk_queue_add(more, &t);
            pack_free(&t);
        }
    }
    free_names(dirs, n_dirs);
    free_names(files, n_files);
}

static void run_walk_task(void *ud, struct pack *task, struct dwalk_queue *more)
{
    struct dwalk *w = ud;
    uint64_t kind = unpack_u64(task);
    w->top = unpack_u64(task);
    if (kind == TASK_FOLDER) {
        bool recursive = unpack_u64(task) != 0;
        char *dir = unpack_str(task);
        walk_folder(w, dir, recursive, more);
        free(dir);
        return;
    }
    size_t n = unpack_u64(task);
    char **paths = xcalloc(n ? n : 1, sizeof *paths);
    for (size_t i = 0; i < n; i++)
        paths[i] = unpack_str(task);
    stat_batch(w, paths, n);
    free_names(paths, n);
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct dwalk_file *)a)->path, ((const struct dwalk_file *)b)->path);
}

/* Rank 0: records for one top added to out, whose arrays have the given
 * capacities. */
static void add_found(struct dwalk_result *out, size_t top, struct pack *in, size_t *files_cap,
                      size_t *errors_cap)
{
    while (!pack_done(in) && !in->bad) {
        if (unpack_u64(in) == FOUND_ERROR) {
            xgrow((void **)&out->errors, errors_cap, out->n_errors + 1, sizeof *out->errors);
            out->errors[out->n_errors++] = (struct dwalk_error){top, unpack_str(in)};
            continue;
        }
        xgrow((void **)&out->files, files_cap, out->n_files + 1, sizeof *out->files);
        struct dwalk_file *f = &out->files[out->n_files++];
        f->top = top;
        f->path = unpack_str(in);
        f->size = unpack_i64(in);
        f->mtime = unpack_i64(in);
        f->mode = (unsigned)unpack_u64(in);
        f->etag = unpack_str(in);
        if (!*f->etag) {
            free(f->etag);
            f->etag = NULL;
        }
    }
}

/* Rank 0, between tasks of a round: deal the next top, unless the round
 * has one already and its tops have listed their fill. */
static bool feed_top(void *ud, struct dwalk_queue *q)
{
    struct dwalk *w = ud;
    if (w->fed == w->n_tops || (w->fed > w->walked && q->done >= DWALK_ROUND_FILES))
        return false;
    add_folder(q, w->fed, w->tops[w->fed].dir, w->tops[w->fed].recursive);
    w->fed++;
    return true;
}

/* Rank 0: a source that cannot list a folder walks its tops here, as many
 * as a round takes. */
static void walk_round_here(struct dwalk *w)
{
    long long before = w->files;
    while (w->fed < w->n_tops && (w->fed == w->walked || w->files - before < DWALK_ROUND_FILES)) {
        struct ferry_error err = {0};
        const struct dwalk_top *t = &w->tops[w->fed];
        w->top = w->fed++;
        w->folders++;
        note_error(w, w->b->ops->walk(w->b, t->dir, t->recursive, keep_file, w, &err), &err);
    }
}

/* Collective: walk the next round of tops, from w->walked on. */
static void walk_round(MPI_Comm comm, struct dwalk *w)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (w->b->ops->list_dir && w->b->ops->stat_files) {
        struct dwalk_queue q = {0};
        deal(comm, &q, run_walk_task, feed_top, w);
        dwalk_queue_free(&q);
    } else if (rank == 0) {
        walk_round_here(w);
    }
    uint64_t end = w->fed;
    MPI_Bcast(&end, 1, MPI_UINT64_T, 0, comm);
    w->walked = w->fed = end;
}

void dwalk_take(MPI_Comm comm, struct dwalk *w, size_t top, struct dwalk_result *out)
{
    int rank, *lens, *offsets;
    MPI_Comm_rank(comm, &rank);
    memset(out, 0, sizeof *out);
    while (top >= w->walked && w->walked < w->n_tops)
        walk_round(comm, w);
    size_t files_cap = 0, errors_cap = 0;
    if (rank == 0) {
        struct kept *k = &w->kept[top];
        *out = k->r;
        files_cap = k->files_cap;
        errors_cap = k->errors_cap;
        memset(k, 0, sizeof *k);
    }
    struct pack all;
    comm_gather_packs(comm, &w->found[top], &all, &lens, &offsets);
    free(lens);
    free(offsets);
    pack_free(&w->found[top]);
    if (rank == 0)
        add_found(out, top, &all, &files_cap, &errors_cap);
    if (out->n_files)
        qsort(out->files, out->n_files, sizeof *out->files, by_path);
    pack_free(&all);
}

struct dwalk *dwalk_start(MPI_Comm comm, struct backend *b, const struct dwalk_top *tops,
                          size_t n_tops, const struct pattern_filter *filter)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    struct dwalk *w = xcalloc(1, sizeof *w);
    uint64_t n = n_tops;
    MPI_Bcast(&n, 1, MPI_UINT64_T, 0, comm);
    *w = (struct dwalk){.b = b, .filter = filter, .n_tops = n};
    w->found = xcalloc(n ? n : 1, sizeof *w->found);
    if (rank == 0) {
        w->kept = xcalloc(n ? n : 1, sizeof *w->kept);
        w->tops = xcalloc(n ? n : 1, sizeof *w->tops);
        for (size_t i = 0; i < n; i++)
            w->tops[i] = (struct dwalk_top){xstrdup(tops[i].dir), tops[i].recursive};
    }
    return w;
}

void dwalk_counts(const struct dwalk *w, long long *folders, long long *files)
{
    *folders += w->folders;
    *files += w->files;
}

void dwalk_end(struct dwalk *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_tops; i++) {
        pack_free(&w->found[i]);
        if (w->kept)
            dwalk_result_free(&w->kept[i].r);
        if (w->tops)
            free((char *)w->tops[i].dir);
    }
    free(w->kept);
    free(w->tops);
    free(w->found);
    free(w);
}

void dwalk_run(MPI_Comm comm, struct backend *b, const struct dwalk_top *tops, size_t n_tops,
               const struct pattern_filter *filter, struct dwalk_result *out)
{
    struct dwalk *w = dwalk_start(comm, b, tops, n_tops, filter);
    memset(out, 0, sizeof *out);
    size_t files_cap = 0, errors_cap = 0;
    for (size_t top = 0; top < w->n_tops; top++) {
        struct dwalk_result one;
        dwalk_take(comm, w, top, &one);
        xgrow((void **)&out->files, &files_cap, out->n_files + one.n_files + 1, sizeof *out->files);
        memcpy(out->files + out->n_files, one.files, one.n_files * sizeof *one.files);
        out->n_files += one.n_files;
        xgrow((void **)&out->errors, &errors_cap, out->n_errors + one.n_errors + 1,
              sizeof *out->errors);
        memcpy(out->errors + out->n_errors, one.errors, one.n_errors * sizeof *one.errors);
        out->n_errors += one.n_errors;
        free(one.files);
        free(one.errors);
    }
    out->folders_walked = w->folders;
    out->files_walked = w->files;
    dwalk_end(w);
}

void dwalk_result_free(struct dwalk_result *r)
{
    for (size_t i = 0; i < r->n_files; i++) {
        free(r->files[i].path);
        free(r->files[i].etag);
    }
    free(r->files);
    for (size_t i = 0; i < r->n_errors; i++)
        free(r->errors[i].msg);
    free(r->errors);
    memset(r, 0, sizeof *r);
}

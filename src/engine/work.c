#include "ferry/work.h"
#include "ferry/sched.h"
#include "ferry/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WORK_PLAIN_BUFFER (1 << 20)

void work_pack(struct pack *p, const struct work_item *item)
{
    pack_u64(p, item->kind);
    pack_i64(p, item->file);
    pack_i64(p, item->offset);
    pack_i64(p, item->length);
    pack_u64(p, item->whole);
    pack_u64(p, item->sync);
    pack_str(p, item->path);
    pack_i64(p, item->size);
    pack_i64(p, item->mtime);
    pack_u64(p, item->mode);
    pack_str(p, item->etag ? item->etag : "");
    pack_str(p, item->url ? item->url : "");
    pack_str(p, item->dest ? item->dest : "");
    pack_u64(p, item->overwrite);
    pack_i64(p, item->part);
}

/* "" on the wire is NULL in memory. */
static char *unpack_optional(struct pack *p)
{
    char *s = unpack_str(p);
    if (*s)
        return s;
    free(s);
    return NULL;
}

void work_unpack(struct pack *p, struct work_item *item)
{
    item->kind = (enum work_kind)unpack_u64(p);
    item->file = unpack_i64(p);
    item->offset = unpack_i64(p);
    item->length = unpack_i64(p);
    item->whole = unpack_u64(p);
    item->sync = unpack_u64(p);
    item->path = unpack_str(p);
    item->size = unpack_i64(p);
    item->mtime = unpack_i64(p);
    item->mode = (unsigned)unpack_u64(p);
    item->etag = unpack_optional(p);
    item->url = unpack_optional(p);
    item->dest = unpack_optional(p);
    item->overwrite = unpack_u64(p);
    item->part = (int)unpack_i64(p);
}

void work_item_free(struct work_item *item)
{
    free(item->path);
    free(item->etag);
    free(item->url);
    free(item->dest);
    item->path = item->etag = item->url = item->dest = NULL;
}

void work_result_pack(struct pack *p, const struct work_result *r)
{
    pack_u64(p, r->kind);
    pack_i64(p, r->file);
    pack_i64(p, r->offset);
    pack_i64(p, r->length);
    pack_i64(p, r->part);
    pack_i64(p, r->status);
    pack_str(p, r->message ? r->message : "");
    pack_str(p, r->receipt ? r->receipt : "");
    const struct stage_counts *c = &r->counts;
    pack_i64(p, c->extracted);
    pack_i64(p, c->skipped);
    pack_i64(p, c->refused);
    pack_i64(p, c->failed);
    pack_i64(p, c->bytes);
}

void work_result_unpack(struct pack *p, struct work_result *r)
{
    r->kind = (enum work_kind)unpack_u64(p);
    r->file = unpack_i64(p);
    r->offset = unpack_i64(p);
    r->length = unpack_i64(p);
    r->part = (int)unpack_i64(p);
    r->status = (int)unpack_i64(p);
    r->message = unpack_str(p);
    r->receipt = unpack_optional(p);
    struct stage_counts *c = &r->counts;
    c->extracted = unpack_i64(p);
    c->skipped = unpack_i64(p);
    c->refused = unpack_i64(p);
    c->failed = unpack_i64(p);
    c->bytes = unpack_i64(p);
}

void work_result_free(struct work_result *r)
{
    free(r->message);
    free(r->receipt);
    r->message = r->receipt = NULL;
}

void work_counts_add(struct stage_counts *sum, const struct stage_counts *more)
{
    sum->extracted += more->extracted;
    sum->skipped += more->skipped;
    sum->refused += more->refused;
    sum->failed += more->failed;
    sum->bytes += more->bytes;
}

void work_run_start(struct work_run *run, struct work_item *item)
{
    memset(run, 0, sizeof *run);
    run->item = *item;
    run->src_fd = -1;
    memset(item, 0, sizeof *item);
}

/* The destination's write of this item's range; place: a whole file, which
 * its write_close puts in place. */
static int open_write(struct work_run *run, struct backend *dst, bool place,
                      struct ferry_error *err)
{
    const struct work_item *it = &run->item;
    struct write_spec spec = {
        .meta = {it->path, it->size, it->mtime, it->mode, it->etag},
        .offset = it->offset, .length = it->length, .part = it->part, .target = it->url,
        .src_fd = run->src_fd, .place = place,
    };
    return dst->ops->write_open(dst, &spec, &run->write, err);
}

/* The write went well: close it (a RANGES place renames the file). */
static int close_write(struct work_run *run, struct backend *dst, struct ferry_error *err)
{
    struct backend_write *w = run->write;
    run->write = NULL;
    return dst->ops->write_close(w, &run->receipt, err);
}

static int open_ends(struct work_run *run, struct backend *src, struct backend *dst,
                     struct ferry_error *err)
{
    const struct work_item *it = &run->item;
    /* A local source is opened first, so an unreadable one leaves no part file. */
    if (!src->ops->read_start) {
        int rc = src->ops->open_read(src, it->path, &run->src_fd, err);
        return rc != 0 ? rc : open_write(run, dst, it->whole, err);
    }
    int rc = open_write(run, dst, it->whole, err);
    if (rc != 0)
        return rc;
    struct read_spec spec = {
        .path = it->path, .location = it->url, .fd = run->write->fd,
        .offset = it->offset, .length = it->length, .size = it->size,
    };
    return src->ops->read_start(src, &spec, &run->read, err);
}

/* A failed read, write or copy.  EINTR means a stop signal arrived (the
 * handlers do not restart calls): the item is interrupted, not failed. */
static int io_error(struct work_run *run, const char *what, struct ferry_error *err)
{
    if (errno == EINTR)
        return err_set(err, FERRY_EINTR, "%s %s: interrupted", what, run->item.path);
    return err_sys(err, FERRY_EFAIL, errno, "%s %s", what, run->item.path);
}

/* One buffer per process for plain copies and hash checks: a rank runs
 * one step at a time, whatever it has in flight. */
static char *plain_buffer(void)
{
    static char *buffer;
    if (!buffer)
        buffer = xmalloc(WORK_PLAIN_BUFFER);
    return buffer;
}

/* copy_file_range keeps the bytes in the kernel (and lets file systems that
 * can, such as XFS, NFS 4.2 and Lustre, copy on the server); pread/pwrite is
 * the fallback where it is not supported. */
static long long copy_some(struct work_run *run, long long want, struct ferry_error *err)
{
    off_t in = run->item.offset + run->done, out = in;
    int dst_fd = run->write->fd;
    if (!run->plain_copy) {
        ssize_t n = copy_file_range(run->src_fd, &in, dst_fd, &out, (size_t)want, 0);
        if (n >= 0)
            return n;
        if (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL)
            return io_error(run, "copying", err);
        run->plain_copy = true;
    }
    char *buffer = plain_buffer();
    size_t len = want < WORK_PLAIN_BUFFER ? (size_t)want : WORK_PLAIN_BUFFER;
    ssize_t n = pread(run->src_fd, buffer, len, in);
    if (n < 0)
        return io_error(run, "reading", err);
    for (ssize_t off = 0; off < n;) {
        ssize_t w = pwrite(dst_fd, buffer + off, (size_t)(n - off), out + off);
        if (w < 0)
            return io_error(run, "writing", err);
        off += w;
    }
    return n;
}

/* Copy between two local files, up to max_bytes. */
static int step_local(struct work_run *run, long long max_bytes, long long *moved,
                      struct ferry_error *err)
{
    while (*moved < max_bytes && run->done < run->item.length) {
        long long want = run->item.length - run->done;
        if (want > max_bytes - *moved)
            want = max_bytes - *moved;
        long long n = copy_some(run, want, err);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return err_set(err, FERRY_EFAIL, "%s: the source shrank while it was copied "
                           "(%lld bytes expected)", run->item.path, run->item.size);
        run->done += n;
        *moved += n;
    }
    return run->done < run->item.length ? 1 : 0;
}

static int step_remote(struct work_run *run, struct backend *src, long long *moved,
                       struct ferry_error *err)
{
    int rc = src->ops->read_poll(run->read, moved, err);
    run->done += *moved;
    if (rc == BACKEND_WAITING)
        return WORK_WAITING;
    return rc;
}

/* Hash the part file a step at a time, then compare with the item's etag
 * ("sha256:HEX" or "sha1:HEX", a git blob sha1).  Returns 1 while hashing,
 * 0 when it matches. */
static int step_check(struct work_run *run, long long max_bytes, struct ferry_error *err)
{
    const char *etag = run->item.etag;
    if (!run->hash)
        run->hash = hash_begin_etag(etag, run->item.size);
    if (!run->hash)
        return 0;                    /* a digest ferry cannot compute */
    char *buffer = plain_buffer();
    for (long long step = 0; step < max_bytes && run->hashed < run->item.size;) {
        long long want = run->item.size - run->hashed;
        if (want > WORK_PLAIN_BUFFER)
            want = WORK_PLAIN_BUFFER;
        ssize_t n = pread(run->write->fd, buffer, (size_t)want, run->hashed);
        if (n < 0)
            return io_error(run, "checking", err);
        if (n == 0)
            return err_set(err, FERRY_EINTEGRITY, "%s: only %lld of %lld bytes arrived",
                           run->item.path, run->hashed, run->item.size);
        hash_update(run->hash, buffer, (size_t)n);
        run->hashed += n;
        step += n;
    }
    if (run->hashed < run->item.size)
        return 1;
    char got[HASH_HEX_MAX];
    hash_end_etag(run->hash, got);
    run->hash = NULL;
    const char *want = strchr(etag, ':') + 1;
    if (strcmp(want, got) == 0)
        return 0;
    return err_set(err, FERRY_EINTEGRITY, "%s: %s mismatch: expected %s, got %s", run->item.path,
                   hash_etag_kind(etag), want, got);
}

/* The bytes are all in the part file: sync, check, rename into place. */
static int finish_file(struct work_run *run, struct backend *dst, long long max_bytes,
                       struct ferry_error *err)
{
    if (run->item.etag && strchr(run->item.etag, ':')) {
        int rc = step_check(run, max_bytes, err);
        if (rc != 0)
            return rc;
    }
    return close_write(run, dst, err);
}

static int step_copy(struct work_run *run, struct backend *src, struct backend *dst,
                     long long max_bytes, long long *moved, struct ferry_error *err)
{
    if (!run->started) {
        run->started = true;
        int rc = open_ends(run, src, dst, err);
        if (rc != 0)
            return rc;
    }
    if (!run->moved_all) {
        int rc = run->read ? step_remote(run, src, moved, err)
                           : step_local(run, max_bytes, moved, err);
        if (rc != 0)
            return rc;
        run->moved_all = true;
        /* Reported done means journalled: with --fsync that must survive a crash of the node. */
        if (run->item.sync && fdatasync(run->write->fd) != 0)
            return io_error(run, "syncing", err);
        if (!run->item.whole)
            return close_write(run, dst, err);
        return 1;      /* the check and the rename come in the next steps */
    }
    return finish_file(run, dst, max_bytes, err);
}

static int step_finalize(struct work_run *run, struct backend *src, struct backend *dst,
                         long long max_bytes, long long *moved, struct ferry_error *err)
{
    (void)src;
    (void)moved;
    if (!run->started) {
        run->started = true;
        int rc = open_write(run, dst, true, err);
        if (rc != 0)
            return rc;
    }
    return finish_file(run, dst, max_bytes, err);
}

static int step_stage(struct work_run *run, struct backend *src, struct backend *dst,
                      long long max_bytes, long long *moved, struct ferry_error *err)
{
    (void)src;
    (void)dst;
    if (!run->stage)
        return err_set(err, FERRY_EFAIL, "%s: no stage to run it", run->item.path);
    if (!run->started) {
        run->started = true;
        int rc = run->stage->open(&run->item, &run->job, err);
        if (rc != 0) {
            run->counts.failed++;
            return rc;
        }
    }
    return run->stage->step(run->job, max_bytes, &run->counts, moved, err);
}

/* An object or a part the destination sends itself, read from a local source. */
static int step_upload(struct work_run *run, struct backend *src, struct backend *dst,
                       long long max_bytes, long long *moved, struct ferry_error *err)
{
    (void)max_bytes;
    if (!run->started) {
        run->started = true;
        int rc = src->ops->open_read(src, run->item.path, &run->src_fd, err);
        if (rc == 0)
            rc = open_write(run, dst, false, err);
        if (rc != 0)
            return rc;
    }
    int rc = dst->ops->write_poll ? dst->ops->write_poll(run->write, moved, err) : 0;
    run->done += *moved;
    if (rc == BACKEND_WAITING)
        return WORK_WAITING;
    if (rc != 0)
        return rc;
    return close_write(run, dst, err);
}

static int step_delete(struct work_run *run, struct backend *src, struct backend *dst,
                       long long max_bytes, long long *moved, struct ferry_error *err)
{
    (void)src;
    (void)max_bytes;
    (void)moved;
    return dst->ops->remove(dst, run->item.path, err);
}

const struct work_kind_ops work_builtin[WORK_KINDS] = {
    [WORK_COPY] = {"copy", step_copy, false},
    [WORK_FINALIZE] = {"finalize", step_finalize, false},
    [WORK_DELETE] = {"delete", step_delete, false},
    [WORK_STAGE] = {"stage", step_stage, true},
    [WORK_UPLOAD] = {"upload", step_upload, false},
};

int work_run_step(struct work_run *run, struct backend *src, struct backend *dst,
                  long long max_bytes, long long *moved, struct ferry_error *err)
{
    *moved = 0;
    if ((unsigned)run->item.kind >= WORK_KINDS)
        return err_set(err, FERRY_EFAIL, "unknown work item kind %d", (int)run->item.kind);
    return work_builtin[run->item.kind].step(run, src, dst, max_bytes, moved, err);
}

void work_run_end(struct work_run *run, struct backend *src, struct backend *dst)
{
    if (run->write)
        dst->ops->write_abort(run->write);
    run->write = NULL;
    free(run->receipt);
    run->receipt = NULL;
    if (run->read)
        src->ops->read_end(run->read);
    run->read = NULL;
    if (run->hash)
        hash_end(run->hash, NULL, NULL);
    run->hash = NULL;
    if (run->job)
        run->stage->close(run->job);
    run->job = NULL;
    if (run->src_fd >= 0)
        close(run->src_fd);
    run->src_fd = -1;
    work_item_free(&run->item);
}

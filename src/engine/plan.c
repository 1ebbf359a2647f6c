#include "ferry/plan.h"
#include "ferry/comm.h"
#include "ferry/escape.h"
#include "ferry/log.h"
#include "ferry/pack.h"
#include "ferry/sched.h"
#include "ferry/xalloc.h"

#include <cjson/cJSON.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Files found under one scene on one side. */
struct file_list {
    struct plan_file *files;
    size_t count, cap;
    const struct pattern_filter *filter;
};

static int collect_file(const struct file_meta *meta, void *ud)
{
    struct file_list *list = ud;
    if (!pattern_filter_allows(list->filter, meta->path))
        return 0;
    xgrow((void **)&list->files, &list->cap, list->count + 1, sizeof *list->files);
    list->files[list->count++] = (struct plan_file){
        .path = xstrdup(meta->path), .size = meta->size,
        .mtime = meta->mtime, .mode = meta->mode,
        .etag = meta->etag ? xstrdup(meta->etag) : NULL,
    };
    return 0;
}

static int compare_path(const void *a, const void *b)
{
    return strcmp(((const struct plan_file *)a)->path, ((const struct plan_file *)b)->path);
}

static void file_list_free(struct file_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->files[i].path);
        free(list->files[i].etag);
    }
    free(list->files);
}

/* Walk one scene on one side, sorted by path.  A missing scene is empty. */
static int walk_scene(struct backend *b, const char *scene, struct file_list *list,
                      struct ferry_error *err)
{
    bool root = strcmp(scene, PLAN_ROOT_SCENE) == 0;
    int rc = b->ops->walk(b, scene, !root, collect_file, list, err);
    if (rc == FERRY_ENOTFOUND)
        rc = 0;
    qsort(list->files, list->count, sizeof *list->files, compare_path);
    return rc;
}

/* Is the destination's file already the source's?  Local sources compare
 * size and mtime.  A source that names its content by hash (the Hub) has no
 * mtime to compare: the catalog says which content ferry put there, and the
 * size and mtime ferry gave the file, so a file changed since is fetched
 * again and nothing is read to decide. */
static bool same_version(const struct plan_options *opts, const struct plan_file *src,
                         const struct plan_file *dst)
{
    if (src->size != dst->size)
        return false;
    if (!src->etag)
        return src->mtime == dst->mtime;
    if (!opts->catalog)
        return false;
    char version[160];
    sched_catalog_version(src->etag, dst->size, dst->mtime, version, sizeof version);
    return journal_has_file(opts->catalog, src->path, version);
}

/* Does a content hash ("sha256:HEX" or "sha1:HEX", a git blob) name these bytes? */
static bool etag_matches(const char *etag, const char *sha256, const char *sha1)
{
    if (!etag)
        return false;
    if (strncmp(etag, "sha256:", 7) == 0)
        return strcmp(etag + 7, sha256) == 0;
    if (strncmp(etag, "sha1:", 5) == 0)
        return strcmp(etag + 5, sha1) == 0;
    return false;
}

static int read_hashes(struct backend *b, const struct plan_file *f,
                       char sha256[HASH_SHA256_HEX], char sha1[HASH_SHA1_HEX],
                       struct ferry_error *err)
{
    int fd = -1;
    int rc = b->ops->open_read(b, f->path, &fd, err);
    if (rc == 0) {
        rc = hash_fd(fd, f->size, f->path, sha256, sha1, err);
        close(fd);
    }
    return rc;
}

/* --recheck can compare a file that looks unchanged when the destination
 * can be read and the source names its content's hash (the Hub, a
 * manifest's checksum=) or can be read too (a local source). */
static bool recheckable(const struct plan_options *opts, struct backend *src,
                        struct backend *dst, const struct plan_file *f)
{
    return opts->recheck && dst->ops->open_read && (f->etag || src->ops->open_read);
}

/* Does the destination's copy of f (same path and size) hold the source's
 * bytes?  A file that cannot be read is fetched again. */
static bool recheck_same(struct backend *src, struct backend *dst, const struct plan_file *f)
{
    char sha256[HASH_SHA256_HEX], sha1[HASH_SHA1_HEX];
    char src256[HASH_SHA256_HEX], src1[HASH_SHA1_HEX];
    struct ferry_error err = {0};
    if (read_hashes(dst, f, sha256, sha1, &err) != 0 ||
        (!f->etag && read_hashes(src, f, src256, src1, &err) != 0)) {
        FLOG(LOG_WARN, "--recheck: %s: fetching it again", err.msg);
        return false;
    }
    bool same = f->etag ? etag_matches(f->etag, sha256, sha1) : strcmp(sha256, src256) == 0;
    if (!same)
        FLOG(LOG_INFO, "--recheck: %s differs from the source: fetching it again", f->path);
    return same;
}

static void pack_candidate(struct pack *p, uint64_t scene, const struct plan_file *f)
{
    pack_u64(p, scene);
    pack_str(p, f->path);
    pack_i64(p, f->size);
    pack_i64(p, f->mtime);
    pack_u64(p, f->mode);
    pack_str(p, f->etag ? f->etag : "");
}

static uint64_t unpack_candidate(struct pack *p, struct plan_file *f)
{
    uint64_t scene = unpack_u64(p);
    f->path = unpack_str(p);
    f->size = unpack_i64(p);
    f->mtime = unpack_i64(p);
    f->mode = (unsigned)unpack_u64(p);
    f->etag = unpack_str(p);
    if (!*f->etag) {
        free(f->etag);
        f->etag = NULL;
    }
    return scene;
}

/* A source file's sha256 and git sha1: from the cache, else read now (and
 * packed into fresh for rank 0's cache). */
static int source_hashes(struct backend *src, const struct plan_options *opts,
                         const struct plan_file *f, char sha256[HASH_SHA256_HEX],
                         char sha1[HASH_SHA1_HEX], struct pack *fresh, long long *n_fresh,
                         struct ferry_error *err)
{
    if (hashcache_get(opts->hashes, f->path, f->size, f->mtime, sha256, sha1))
        return 0;
    int rc = read_hashes(src, f, sha256, sha1, err);
    if (rc != 0)
        return rc;
    pack_str(fresh, f->path);
    pack_i64(fresh, f->size);
    pack_i64(fresh, f->mtime);
    pack_str(fresh, sha256);
    pack_str(fresh, sha1);
    (*n_fresh)++;
    return 0;
}

static void add(struct plan_counts *c, long long bytes)
{
    c->files++;
    c->bytes += bytes;
}

/* get --extract: is dst_file an archive not yet extracted? */
static bool unextracted(const struct plan_options *opts, const struct plan_file *dst_file)
{
    if (!opts->extracted || !opts->stage || !opts->stage->feeds(dst_file->path))
        return false;
    char *path = xasprintf("%s/%s", opts->root, dst_file->path);
    char *key = opts->stage->journal_key(path), version[64];
    sched_version(dst_file->size, dst_file->mtime, version, sizeof version);
    bool done = journal_has_file(opts->extracted, key, version);
    free(key);
    free(path);
    return !done;
}

/* Compare one scene (number index) and pack what is to do:
 *   scene counts, flags, then transfers (path size mtime mode), then deletes.
 * Files that look unchanged but --recheck will hash go to recheck too. */
static void plan_scene(struct backend *src, struct backend *dst, const char *scene,
                       size_t index, const struct plan_options *opts, struct pack *out,
                       struct pack *recheck)
{
    struct ferry_error err = {0};
    struct file_list from = {.filter = &opts->filter}, to = {.filter = &opts->filter};
    struct plan_scene s = {0};

    if (walk_scene(src, scene, &from, &err) != 0) {
        FLOG(LOG_ERROR, "walking the source: %s", err.msg);
        s.walk_error = true;
    }
    if (walk_scene(dst, scene, &to, &err) != 0) {
        FLOG(LOG_ERROR, "walking the destination: %s", err.msg);
        s.walk_error = true;
    }
    s.source_empty = from.count == 0;
    bool deletes = opts->deletes && !s.walk_error && !s.source_empty;

    struct pack transfers, deleted, fresh, unpack;
    pack_init(&transfers);
    pack_init(&deleted);
    pack_init(&fresh);
    pack_init(&unpack);
    long long n_fresh = 0, n_unpack = 0;
    size_t i = 0, j = 0;
    while (i < from.count || j < to.count) {
        int order = i == from.count ? 1 : j == to.count ? -1
                  : strcmp(from.files[i].path, to.files[j].path);
        if (order > 0) {
            bool kept = opts->keep && strcmp(to.files[j].path, opts->keep) == 0;
            if (deletes && !kept) {
                add(&s.remove, to.files[j].size);
                pack_str(&deleted, to.files[j].path);
            }
            j++;
            continue;
        }
        const struct plan_file *f = &from.files[i];
        char sha256[HASH_SHA256_HEX] = "", sha1[HASH_SHA1_HEX] = "", etag[80];
        bool hashed = opts->hash_sources && !f->etag;
        if (hashed && source_hashes(src, opts, f, sha256, sha1, &fresh, &n_fresh, &err) != 0) {
            FLOG(LOG_ERROR, "hashing the source: %s", err.msg);
            s.walk_error = true;
            i++;
            j += order == 0;
            continue;
        }
        bool same = order == 0 && (hashed ? etag_matches(to.files[j].etag, sha256, sha1)
                                          : same_version(opts, f, &to.files[j]));
        if (same && !hashed && recheckable(opts, src, dst, f))
            pack_candidate(recheck, index, f);
        if (same) {
            add(&s.unchanged, f->size);
            if (unextracted(opts, &to.files[j])) {
                pack_str(&unpack, to.files[j].path);
                pack_i64(&unpack, to.files[j].size);
                pack_i64(&unpack, to.files[j].mtime);
                n_unpack++;
            }
        } else {
            snprintf(etag, sizeof etag, "sha256:%s", sha256);
            add(&s.transfer, f->size);
            pack_str(&transfers, f->path);
            pack_i64(&transfers, f->size);
            pack_i64(&transfers, f->mtime);
            pack_u64(&transfers, f->mode);
            pack_str(&transfers, hashed ? etag : f->etag ? f->etag : "");
        }
        i++;
        j += order == 0;
    }

    pack_i64(out, s.transfer.files);
    pack_i64(out, s.transfer.bytes);
    pack_i64(out, s.unchanged.files);
    pack_i64(out, s.unchanged.bytes);
    pack_i64(out, s.remove.files);
    pack_i64(out, s.remove.bytes);
    pack_u64(out, s.walk_error);
    pack_u64(out, s.source_empty);
    xgrow((void **)&out->data, &out->cap, out->len + transfers.len + deleted.len, 1);
    memcpy(out->data + out->len, transfers.data, transfers.len);
    out->len += transfers.len;
    memcpy(out->data + out->len, deleted.data, deleted.len);
    out->len += deleted.len;
    pack_i64(out, n_fresh);
    xgrow((void **)&out->data, &out->cap, out->len + fresh.len, 1);
    memcpy(out->data + out->len, fresh.data, fresh.len);
    out->len += fresh.len;
    pack_i64(out, n_unpack);
    xgrow((void **)&out->data, &out->cap, out->len + unpack.len, 1);
    memcpy(out->data + out->len, unpack.data, unpack.len);
    out->len += unpack.len;

    pack_free(&unpack);
    pack_free(&transfers);
    pack_free(&deleted);
    pack_free(&fresh);
    file_list_free(&from);
    file_list_free(&to);
}

static bool scene_selected(const struct plan_options *opts, const char *name)
{
    if (opts->n_scenes) {
        for (size_t i = 0; i < opts->n_scenes; i++)
            if (strcmp(opts->scenes[i], name) == 0)
                return true;
        return false;
    }
    if (opts->scene_includes)
        return *name && strstr(name, opts->scene_includes) != NULL;
    return true;
}

static int compare_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Rank 0: the selected scene names, sorted, packed for the broadcast. */
static int select_scenes(struct backend *src, const struct plan_options *opts,
                         struct pack *out, struct ferry_error *err)
{
    char **names;
    size_t count;
    bool root_files;
    int rc = src->ops->list_scenes(src, &names, &count, &root_files, err);
    if (rc != 0)
        return rc;
    qsort(names, count, sizeof *names, compare_str);

    size_t selected = 0;
    if (root_files && !opts->n_scenes && !opts->scene_includes) {
        pack_str(out, PLAN_ROOT_SCENE);
        selected++;
    }
    for (size_t i = 0; i < count; i++) {
        if (scene_selected(opts, names[i])) {
            pack_str(out, names[i]);
            selected++;
        }
    }
    for (size_t i = 0; i < opts->n_scenes && rc == 0; i++) {
        if (!bsearch(&opts->scenes[i], names, count, sizeof *names, compare_str))
            rc = err_set(err, FERRY_ENOTFOUND, "%s: no scene '%s' in the source",
                         src->location, opts->scenes[i]);
    }
    if (rc == 0 && opts->scene_includes && selected == 0)
        rc = err_set(err, FERRY_ENOTFOUND, "%s: no scene name contains '%s'",
                     src->location, opts->scene_includes);
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return rc;
}

static void unpack_scene(struct plan *plan, struct plan_scene *s, struct pack *in,
                         struct hashcache *hashes)
{
    s->transfer.files = unpack_i64(in);
    s->transfer.bytes = unpack_i64(in);
    s->unchanged.files = unpack_i64(in);
    s->unchanged.bytes = unpack_i64(in);
    s->remove.files = unpack_i64(in);
    s->remove.bytes = unpack_i64(in);
    s->walk_error = unpack_u64(in);
    s->source_empty = unpack_u64(in);

    plan->transfer = xrealloc(plan->transfer, (plan->n_transfer + (size_t)s->transfer.files) *
                                                  sizeof *plan->transfer);
    for (long long k = 0; k < s->transfer.files; k++) {
        struct plan_file *f = &plan->transfer[plan->n_transfer++];
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
    plan->deletes = xrealloc(plan->deletes, (plan->n_deletes + (size_t)s->remove.files) *
                                                sizeof *plan->deletes);
    for (long long k = 0; k < s->remove.files; k++)
        plan->deletes[plan->n_deletes++] = unpack_str(in);
    for (long long k = unpack_i64(in); k > 0; k--) {
        char *path = unpack_str(in);
        long long size = unpack_i64(in), mtime = unpack_i64(in);
        char *sha256 = unpack_str(in), *sha1 = unpack_str(in);
        hashcache_put(hashes, path, size, mtime, sha256, sha1);
        free(path);
        free(sha256);
        free(sha1);
    }
    long long n_unpack = unpack_i64(in);
    plan->unpack = xrealloc(plan->unpack, (plan->n_unpack + (size_t)n_unpack + 1) *
                                              sizeof *plan->unpack);
    for (long long k = 0; k < n_unpack; k++) {
        struct plan_file *f = &plan->unpack[plan->n_unpack++];
        memset(f, 0, sizeof *f);
        f->path = unpack_str(in);
        f->size = unpack_i64(in);
        f->mtime = unpack_i64(in);
    }

    plan->walk_errors += s->walk_error;
    plan->total_transfer.files += s->transfer.files;
    plan->total_transfer.bytes += s->transfer.bytes;
    plan->total_unchanged.files += s->unchanged.files;
    plan->total_unchanged.bytes += s->unchanged.bytes;
    plan->total_remove.files += s->remove.files;
    plan->total_remove.bytes += s->remove.bytes;
}

static int compare_size_desc(const void *a, const void *b)
{
    long long x = ((const struct plan_file *)a)->size, y = ((const struct plan_file *)b)->size;
    return (x < y) - (x > y);
}

/* Rank 0: gather every rank's packed scenes, in scene order. */
static void gather_scenes(MPI_Comm comm, struct pack *mine, char **names,
                          size_t n_scenes, struct hashcache *hashes, struct plan *plan)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (mine->len > INT_MAX)
        FLOG(LOG_ERROR, "plan of rank %d is over 2 GiB; use more ranks", rank);
    int *lens, *offsets;
    struct pack all;
    comm_gather_packs(comm, mine, &all, &lens, &offsets);
    if (rank == 0) {
        plan->n_scenes = n_scenes;
        plan->scenes = xcalloc(n_scenes ? n_scenes : 1, sizeof *plan->scenes);
        /* Rank r packed scenes r, r+size, ... in order. */
        for (int r = 0; r < size; r++) {
            struct pack in;
            pack_wrap(&in, all.data + offsets[r], (size_t)lens[r]);
            for (size_t k = (size_t)r; k < n_scenes; k += (size_t)size) {
                plan->scenes[k].name = names[k];
                names[k] = NULL;
                unpack_scene(plan, &plan->scenes[k], &in, hashes);
            }
        }
    }
    pack_free(&all);
    free(lens);
    free(offsets);
}

/* Rank 0: a file --recheck found different moves from unchanged to transfer
 * (and, an archive, off the list to extract in place: get --extract
 * extracts it once it is fetched again). */
static void transfer_again(struct plan *plan, uint64_t scene, struct plan_file *f)
{
    for (size_t i = 0; i < plan->n_unpack; i++) {
        if (strcmp(plan->unpack[i].path, f->path) == 0) {
            free(plan->unpack[i].path);
            plan->unpack[i] = plan->unpack[--plan->n_unpack];
            break;
        }
    }
    struct plan_scene *s = &plan->scenes[scene];
    s->unchanged.files--;
    s->unchanged.bytes -= f->size;
    plan->total_unchanged.files--;
    plan->total_unchanged.bytes -= f->size;
    add(&s->transfer, f->size);
    add(&plan->total_transfer, f->size);
    plan->transfer = xrealloc(plan->transfer, (plan->n_transfer + 1) * sizeof *plan->transfer);
    plan->transfer[plan->n_transfer++] = *f;
}

/* --recheck: every rank learns all the files that look unchanged and hashes
 * its share of them (items rank, rank+size, ...), as verify does, so one
 * big scene does not keep a single rank reading; rank 0 gets those that
 * differ. */
static void recheck_spread(MPI_Comm comm, struct backend *src, struct backend *dst,
                           const struct pack *mine, struct plan *plan)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    struct pack all, differ, back;
    int *lens, *offsets;
    comm_gather_packs(comm, mine, &all, &lens, &offsets);
    free(lens);
    free(offsets);
    comm_bcast_pack(comm, &all);
    pack_init(&differ);
    for (long long k = 0; !pack_done(&all); k++) {
        struct plan_file f;
        uint64_t scene = unpack_candidate(&all, &f);
        if (k % size == rank && !recheck_same(src, dst, &f))
            pack_candidate(&differ, scene, &f);
        free(f.path);
        free(f.etag);
    }
    comm_gather_packs(comm, &differ, &back, &lens, &offsets);
    while (rank == 0 && !pack_done(&back)) {
        struct plan_file f;
        uint64_t scene = unpack_candidate(&back, &f);
        transfer_again(plan, scene, &f);
    }
    pack_free(&all);
    pack_free(&differ);
    pack_free(&back);
    free(lens);
    free(offsets);
}

int plan_build(MPI_Comm comm, struct backend *src, struct backend *dst,
               const struct plan_options *opts, struct plan *out,
               struct ferry_error *err)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(out, 0, sizeof *out);

    struct pack scenes;
    pack_init(&scenes);
    int rc = rank == 0 ? select_scenes(src, opts, &scenes, err) : 0;
    rc = comm_agree(comm, rc, err);
    if (rc != 0) {
        pack_free(&scenes);
        return rc;
    }
    comm_bcast_pack(comm, &scenes);

    char **names = NULL;
    size_t n_names = 0, cap = 0;
    while (!pack_done(&scenes)) {
        xgrow((void **)&names, &cap, n_names + 1, sizeof *names);
        names[n_names++] = unpack_str(&scenes);
    }
    pack_free(&scenes);

    struct pack mine, recheck;
    pack_init(&mine);
    pack_init(&recheck);
    for (size_t k = (size_t)rank; k < n_names; k += (size_t)size)
        plan_scene(src, dst, names[k], k, opts, &mine, &recheck);
    gather_scenes(comm, &mine, names, n_names, opts->hashes, out);
    if (opts->recheck)
        recheck_spread(comm, src, dst, &recheck, out);
    if (rank == 0)
        qsort(out->transfer, out->n_transfer, sizeof *out->transfer, compare_size_desc);
    pack_free(&mine);
    pack_free(&recheck);

    for (size_t k = 0; k < n_names; k++)
        free(names[k]);
    free(names);
    return 0;
}

void plan_format_bytes(long long bytes, char *buf, size_t len)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof *units) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%lld B", bytes);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
}

static void print_row(FILE *out, const char *name, const struct plan_counts *transfer,
                      const struct plan_counts *unchanged, const struct plan_counts *remove)
{
    char tb[32], ub[32], db[32];
    plan_format_bytes(transfer->bytes, tb, sizeof tb);
    plan_format_bytes(unchanged->bytes, ub, sizeof ub);
    plan_format_bytes(remove->bytes, db, sizeof db);
    fprintf(out, "%-32s %9lld %11s %9lld %11s %9lld %11s\n", escape_display(name),
            transfer->files, tb, unchanged->files, ub, remove->files, db);
}

void plan_print_text(const struct plan *plan, FILE *out)
{
    fprintf(out, "%-32s %9s %11s %9s %11s %9s %11s\n", "scene", "transfer", "bytes",
            "unchanged", "bytes", "delete", "bytes");
    for (size_t i = 0; i < plan->n_scenes; i++) {
        const struct plan_scene *s = &plan->scenes[i];
        print_row(out, *s->name ? s->name : "(root files)", &s->transfer,
                  &s->unchanged, &s->remove);
        if (s->walk_error)
            fprintf(out, "  (could not be read completely: nothing is deleted in it)\n");
    }
    print_row(out, "total", &plan->total_transfer, &plan->total_unchanged,
              &plan->total_remove);
}

static cJSON *counts_json(const struct plan_counts *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "files", (double)c->files);
    cJSON_AddNumberToObject(o, "bytes", (double)c->bytes);
    return o;
}

static void add_counts(cJSON *o, const struct plan_counts *transfer,
                       const struct plan_counts *unchanged, const struct plan_counts *remove)
{
    cJSON_AddItemToObject(o, "transfer", counts_json(transfer));
    cJSON_AddItemToObject(o, "unchanged", counts_json(unchanged));
    cJSON_AddItemToObject(o, "delete", counts_json(remove));
}

void plan_print_json(const struct plan *plan, const char *command,
                     const char *src, const char *dst, FILE *out)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "event", "plan");
    cJSON_AddStringToObject(root, "command", command);
    cJSON_AddStringToObject(root, "source", src);
    cJSON_AddStringToObject(root, "destination", dst);
    cJSON *scenes = cJSON_AddArrayToObject(root, "scenes");
    for (size_t i = 0; i < plan->n_scenes; i++) {
        const struct plan_scene *s = &plan->scenes[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", s->name);
        add_counts(o, &s->transfer, &s->unchanged, &s->remove);
        cJSON_AddBoolToObject(o, "walk_error", s->walk_error);
        cJSON_AddItemToArray(scenes, o);
    }
    cJSON *totals = cJSON_AddObjectToObject(root, "totals");
    add_counts(totals, &plan->total_transfer, &plan->total_unchanged, &plan->total_remove);
    char *text = cJSON_PrintUnformatted(root);
    fprintf(out, "%s\n", text);
    fflush(out);
    free(text);
    cJSON_Delete(root);
}

void plan_free(struct plan *plan)
{
    for (size_t i = 0; i < plan->n_scenes; i++)
        free(plan->scenes[i].name);
    free(plan->scenes);
    for (size_t i = 0; i < plan->n_transfer; i++) {
        free(plan->transfer[i].path);
        free(plan->transfer[i].etag);
    }
    free(plan->transfer);
    for (size_t i = 0; i < plan->n_deletes; i++)
        free(plan->deletes[i]);
    free(plan->deletes);
    for (size_t i = 0; i < plan->n_unpack; i++)
        free(plan->unpack[i].path);
    free(plan->unpack);
    memset(plan, 0, sizeof *plan);
}

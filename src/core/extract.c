#include "ferry/extract.h"
#include "ferry/backend.h"
#include "ferry/comm.h"
#include "ferry/fsutil.h"
#include "ferry/journal.h"
#include "ferry/log.h"
#include "ferry/pack.h"
#include "ferry/progress.h"
#include "ferry/xalloc.h"

#include <archive.h>
#include <archive_entry.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXTRACT_JOURNAL "extracted"
#define EXTRACT_READ_BLOCK (1 << 20)

static const char *const suffixes[] = {
    ".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".tar.xz", ".txz", ".tar.bz2", ".tbz2",
    ".tbz", ".zip",
};

bool extract_is_archive(const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t n = strlen(suffixes[i]);
        if (len > n && strcmp(name + len - n, suffixes[i]) == 0)
            return true;
    }
    return false;
}

/* ---- one archive ----------------------------------------------------------- */

struct entry_ctx {
    const char *archive;
    unsigned archive_id;             /* FNV-1a of the archive's path */
    int dest_fd;
    bool overwrite;
    struct extract_counts *counts;
};

static void refuse(struct entry_ctx *c, const char *entry, const char *why)
{
    FLOG(LOG_WARN, "%s: entry '%s' refused: %s", c->archive, entry, why);
    c->counts->refused++;
}

/* The entry's path made relative and clean ("./a//b" is "a/b"), or NULL
 * with why set when it is absolute or climbs out. */
static char *clean_path(const char *name, const char **why)
{
    if (name[0] == '/') {
        *why = "an absolute path";
        return NULL;
    }
    char *out = xmalloc(strlen(name) + 1), *end = out;
    for (const char *p = name; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && strncmp(p, "..", 2) == 0) {
            free(out);
            *why = "a path with '..'";
            return NULL;
        }
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (end != out)
                *end++ = '/';
            memcpy(end, p, n);
            end += n;
        }
        p += n + (p[n] == '/');
    }
    *end = '\0';
    if (end == out) {
        free(out);
        *why = "an empty path";
        return NULL;
    }
    return out;
}

/* Open (making them) the folders of path's parent under dest_fd, never
 * following a symlink; *base gets the last component.  -1 with errno. */
static int open_parent(int dest_fd, char *path, const char **base, bool make)
{
    int fd = dup(dest_fd);
    char *p = path;
    for (char *slash; fd >= 0 && (slash = strchr(p, '/')) != NULL; p = slash + 1) {
        *slash = '\0';
        if (make && mkdirat(fd, p, 0755) != 0 && errno != EEXIST) {
            *slash = '/';
            close(fd);
            return -1;
        }
        int next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        *slash = '/';
        int saved = errno;
        close(fd);
        errno = saved;
        fd = next;
    }
    *base = p;
    return fd;
}

/* Does a symlink at path (relative to DEST) pointing at target stay inside? */
static bool link_stays_inside(const char *path, const char *target)
{
    if (target[0] == '/' || !*target)
        return false;
    int depth = 0;
    for (const char *p = path; (p = strchr(p, '/')) != NULL; p++)
        depth++;                       /* folders above the link */
    for (const char *p = target; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && strncmp(p, "..", 2) == 0) {
            if (--depth < 0)
                return false;
        } else if (n > 0 && !(n == 1 && p[0] == '.')) {
            depth++;
        }
        p += n + (p[n] == '/');
    }
    return true;
}

static int write_data(struct archive *a, int fd, long long *written, const char **why)
{
    const void *block;
    size_t size;
    la_int64_t offset;
    int r;
    while ((r = archive_read_data_block(a, &block, &size, &offset)) == ARCHIVE_OK) {
        for (size_t done = 0; done < size;) {
            ssize_t w = pwrite(fd, (const char *)block + done, size - done, offset + (off_t)done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                *why = strerror(errno);
                return -1;
            }
            done += (size_t)w;
        }
        *written += (long long)size;
    }
    if (r != ARCHIVE_EOF) {
        *why = archive_error_string(a) ? archive_error_string(a) : "read error";
        return -1;
    }
    return 0;
}

/* A regular file: skipped when already there, else NAME.ferry-part, renamed. */
static int extract_file(struct entry_ctx *c, struct archive *a, struct archive_entry *e,
                        int parent, const char *base, const char *path, struct ferry_error *err)
{
    long long size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
    struct stat st;
    if (!c->overwrite && fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode) && st.st_size == size &&
        (!archive_entry_mtime_is_set(e) || st.st_mtime == archive_entry_mtime(e))) {
        c->counts->skipped++;
        return 0;
    }
    /* Two archives may hold the same path, on two ranks at once: each writes a
     * part named after its archive, which a rerun of that archive replaces. */
    char *part = xasprintf("%s.%08x%s", base, c->archive_id, BACKEND_PART_SUFFIX);
    unlinkat(parent, part, 0);
    int fd = openat(parent, part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int rc = 0;
    const char *why = NULL;
    long long written = 0;
    if (fd < 0) {
        rc = err_sys(err, FERRY_EFAIL, errno, "%s: entry '%s'", c->archive, path);
    } else if (write_data(a, fd, &written, &why) != 0) {
        rc = err_set(err, FERRY_EFAIL, "%s: entry '%s': %s", c->archive, path, why);
    } else {
        fchmod(fd, archive_entry_perm(e) & 0777);          /* no setuid, setgid, sticky */
        if (archive_entry_mtime_is_set(e)) {
            struct timespec times[2] = {{0, UTIME_OMIT}, {archive_entry_mtime(e), 0}};
            futimens(fd, times);
        }
    }
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = err_sys(err, FERRY_EFAIL, errno, "%s: entry '%s'", c->archive, path);
    if (rc == 0 && renameat(parent, part, parent, base) != 0)
        rc = err_sys(err, FERRY_EFAIL, errno, "%s: entry '%s'", c->archive, path);
    if (rc != 0)
        unlinkat(parent, part, 0);
    free(part);
    if (rc == 0) {
        c->counts->extracted++;
        c->counts->bytes += written;
    }
    return rc;
}

static int extract_entry(struct entry_ctx *c, struct archive *a, struct archive_entry *e,
                         struct ferry_error *err)
{
    const char *name = archive_entry_pathname(e);
    const char *why = NULL;
    char *path = clean_path(name ? name : "", &why);
    if (!path) {
        refuse(c, name ? name : "", why);
        return 0;
    }
    mode_t type = archive_entry_filetype(e);
    const char *hardlink = archive_entry_hardlink(e);
    const char *symlink = archive_entry_symlink(e);
    int rc = 0;
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK && !hardlink) {
        refuse(c, path, "a device node, FIFO or socket");
        free(path);
        return 0;
    }
    if (type == AE_IFLNK && (!symlink || !link_stays_inside(path, symlink))) {
        refuse(c, path, "a symlink that leads outside the destination");
        free(path);
        return 0;
    }
    char *target = NULL;
    if (hardlink && !(target = clean_path(hardlink, &why))) {
        refuse(c, path, "a hardlink to a path outside the destination");
        free(path);
        return 0;
    }
    const char *base;
    int parent = open_parent(c->dest_fd, path, &base, true);
    if (parent < 0) {
        refuse(c, path, errno == ELOOP || errno == ENOTDIR
                            ? "its folder is a symlink or a file (nothing is written through one)"
                            : strerror(errno));
    } else if (type == AE_IFDIR) {
        if (mkdirat(parent, base, 0755) != 0 && errno != EEXIST)
            rc = err_sys(err, FERRY_EFAIL, errno, "%s: entry '%s'", c->archive, path);
    } else if (hardlink) {
        /* The target must be a file already extracted here, reached without symlinks. */
        const char *tbase;
        int tparent = open_parent(c->dest_fd, target, &tbase, false);
        struct stat st;
        if (tparent < 0 || fstatat(tparent, tbase, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            refuse(c, path, "a hardlink to nothing extracted in the destination");
        else if (linkat(tparent, tbase, parent, base, 0) == 0 || errno == EEXIST)
            c->counts->extracted++;
        else
            rc = err_sys(err, FERRY_EFAIL, errno, "%s: entry '%s'", c->archive, path);
        if (tparent >= 0)
            close(tparent);
    } else if (type == AE_IFLNK) {
        if (symlinkat(symlink, parent, base) == 0)
            c->counts->extracted++;
        else if (errno == EEXIST)
            c->counts->skipped++;
        else
            rc = err_sys(err, FERRY_EFAIL, errno, "%s: entry '%s'", c->archive, path);
    } else {
        rc = extract_file(c, a, e, parent, base, path, err);
    }
    if (parent >= 0)
        close(parent);
    free(target);
    free(path);
    return rc;
}

int extract_archive(const char *archive, int dest_fd, bool overwrite,
                    struct extract_counts *counts, struct ferry_error *err)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    archive_read_support_format_zip(a);
    struct entry_ctx c = {.archive = archive, .dest_fd = dest_fd, .overwrite = overwrite,
                          .counts = counts, .archive_id = 2166136261u};
    for (const char *k = archive; *k; k++)
        c.archive_id = (c.archive_id ^ (unsigned char)*k) * 16777619u;
    int rc = 0;
    if (archive_read_open_filename(a, archive, EXTRACT_READ_BLOCK) != ARCHIVE_OK) {
        rc = err_set(err, FERRY_EFAIL, "%s: %s", archive, archive_error_string(a));
    } else {
        struct archive_entry *e;
        int r;
        while (rc == 0 && (r = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
            if (r == ARCHIVE_WARN) {
                FLOG(LOG_WARN, "%s: %s", archive, archive_error_string(a));
            } else if (r != ARCHIVE_OK) {
                rc = err_set(err, FERRY_EFAIL, "%s: corrupt or truncated: %s", archive,
                             archive_error_string(a));
                break;
            }
            rc = extract_entry(&c, a, e, err);
        }
    }
    if (rc != 0)
        counts->failed++;
    archive_read_free(a);
    return rc;
}

/* ---- the run over ranks ------------------------------------------------------ */

struct input {
    char *path;
    long long size, mtime;
    int owner;
};

static void add_input(struct input **list, size_t *n, size_t *cap, const char *path,
                      const struct stat *st)
{
    xgrow((void **)list, cap, *n + 1, sizeof **list);
    (*list)[(*n)++] = (struct input){xstrdup(path), st->st_size, st->st_mtime, 0};
}

static int compare_size_desc(const void *a, const void *b)
{
    long long x = ((const struct input *)a)->size, y = ((const struct input *)b)->size;
    return (x < y) - (x > y);
}

/* Rank 0: the archives named, and those in folders named (not recursing). */
static int list_inputs(char **inputs, size_t n_inputs, struct input **list, size_t *n,
                       struct ferry_error *err)
{
    size_t cap = 0;
    for (size_t i = 0; i < n_inputs; i++) {
        struct stat st;
        if (stat(inputs[i], &st) != 0)
            return err_sys(err, FERRY_ENOTFOUND, errno, "%s", inputs[i]);
        if (!S_ISDIR(st.st_mode)) {
            add_input(list, n, &cap, inputs[i], &st);
            continue;
        }
        DIR *d = opendir(inputs[i]);
        if (!d)
            return err_sys(err, FERRY_EFAIL, errno, "%s", inputs[i]);
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!extract_is_archive(de->d_name))
                continue;
            char *path = xasprintf("%s/%s", inputs[i], de->d_name);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
                add_input(list, n, &cap, path, &st);
            free(path);
        }
        closedir(d);
    }
    if (*n == 0)
        return err_set(err, FERRY_ENOTFOUND, "no archives to extract in what was given");
    qsort(*list, *n, sizeof **list, compare_size_desc);
    return 0;
}

static void version_of(const struct input *in, char *buf, size_t len)
{
    snprintf(buf, len, "%lld:%lld", in->size, in->mtime);
}

/* Rank 0: drop archives the journal has as done; deal the rest out, largest
 * first, each to the rank with the fewest bytes. */
static void assign(struct input *list, size_t n, int size, const struct journal *done,
                   struct extract_report *r)
{
    long long *load = xcalloc((size_t)size, sizeof *load);
    for (size_t i = 0; i < n; i++) {
        char version[64];
        version_of(&list[i], version, sizeof version);
        if (done && journal_has_file(done, list[i].path, version)) {
            list[i].owner = -1;
            r->archives_skipped++;
            continue;
        }
        int best = 0;
        for (int k = 1; k < size; k++)
            if (load[k] < load[best])
                best = k;
        list[i].owner = best;
        load[best] += list[i].size;
    }
    free(load);
}

int extract_run(MPI_Comm comm, char **inputs, size_t n_inputs, const struct extract_options *opts,
                struct extract_report *report, struct ferry_error *err)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(report, 0, sizeof *report);
    double start = progress_now();
    struct input *list = NULL;
    size_t n = 0;
    struct journal *journal = NULL;
    char *state = xasprintf("%s/.ferry", opts->dest);
    int rc = 0;
    if (rank == 0) {
        rc = fs_mkdirs(state, err);
        if (rc == 0)
            rc = list_inputs(inputs, n_inputs, &list, &n, err);
        if (rc == 0)
            rc = journal_open_named(state, EXTRACT_JOURNAL, &journal, err);
        if (rc == 0)
            assign(list, n, size, opts->overwrite ? NULL : journal, report);
    }
    rc = comm_agree(comm, rc, err);
    struct pack p;
    pack_init(&p);
    if (rc == 0 && rank == 0) {
        pack_i64(&p, (long long)n);
        for (size_t i = 0; i < n; i++) {
            pack_str(&p, list[i].path);
            pack_i64(&p, list[i].size);
            pack_i64(&p, list[i].mtime);
            pack_i64(&p, list[i].owner);
        }
    }
    if (rc == 0)
        comm_bcast_pack(comm, &p);
    if (rc == 0 && rank != 0) {
        n = (size_t)unpack_i64(&p);
        list = xcalloc(n + 1, sizeof *list);
        for (size_t i = 0; i < n; i++) {
            list[i].path = unpack_str(&p);
            list[i].size = unpack_i64(&p);
            list[i].mtime = unpack_i64(&p);
            list[i].owner = (int)unpack_i64(&p);
        }
    }
    pack_free(&p);

    /* Every rank: its archives; the finished ones go back to rank 0. */
    struct pack mine, all;
    pack_init(&mine);
    struct extract_counts counts = {0};
    int dest_fd = rc == 0 ? open(opts->dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (list[i].owner != rank)
            continue;
        struct ferry_error one = {0};
        if (extract_archive(list[i].path, dest_fd, opts->overwrite, &counts, &one) != 0) {
            FLOG(LOG_ERROR, "%s", one.msg);
            continue;
        }
        pack_i64(&mine, (long long)i);
        if (opts->remove_archive && unlink(list[i].path) != 0)
            FLOG(LOG_WARN, "%s: extracted, but not removed: %s", list[i].path, strerror(errno));
    }
    if (dest_fd >= 0)
        close(dest_fd);
    long long mine_counts[5] = {counts.extracted, counts.skipped, counts.refused, counts.failed,
                                counts.bytes};
    long long sums[5] = {0};
    if (rc == 0) {
        MPI_Reduce(mine_counts, sums, 5, MPI_LONG_LONG, MPI_SUM, 0, comm);
        int *lens, *offsets;
        comm_gather_packs(comm, &mine, &all, &lens, &offsets);
        if (rank == 0) {
            struct pack in;
            pack_wrap(&in, all.data, all.len);
            while (!pack_done(&in)) {
                const struct input *done = &list[unpack_i64(&in)];
                char version[64];
                version_of(done, version, sizeof version);
                journal_add_file(journal, done->path, version);
                report->archives_done++;
            }
            report->archives = (long long)n;
            report->archives_failed = report->archives - report->archives_done -
                                      report->archives_skipped;
            report->entries = (struct extract_counts){sums[0], sums[1], sums[2], sums[3], sums[4]};
            report->seconds = progress_now() - start;
        }
        pack_free(&all);
        free(lens);
        free(offsets);
    }
    pack_free(&mine);
    journal_close(journal);
    for (size_t i = 0; i < n; i++)
        free(list[i].path);
    free(list);
    free(state);
    if (rc != 0)
        return rc;
    return comm_agree(comm, rank == 0 && report->archives_failed ? FERRY_EFAIL : 0, err);
}

#include "ferry/extract.h"
#include "ferry/backend.h"
#include "ferry/comm.h"
#include "ferry/fsutil.h"
#include "ferry/journal.h"
#include "ferry/lock.h"
#include "ferry/log.h"
#include "ferry/plan.h"
#include "ferry/progress.h"
#include "ferry/sched.h"
#include "ferry/xalloc.h"

#include <archive.h>
#include <archive_entry.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXTRACT_READ_BLOCK (1 << 20)
/* What an entry costs a step besides its bytes: the metadata work of
 * creating it, so a step of a million empty files ends too. */
#define EXTRACT_ENTRY_COST (16LL << 10)

static const char *const suffixes[] = {
    ".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".tar.xz", ".txz", ".tar.bz2", ".tbz2",
    ".tbz", ".zip",
};

bool extract_is_archive(const char *name)
{
    return fs_has_suffix(name, suffixes, sizeof suffixes / sizeof *suffixes, false);
}

static bool is_zip(const char *name)
{
    static const char *const zip[] = {".zip"};
    return fs_has_suffix(name, zip, 1, false);
}

char *extract_journal_key(const char *archive)
{
    char *real = realpath(archive, NULL);
    return real ? real : xstrdup(archive);
}

/* ---- one archive ----------------------------------------------------------- */

struct extract_job {
    struct archive *a;
    char *archive;                   /* its path, for messages */
    unsigned id;                     /* in this job's part names */
    int dest_fd;
    bool overwrite;
    long long index;                 /* of the next header */
    long long first, end;            /* the entries that are this job's */
    long long consumed;              /* archive bytes read, as last reported */
    /* The folder of the last entry, kept open: entries of one folder come
     * together, and opening the path afresh for each costs a handful of
     * calls.  It was reached without following a symlink, so it stays a
     * folder inside DEST whatever later entries hold. */
    char *folder;
    int folder_fd;
    mode_t umask;
    /* The regular file being written, between steps (parent is folder_fd). */
    int fd, parent;
    char *path, *part;
    const char *base;                /* in path */
    long long written, size;
    unsigned perm;
    bool has_mtime;
    long long mtime;
    /* Entries that could not be written: the job goes on, and ends failed. */
    long long entries_failed;
    char *first_failure;
};

static void refuse(struct extract_job *j, struct stage_counts *counts, const char *entry,
                   const char *why)
{
    FLOG(LOG_WARN, "%s: entry '%s' refused: %s", j->archive, entry, why);
    counts->refused++;
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

/* The folder path's entry goes into, opened (and made) without following
 * symlinks; *base gets the last component.  The job keeps the descriptor.
 * -1 with errno. */
static int folder_of(struct extract_job *j, char *path, const char **base)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 0;
    if (j->folder_fd >= 0 && strlen(j->folder) == len && strncmp(j->folder, path, len) == 0) {
        *base = slash ? slash + 1 : path;
        return j->folder_fd;
    }
    if (j->folder_fd >= 0)
        close(j->folder_fd);
    free(j->folder);
    j->folder = NULL;
    j->folder_fd = open_parent(j->dest_fd, path, base, true);
    if (j->folder_fd >= 0)
        j->folder = xstrndup(path, len);
    return j->folder_fd;
}

/* Drop the file being written: close it and remove its part. */
static void drop_file(struct extract_job *j)
{
    if (j->fd >= 0) {
        close(j->fd);
        unlinkat(j->parent, j->part, 0);
    }
    free(j->path);
    free(j->part);
    j->fd = j->parent = -1;
    j->path = j->part = NULL;
}

/* An entry that cannot be written (a name too long, a full disk, data that
 * does not match its CRC) fails alone: its part is removed, the rest of the
 * archive goes on, and the archive ends failed, as tar does.  Returns 1. */
static int entry_failed(struct extract_job *j, struct stage_counts *counts, const char *entry,
                        int errnum, const char *why)
{
    char *msg = xasprintf("%s: entry '%s': %s", j->archive, entry, why ? why : strerror(errnum));
    FLOG(LOG_ERROR, "%s", msg);
    if (!j->first_failure)
        j->first_failure = msg;
    else
        free(msg);
    j->entries_failed++;
    counts->failed++;
    drop_file(j);
    return 1;
}

/* The archive itself failed while an entry was being written: the job ends. */
static int file_failed(struct extract_job *j, const char *why, struct ferry_error *err)
{
    err_set(err, FERRY_EFAIL, "%s: entry '%s': %s", j->archive, j->path, why);
    drop_file(j);
    return FERRY_EFAIL;
}

/* All of the entry's bytes are in its part: mode, mtime, then the rename. */
static int end_file(struct extract_job *j, struct stage_counts *counts)
{
    /* A sparse entry whose end is a hole has not reached its size yet. */
    if (j->size > j->written && ftruncate(j->fd, j->size) != 0)
        return entry_failed(j, counts, j->path, errno, NULL);
    if ((j->perm & 0777 & ~j->umask) != (j->perm & 0777))
        fchmod(j->fd, j->perm & 0777);
    if (j->has_mtime) {
        struct timespec times[2] = {{0, UTIME_OMIT}, {(time_t)j->mtime, 0}};
        futimens(j->fd, times);
    }
    int fd = j->fd;
    j->fd = -1;
    if (close(fd) != 0 || renameat(j->parent, j->part, j->parent, j->base) != 0) {
        int saved = errno;
        unlinkat(j->parent, j->part, 0);
        return entry_failed(j, counts, j->path, saved, NULL);
    }
    counts->extracted++;
    counts->bytes += j->written;
    drop_file(j);
    return 1;
}

/* Write the open entry's data until the budget is spent or it ends. */
static int write_some(struct extract_job *j, long long *budget, struct stage_counts *counts,
                      struct ferry_error *err)
{
    while (*budget > 0) {
        const void *block;
        size_t size;
        la_int64_t offset;
        int r = archive_read_data_block(j->a, &block, &size, &offset);
        if (r == ARCHIVE_EOF)
            return end_file(j, counts);
        const char *why = archive_error_string(j->a);
        /* WARN is how a zip reports data that does not match its CRC (with
         * the last block); FAILED, an entry it cannot read (an unknown
         * method); both leave the reader at the next entry.  FATAL does not. */
        if (r == ARCHIVE_WARN || r == ARCHIVE_FAILED)
            return entry_failed(j, counts, j->path, 0, why ? why : "unreadable data");
        if (r != ARCHIVE_OK)
            return file_failed(j, why ? why : "read error", err);
        for (size_t done = 0; done < size;) {
            ssize_t w = pwrite(j->fd, (const char *)block + done, size - done,
                               offset + (off_t)done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return entry_failed(j, counts, j->path, errno, NULL);
            done += (size_t)w;
        }
        j->written += (long long)size;
        *budget -= (long long)size;
    }
    return 1;
}

/* A regular file: skipped when already there, else opened as its part, to
 * be written by write_some, which then owns path (base is in it).  Returns
 * path where the job did not keep it. */
static char *begin_file(struct extract_job *j, struct archive_entry *e, char *path, int parent,
                        const char *base, struct stage_counts *counts)
{
    long long size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
    struct stat st;
    if (!j->overwrite && fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode) && st.st_size == size &&
        (!archive_entry_mtime_is_set(e) || st.st_mtime == archive_entry_mtime(e))) {
        counts->skipped++;
        return path;
    }
    j->path = path;
    j->parent = parent;
    j->base = base;
    j->size = size;
    j->written = 0;
    j->perm = archive_entry_perm(e);
    j->has_mtime = archive_entry_mtime_is_set(e);
    j->mtime = j->has_mtime ? (long long)archive_entry_mtime(e) : 0;
    /* Two archives (or two parts of one) may hold the same path, on two
     * ranks at once: each writes a part of its own, which a rerun of that
     * archive replaces. */
    j->part = xasprintf("%s.%08x%s", base, j->id, BACKEND_PART_SUFFIX);
    /* Created with the entry's permissions (no setuid, setgid, sticky);
     * what the umask takes away is put back at the end. */
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    mode_t mode = (j->perm & 0777) | 0600;
    j->fd = openat(parent, j->part, flags, mode);
    if (j->fd < 0 && errno == EEXIST && unlinkat(parent, j->part, 0) == 0)
        j->fd = openat(parent, j->part, flags, mode);      /* a killed run's part */
    if (j->fd < 0)
        entry_failed(j, counts, j->path, errno, NULL);
    return NULL;
}

/* A folder, hardlink or symlink entry, its path already checked. */
static void make_other(struct extract_job *j, struct archive_entry *e, const char *path,
                       char *target, int parent, const char *base,
                       struct stage_counts *counts)
{
    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFDIR) {
        if (mkdirat(parent, base, 0755) != 0 && errno != EEXIST)
            entry_failed(j, counts, path, errno, NULL);
    } else if (target) {
        /* The target must be a file already extracted here, reached without symlinks. */
        const char *tbase;
        int tparent = open_parent(j->dest_fd, target, &tbase, false);
        struct stat st;
        if (tparent < 0 || fstatat(tparent, tbase, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            refuse(j, counts, path, "a hardlink to nothing extracted in the destination");
        else if (linkat(tparent, tbase, parent, base, 0) == 0 || errno == EEXIST)
            counts->extracted++;
        else
            entry_failed(j, counts, path, errno, NULL);
        if (tparent >= 0)
            close(tparent);
    } else if (symlinkat(archive_entry_symlink(e), parent, base) == 0) {
        counts->extracted++;
    } else if (errno == EEXIST) {
        counts->skipped++;
    } else {
        entry_failed(j, counts, path, errno, NULL);
    }
}

/* One entry: extracted, skipped, refused or failed alone. */
static void extract_entry(struct extract_job *j, struct archive_entry *e,
                          struct stage_counts *counts)
{
    const char *name = archive_entry_pathname(e);
    const char *why = NULL;
    char *path = clean_path(name ? name : "", &why);
    if (!path) {
        refuse(j, counts, name ? name : "", why);
        return;
    }
    mode_t type = archive_entry_filetype(e);
    const char *hardlink = archive_entry_hardlink(e);
    const char *symlink = archive_entry_symlink(e);
    char *target = NULL;
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK && !hardlink)
        why = "a device node, FIFO or socket";
    else if (type == AE_IFLNK && (!symlink || !link_stays_inside(path, symlink)))
        why = "a symlink that leads outside the destination";
    else if (hardlink && !(target = clean_path(hardlink, &why)))
        why = "a hardlink to a path outside the destination";
    const char *base;
    int parent = why ? -1 : folder_of(j, path, &base);
    if (why)
        refuse(j, counts, path, why);
    else if (parent < 0 && (errno == ELOOP || errno == ENOTDIR))
        refuse(j, counts, path,
               "its folder is a symlink or a file (nothing is written through one)");
    else if (parent < 0)
        entry_failed(j, counts, path, errno, NULL);
    else if (type == AE_IFREG && !hardlink)
        path = begin_file(j, e, path, parent, base, counts);
    else
        make_other(j, e, path, target, parent, base, counts);
    free(target);
    free(path);
}

/* libarchive converts the names an archive marks as UTF-8 (a zip's flag,
 * pax headers) into the locale's charset; in the C locale ferry starts in,
 * any name beyond ASCII is lost ("cannot be converted").  Names are written
 * as the UTF-8 bytes they are, so the reader works in a UTF-8 locale where
 * the system has one. */
static void names_in_utf8(void)
{
    static bool done;
    if (!done && !setlocale(LC_CTYPE, "C.UTF-8"))
        setlocale(LC_CTYPE, "C.utf8");
    done = true;
}

static struct archive *reader_new(void)
{
    names_in_utf8();
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    archive_read_support_format_zip(a);
    return a;
}

int extract_job_open(const char *archive, int dest_fd, bool overwrite, long long first,
                     long long count, struct extract_job **out, struct ferry_error *err)
{
    struct extract_job *j = xcalloc(1, sizeof *j);
    j->archive = xstrdup(archive);
    j->overwrite = overwrite;
    j->first = first;
    j->end = count < 0 ? LLONG_MAX : first + count;
    j->fd = j->parent = j->folder_fd = -1;
    j->umask = umask(0);                               /* read it, and put it back */
    umask(j->umask);
    j->id = 2166136261u;                               /* FNV-1a of the path and the part */
    for (const char *k = archive; *k; k++)
        j->id = (j->id ^ (unsigned char)*k) * 16777619u;
    j->id = (j->id ^ (unsigned)first) * 16777619u;
    j->dest_fd = fcntl(dest_fd, F_DUPFD_CLOEXEC, 0);
    j->a = reader_new();
    *out = j;
    if (j->dest_fd < 0)
        return err_sys(err, FERRY_EFAIL, errno, "%s: the destination", archive);
    if (archive_read_open_filename(j->a, archive, EXTRACT_READ_BLOCK) != ARCHIVE_OK)
        return err_set(err, FERRY_EFAIL, "%s: %s", archive, archive_error_string(j->a));
    return 0;
}

int extract_job_step(struct extract_job *j, long long max_bytes, struct stage_counts *counts,
                     long long *consumed, struct ferry_error *err)
{
    long long budget = max_bytes;
    int rc = 1;
    while (rc == 1 && budget > 0) {
        if (j->fd >= 0) {
            rc = write_some(j, &budget, counts, err);
            continue;
        }
        if (j->index >= j->end) {
            rc = 0;
            break;
        }
        struct archive_entry *e;
        int r = archive_read_next_header(j->a, &e);
        if (r == ARCHIVE_EOF) {
            rc = 0;
            break;
        }
        /* A warning on a header (a name the locale cannot convert, a zip's
         * local header that disagrees with its directory) leaves the entry
         * readable; its data is still checked as it is read. */
        if (r == ARCHIVE_WARN) {
            FLOG(LOG_WARN, "%s: %s", j->archive, archive_error_string(j->a));
        } else if (r != ARCHIVE_OK) {
            rc = err_set(err, FERRY_EFAIL, "%s: corrupt or truncated: %s", j->archive,
                         archive_error_string(j->a));
            break;
        }
        if (j->index++ < j->first)
            continue;                  /* another part's entry (zip: a seek, not a read) */
        budget -= EXTRACT_ENTRY_COST;
        extract_entry(j, e, counts);
    }
    long long read = archive_filter_bytes(j->a, -1);
    *consumed = read > j->consumed ? read - j->consumed : 0;
    if (read > j->consumed)
        j->consumed = read;
    if (rc < 0)
        counts->failed++;
    if (rc == 0 && j->entries_failed > 0)
        rc = err_set(err, FERRY_EFAIL, "%lld %s not extracted (the first: %s)",
                     j->entries_failed, j->entries_failed == 1 ? "entry" : "entries",
                     j->first_failure);
    return rc;
}

void extract_job_close(struct extract_job *j)
{
    if (!j)
        return;
    drop_file(j);
    if (j->folder_fd >= 0)
        close(j->folder_fd);
    free(j->folder);
    free(j->first_failure);
    archive_read_free(j->a);
    if (j->dest_fd >= 0)
        close(j->dest_fd);
    free(j->archive);
    free(j);
}

/* ---- the scheduler's stage ------------------------------------------------ */

struct stage_job {
    struct extract_job *job;
};

static int stage_open(const struct work_item *it, struct stage_job **out, struct ferry_error *err)
{
    *out = NULL;
    int dest_fd = open(it->dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dest_fd < 0)
        return err_sys(err, FERRY_EFAIL, errno, "%s", it->dest);
    struct extract_job *job;
    int rc = extract_job_open(it->path, dest_fd, it->overwrite, it->offset, it->length, &job, err);
    close(dest_fd);
    if (rc != 0) {
        extract_job_close(job);            /* it is handed back even when it failed */
        return rc;
    }
    *out = xcalloc(1, sizeof **out);
    (*out)->job = job;
    return 0;
}

static int stage_step(struct stage_job *job, long long max_bytes, struct stage_counts *counts,
                      long long *consumed, struct ferry_error *err)
{
    return extract_job_step(job->job, max_bytes, counts, consumed, err);
}

static void stage_close(struct stage_job *job)
{
    extract_job_close(job->job);
    free(job);
}

const struct sched_stage_ops extract_stage = {
    .name = "extract", .state = EXTRACT_STATE, .journal = EXTRACT_JOURNAL,
    .feeds = extract_is_archive, .journal_key = extract_journal_key, .split = extract_split,
    .open = stage_open, .step = stage_step, .close = stage_close,
};

int extract_split(const char *archive, long long size, long long part_bytes,
                  struct stage_part **parts, size_t *n, struct ferry_error *err)
{
    *parts = xcalloc(1, sizeof **parts);
    **parts = (struct stage_part){0, -1, size};
    *n = 1;
    if (!is_zip(archive) || size <= part_bytes)
        return 0;
    /* The seekable reader reads the central directory first, and skipping
     * an entry's data is a seek: listing costs a header read per entry. */
    struct archive *a = archive_read_new();
    archive_read_support_format_zip_seekable(a);
    long long *sizes = NULL, total = 0;
    size_t count = 0, cap = 0;
    int rc = 0;
    if (archive_read_open_filename(a, archive, EXTRACT_READ_BLOCK) != ARCHIVE_OK) {
        rc = err_set(err, FERRY_EFAIL, "%s: %s", archive, archive_error_string(a));
    } else {
        struct archive_entry *e;
        int r;
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
            xgrow((void **)&sizes, &cap, count + 1, sizeof *sizes);
            sizes[count] = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
            total += sizes[count++];
        }
        if (r != ARCHIVE_EOF)
            rc = err_set(err, FERRY_EFAIL, "%s: corrupt or truncated: %s", archive,
                         archive_error_string(a));
    }
    archive_read_free(a);
    if (rc == 0 && count > 1 && total > 0) {
        /* Cut where the content passes the next multiple of the part size;
         * each part's weight is its share of the archive's bytes. */
        long long parts_wanted = (total + part_bytes - 1) / part_bytes;
        long long target = total / parts_wanted, acc = 0, start = 0;
        size_t m = 0;
        *parts = xrealloc(*parts, (size_t)parts_wanted * sizeof **parts);
        for (size_t i = 0; i < count; i++) {
            acc += sizes[i];
            bool last = i + 1 == count;
            if ((acc >= target || last) && (long long)m < parts_wanted) {
                long long w = (long long)((double)size * (double)acc / (double)total);
                (*parts)[m++] = (struct stage_part){start, (long long)i + 1 - start, w};
                start = (long long)i + 1;
                acc = 0;
            }
        }
        /* The last part takes the rest, to the end, and the rest of the weight. */
        (*parts)[m - 1].count = -1;
        long long others = 0;
        for (size_t k = 0; k + 1 < m; k++)
            others += (*parts)[k].weight;
        (*parts)[m - 1].weight = size - others;
        *n = m;
    }
    free(sizes);
    return rc;
}

/* ---- the run over ranks ------------------------------------------------------ */

static void add_input(struct plan *plan, size_t *cap, const char *path, const struct stat *st)
{
    xgrow((void **)&plan->unpack, cap, plan->n_unpack + 1, sizeof *plan->unpack);
    plan->unpack[plan->n_unpack++] = (struct plan_file){
        .path = xstrdup(path), .size = st->st_size, .mtime = st->st_mtime,
    };
}

static int compare_size_desc(const void *a, const void *b)
{
    long long x = ((const struct plan_file *)a)->size, y = ((const struct plan_file *)b)->size;
    return (x < y) - (x > y);
}

/* Rank 0: the archives named, and those in folders named (not recursing),
 * largest first. */
static int list_inputs(char **inputs, size_t n_inputs, struct plan *plan, struct ferry_error *err)
{
    size_t cap = 0;
    for (size_t i = 0; i < n_inputs; i++) {
        struct stat st;
        if (stat(inputs[i], &st) != 0)
            return err_sys(err, FERRY_ENOTFOUND, errno, "%s", inputs[i]);
        if (!S_ISDIR(st.st_mode)) {
            add_input(plan, &cap, inputs[i], &st);
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
                add_input(plan, &cap, path, &st);
            free(path);
        }
        closedir(d);
    }
    if (plan->n_unpack == 0)
        return err_set(err, FERRY_ENOTFOUND, "no archives to extract in what was given");
    qsort(plan->unpack, plan->n_unpack, sizeof *plan->unpack, compare_size_desc);
    return 0;
}

/* Rank 0: drop the archives the journal has as done (same size and mtime). */
static void drop_done(struct plan *plan, const struct journal *done, struct sched_report *r)
{
    size_t kept = 0;
    for (size_t i = 0; i < plan->n_unpack; i++) {
        struct plan_file *f = &plan->unpack[i];
        char *key = extract_journal_key(f->path), version[64];
        sched_version(f->size, f->mtime, version, sizeof version);
        bool finished = journal_has_file(done, key, version);
        free(key);
        if (finished) {
            r->archives_skipped++;
            free(f->path);
            continue;
        }
        plan->unpack[kept++] = *f;
    }
    plan->n_unpack = kept;
}

/* Rank 0 before the run: the destination, its lock, the list, the journal. */
static int prepare(char **inputs, size_t n_inputs, const struct extract_options *opts,
                   const char *state, struct plan *plan, struct journal **journal,
                   struct sched_report *report, struct ferry_error *err)
{
    int rc = fs_mkdirs(state, err);
    if (rc == 0)
        rc = lock_acquire(state, false, LOCK_DEFAULT_TTL, err);
    if (rc != 0)
        return rc;
    rc = list_inputs(inputs, n_inputs, plan, err);
    if (rc == 0)
        rc = journal_open_named(state, EXTRACT_JOURNAL, journal, err);
    if (rc == 0 && !opts->overwrite)
        drop_done(plan, *journal, report);
    if (rc != 0)
        lock_release(state);
    return rc;
}

int extract_run(MPI_Comm comm, char **inputs, size_t n_inputs, const struct extract_options *opts,
                struct sched_report *report, struct ferry_error *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    memset(report, 0, sizeof *report);
    struct plan plan;
    memset(&plan, 0, sizeof plan);
    struct journal *journal = NULL;
    char *state = xasprintf("%s/%s", opts->dest, EXTRACT_STATE);
    int rc = 0;
    if (rank == 0)
        rc = prepare(inputs, n_inputs, opts, state, &plan, &journal, report, err);
    rc = comm_agree(comm, rc, err);
    if (rc != 0) {
        plan_free(&plan);
        free(state);
        return rc;
    }

    struct progress *progress = NULL;
    if (rank == 0) {
        long long bytes = 0;
        for (size_t i = 0; i < plan.n_unpack; i++)
            bytes += plan.unpack[i].size;
        progress = progress_new((enum progress_mode)opts->progress, opts->json, "extract",
                                (long long)plan.n_unpack, bytes);
    }
    struct sched_stage_target x = {
        .dest = opts->dest, .overwrite = opts->overwrite,
        .remove_archive = opts->remove_archive, .journal = journal,
    };
    struct sched_options so = {.progress = progress, .stage = &extract_stage, .stage_target = &x,
                               .connections = 1};
    long long skipped = report->archives_skipped;     /* sched_run starts a fresh report */
    rc = sched_run(comm, &plan, NULL, NULL, &so, report);
    if (rank == 0) {
        report->archives_skipped = skipped;
        report->archives += skipped;
        progress_free(progress);
        journal_close(journal);
        lock_release(state);
    }
    plan_free(&plan);
    free(state);
    return comm_agree(comm, rc, err);
}

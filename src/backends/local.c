/* The local (or shared: NFS, Lustre, GPFS) file system as a storage kind. */
#include "local.h"
#include "ferry/fsutil.h"
#include "ferry/log.h"
#include "ferry/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Folders written in are opened once from the root without following links
 * (see fs_open_dir) and kept open: consecutive files mostly share their
 * folder, and a part file and its final name one or two. */
#define LOCAL_DIR_SLOTS 2

struct dir_slot {
    char *path;              /* BASE/FOLDER, or NULL */
    int fd;
};

struct local_backend {
    struct backend base;
    char *top;               /* root, or the folder that holds a layout's parts */
    char *root;              /* no trailing '/' (except "/" itself) */
    char *state_dir;
    char *parts_root;        /* where NAME.ferry-part files go: root, or apart */
    struct dir_slot dirs[LOCAL_DIR_SLOTS];
    int next_slot;           /* the one used least recently */
    /* A blob store (see local.h), or NULLs: */
    char *blobs, *blobs_up, *refs, *ref_file, *ref_text;
};

static struct local_backend *local_of(struct backend *b)
{
    return (struct local_backend *)b;
}

/* Not "[USER@]HOST:PATH": as for scp and rsync, a ':' before any '/' names
 * an SSH host, never a local folder called "HOST:" (write ./NAME:X for one). */
static bool local_claims(const char *location)
{
    return strncmp(location, "file://", 7) == 0 ||
           (!strstr(location, "://") && !backend_is_scp_form(location));
}

static int local_open(const char *location, struct backend **out,
                      struct ferry_error *err)
{
    const char *path = fs_file_url_path(location);
    if (*path == '\0')
        return err_set(err, FERRY_EUSAGE, "%s: empty path", location);
    struct local_backend *lb = xcalloc(1, sizeof *lb);
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    lb->root = xstrndup(path, n);
    lb->top = xstrdup(lb->root);
    lb->state_dir = fs_state_dir(lb->root, NULL);
    lb->parts_root = xstrdup(lb->root);
    *out = &lb->base;
    return 0;
}

int local_open_layout(const struct local_layout *layout, struct backend **out,
                      struct ferry_error *err)
{
    int rc = local_open(layout->root, out, err);
    if (rc != 0)
        return rc;
    struct local_backend *lb = local_of(*out);
    lb->base.ops = &backend_local;
    lb->base.location = xstrdup(lb->root);
    free(lb->top);
    lb->top = xstrdup(layout->top);
    free(lb->state_dir);
    lb->state_dir = xstrdup(layout->state_dir);
    free(lb->parts_root);
    lb->parts_root = xstrdup(layout->parts_root);
    lb->blobs = xstrdup(layout->blobs);
    lb->blobs_up = xstrdup(layout->blobs_up);
    lb->refs = xstrdup(layout->refs);
    lb->ref_file = layout->ref_file ? xstrdup(layout->ref_file) : NULL;
    lb->ref_text = layout->ref_file ? xstrdup(layout->ref_text) : NULL;
    return 0;
}

static char *local_full(struct local_backend *lb, const char *rel)
{
    return *rel ? xasprintf("%s/%s", lb->root, rel) : xstrdup(lb->root);
}

static bool is_part_file(const char *name)
{
    size_t n = strlen(name), s = strlen(BACKEND_PART_SUFFIX);
    return n > s && strcmp(name + n - s, BACKEND_PART_SUFFIX) == 0;
}

static int local_list_scenes(struct backend *b, char ***names, size_t *count,
                             bool *root_files, struct ferry_error *err)
{
    struct local_backend *lb = local_of(b);
    DIR *dir = opendir(lb->root);
    if (!dir)
        return err_sys(err, errno == ENOENT ? FERRY_ENOTFOUND : FERRY_EFAIL,
                       errno, "%s", lb->root);
    size_t cap = 0;
    *names = NULL;
    *count = 0;
    *root_files = false;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.')
            continue;
        struct stat st;
        if (fstatat(dirfd(dir), de->d_name, &st, 0) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            xgrow((void **)names, &cap, *count + 1, sizeof **names);
            (*names)[(*count)++] = xstrdup(de->d_name);
        } else if (S_ISREG(st.st_mode) && !is_part_file(de->d_name)) {
            *root_files = true;
        }
    }
    closedir(dir);
    return 0;
}

struct walk_state {
    walk_fn fn;
    void *ud;
    struct ferry_error *err;
    int first_error;         /* walking goes on past unreadable directories */
    char path[PATH_MAX];     /* the current relative path */
};

static int walk_dir(struct walk_state *ws, int dirfd_, size_t path_len, bool recursive);

/* Visit one directory entry; path_len is the length of its parent's path. */
static int walk_entry(struct walk_state *ws, int parent_fd, const char *name,
                      size_t path_len, bool recursive)
{
    size_t name_len = strlen(name);
    if (path_len + name_len + 2 > sizeof ws->path) {
        ws->first_error = err_set(ws->err, FERRY_EFAIL, "%s/%s: path too long",
                                  ws->path, name);
        return 0;
    }
    size_t len = path_len;
    if (len)
        ws->path[len++] = '/';
    memcpy(ws->path + len, name, name_len + 1);
    len += name_len;

    struct stat st;
    if (fstatat(parent_fd, name, &st, 0) != 0) {
        if (errno != ENOENT)   /* vanished since readdir: not an error */
            ws->first_error = err_sys(ws->err, FERRY_EFAIL, errno, "%s", ws->path);
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        if (!recursive || name[0] == '.')
            return 0;
        int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            ws->first_error = err_sys(ws->err, FERRY_EFAIL, errno, "%s", ws->path);
            return 0;
        }
        return walk_dir(ws, fd, len, recursive);
    }
    if (!S_ISREG(st.st_mode) || is_part_file(name))
        return 0;
    struct file_meta meta = {
        .path = ws->path,
        .size = st.st_size,
        .mtime = st.st_mtim.tv_sec,
        .mode = st.st_mode & 07777,
    };
    return ws->fn(&meta, ws->ud);
}

/* Takes ownership of dir_fd. */
static int walk_dir(struct walk_state *ws, int dir_fd, size_t path_len, bool recursive)
{
    DIR *dir = fdopendir(dir_fd);
    if (!dir) {
        close(dir_fd);
        ws->first_error = err_sys(ws->err, FERRY_EFAIL, errno, "%s", ws->path);
        return 0;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(dir))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = walk_entry(ws, dirfd(dir), de->d_name, path_len, recursive);
        ws->path[path_len] = '\0';
    }
    closedir(dir);
    return rc;
}

static int local_walk(struct backend *b, const char *dir, bool recursive,
                      walk_fn fn, void *ud, struct ferry_error *err)
{
    struct local_backend *lb = local_of(b);
    char *full = local_full(lb, dir);
    int fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int rc = err_sys(err, errno == ENOENT ? FERRY_ENOTFOUND : FERRY_EFAIL,
                         errno, "%s", full);
        free(full);
        return rc;
    }
    free(full);
    struct walk_state ws = {.fn = fn, .ud = ud, .err = err};
    snprintf(ws.path, sizeof ws.path, "%s", dir);
    int rc = walk_dir(&ws, fd, strlen(ws.path), recursive);
    return rc ? rc : ws.first_error;
}

static void add_name(char ***names, size_t *n, size_t *cap, const char *dir, const char *name)
{
    size_t dir_len = strlen(dir), name_len = strlen(name);
    char *path = xmalloc(dir_len + name_len + 2), *end = path;
    if (dir_len) {
        memcpy(end, dir, dir_len);
        end += dir_len;
        *end++ = '/';
    }
    memcpy(end, name, name_len + 1);
    xgrow((void **)names, cap, *n + 1, sizeof **names);
    (*names)[(*n)++] = path;
}

/* The type readdir gives is enough for most entries; a link or a file
 * system that gives none is looked at (and followed, as walk does). */
static bool entry_is_dir(DIR *dir, const struct dirent *de)
{
    if (de->d_type == DT_DIR)
        return true;
    if (de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
        return false;
    struct stat st;
    return fstatat(dirfd(dir), de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
}

static int local_list_dir(struct backend *b, const char *dir, char ***dirs, size_t *n_dirs,
                          char ***files, size_t *n_files, struct ferry_error *err)
{
    char *full = local_full(local_of(b), dir);
    DIR *d = opendir(full);
    if (!d) {
        int rc = err_sys(err, errno == ENOENT ? FERRY_ENOTFOUND : FERRY_EFAIL, errno, "%s", full);
        free(full);
        return rc;
    }
    size_t dirs_cap = 0, files_cap = 0;
    *dirs = *files = NULL;
    *n_dirs = *n_files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (entry_is_dir(d, de)) {
            if (de->d_name[0] != '.')
                add_name(dirs, n_dirs, &dirs_cap, dir, de->d_name);
        } else if (!is_part_file(de->d_name)) {
            add_name(files, n_files, &files_cap, dir, de->d_name);
        }
    }
    closedir(d);
    free(full);
    return 0;
}

/* The folder that holds path, kept open while paths share it (a batch
 * comes from one folder): each file is then one fstatat, not a walk of its
 * whole path from the root. */
struct stat_dir {
    char *folder;            /* relative, "" for the root; NULL: none open */
    int fd;
};

static int stat_dir_for(struct local_backend *lb, struct stat_dir *d, const char *path,
                        const char **name, struct ferry_error *err)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 0;
    *name = slash ? slash + 1 : path;
    if (d->folder && strlen(d->folder) == len && strncmp(d->folder, path, len) == 0)
        return 0;
    if (d->folder)
        close(d->fd);
    free(d->folder);
    d->folder = xstrndup(path, len);
    char *full = local_full(lb, d->folder);
    d->fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (d->fd < 0) {
        rc = errno == ENOENT ? FERRY_ENOTFOUND : err_sys(err, FERRY_EFAIL, errno, "%s", full);
        free(d->folder);
        d->folder = NULL;
    }
    free(full);
    return rc;
}

static int local_stat_files(struct backend *b, char *const *paths, size_t n, walk_fn fn,
                            void *ud, struct ferry_error *err)
{
    struct local_backend *lb = local_of(b);
    struct stat_dir dir = {0};
    int first_error = 0, rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *name;
        struct stat st;
        int found = stat_dir_for(lb, &dir, paths[i], &name, first_error ? NULL : err);
        if (found == 0 && fstatat(dir.fd, name, &st, 0) != 0)
            found = errno == ENOENT ? FERRY_ENOTFOUND
                  : err_sys(first_error ? NULL : err, FERRY_EFAIL, errno, "%s/%s", lb->root,
                            paths[i]);
        if (found != 0 && found != FERRY_ENOTFOUND && !first_error)
            first_error = found;
        if (found != 0 || !S_ISREG(st.st_mode))
            continue;
        struct file_meta meta = {
            .path = paths[i],
            .size = st.st_size,
            .mtime = st.st_mtim.tv_sec,
            .mode = st.st_mode & 07777,
        };
        rc = fn(&meta, ud);
    }
    if (dir.folder)
        close(dir.fd);
    free(dir.folder);
    return rc ? rc : first_error;
}

static int local_open_read(struct backend *b, const char *path, int *fd,
                           struct ferry_error *err)
{
    char *full = local_full(local_of(b), path);
    *fd = open(full, O_RDONLY | O_CLOEXEC);
    int rc = *fd < 0 ? err_sys(err, FERRY_EFAIL, errno, "%s", full) : 0;
    free(full);
    return rc;
}

static void forget_dirs(struct local_backend *lb)
{
    for (int i = 0; i < LOCAL_DIR_SLOTS; i++) {
        if (lb->dirs[i].path)
            close(lb->dirs[i].fd);
        free(lb->dirs[i].path);
        lb->dirs[i].path = NULL;
    }
}

/* *dir: the folder that holds base/rel, opened without following a link
 * below top (made if create); *name: rel's last part.  The descriptor
 * stays lb's. */
static int dir_of(struct local_backend *lb, const char *base, const char *rel, bool create,
                  int *dir, const char **name, struct ferry_error *err)
{
    const char *slash = strrchr(rel, '/');
    int len = slash ? (int)(slash - rel) : 0;
    *name = slash ? slash + 1 : rel;
    char *path = xasprintf("%s/%.*s", base, len, rel);
    int slot = 0;
    while (slot < LOCAL_DIR_SLOTS &&
           !(lb->dirs[slot].path && strcmp(lb->dirs[slot].path, path) == 0))
        slot++;
    if (slot == LOCAL_DIR_SLOTS) {
        size_t n = strlen(lb->top);
        bool below = strncmp(path, lb->top, n) == 0 && path[n] == '/';
        char *folder = xstrndup(rel, (size_t)len);
        int fd, rc = fs_open_dir(below ? lb->top : base, below ? path + n + 1 : folder, create,
                                 &fd, err);
        free(folder);
        if (rc != 0) {
            free(path);
            return rc;
        }
        slot = lb->next_slot;
        if (lb->dirs[slot].path)
            close(lb->dirs[slot].fd);
        free(lb->dirs[slot].path);
        lb->dirs[slot] = (struct dir_slot){xstrdup(path), fd};
    }
    /* Two slots: the one just used is never the next to go, so a caller
     * may hold a part file's folder while it opens the final one. */
    lb->next_slot = (slot + 1) % LOCAL_DIR_SLOTS;
    *dir = lb->dirs[slot].fd;
    free(path);
    return 0;
}

static int open_error(struct ferry_error *err, int e, const char *base, const char *rel)
{
    if (e == ELOOP)
        return err_set(err, FERRY_EFAIL, "%s/%s is a symbolic link: ferry never writes "
                       "through a link inside a destination", base, rel);
    return err_sys(err, FERRY_EFAIL, e, "%s/%s", base, rel);
}

static int local_open_part(struct backend *b, const char *path, long long size,
                           int *fd, struct ferry_error *err)
{
    struct local_backend *lb = local_of(b);
    char *part = xasprintf("%s" BACKEND_PART_SUFFIX, path);
    int dir;
    const char *name;
    *fd = -1;
    int rc = dir_of(lb, lb->parts_root, part, true, &dir, &name, err);
    if (rc == 0) {
        *fd = openat(dir, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (*fd < 0)
            rc = open_error(err, errno, lb->parts_root, part);
    }
    /* Never pre-size the file: writing into a sparse file is much slower on
     * ext4 than extending one.  Only cut what a stale, longer part file has
     * beyond the new size; chunks written at any offset extend it.  A part
     * file with another name (a hard link) could be anyone's file. */
    struct stat st;
    if (rc == 0 && fstat(*fd, &st) != 0)
        rc = err_sys(err, FERRY_EFAIL, errno, "%s/%s", lb->parts_root, part);
    else if (rc == 0 && st.st_nlink > 1)
        rc = err_set(err, FERRY_EFAIL, "%s/%s has other hard links: not ferry's to write",
                     lb->parts_root, part);
    else if (rc == 0 && st.st_size > size && ftruncate(*fd, size) != 0)
        rc = err_sys(err, FERRY_EFAIL, errno, "%s/%s: cannot size to %lld bytes",
                     lb->parts_root, part, size);
    if (rc != 0 && *fd >= 0)
        close(*fd);
    free(part);
    return rc;
}

static long long local_part_size(struct backend *b, const char *path)
{
    char *part = xasprintf("%s/%s" BACKEND_PART_SUFFIX, local_of(b)->parts_root, path);
    struct stat st;
    long long size = lstat(part, &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
    free(part);
    return size;
}

/* Check size, set mode and mtime through the descriptor (no path walks:
 * this runs once per file, a million times for a million small files). */
static int finish_part(int fd, const char *part, const struct file_meta *meta,
                       struct ferry_error *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return err_sys(err, FERRY_EFAIL, errno, "%s", part);
    if (st.st_size != meta->size)
        return err_set(err, FERRY_EFAIL, "%s: %lld bytes written, %lld expected",
                       part, (long long)st.st_size, meta->size);
    /* Keep permissions but never setuid/setgid bits from a source we do not vouch for. */
    if (fchmod(fd, meta->mode & 0777) != 0)
        return err_sys(err, FERRY_EFAIL, errno, "%s: chmod", part);
    struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = meta->mtime}};
    if (futimens(fd, times) != 0)
        return err_sys(err, FERRY_EFAIL, errno, "%s: set mtime", part);
    return 0;
}

/* A blob store's commit: the part file (name in folder dir) becomes
 * blobs/HEX (the same content under any name or commit is one blob), and
 * path a relative symlink to it, swapped in with a rename so that it is
 * never missing or dangling. */
static int commit_blob(struct local_backend *lb, int dir, const char *name,
                       const struct file_meta *meta, struct ferry_error *err)
{
    const char *hex = meta->etag ? strchr(meta->etag, ':') : NULL;
    /* The hash comes from a server: it names a file only if it is plain hex. */
    if (!hex || strlen(hex + 1) < 40 || hex[1 + strspn(hex + 1, "0123456789abcdef")] != '\0')
        return err_set(err, FERRY_EFAIL, "%s: no usable content hash (%s) to name its blob",
                       meta->path, meta->etag ? meta->etag : "none");
    hex++;
    int blobs;
    const char *blob;
    int rc = dir_of(lb, lb->blobs, hex, true, &blobs, &blob, err);
    if (rc == 0 && renameat(dir, name, blobs, blob) != 0)
        rc = err_sys(err, FERRY_EFAIL, errno, "rename %s/%s" BACKEND_PART_SUFFIX " to %s/%s",
                     lb->parts_root, meta->path, lb->blobs, hex);
    size_t depth = 0;        /* the folders between path and the snapshot root */
    for (const char *c = meta->path; (c = strchr(c, '/')); c++)
        depth++;
    char *target = xmalloc(strlen(lb->blobs_up) + 3 * depth + strlen(hex) + sizeof "blobs/");
    char *end = stpcpy(target, lb->blobs_up);
    while (depth--)
        end = stpcpy(end, "../");
    sprintf(end, "blobs/%s", hex);
    int tree;
    const char *file;
    if (rc == 0)
        rc = dir_of(lb, lb->root, meta->path, true, &tree, &file, err);
    char *link = rc == 0 ? xasprintf("%s.link" BACKEND_PART_SUFFIX, file) : NULL;
    if (rc == 0 && ((unlinkat(tree, link, 0) != 0 && errno != ENOENT) ||
                    symlinkat(target, tree, link) != 0))
        rc = err_sys(err, FERRY_EFAIL, errno, "symlink %s/%s.link" BACKEND_PART_SUFFIX,
                     lb->root, meta->path);
    if (rc == 0 && renameat(tree, link, tree, file) != 0)
        rc = err_sys(err, FERRY_EFAIL, errno, "rename %s/%s.link" BACKEND_PART_SUFFIX " to %s/%s",
                     lb->root, meta->path, lb->root, meta->path);
    free(target);
    free(link);
    return rc;
}

/* The part file, checked and finished, takes its final name.  Both folders
 * are reached without following links: rename(2) would follow them. */
static int local_commit(struct backend *b, const struct file_meta *meta, int fd,
                        struct ferry_error *err)
{
    struct local_backend *lb = local_of(b);
    char *part = xasprintf("%s" BACKEND_PART_SUFFIX, meta->path);
    int dir, own_fd = -1;
    const char *name;
    int rc = dir_of(lb, lb->parts_root, part, false, &dir, &name, err);
    if (rc == 0 && fd < 0 && (own_fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        rc = open_error(err, errno, lb->parts_root, part);
    char *shown = xasprintf("%s/%s", lb->parts_root, part);
    if (rc == 0)
        rc = finish_part(fd < 0 ? own_fd : fd, shown, meta, err);
    free(shown);
    if (own_fd >= 0)
        close(own_fd);
    int tree;
    const char *file;
    if (rc == 0 && lb->blobs) {
        rc = commit_blob(lb, dir, name, meta, err);
    } else if (rc == 0 && (rc = dir_of(lb, lb->root, meta->path, true, &tree, &file, err)) == 0 &&
               renameat(dir, name, tree, file) != 0) {
        rc = err_sys(err, FERRY_EFAIL, errno, "rename %s/%s to %s/%s", lb->parts_root, part,
                     lb->root, meta->path);
    }
    free(part);
    return rc;
}

/* A RANGES write: the part file, open for the caller's bytes. */
struct local_write {
    struct backend_write head;       /* first: what callers see */
    struct backend *b;
    struct file_meta meta;           /* meta.path and meta.etag are owned */
    bool place;
};

static int local_write_open(struct backend *b, const struct write_spec *spec,
                            struct backend_write **out, struct ferry_error *err)
{
    int fd;
    int rc = local_open_part(b, spec->meta.path, spec->meta.size, &fd, err);
    if (rc != 0)
        return rc;
    struct local_write *w = xcalloc(1, sizeof *w);
    w->head.fd = fd;
    w->b = b;
    w->meta = spec->meta;
    w->meta.path = xstrdup(spec->meta.path);
    w->meta.etag = spec->meta.etag ? xstrdup(spec->meta.etag) : NULL;
    w->place = spec->place;
    *out = &w->head;
    return 0;
}

static void local_write_abort(struct backend_write *bw)
{
    struct local_write *w = (struct local_write *)bw;
    if (!w)
        return;
    if (w->head.fd >= 0)
        close(w->head.fd);
    free((char *)w->meta.path);
    free((char *)w->meta.etag);
    free(w);
}

static int local_write_close(struct backend_write *bw, char **receipt, struct ferry_error *err)
{
    struct local_write *w = (struct local_write *)bw;
    if (receipt)
        *receipt = NULL;
    int rc = w->place ? local_commit(w->b, &w->meta, w->head.fd, err) : 0;
    local_write_abort(bw);
    return rc;
}

/* Remove the folders that deleting path left empty, up to but not the scene. */
static void prune_empty(struct local_backend *lb, const char *path)
{
    char *dir = xstrdup(path);
    struct ferry_error ignored = {0};
    for (char *slash = strrchr(dir, '/'); slash && slash != strchr(dir, '/');
         slash = strrchr(dir, '/')) {
        *slash = '\0';
        int parent;
        const char *name;
        if (dir_of(lb, lb->root, dir, false, &parent, &name, &ignored) != 0 ||
            unlinkat(parent, name, AT_REMOVEDIR) != 0)
            break;
        forget_dirs(lb);     /* a kept descriptor may be the folder just removed */
    }
    free(dir);
}

static int local_remove(struct backend *b, const char *path, struct ferry_error *err)
{
    struct local_backend *lb = local_of(b);
    int dir;
    const char *name;
    int rc = dir_of(lb, lb->root, path, false, &dir, &name, err);
    if (rc == FERRY_ENOTFOUND)
        return 0;
    if (rc == 0 && unlinkat(dir, name, 0) != 0 && errno != ENOENT)
        rc = err_sys(err, FERRY_EFAIL, errno, "cannot delete %s/%s", lb->root, path);
    if (rc == 0)
        prune_empty(lb, path);
    return rc;
}

static long long local_free_bytes(struct backend *b)
{
    char *dir = xstrdup(local_of(b)->root);
    struct statvfs sv;
    /* The root may not exist yet: ask the nearest ancestor that does. */
    while (statvfs(dir, &sv) != 0) {
        char *slash = strrchr(dir, '/');
        if (!slash) {
            free(dir);
            return statvfs(".", &sv) == 0 ? (long long)sv.f_bavail * (long long)sv.f_frsize : -1;
        }
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
    free(dir);
    return (long long)sv.f_bavail * (long long)sv.f_frsize;
}

static const char *local_state_dir(struct backend *b)
{
    return local_of(b)->state_dir;
}

/* A blob store's ref (refs/main holding the commit) is written last, so
 * that it never names a snapshot still being filled. */
static int local_finish(struct backend *b, struct ferry_error *err)
{
    struct local_backend *lb = local_of(b);
    if (!lb->refs)
        return 0;
    /* refs/ too when no ref is written: readers expect the folder. */
    char *dir = xstrdup(lb->ref_file ? lb->ref_file : lb->refs);
    if (lb->ref_file)
        *strrchr(dir, '/') = '\0';
    int rc = fs_mkdirs_under(lb->top, dir, err);
    free(dir);
    if (rc == 0 && lb->ref_file)
        rc = fs_write_atomic(lb->ref_file, lb->ref_text, strlen(lb->ref_text), err);
    return rc;
}

static void local_close(struct backend *b)
{
    struct local_backend *lb = local_of(b);
    forget_dirs(lb);
    free(lb->top);
    free(lb->root);
    free(lb->state_dir);
    free(lb->parts_root);
    free(lb->blobs);
    free(lb->blobs_up);
    free(lb->refs);
    free(lb->ref_file);
    free(lb->ref_text);
    free(lb);
}

const struct backend_ops backend_local = {
    .name = "local",
    .claims = local_claims,
    .open = local_open,
    .list_scenes = local_list_scenes,
    .walk = local_walk,
    .open_read = local_open_read,
    .write_open = local_write_open,
    .write_close = local_write_close,
    .write_abort = local_write_abort,
    .part_size = local_part_size,
    .remove = local_remove,
    .free_bytes = local_free_bytes,
    .state_dir = local_state_dir,
    .finish = local_finish,
    .close = local_close,
    .list_dir = local_list_dir,
    .stat_files = local_stat_files,
};

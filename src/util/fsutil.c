#include "ferry/fsutil.h"
#include "ferry/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

bool fs_has_suffix(const char *name, const char *const *suffixes, size_t n, bool any_case)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(suffixes[i]);
        const char *tail = name + len - k;
        if (len > k && (any_case ? strcasecmp(tail, suffixes[i]) : strcmp(tail, suffixes[i])) == 0)
            return true;
    }
    return false;
}

int fs_open_read(const char *path, int *fd, long long *size, struct ferry_error *err)
{
    struct stat st;
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd >= 0 && fstat(*fd, &st) == 0) {
        *size = st.st_size;
        return 0;
    }
    int rc = err_sys(err, FERRY_EFAIL, errno, "%s", path);
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
    return rc;
}

int fs_mkdirs(const char *path, struct ferry_error *err)
{
    char *dir = xstrdup(path);
    int rc = 0;
    for (char *p = dir + 1; rc == 0; p++) {
        bool end = *p == '\0';
        if (*p != '/' && !end)
            continue;
        *p = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            rc = err_sys(err, FERRY_EFAIL, errno, "cannot create %s", dir);
        if (end)
            break;
        *p = '/';
    }
    free(dir);
    return rc;
}

/* Links are never followed in what ferry creates: a link planted where a
 * temporary file will be is removed (the link, not what it names), and
 * O_EXCL catches one planted again in between. */
int fs_create_excl(const char *path, int flags, int *fd, struct ferry_error *err)
{
    *fd = -1;
    if (unlink(path) != 0 && errno != ENOENT)
        return err_sys(err, FERRY_EFAIL, errno, "%s", path);
    *fd = open(path, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    return *fd < 0 ? err_sys(err, FERRY_EFAIL, errno, "%s", path) : 0;
}

int fs_write_atomic(const char *path, const char *data, size_t len,
                    struct ferry_error *err)
{
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    int fd;
    int rc = fs_create_excl(tmp, O_WRONLY, &fd, err);
    if (rc == 0) {
        ssize_t n = write(fd, data, len);
        if (n != (ssize_t)len || fsync(fd) != 0)
            rc = err_sys(err, FERRY_EFAIL, n < 0 ? errno : EIO, "writing %s", tmp);
        close(fd);
        /* rename replaces a link at path; it never writes through one. */
        if (rc == 0 && rename(tmp, path) != 0)
            rc = err_sys(err, FERRY_EFAIL, errno, "rename %s to %s", tmp, path);
        if (rc != 0)
            unlink(tmp);
    }
    free(tmp);
    return rc;
}

/* Open (or make) the folder seg, of length len, in dir_fd without
 * following a link; errno set when it cannot. */
static int open_step(int dir_fd, const char *seg, size_t len, bool create)
{
    char *name = xstrndup(seg, len);
    int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int fd = openat(dir_fd, name, flags);
    if (fd < 0 && errno == ENOENT && create &&
        (mkdirat(dir_fd, name, 0777) == 0 || errno == EEXIST))
        fd = openat(dir_fd, name, flags);
    int saved = errno;
    struct stat st;
    if (fd < 0 && (saved == ELOOP || saved == ENOTDIR) &&
        fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        saved = ELOOP;
    free(name);
    errno = saved;
    return fd;
}

int fs_open_dir(const char *base, const char *rel, bool create, int *fd,
                struct ferry_error *err)
{
    int rc = create ? fs_mkdirs(base, err) : 0;
    if (rc != 0)
        return rc;
    *fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0)
        return err_sys(err, errno == ENOENT ? FERRY_ENOTFOUND : FERRY_EFAIL, errno, "%s", base);
    for (const char *seg = rel; *seg;) {
        size_t len = strcspn(seg, "/");
        int next = len ? open_step(*fd, seg, len, create) : *fd;
        if (next < 0) {
            int code = errno == ENOENT ? FERRY_ENOTFOUND : FERRY_EFAIL;
            int end = (int)(seg + len - rel);
            if (errno == ELOOP)
                rc = err_set(err, FERRY_EFAIL, "%s/%.*s is a symbolic link: ferry never "
                             "writes through a link inside a destination", base, end, rel);
            else
                rc = err_sys(err, code, errno, "%s/%.*s", base, end, rel);
            close(*fd);
            *fd = -1;
            return rc;
        }
        if (next != *fd) {
            close(*fd);
            *fd = next;
        }
        seg += len + (seg[len] == '/');
    }
    return 0;
}

int fs_mkdirs_under(const char *base, const char *path, struct ferry_error *err)
{
    size_t n = strlen(base);
    const char *rel = strncmp(path, base, n) == 0 && (path[n] == '/' || !path[n])
                    ? path + n + (path[n] == '/') : NULL;
    if (!rel)
        return fs_mkdirs(path, err);
    int fd;
    int rc = fs_open_dir(base, rel, true, &fd, err);
    if (rc == 0)
        close(fd);
    return rc;
}

bool fs_relpath_safe(const char *path, const char **why)
{
    if (!*path)
        return *why = "an empty path", false;
    if (path[0] == '/')
        return *why = "an absolute path", false;
    if (strchr(path, '\\'))
        return *why = "a backslash in the path", false;
    for (const char *seg = path; seg;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return *why = "an empty, '.' or '..' path segment", false;
        seg = end ? end + 1 : NULL;
    }
    return true;
}

const char *fs_file_url_path(const char *location)
{
    if (strncmp(location, "file://", 7) != 0)
        return location;
    const char *rest = location + 7;
    if (strncmp(rest, "localhost/", 10) == 0)
        rest += 9;
    return rest;
}

/* realpath(3) of path, or of its nearest existing parent with the rest
 * appended, its '.' and '..' resolved by name (below a real path that is
 * what they will mean once the folders are made). */
static char *real_path(const char *path)
{
    char *head = xstrdup(path), *real;
    while (!(real = realpath(*head ? head : ".", NULL)) && *head && strcmp(head, "/") != 0) {
        char *slash = strrchr(head, '/');
        if (!slash)
            *head = '\0';
        else
            slash[slash == head] = '\0';
    }
    if (!real) {
        free(head);
        return xstrdup(path);
    }
    char *full = xmalloc(strlen(real) + strlen(path) + 2);
    size_t len = stpcpy(full, real) - full;
    for (const char *seg = path + strlen(head); *seg;) {
        size_t n = strcspn(seg, "/");
        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            while (len > 1 && full[--len] != '/')
                ;
            full[len] = '\0';
            len = strlen(full);
        } else if (n > 0 && !(n == 1 && seg[0] == '.')) {
            len += (size_t)sprintf(full + len, "%s%.*s", len > 1 ? "/" : "", (int)n, seg);
        }
        seg += n + (seg[n] == '/');
    }
    free(real);
    free(head);
    return full;
}

static bool path_within(const char *inner, const char *outer)
{
    size_t n = strlen(outer);
    return strncmp(inner, outer, n) == 0 &&
           (inner[n] == '/' || inner[n] == '\0' || outer[n - 1] == '/');
}

int fs_check_apart(const char *src, const char *dst, struct ferry_error *err)
{
    char *rs = real_path(src), *rd = real_path(dst);
    int rc = 0;
    if (strcmp(rs, rd) == 0)
        rc = err_set(err, FERRY_EUSAGE, "SRC %s and DST %s overlap: both are %s", src, dst, rs);
    else if (path_within(rs, rd) || path_within(rd, rs))
        rc = err_set(err, FERRY_EUSAGE, "SRC %s (%s) and DST %s (%s) overlap: one lies inside "
                     "the other, so a copy would read its own output and sync would delete "
                     "the source", src, rs, dst, rd);
    free(rs);
    free(rd);
    return rc;
}

char *fs_state_dir(const char *dir, const char *sub)
{
    return sub ? xasprintf("%s/" FS_STATE_NAME "/%s", dir, sub)
               : xasprintf("%s/" FS_STATE_NAME, dir);
}

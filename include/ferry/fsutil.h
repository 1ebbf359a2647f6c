/* Small file-system helpers shared by modules. */
#ifndef FERRY_FSUTIL_H
#define FERRY_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include "ferry/err.h"

/* Open path for reading and stat it: *fd and *size, or an error naming
 * the path (FERRY_EFAIL). */
int fs_open_read(const char *path, int *fd, long long *size, struct ferry_error *err);

/* Does name end in one of the n suffixes (ignoring case when any_case),
 * with something before it? */
bool fs_has_suffix(const char *name, const char *const *suffixes, size_t n, bool any_case);

/* mkdir -p, following links: for a path the user named. */
int fs_mkdirs(const char *path, struct ferry_error *err);

/* Inside a destination or state folder, what ferry creates never follows a
 * link, so a link planted there cannot lead a write outside it. */

/* *fd: the folder rel ("" for base itself) under base, walked one folder at
 * a time from base (which is taken as named) without following links, made
 * where missing when create is set.  A link on the way is refused, naming
 * it (FERRY_EFAIL); a missing folder is FERRY_ENOTFOUND. */
int fs_open_dir(const char *base, const char *rel, bool create, int *fd,
                struct ferry_error *err);

/* mkdir -p of path, which lies under base: the folders below base never
 * through a link.  A path not under base is made as fs_mkdirs makes it. */
int fs_mkdirs_under(const char *base, const char *path, struct ferry_error *err);

/* A new file at path opened with flags (O_WRONLY, O_RDWR) plus O_CREAT,
 * O_EXCL and O_NOFOLLOW; a link or file already there is removed first. */
int fs_create_excl(const char *path, int flags, int *fd, struct ferry_error *err);

/* Write a whole file atomically: a temporary name, then rename. */
int fs_write_atomic(const char *path, const char *data, size_t len,
                    struct ferry_error *err);

/* Is path safe to create under a destination: relative, no '.', '..' or
 * empty segment, no backslash?  *why says what is wrong when not. */
bool fs_relpath_safe(const char *path, const char **why);

/* file:///abs/path and file://localhost/abs/path as /abs/path; anything
 * else as it is. */
const char *fs_file_url_path(const char *location);

/* Refuse (FERRY_EUSAGE, naming both and their real paths) two folders that
 * are the same or one inside the other, compared by real path (links and
 * relative paths resolved; a folder that does not exist yet by its nearest
 * existing parent). */
int fs_check_apart(const char *src, const char *dst, struct ferry_error *err);

/* The folder ferry keeps its state in, beside the data it is about: DIR/.ferry
 * holds a destination's journal, catalog, lock and report, DIR/.ferry/extract
 * an extraction's, SRC/.ferry/push an upload's.  Walks never enter it. */
#define FS_STATE_NAME ".ferry"
/* A job spec's phase markers: .ferry-run/NAME beside the spec. */
#define FS_RUN_STATE_NAME ".ferry-run"

/* DIR/.ferry, or DIR/.ferry/SUB when sub is not NULL; a fresh string. */
char *fs_state_dir(const char *dir, const char *sub);

#endif

/* A storage kind (local file system now; HTTP, the Hub, S3 later) is a table
 * of functions, so a new kind is one new file under src/backends/ and one
 * line in backend.c, never an `if` on a type field elsewhere.
 *
 * Paths given to a backend are relative to its root and '/'-separated.
 * Directories whose name starts with '.' (.git, .cache, .ferry) are never
 * walked, and NAME.ferry-part files are never listed as content. */
#ifndef FERRY_BACKEND_H
#define FERRY_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include "ferry/err.h"

#define BACKEND_PART_SUFFIX ".ferry-part"

struct file_meta {
    const char *path;        /* relative to the root */
    long long size;
    long long mtime;         /* unix seconds */
    unsigned mode;           /* permission bits */
};

/* Called for every file a walk finds; a non-zero return stops the walk. */
typedef int (*walk_fn)(const struct file_meta *file, void *ud);

struct backend;

struct backend_ops {
    const char *name;
    /* Does this kind handle the location (a URL or a path)? */
    bool (*claims)(const char *location);
    int (*open)(const char *location, struct backend **out, struct ferry_error *err);
    /* The first-level names under the root: directories (scenes) and whether
     * plain files stand directly at the root.  A missing root is FERRY_ENOTFOUND. */
    int (*list_scenes)(struct backend *b, char ***names, size_t *count,
                       bool *root_files, struct ferry_error *err);
    /* Every file under dir ("" for the root's own files, not recursing). */
    int (*walk)(struct backend *b, const char *dir, bool recursive, walk_fn fn,
                void *ud, struct ferry_error *err);
    /* An fd to read path from; the caller closes it. */
    int (*open_read)(struct backend *b, const char *path, int *fd,
                     struct ferry_error *err);
    /* An fd to write path's NAME.ferry-part at any offset below size; an
     * existing part file is kept (cut to size if longer), so journalled
     * chunks survive. */
    int (*open_part)(struct backend *b, const char *path, long long size,
                     int *fd, struct ferry_error *err);
    /* The size of path's part file, or -1 when there is none. */
    long long (*part_size)(struct backend *b, const char *path);
    /* Check the part file against meta, give it meta's mtime and mode, and
     * rename it into place.  fd is the part file open for writing, or -1. */
    int (*commit)(struct backend *b, const struct file_meta *meta, int fd,
                  struct ferry_error *err);
    /* Delete a file (and the directories it leaves empty, up to its scene). */
    int (*remove)(struct backend *b, const char *path, struct ferry_error *err);
    /* Bytes free for new data where the root lives; -1 when unknown. */
    long long (*free_bytes)(struct backend *b);
    /* Where this location keeps ferry's state (journal, lock), or NULL when
     * it cannot hold any. */
    const char *(*state_dir)(struct backend *b);
    void (*close)(struct backend *b);
};

struct backend {
    const struct backend_ops *ops;
    char *location;          /* as the user gave it */
};

/* Open the backend that claims location; FERRY_EUSAGE when none does. */
int backend_open(const char *location, struct backend **out,
                 struct ferry_error *err);
void backend_close(struct backend *b);

extern const struct backend_ops backend_local;

#endif

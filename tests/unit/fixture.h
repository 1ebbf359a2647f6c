/* Small helpers for unit tests that need files on disk. */
#ifndef FERRY_TEST_FIXTURE_H
#define FERRY_TEST_FIXTURE_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Write len pseudo-random bytes (seeded) to root/rel, creating folders. */
static inline void fixture_file(const char *root, const char *rel, long long len, unsigned seed)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0777);
            *p = '/';
        }
    }
    FILE *f = fopen(path, "wb");
    for (long long i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        fputc((int)(seed >> 16) & 0xff, f);
    }
    fclose(f);
}

/* Give root/rel the mtime of root/like (so the pair compares unchanged). */
static inline void fixture_same_mtime(const char *root, const char *rel, const char *like_root)
{
    char a[4096], b[4096];
    struct stat st;
    snprintf(a, sizeof a, "%s/%s", root, rel);
    snprintf(b, sizeof b, "%s/%s", like_root, rel);
    stat(b, &st);
    struct timespec t[2] = {st.st_atim, st.st_mtim};
    utimensat(AT_FDCWD, a, t, 0);
}

/* Whole contents of a file (caller frees); *len gets its size, -1 if missing. */
static inline char *fixture_read(const char *root, const char *rel, long long *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "rb");
    *len = -1;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)*len + 1);
    if (fread(buf, 1, (size_t)*len, f) != (size_t)*len)
        *len = -1;
    fclose(f);
    return buf;
}

static inline int fixture_same(const char *root_a, const char *root_b, const char *rel)
{
    long long la, lb;
    char *a = fixture_read(root_a, rel, &la), *b = fixture_read(root_b, rel, &lb);
    int same = la >= 0 && la == lb && memcmp(a, b, (size_t)la) == 0;
    free(a);
    free(b);
    return same;
}

static inline int fixture_exists(const char *root, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    return access(path, F_OK) == 0;
}

static inline int fixture_remove_one(const char *path, const struct stat *st, int type,
                                     struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

/* rm -rf, for a test's own temporary tree. */
static inline void fixture_rmtree(const char *root)
{
    nftw(root, fixture_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif

/* The Hub's JSON answers read into plain structs: tree pages, paths-info
 * and revision.  No network, no MPI: text in, entries or an error out, so
 * that a hostile answer is refused in one place (and can be fuzzed here).
 *
 * An error message says what is wrong with the answer ("entry 3 has no
 * path"); the caller prefixes the repo and the URL it asked. */
#ifndef FERRY_HFJSON_H
#define FERRY_HFJSON_H

#include "ferry/err.h"

#include <stdbool.h>
#include <stddef.h>

/* Larger sizes cannot be told apart from their neighbours in a JSON number
 * (a double); no file on the Hub comes close. */
#define HFJSON_MAX_SIZE (1LL << 53)

struct hfjson_entry {
    char *path;              /* in the repo, as listed; never has a NUL */
    bool directory;
    long long size;          /* files: bytes, the LFS object's for LFS files */
    char *oid;               /* git blob id, or NULL */
    char *lfs_oid;           /* sha256 of an LFS file's content, or NULL */
};

struct hfjson_entries {
    struct hfjson_entry *entry;
    size_t count, cap;
};

/* One page of GET /api/{kind}/{repo}/tree/{rev}[/{path}]: a JSON array of
 * entries, appended to out (pages accumulate). */
int hfjson_tree_page(const char *text, size_t len, struct hfjson_entries *out,
                     struct ferry_error *err);

/* The answer of POST /api/{kind}/{repo}/paths-info/{rev}: entries of the
 * same shape, appended to out. */
int hfjson_paths_info(const char *text, size_t len, struct hfjson_entries *out,
                      struct ferry_error *err);

/* GET /api/{kind}/{repo}/revision/{rev}: the commit id (40 lowercase hex)
 * into sha, and lastModified as unix seconds into *modified (-1 when the
 * answer has none). */
int hfjson_revision(const char *text, size_t len, char sha[41], long long *modified,
                    struct ferry_error *err);

void hfjson_entries_free(struct hfjson_entries *entries);

#endif

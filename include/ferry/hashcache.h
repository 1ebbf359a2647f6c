/* Hashes of local files, kept between runs so a rerun of put or sync does not
 * read unchanged files again.  Keyed by path, size and mtime: a file whose
 * size or mtime changed is hashed anew.
 *
 * The cache is a text file, a line per file: SHA256 SHA1 SIZE MTIME PATH.
 * Every rank loads it to look hashes up; new hashes travel to rank 0 with
 * the plan, and rank 0 writes the file again (atomically) after planning. */
#ifndef FERRY_HASHCACHE_H
#define FERRY_HASHCACHE_H

#include <stdbool.h>
#include "ferry/err.h"
#include "ferry/hash.h"

struct hashcache;

/* Load path (absent or unreadable: an empty cache; damaged lines are skipped). */
struct hashcache *hashcache_load(const char *path);
void hashcache_free(struct hashcache *c);

/* The hashes of path when it is cached with this size and mtime. */
bool hashcache_get(const struct hashcache *c, const char *path, long long size, long long mtime,
                   char sha256[HASH_SHA256_HEX], char sha1[HASH_SHA1_HEX]);

/* Remember a file's hashes, for lookups and the next save. */
void hashcache_put(struct hashcache *c, const char *path, long long size, long long mtime,
                   const char *sha256, const char *sha1);

/* Write every entry back to the file it was loaded from. */
int hashcache_save(const struct hashcache *c, struct ferry_error *err);

#endif

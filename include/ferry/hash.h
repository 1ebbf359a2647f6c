/* Content hashes the Hub uses: sha256 of the bytes (LFS files) and the git
 * blob sha1, sha1("blob " + decimal length + "\0" + bytes) (regular files).
 * Both are computed in one pass, fed in pieces as the bytes go by. */
#ifndef FERRY_HASH_H
#define FERRY_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include "ferry/err.h"

#define HASH_SHA256_HEX 65
#define HASH_SHA1_HEX 41

struct hash_state;

/* size is the total length, which the git blob header needs up front. */
struct hash_state *hash_begin(long long size);
/* Only the digests wanted (hash_end leaves the others' buffers alone). */
struct hash_state *hash_begin_only(long long size, bool sha256, bool sha1);
void hash_update(struct hash_state *h, const void *data, size_t len);
/* Write the lowercase hex digests (either may be NULL) and free h. */
void hash_end(struct hash_state *h, char sha256[HASH_SHA256_HEX], char sha1[HASH_SHA1_HEX]);

/* One digest, the one an etag names: "sha256:HEX", "sha1:HEX" (a git blob
 * sha1) or "md5:HEX" (an object store's ETag); NULL for any other etag. */
#define HASH_HEX_MAX 65
struct hash_state *hash_begin_etag(const char *etag, long long size);
/* That digest in lowercase hex, and free h. */
void hash_end_etag(struct hash_state *h, char hex[HASH_HEX_MAX]);
/* Hash a whole file with the digest etag names (see hash_begin_etag);
 * an etag of another kind is FERRY_EUSAGE. */
int hash_file_etag(const char *path, const char *etag, char hex[HASH_HEX_MAX],
                   struct ferry_error *err);
/* The digest's name for messages ("sha256", "git sha1", "md5"). */
const char *hash_etag_kind(const char *etag);

/* Hash what fd holds from its offset on, size bytes that must all be
 * there; what names it in errors.  fd stays open. */
int hash_fd(int fd, long long size, const char *what, char sha256[HASH_SHA256_HEX],
            char sha1[HASH_SHA1_HEX], struct ferry_error *err);

/* Hash a whole file. */
int hash_file(const char *path, char sha256[HASH_SHA256_HEX], char sha1[HASH_SHA1_HEX],
              struct ferry_error *err);

#endif

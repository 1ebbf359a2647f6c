#include "ferry/hash.h"
#include "ferry/fsutil.h"
#include "ferry/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HASH_READ_BUFFER (4 << 20)

struct hash_state {
    EVP_MD_CTX *sha256;
    EVP_MD_CTX *sha1;
    EVP_MD_CTX *md5;
};

struct hash_state *hash_begin_only(long long size, bool sha256, bool sha1)
{
    struct hash_state *h = xcalloc(1, sizeof *h);
    if (sha256) {
        h->sha256 = EVP_MD_CTX_new();
        EVP_DigestInit_ex(h->sha256, EVP_sha256(), NULL);
    }
    if (sha1) {
        h->sha1 = EVP_MD_CTX_new();
        EVP_DigestInit_ex(h->sha1, EVP_sha1(), NULL);
        char header[48];
        int n = snprintf(header, sizeof header, "blob %lld", size);
        EVP_DigestUpdate(h->sha1, header, (size_t)n + 1);   /* with the '\0' */
    }
    return h;
}

struct hash_state *hash_begin(long long size)
{
    return hash_begin_only(size, true, true);
}

void hash_update(struct hash_state *h, const void *data, size_t len)
{
    if (h->sha256)
        EVP_DigestUpdate(h->sha256, data, len);
    if (h->sha1)
        EVP_DigestUpdate(h->sha1, data, len);
    if (h->md5)
        EVP_DigestUpdate(h->md5, data, len);
}

static void to_hex(const unsigned char *digest, unsigned len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < len; i++) {
        out[2 * i] = digits[digest[i] >> 4];
        out[2 * i + 1] = digits[digest[i] & 15];
    }
    out[2 * len] = '\0';
}

void hash_end(struct hash_state *h, char sha256[HASH_SHA256_HEX], char sha1[HASH_SHA1_HEX])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned len;
    if (h->sha256) {
        EVP_DigestFinal_ex(h->sha256, digest, &len);
        if (sha256)
            to_hex(digest, len, sha256);
    }
    if (h->sha1) {
        EVP_DigestFinal_ex(h->sha1, digest, &len);
        if (sha1)
            to_hex(digest, len, sha1);
    }
    EVP_MD_CTX_free(h->sha256);
    EVP_MD_CTX_free(h->sha1);
    EVP_MD_CTX_free(h->md5);
    free(h);
}

struct hash_state *hash_begin_etag(const char *etag, long long size)
{
    if (strncmp(etag, "sha256:", 7) == 0)
        return hash_begin_only(size, true, false);
    if (strncmp(etag, "sha1:", 5) == 0)
        return hash_begin_only(size, false, true);
    if (strncmp(etag, "md5:", 4) != 0)
        return NULL;
    struct hash_state *h = xcalloc(1, sizeof *h);
    h->md5 = EVP_MD_CTX_new();
    EVP_DigestInit_ex(h->md5, EVP_md5(), NULL);
    return h;
}

void hash_end_etag(struct hash_state *h, char hex[HASH_HEX_MAX])
{
    if (h->md5) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned len;
        EVP_DigestFinal_ex(h->md5, digest, &len);
        to_hex(digest, len, hex);
        h->md5 = (EVP_MD_CTX_free(h->md5), NULL);
    }
    char sha1[HASH_SHA1_HEX];
    bool one = h->sha1 != NULL;
    hash_end(h, one ? NULL : hex, one ? sha1 : NULL);
    if (one)
        memcpy(hex, sha1, sizeof sha1);
}

const char *hash_etag_kind(const char *etag)
{
    return strncmp(etag, "sha1:", 5) == 0 ? "git sha1" : strncmp(etag, "md5:", 4) == 0 ? "md5"
                                                                                     : "sha256";
}

int hash_file(const char *path, char sha256[HASH_SHA256_HEX], char sha1[HASH_SHA1_HEX],
              struct ferry_error *err)
{
    int fd;
    long long size;
    int rc = fs_open_read(path, &fd, &size, err);
    if (rc != 0)
        return rc;
    rc = hash_fd(fd, size, path, sha256, sha1, err);
    close(fd);
    return rc;
}

/* Feed h what fd holds from its offset on, size bytes that must all be there. */
static int hash_feed(struct hash_state *h, int fd, long long size, const char *what,
                     struct ferry_error *err)
{
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    char *buffer = xmalloc(HASH_READ_BUFFER);
    long long total = 0;
    ssize_t n;
    while ((n = read(fd, buffer, HASH_READ_BUFFER)) > 0) {
        hash_update(h, buffer, (size_t)n);
        total += n;
    }
    int rc = 0;
    if (n < 0)
        rc = err_sys(err, FERRY_EFAIL, errno, "reading %s", what);
    else if (total != size)
        rc = err_set(err, FERRY_EFAIL, "%s changed while it was hashed", what);
    free(buffer);
    return rc;
}

int hash_fd(int fd, long long size, const char *what, char sha256[HASH_SHA256_HEX],
            char sha1[HASH_SHA1_HEX], struct ferry_error *err)
{
    struct hash_state *h = hash_begin(size);
    int rc = hash_feed(h, fd, size, what, err);
    hash_end(h, sha256, sha1);
    return rc;
}

int hash_file_etag(const char *path, const char *etag, char hex[HASH_HEX_MAX],
                   struct ferry_error *err)
{
    int fd;
    long long size;
    int rc = fs_open_read(path, &fd, &size, err);
    if (rc != 0)
        return rc;
    struct hash_state *h = hash_begin_etag(etag, size);
    if (!h)
        rc = err_set(err, FERRY_EUSAGE, "%s: no digest for its hash '%s'", path, etag);
    else
        rc = hash_feed(h, fd, size, path, err);
    if (h)
        hash_end_etag(h, hex);
    close(fd);
    return rc;
}

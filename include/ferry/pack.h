/* A growable byte buffer for MPI messages: fixed-width integers in host
 * order (every rank of one job runs the same binary on the same kind of
 * node) and length-prefixed strings. */
#ifndef FERRY_PACK_H
#define FERRY_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pack {
    unsigned char *data;
    size_t len;
    size_t cap;
    size_t pos;      /* read position */
    bool bad;        /* a read ran past the end */
};

void pack_init(struct pack *p);
/* Read from bytes we do not own (the buffer stays the caller's). */
void pack_wrap(struct pack *p, const void *data, size_t len);
void pack_free(struct pack *p);
void pack_clear(struct pack *p);

void pack_u64(struct pack *p, uint64_t v);
void pack_i64(struct pack *p, int64_t v);
void pack_str(struct pack *p, const char *s);

uint64_t unpack_u64(struct pack *p);
int64_t unpack_i64(struct pack *p);
/* A fresh copy of the next string ("" when the buffer is bad). */
char *unpack_str(struct pack *p);
bool pack_done(const struct pack *p);

#endif

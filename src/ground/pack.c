#include "ferry/pack.h"
#include "ferry/xalloc.h"

#include <stdlib.h>
#include <string.h>

void pack_init(struct pack *p)
{
    memset(p, 0, sizeof *p);
}

void pack_wrap(struct pack *p, const void *data, size_t len)
{
    memset(p, 0, sizeof *p);
    p->data = (unsigned char *)data;
    p->len = len;
}

void pack_free(struct pack *p)
{
    free(p->data);
    memset(p, 0, sizeof *p);
}

void pack_clear(struct pack *p)
{
    p->len = 0;
    p->pos = 0;
    p->bad = false;
}

static void pack_bytes(struct pack *p, const void *src, size_t n)
{
    xgrow((void **)&p->data, &p->cap, p->len + n, 1);
    memcpy(p->data + p->len, src, n);
    p->len += n;
}

static bool unpack_bytes(struct pack *p, void *dst, size_t n)
{
    if (p->bad || p->len - p->pos < n) {
        p->bad = true;
        memset(dst, 0, n);
        return false;
    }
    memcpy(dst, p->data + p->pos, n);
    p->pos += n;
    return true;
}

void pack_u64(struct pack *p, uint64_t v)
{
    pack_bytes(p, &v, sizeof v);
}

void pack_i64(struct pack *p, int64_t v)
{
    pack_bytes(p, &v, sizeof v);
}

void pack_str(struct pack *p, const char *s)
{
    size_t n = strlen(s);
    pack_u64(p, n);
    pack_bytes(p, s, n);
}

uint64_t unpack_u64(struct pack *p)
{
    uint64_t v;
    unpack_bytes(p, &v, sizeof v);
    return v;
}

int64_t unpack_i64(struct pack *p)
{
    int64_t v;
    unpack_bytes(p, &v, sizeof v);
    return v;
}

char *unpack_str(struct pack *p)
{
    uint64_t n = unpack_u64(p);
    if (p->bad || p->len - p->pos < n) {
        p->bad = true;
        return xstrdup("");
    }
    char *s = xstrndup((const char *)p->data + p->pos, n);
    p->pos += n;
    return s;
}

bool pack_done(const struct pack *p)
{
    return p->bad || p->pos >= p->len;
}

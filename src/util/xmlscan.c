#include "ferry/xmlscan.h"
#include "ferry/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The first occurrence of needle (n bytes) in [hay, hay + len), or NULL. */
static const char *find(const char *hay, size_t len, const char *needle, size_t n)
{
    return n <= len ? memmem(hay, len, needle, n) : NULL;
}

bool xml_element(const char *body, size_t len, size_t *pos, const char *tag,
                 size_t *content, size_t *content_len)
{
    size_t n = strlen(tag);
    while (*pos < len) {
        const char *open = find(body + *pos, len - *pos, "<", 1);
        if (!open)
            break;
        size_t at = (size_t)(open - body);
        *pos = at + 1;
        if (len - at < n + 2 || memcmp(open + 1, tag, n) != 0)
            continue;
        char after = open[1 + n];
        if (after != '>' && after != ' ' && after != '/')
            continue;
        const char *gt = find(open, len - at, ">", 1);
        if (!gt)
            break;
        size_t start = (size_t)(gt - body) + 1;
        if (gt[-1] == '/') {             /* <tag/>: empty */
            *content = start;
            *content_len = 0;
            *pos = start;
            return true;
        }
        char close[72];
        if (n + 3 >= sizeof close)
            return false;
        close[0] = '<';
        close[1] = '/';
        memcpy(close + 2, tag, n);
        close[n + 2] = '>';
        const char *end = find(body + start, len - start, close, n + 3);
        if (!end)
            break;
        *content = start;
        *content_len = (size_t)(end - body) - start;
        *pos = (size_t)(end - body) + n + 3;
        return true;
    }
    *pos = len;
    return false;
}

/* Append code point c as UTF-8; false for one that must not appear. */
static bool put_utf8(char *out, size_t *o, unsigned long c)
{
    if (c == 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return false;
    if (c < 0x80) {
        out[(*o)++] = (char)c;
    } else if (c < 0x800) {
        out[(*o)++] = (char)(0xC0 | (c >> 6));
        out[(*o)++] = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out[(*o)++] = (char)(0xE0 | (c >> 12));
        out[(*o)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (c & 0x3F));
    } else {
        out[(*o)++] = (char)(0xF0 | (c >> 18));
        out[(*o)++] = (char)(0x80 | ((c >> 12) & 0x3F));
        out[(*o)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (c & 0x3F));
    }
    return true;
}

/* One reference at s (after '&', up to ';' within n bytes) into out. */
static bool decode_ref(const char *s, size_t n, char *out, size_t *o, size_t *used)
{
    static const struct { const char *name; char c; } named[] = {
        {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''},
    };
    const char *semi = memchr(s, ';', n < 12 ? n : 12);
    if (!semi)
        return false;
    size_t k = (size_t)(semi - s);
    *used = k + 1;
    for (size_t i = 0; i < sizeof named / sizeof *named; i++)
        if (strlen(named[i].name) == k && memcmp(s, named[i].name, k) == 0) {
            out[(*o)++] = named[i].c;
            return true;
        }
    if (k < 2 || s[0] != '#')
        return false;
    bool hex = s[1] == 'x' || s[1] == 'X';
    unsigned long c = 0;
    for (size_t i = hex ? 2 : 1; i < k; i++) {
        char d = s[i];
        int v = d >= '0' && d <= '9' ? d - '0'
              : hex && d >= 'a' && d <= 'f' ? d - 'a' + 10
              : hex && d >= 'A' && d <= 'F' ? d - 'A' + 10 : -1;
        if (v < 0 || c > 0x10FFFF)
            return false;
        c = c * (hex ? 16 : 10) + (unsigned long)v;
    }
    return k > (hex ? 2u : 1u) && put_utf8(out, o, c);
}

char *xml_text(const char *body, size_t len, const char *tag)
{
    size_t pos = 0, start, n;
    if (!xml_element(body, len, &pos, tag, &start, &n))
        return NULL;
    const char *s = body + start;
    /* A reference never grows: "&#x10FFFF;" is 10 bytes, its UTF-8 4. */
    char *out = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '&') {
            if (s[i] == '\0')
                goto bad;
            out[o++] = s[i++];
            continue;
        }
        size_t used;
        if (!decode_ref(s + i + 1, n - i - 1, out, &o, &used))
            goto bad;
        i += 1 + used;
    }
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

#include "ferry/escape.h"
#include "ferry/xalloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The length of the valid UTF-8 sequence at s (at most len bytes), or 0. */
static size_t utf8_length(const unsigned char *s, size_t len)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t n;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    /* No overlong forms, no surrogates, nothing above U+10FFFF. */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* Is the valid sequence at s one a terminal acts on rather than shows: a
 * C1 control (U+0080..U+009F), a line or paragraph separator, or a mark that
 * reorders the text around it (U+202A..U+202E, U+2066..U+2069)? */
static bool acts_on_terminal(const unsigned char *s, size_t n)
{
    if (n == 2)
        return s[0] == 0xc2 && s[1] <= 0x9f;
    if (n != 3 || s[0] != 0xe2)
        return false;
    return (s[1] == 0x80 && s[2] >= 0xa8 && s[2] <= 0xae) ||
           (s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9);
}

/* The escape of one byte into buf (at least 5 bytes); its length. */
static size_t escape_byte(unsigned char c, char *buf)
{
    switch (c) {
    case '\\': memcpy(buf, "\\\\", 3); return 2;
    case '\n': memcpy(buf, "\\n", 3); return 2;
    case '\t': memcpy(buf, "\\t", 3); return 2;
    case '\r': memcpy(buf, "\\r", 3); return 2;
    default:
        snprintf(buf, 5, "\\x%02x", c);
        return 4;
    }
}

size_t escape_display_into(char *out, size_t cap, const char *s, size_t len)
{
    const unsigned char *in = (const unsigned char *)s;
    size_t w = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < len;) {
        char buf[16];
        size_t take = 1, n;
        if (in[i] >= 0x20 && in[i] < 0x7f && in[i] != '\\') {
            buf[0] = (char)in[i];
            n = 1;
        } else if (in[i] >= 0x80 && (take = utf8_length(in + i, len - i)) > 0 &&
                   !acts_on_terminal(in + i, take)) {
            memcpy(buf, in + i, take);
            n = take;
        } else {
            take = 1;
            n = escape_byte(in[i], buf);
        }
        if (w + n >= cap)
            break;
        memcpy(out + w, buf, n);
        w += n;
        i += take;
    }
    out[w] = '\0';
    return w;
}

const char *escape_display(const char *s)
{
    static char *slots[ESCAPE_SLOTS];
    static size_t caps[ESCAPE_SLOTS];
    static unsigned next;
    unsigned k = next++ % ESCAPE_SLOTS;
    if (!s)
        s = "(null)";                 /* as printf's %s has it, so a wrap changes nothing else */
    size_t len = strlen(s), need = 4 * len + 1;      /* \xHH is the longest form of a byte */
    if (caps[k] < need) {
        slots[k] = xrealloc(slots[k], need);
        caps[k] = need;
    }
    escape_display_into(slots[k], caps[k], s, len);
    return slots[k];
}

/* The HTTP answer's header lines (net_parse_header, what libcurl's header
 * callback calls): RateLimit, RateLimit-Policy, Retry-After, Link and the
 * Hub's X- headers.  The input is one answer, lines split at '\n' and given
 * with their line end, as libcurl gives them. */
#include "fuzz.h"

#include "ferry/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct net_headers h = {0};
    net_headers_clear(&h);
    const char *text = (const char *)data, *end = text + size;
    while (text < end) {
        const char *nl = memchr(text, '\n', (size_t)(end - text));
        size_t len = nl ? (size_t)(nl - text) + 1 : (size_t)(end - text);
        /* Each line in a block of its own, as libcurl's buffer may end there. */
        char *line = xmalloc(len ? len : 1);
        memcpy(line, text, len);
        net_parse_header(&h, line, len);
        free(line);
        text += len;
    }
    FUZZ_CHECK(memchr(h.ratelimit_name, '\0', sizeof h.ratelimit_name) != NULL);
    FUZZ_CHECK(h.ratelimit_remaining >= -1 && h.ratelimit_reset >= -1);
    FUZZ_CHECK(h.ratelimit_quota >= -1 && h.ratelimit_window >= -1);
    net_headers_clear(&h);
    return 0;
}

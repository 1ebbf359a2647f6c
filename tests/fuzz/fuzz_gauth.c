/* What a token endpoint answers (gauth_parse_token_answer) and what a key
 * file holds (gauth_from_key).  The first byte picks which: even, the rest
 * is a token answer; odd, a key file.  A token that is accepted can go in
 * a header line; no error quotes a token or a key. */
#include "fuzz.h"

#include "ferry/gauth.h"

static void answer(const uint8_t *data, size_t size)
{
    /* gauth_parse_token_answer takes a length: exactly the bytes, no NUL. */
    char *body = xmalloc(size ? size : 1);
    memcpy(body, data, size);
    char *token = NULL;
    long long expires = 0;
    struct ferry_error err = {0};
    if (gauth_parse_token_answer(body, size, 1000, &token, &expires, &err) == 0) {
        FUZZ_CHECK(token && *token && strlen(token) <= 16 * 1024);
        for (const char *p = token; *p; p++)
            FUZZ_CHECK(*p > ' ' && *p < 0x7f);
        FUZZ_CHECK(expires > 1000 && expires <= 1000 + 7 * 86400);
    } else {
        FUZZ_CHECK(token == NULL && err.code != 0 && err.msg[0] != '\0');
    }
    gauth_wipe_free(token);
    free(body);
}

static void key_file(const uint8_t *data, size_t size)
{
    char *text = xmalloc(size ? size : 1);
    memcpy(text, data, size);
    struct gauth *g = NULL;
    struct ferry_error err = {0};
    if (gauth_from_key(text, size, "fuzz.json", &g, &err) == 0) {
        FUZZ_CHECK(g && strstr(gauth_describe(g), "(fuzz.json)"));
    } else {
        FUZZ_CHECK(g == NULL && err.code != 0 && strncmp(err.msg, "fuzz.json: ", 11) == 0);
        FUZZ_CHECK(!strstr(err.msg, "PRIVATE KEY"));
    }
    gauth_close(g);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        key_file(data + 1, size - 1);
    else
        answer(data + 1, size - 1);
    return 0;
}

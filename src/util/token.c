#include "ferry/token.h"
#include "ferry/xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char origin_path[4096];

/* Strip surrounding whitespace in place; NULL when nothing is left. */
static char *trimmed(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    size_t lead = 0;
    while (isspace((unsigned char)s[lead]))
        lead++;
    memmove(s, s + lead, n - lead + 1);
    if (*s)
        return s;
    token_free(s);
    return NULL;
}

static const char *token_path(void)
{
    const char *explicit_path = getenv("HF_TOKEN_PATH");
    if (explicit_path && *explicit_path)
        return explicit_path;
    const char *hf_home = getenv("HF_HOME");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (hf_home && *hf_home)
        snprintf(origin_path, sizeof origin_path, "%s/token", hf_home);
    else if (xdg && *xdg)
        snprintf(origin_path, sizeof origin_path, "%s/huggingface/token", xdg);
    else
        snprintf(origin_path, sizeof origin_path, "%s/.cache/huggingface/token",
                 home ? home : "");
    return origin_path;
}

static char *read_token_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = xcalloc(1, 4096);
    size_t n = fread(buf, 1, 4095, f);
    fclose(f);
    buf[n] = '\0';
    return trimmed(buf);
}

char *token_find(const char **origin)
{
    static const char *vars[] = {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *value = getenv(vars[i]);
        char *token = value ? trimmed(xstrdup(value)) : NULL;
        if (token) {
            if (origin)
                *origin = vars[i];
            return token;
        }
    }
    const char *path = token_path();
    char *token = read_token_file(path);
    if (token && origin)
        *origin = path;
    return token;
}

void token_free(char *token)
{
    if (!token)
        return;
    /* volatile keeps the compiler from dropping a write to memory about to be freed. */
    for (volatile char *p = token; *p; p++)
        *p = '\0';
    free(token);
}

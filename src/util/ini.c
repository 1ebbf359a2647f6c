#include "ferry/ini.h"
#include "ferry/xalloc.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INI_MAX_BYTES (1 << 20)

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* [*start, *end) trimmed of spaces at both ends. */
static void trim(const char **start, const char **end)
{
    while (*start < *end && is_space(**start))
        (*start)++;
    while (*end > *start && is_space((*end)[-1]))
        (*end)--;
}

static bool span_is(const char *start, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - start) == n && memcmp(start, word, n) == 0;
}

char *ini_get(const char *text, size_t len, const char *section, const char *key)
{
    const char *p = text, *stop = text + len;
    bool inside = false;
    char *found = NULL;
    while (p < stop) {
        const char *eol = memchr(p, '\n', (size_t)(stop - p));
        const char *line = p, *end = eol ? eol : stop;
        p = eol ? eol + 1 : stop;
        trim(&line, &end);
        if (line == end || *line == '#' || *line == ';')
            continue;
        if (*line == '[') {
            const char *close = memchr(line, ']', (size_t)(end - line));
            const char *name = line + 1, *name_end = close ? close : end;
            trim(&name, &name_end);
            inside = close && span_is(name, name_end, section);
            continue;
        }
        const char *eq = memchr(line, '=', (size_t)(end - line));
        if (!inside || !eq)
            continue;
        const char *k = line, *k_end = eq, *v = eq + 1, *v_end = end;
        trim(&k, &k_end);
        trim(&v, &v_end);
        if (span_is(k, k_end, key)) {
            free(found);
            found = xstrndup(v, (size_t)(v_end - v));
        }
    }
    return found;
}

char *ini_load(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *text = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= INI_MAX_BYTES) {
        text = xmalloc((size_t)st.st_size + 1);
        ssize_t n = read(fd, text, (size_t)st.st_size);
        if (n < 0) {
            free(text);
            text = NULL;
        } else {
            text[n] = '\0';
            *len = (size_t)n;
        }
    }
    close(fd);
    return text;
}

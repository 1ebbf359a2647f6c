#include "ferry/pattern.h"
#include "ferry/xalloc.h"

#include <stdlib.h>
#include <string.h>

/* Match a [...] class at p against c; *end gets the char after ']'. */
static bool class_match(const char *p, char c, const char **end)
{
    const char *q = p + 1;
    bool negate = *q == '!' || *q == '^';
    if (negate)
        q++;
    bool hit = false;
    const char *first = q;
    while (*q && (*q != ']' || q == first)) {
        if (q[1] == '-' && q[2] && q[2] != ']') {
            if (c >= q[0] && c <= q[2])
                hit = true;
            q += 3;
        } else {
            if (c == *q)
                hit = true;
            q++;
        }
    }
    if (*q != ']') {            /* no closing bracket: '[' is literal */
        *end = p + 1;
        return c == '[';
    }
    *end = q + 1;
    return hit != negate;
}

/* Python's fnmatch, where nothing is special about '/'. */
static bool match_here(const char *p, const char *s)
{
    while (*p) {
        if (*p == '*') {
            while (*p == '*')
                p++;
            if (!*p)
                return true;
            for (; *s; s++)
                if (match_here(p, s))
                    return true;
            return match_here(p, s);
        }
        if (!*s)
            return false;
        if (*p == '?') {
            p++;
            s++;
        } else if (*p == '[') {
            const char *end;
            if (!class_match(p, *s, &end))
                return false;
            p = end;
            s++;
        } else {
            if (*p != *s)
                return false;
            p++;
            s++;
        }
    }
    return *s == '\0';
}

bool pattern_match(const char *pattern, const char *path)
{
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '/') {
        char *folder = xasprintf("%s*", pattern);
        bool hit = match_here(folder, path);
        free(folder);
        return hit;
    }
    return match_here(pattern, path);
}

static void add(char ***list, size_t *n, const char *pattern)
{
    *list = xrealloc(*list, (*n + 1) * sizeof **list);
    (*list)[(*n)++] = xstrdup(pattern);
}

void pattern_filter_include(struct pattern_filter *f, const char *pattern)
{
    add(&f->includes, &f->n_includes, pattern);
}

void pattern_filter_exclude(struct pattern_filter *f, const char *pattern)
{
    add(&f->excludes, &f->n_excludes, pattern);
}

bool pattern_filter_allows(const struct pattern_filter *f, const char *path)
{
    bool included = f->n_includes == 0;
    for (size_t i = 0; i < f->n_includes && !included; i++)
        included = pattern_match(f->includes[i], path);
    if (!included)
        return false;
    for (size_t i = 0; i < f->n_excludes; i++)
        if (pattern_match(f->excludes[i], path))
            return false;
    return true;
}

void pattern_filter_free(struct pattern_filter *f)
{
    for (size_t i = 0; i < f->n_includes; i++)
        free(f->includes[i]);
    for (size_t i = 0; i < f->n_excludes; i++)
        free(f->excludes[i]);
    free(f->includes);
    free(f->excludes);
    memset(f, 0, sizeof *f);
}

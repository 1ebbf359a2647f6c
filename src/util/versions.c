#include "ferry/versions.h"
#include "ferry/xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

bool version_find(const char *name, size_t len, size_t *at, size_t *digits,
                  unsigned long long *number)
{
    bool found = false;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)name[i]) || (i > 0 && isdigit((unsigned char)name[i - 1])))
            continue;
        bool marked = false;
        if (i > 0 && name[i - 1] == '=')
            marked = true;
        else if (i > 0 && (name[i - 1] == 'v' || name[i - 1] == 'V'))
            marked = i == 1 || !isalnum((unsigned char)name[i - 2]);
        if (!marked)
            continue;
        size_t end = i;
        unsigned long long value = 0;
        for (; end < len && isdigit((unsigned char)name[end]); end++)
            value = value > (~0ULL - 9) / 10 ? ~0ULL : value * 10 + (unsigned)(name[end] - '0');
        *at = i;
        *digits = end - i;
        *number = value;
        found = true;
    }
    return found;
}

/* One versioned name of a path: its group (the folder, and the name with
 * the version left out) and the version. */
struct versioned {
    char *group;
    unsigned long long number;
    size_t path;                     /* which path it is from */
};

static int by_group(const void *a, const void *b)
{
    const struct versioned *x = a, *y = b;
    int c = strcmp(x->group, y->group);
    return c ? c : (x->number > y->number) - (x->number < y->number);
}

/* fn for each name of path that carries a version, with where it starts in
 * path and its version; a non-zero return stops. */
static int each_version(const char *path,
                        int (*fn)(const char *path, const char *name, size_t len, size_t at,
                                  size_t digits, unsigned long long number, void *ud),
                        void *ud)
{
    for (const char *name = path; *name;) {
        const char *slash = strchr(name, '/');
        size_t len = slash ? (size_t)(slash - name) : strlen(name), at, digits;
        unsigned long long number;
        if (version_find(name, len, &at, &digits, &number)) {
            int rc = fn(path, name, len, at, digits, number, ud);
            if (rc != 0)
                return rc;
        }
        name = slash ? slash + 1 : name + len;
    }
    return 0;
}

static int found(const char *path, const char *name, size_t len, size_t at, size_t digits,
                 unsigned long long number, void *ud)
{
    (void)path, (void)name, (void)len, (void)at, (void)digits, (void)number, (void)ud;
    return 1;
}

bool path_has_version(const char *path)
{
    return each_version(path, found, NULL) != 0;
}

/* What versions_older gathers: every versioned name of every path. */
struct gathered {
    struct versioned *all;
    size_t count, cap, path;
};

static int gather(const char *p, const char *name, size_t len, size_t at, size_t digits,
                  unsigned long long number, void *ud)
{
    struct gathered *g = ud;
    /* "FOLDER/" + the name with its digits replaced by '#' */
    size_t before = (size_t)(name - p) + at;
    char *group = xmalloc(before + 2 + len - at - digits);
    memcpy(group, p, before);
    group[before] = '#';
    memcpy(group + before + 1, name + at + digits, len - at - digits);
    group[before + 1 + len - at - digits] = '\0';
    xgrow((void **)&g->all, &g->cap, g->count + 1, sizeof *g->all);
    g->all[g->count++] = (struct versioned){group, number, g->path};
    return 0;
}

void versions_older(char *const *paths, size_t n, bool *older)
{
    struct gathered g = {0};
    for (size_t i = 0; i < n; i++) {
        older[i] = false;
        g.path = i;
        each_version(paths[i], gather, &g);
    }
    struct versioned *all = g.all;
    size_t count = g.count;
    /* Sorted by group, then version: the last of each group is the latest. */
    qsort(all, count, sizeof *all, by_group);
    for (size_t k = 0; k < count; k++) {
        size_t last = k;
        while (last + 1 < count && strcmp(all[last + 1].group, all[k].group) == 0)
            last++;
        for (size_t m = k; m <= last; m++)
            if (all[m].number < all[last].number)
                older[all[m].path] = true;
        k = last;
    }
    for (size_t k = 0; k < count; k++)
        free(all[k].group);
    free(all);
}

int path_depth(const char *path)
{
    int depth = *path ? 1 : 0;
    for (const char *c = path; *c; c++)
        depth += *c == '/';
    return depth;
}

/* File selection with the Hub's pattern rules (docs/hub-protocol.md):
 * case-sensitive fnmatch in which '*' and '?' also match '/', '[...]' classes
 * ('!' or '^' negates), a trailing '/' meaning the whole folder ("misc/"
 * selects everything below misc); a path is kept when it matches one include (if there are any)
 * and no exclude.  Paths are relative to the location root, '/'-separated. */
#ifndef FERRY_PATTERN_H
#define FERRY_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

/* One pattern against one path. */
bool pattern_match(const char *pattern, const char *path);

struct pattern_filter {
    char **includes;
    size_t n_includes;
    char **excludes;
    size_t n_excludes;
};

void pattern_filter_include(struct pattern_filter *f, const char *pattern);
void pattern_filter_exclude(struct pattern_filter *f, const char *pattern);
bool pattern_filter_allows(const struct pattern_filter *f, const char *path);
void pattern_filter_free(struct pattern_filter *f);

#endif

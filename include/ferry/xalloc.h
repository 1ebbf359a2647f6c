/* Allocation that cannot fail: on exhaustion it logs and exits, so no caller
 * carries an out-of-memory branch of its own (DESIGN.md, style). */
#ifndef FERRY_XALLOC_H
#define FERRY_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh allocation. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow *array (of *cap elements of elem_size) to hold at least need elements. */
void xgrow(void **array, size_t *cap, size_t need, size_t elem_size);

#endif

/* Versioned names, for latest_only: among siblings whose names differ only
 * by a version, such as W&B's "model:v1 model:v2 model:v3", "ckpt_v2.pt"
 * or Lightning's "epoch=3.ckpt", only the highest is the latest.
 *
 * A name's version is its last run of digits that follows a 'v' or 'V'
 * standing at the start or after a character that is not a letter or digit
 * ("model:v3", "v2", "ckpt_v10"), or that follows a '=' ("epoch=3").  Other
 * numbers ("run_007", "20261201") are not versions: runs are kept apart. */
#ifndef FERRY_VERSIONS_H
#define FERRY_VERSIONS_H

#include <stdbool.h>
#include <stddef.h>

/* Does name (len bytes) carry a version?  Then *at and *digits say where its
 * digits are and *number is their value (saturating). */
bool version_find(const char *name, size_t len, size_t *at, size_t *digits,
                  unsigned long long *number);

/* Of '/'-separated paths, set older[i] when some folder or file name of
 * path i is an older version than a sibling's (the same folder, the same
 * name but for the version) among the paths. */
void versions_older(char *const *paths, size_t n, bool *older);

/* Does some folder or file name of path carry a version? */
bool path_has_version(const char *path);

/* How deep path is: 1 for "a", 2 for "a/b". */
int path_depth(const char *path);

#endif

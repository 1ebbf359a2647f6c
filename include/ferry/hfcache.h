/* ferry get --hf-cache [DIR]: a Hub repository downloaded into the Hugging
 * Face cache layout, so that huggingface_hub and @huggingface/hub load it
 * offline:
 *   DIR/datasets--OWNER--NAME/blobs/HASH              the content, once per hash
 *   DIR/datasets--OWNER--NAME/snapshots/COMMIT/PATH   relative symlinks to blobs
 *   DIR/datasets--OWNER--NAME/refs/REVISION           the commit, written last
 * ferry's own state (journal, lock, part files) stays in
 * DIR/datasets--OWNER--NAME/.ferry/COMMIT, out of the folders those tools read. */
#ifndef FERRY_HFCACHE_H
#define FERRY_HFCACHE_H

#include "ferry/backend.h"

/* The cache the Hugging Face tools use: $HF_HUB_CACHE, $HUGGINGFACE_HUB_CACHE,
 * $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub or ~/.cache/huggingface/hub.
 * A fresh string. */
char *hfcache_default_dir(void);

/* Where the cache layout keeps a Hub source: CACHE/REPO_FOLDER/snapshots/
 * COMMIT/PATH, refs/REF holding COMMIT. */
struct cache_place {
    const char *repo_folder;     /* "datasets--OWNER--NAME" */
    const char *commit;          /* 40 hex */
    const char *ref;             /* the branch or tag asked for; NULL for a commit */
    const char *path;            /* "" or the folder under the repo root */
};

/* The destination for the source at location (a prepared hf:// source, for
 * messages) kept at place under cache_dir: the Hub backend's open_cache. */
int hfcache_open(const char *cache_dir, const char *location, const struct cache_place *place,
                 struct backend **out, struct ferry_error *err);

#endif

/* The local backend's blob-store form, for layouts such as the Hugging Face
 * cache: files land in BLOBS named by their content hash, and the tree under
 * ROOT holds relative symlinks to them.  Internal to src/backends. */
#ifndef FERRY_BACKENDS_LOCAL_H
#define FERRY_BACKENDS_LOCAL_H

#include "ferry/backend.h"

struct local_layout {
    const char *top;         /* the folder named by the user, which holds the
                              * others: below it no write goes through a link */
    const char *root;        /* the tree of symlinks */
    const char *state_dir;   /* journal, lock, catalog */
    const char *parts_root;  /* part files, outside the tree others read */
    const char *blobs;       /* the blob folder */
    const char *blobs_up;    /* "../" repeated from root up to blobs' parent */
    const char *refs;        /* made when a job is done, and then */
    const char *ref_file;    /* written with ref_text (NULL: none) */
    const char *ref_text;
};

int local_open_layout(const struct local_layout *layout, struct backend **out,
                      struct ferry_error *err);

#endif

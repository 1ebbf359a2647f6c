/* Manifests in aria2's input-file format: a URL line (mirrors of one file
 * separated by TABs), then indented option lines:
 *   https://a.example/x.tar	https://b.example/x.tar
 *     dir=shards
 *     out=x.tar
 *     checksum=sha-256=HEX
 * A line may also name a Hub repository, folder or file (hf://..., no
 * mirrors, no checksum): its path is then the folder its files land under,
 * dir=/out=, OUT defaulting to OWNER/NAME.
 * '#' lines and blank lines are skipped; options ferry has no use for are
 * ignored, as aria2 would use them for things ferry decides itself.  Paths
 * are checked here: nothing a manifest says can lead outside the
 * destination. */
#ifndef FERRY_MANIFEST_H
#define FERRY_MANIFEST_H

#include <stddef.h>
#include "ferry/err.h"

struct manifest_entry {
    char **urls;          /* one or more mirrors, tried in turn; http, https or file;
                           * or one hf:// location */
    size_t n_urls;
    char *path;           /* dir/out relative to the destination, '/'-separated */
    char *sha256;         /* lower-case hex, or NULL when no checksum was given */
    int line;             /* the URL line, for messages */
};

struct manifest {
    struct manifest_entry *entries;
    size_t count;
};

/* Parse text; name is used in messages ("NAME:LINE: cause"). */
int manifest_parse(const char *text, size_t len, const char *name, struct manifest *out,
                   struct ferry_error *err);
int manifest_load(const char *file, struct manifest *out, struct ferry_error *err);
void manifest_free(struct manifest *m);

#endif

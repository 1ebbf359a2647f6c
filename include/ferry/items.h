/* The images ferry embed works on, in one fixed order, and reading them.
 *
 * INPUT is a folder (its image files and archives, walked recursively,
 * sorted by path; an archive in it is read in place as if given itself, its
 * items named by its path in the folder) or an archive (tar, tar.gz, tar.zst, ..., zip: its image entries in the
 * archive's order, read straight from it).  An image file is one whose
 * name ends in .jpg, .jpeg, .png, .gif, .bmp, .webp, .tif or .tiff (any
 * case); other files (metadata, captions) are not items.  A folder item's
 * path is relative to its folder; an archive item's is the archive's file
 * name, '/', the entry's path. */
#ifndef FERRY_ITEMS_H
#define FERRY_ITEMS_H

#include <stdbool.h>
#include <stddef.h>
#include "ferry/err.h"
#include "ferry/hash.h"
#include "ferry/pack.h"

struct item_list {
    long long n;
    char **paths;                    /* as written to the file */
    int *source;                     /* index into sources */
    long long *entry;                /* an archive item's header index; -1 in a folder */
    char **sources;                  /* the inputs, as given */
    int n_sources;
    int path_max;                    /* the longest path, bytes */
    char sha256[HASH_SHA256_HEX];    /* of the paths in order: the file's identity */
};

/* Rank 0: list the items of inputs.  FERRY_ENOTFOUND for a missing input or
 * when there is no image at all. */
int items_list(char **inputs, int n_inputs, struct item_list *out, struct ferry_error *err);

void items_pack(struct pack *p, const struct item_list *list);
void items_unpack(struct pack *p, struct item_list *list);
void items_free(struct item_list *list);

/* Reads items' bytes; reading rows in ascending order reads each archive
 * once, front to back. */
struct item_reader;

struct item_reader *item_reader_new(const struct item_list *list);
/* The bytes of row (fresh in *data, *len of them).  An error names the item
 * and the cause; the row is then undecodable, and the next read goes on. */
int item_read(struct item_reader *r, long long row, unsigned char **data, size_t *len,
              struct ferry_error *err);
void item_reader_free(struct item_reader *r);

#endif

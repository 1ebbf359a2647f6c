#include "ferry/items.h"
#include "ferry/extract.h"
#include "ferry/fsutil.h"
#include "ferry/xalloc.h"

#include <archive.h>
#include <archive_entry.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* An image bigger than this is not read (and so undecodable): no real
 * photograph is, and a hostile archive could declare anything. */
#define ITEMS_MAX_BYTES (256LL << 20)
#define ITEMS_READ_BLOCK (1 << 20)

static const char *const image_suffixes[] = {
    ".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff",
};

static bool is_image_name(const char *name)
{
    return fs_has_suffix(name, image_suffixes, sizeof image_suffixes / sizeof *image_suffixes, true);
}

static void add_item(struct item_list *l, size_t *cap, char *path, int source, long long entry)
{
    if ((size_t)l->n + 1 > *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        l->paths = xrealloc(l->paths, *cap * sizeof *l->paths);
        l->source = xrealloc(l->source, *cap * sizeof *l->source);
        l->entry = xrealloc(l->entry, *cap * sizeof *l->entry);
    }
    l->paths[l->n] = path;
    l->source[l->n] = source;
    l->entry[l->n++] = entry;
    int len = (int)strlen(path);
    if (len > l->path_max)
        l->path_max = len;
}

static int compare_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every image file and archive under root/rel (hidden folders skipped), in *found. */
static int walk(const char *root, const char *rel, char ***found, size_t *n, size_t *cap,
                struct ferry_error *err)
{
    char *dir = *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
    DIR *d = opendir(dir);
    if (!d) {
        int rc = err_sys(err, FERRY_ENOTFOUND, errno, "%s", dir);
        free(dir);
        return rc;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *child = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
        char *full = xasprintf("%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = walk(root, child, found, n, cap, err);
        } else if (S_ISREG(st.st_mode) &&
                   (is_image_name(de->d_name) || extract_is_archive(de->d_name))) {
            xgrow((void **)found, cap, *n + 1, sizeof **found);
            (*found)[(*n)++] = child;
            child = NULL;
        }
        free(child);
        free(full);
    }
    closedir(d);
    free(dir);
    return rc;
}

static struct archive *archive_reader(const char *path)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    archive_read_support_format_zip(a);
    if (archive_read_open_filename(a, path, ITEMS_READ_BLOCK) != ARCHIVE_OK) {
        archive_read_free(a);
        return NULL;
    }
    return a;
}

/* An archive's items are named NAME/ENTRY: NAME is its file name when given
 * on the command line, its path inside the folder when found in one. */
static int list_archive(struct item_list *l, size_t *cap, int source, const char *name,
                        struct ferry_error *err)
{
    const char *path = l->sources[source];
    struct archive *a = archive_reader(path);
    if (!a)
        return err_set(err, FERRY_EFAIL, "%s: cannot read it as an archive", path);
    struct archive_entry *e;
    int r;
    long long index = 0;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        const char *entry = archive_entry_pathname(e);
        while (entry && strncmp(entry, "./", 2) == 0)      /* "tar -C dir ." names */
            entry += 2;
        if (entry && archive_entry_filetype(e) == AE_IFREG && is_image_name(entry))
            add_item(l, cap, xasprintf("%s/%s", name, entry), source, index);
        index++;
    }
    int rc = r == ARCHIVE_EOF ? 0 : err_set(err, FERRY_EFAIL, "%s: corrupt or truncated: %s",
                                            path, archive_error_string(a));
    archive_read_free(a);
    return rc;
}

static int add_source(struct item_list *l, const char *path)
{
    l->sources = xrealloc(l->sources, ((size_t)l->n_sources + 2) * sizeof *l->sources);
    l->sources[l->n_sources] = xstrdup(path);
    l->sources[l->n_sources + 1] = NULL;
    return l->n_sources++;
}

/* A folder's images and the images in its archives, which are read in place
 * as when named on the command line, in the order of their paths. */
static int list_folder(struct item_list *l, size_t *cap, int source, struct ferry_error *err)
{
    char **found = NULL;
    size_t n = 0, found_cap = 0;
    int rc = walk(l->sources[source], "", &found, &n, &found_cap, err);
    qsort(found, n, sizeof *found, compare_str);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && is_image_name(found[i])) {
            add_item(l, cap, found[i], source, -1);
            continue;
        }
        if (rc == 0) {
            char *path = xasprintf("%s/%s", l->sources[source], found[i]);
            int archive = add_source(l, path);
            free(path);
            rc = list_archive(l, cap, archive, found[i], err);
        }
        free(found[i]);
    }
    free(found);
    return rc;
}

static void digest_paths(struct item_list *l)
{
    struct hash_state *h = hash_begin_only(0, true, false);
    for (long long i = 0; i < l->n; i++)
        hash_update(h, l->paths[i], strlen(l->paths[i]) + 1);
    hash_end(h, l->sha256, NULL);
}

int items_list(char **inputs, int n_inputs, struct item_list *out, struct ferry_error *err)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    int rc = 0;
    for (int i = 0; rc == 0 && i < n_inputs; i++) {
        int source = add_source(out, inputs[i]);
        const char *slash = strrchr(inputs[i], '/');
        struct stat st;
        if (stat(inputs[i], &st) != 0)
            rc = err_sys(err, FERRY_ENOTFOUND, errno, "%s", inputs[i]);
        else if (S_ISDIR(st.st_mode))
            rc = list_folder(out, &cap, source, err);
        else if (extract_is_archive(inputs[i]))
            rc = list_archive(out, &cap, source, slash ? slash + 1 : inputs[i], err);
        else
            rc = err_set(err, FERRY_EUSAGE, "%s: neither a folder nor an archive "
                         "(.tar, .tar.gz, .tar.zst, .tar.xz, .tar.bz2, .zip)", inputs[i]);
    }
    if (rc == 0 && out->n == 0)
        rc = err_set(err, FERRY_ENOTFOUND, "no images (.jpg, .jpeg, .png, ...) in what was given");
    if (rc == 0)
        digest_paths(out);
    return rc;
}

void items_pack(struct pack *p, const struct item_list *l)
{
    pack_i64(p, l->n_sources);
    for (int i = 0; i < l->n_sources; i++)
        pack_str(p, l->sources[i]);
    pack_i64(p, l->n);
    pack_i64(p, l->path_max);
    pack_str(p, l->sha256);
    for (long long i = 0; i < l->n; i++) {
        pack_str(p, l->paths[i]);
        pack_i64(p, l->source[i]);
        pack_i64(p, l->entry[i]);
    }
}

void items_unpack(struct pack *p, struct item_list *l)
{
    memset(l, 0, sizeof *l);
    l->n_sources = (int)unpack_i64(p);
    l->sources = xcalloc((size_t)l->n_sources + 1, sizeof *l->sources);
    for (int i = 0; i < l->n_sources; i++)
        l->sources[i] = unpack_str(p);
    l->n = unpack_i64(p);
    l->path_max = (int)unpack_i64(p);
    char *sha = unpack_str(p);
    snprintf(l->sha256, sizeof l->sha256, "%s", sha);
    free(sha);
    l->paths = xcalloc((size_t)l->n + 1, sizeof *l->paths);
    l->source = xcalloc((size_t)l->n + 1, sizeof *l->source);
    l->entry = xcalloc((size_t)l->n + 1, sizeof *l->entry);
    for (long long i = 0; i < l->n; i++) {
        l->paths[i] = unpack_str(p);
        l->source[i] = (int)unpack_i64(p);
        l->entry[i] = unpack_i64(p);
    }
}

void items_free(struct item_list *l)
{
    for (long long i = 0; i < l->n; i++)
        free(l->paths[i]);
    for (int i = 0; i < l->n_sources; i++)
        free(l->sources[i]);
    free(l->paths);
    free(l->source);
    free(l->entry);
    free(l->sources);
    memset(l, 0, sizeof *l);
}

/* ---- reading ------------------------------------------------------------------ */

struct item_reader {
    const struct item_list *list;
    struct archive *a;               /* the archive open now, or NULL */
    int source;                      /* which one */
    long long next;                  /* the index of its next header */
};

struct item_reader *item_reader_new(const struct item_list *list)
{
    struct item_reader *r = xcalloc(1, sizeof *r);
    r->list = list;
    r->source = -1;
    return r;
}

static int read_file(const char *path, unsigned char **data, size_t *len, struct ferry_error *err)
{
    int fd;
    long long size;
    int rc = fs_open_read(path, &fd, &size, err);
    if (rc != 0)
        return rc;
    if (size > ITEMS_MAX_BYTES) {
        close(fd);
        return err_set(err, FERRY_EFAIL, "%s: bigger than an image can be (%lld bytes)", path,
                       size);
    }
    *data = xmalloc((size_t)size + 1);
    size_t got = 0;
    while (got < (size_t)size) {
        ssize_t n = read(fd, *data + got, (size_t)size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return 0;
}

/* Position the archive reader on header index entry of source. */
static int seek_entry(struct item_reader *r, int source, long long entry, struct ferry_error *err)
{
    const char *path = r->list->sources[source];
    if (r->source != source || r->next > entry) {
        if (r->a)
            archive_read_free(r->a);
        r->a = archive_reader(path);
        r->source = r->a ? source : -1;
        r->next = 0;
        if (!r->a)
            return err_set(err, FERRY_EFAIL, "%s: cannot read it as an archive", path);
    }
    struct archive_entry *e;
    while (r->next <= entry) {
        int rc = archive_read_next_header(r->a, &e);
        if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
            r->source = -1;          /* start afresh next time */
            return err_set(err, FERRY_EFAIL, "%s: corrupt or truncated: %s", path,
                           archive_error_string(r->a));
        }
        r->next++;
    }
    return 0;
}

static int read_entry(struct item_reader *r, long long row, unsigned char **data, size_t *len,
                      struct ferry_error *err)
{
    const struct item_list *l = r->list;
    int rc = seek_entry(r, l->source[row], l->entry[row], err);
    if (rc != 0)
        return rc;
    size_t cap = 1 << 16, got = 0;
    *data = xmalloc(cap);
    for (;;) {
        if (got == cap) {
            if ((long long)cap >= ITEMS_MAX_BYTES) {
                free(*data);
                return err_set(err, FERRY_EFAIL, "%s: bigger than an image can be", l->paths[row]);
            }
            cap *= 2;
            *data = xrealloc(*data, cap);
        }
        la_ssize_t n = archive_read_data(r->a, *data + got, cap - got);
        if (n == 0)
            break;
        if (n < 0) {
            free(*data);
            r->source = -1;
            return err_set(err, FERRY_EFAIL, "%s: %s", l->paths[row], archive_error_string(r->a));
        }
        got += (size_t)n;
    }
    *len = got;
    return 0;
}

int item_read(struct item_reader *r, long long row, unsigned char **data, size_t *len,
              struct ferry_error *err)
{
    const struct item_list *l = r->list;
    if (l->entry[row] >= 0)
        return read_entry(r, row, data, len, err);
    char *path = xasprintf("%s/%s", l->sources[l->source[row]], l->paths[row]);
    int rc = read_file(path, data, len, err);
    free(path);
    return rc;
}

void item_reader_free(struct item_reader *r)
{
    if (!r)
        return;
    if (r->a)
        archive_read_free(r->a);
    free(r);
}

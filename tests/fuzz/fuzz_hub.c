/* The Hub's JSON answers (hfjson): the first byte picks the parser (tree
 * page, paths-info, revision), the rest is the answer's body, given with its
 * length and no NUL after it, as the network layer hands it over. */
#include "fuzz.h"

#include "ferry/hfjson.h"

static void check_entries(const struct hfjson_entries *e)
{
    for (size_t i = 0; i < e->count; i++) {
        const struct hfjson_entry *x = &e->entry[i];
        FUZZ_CHECK(x->path != NULL);
        FUZZ_CHECK(x->directory || (x->size >= 0 && x->size <= HFJSON_MAX_SIZE));
        FUZZ_CHECK(!x->lfs_oid || strlen(x->lfs_oid) == 64);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t len = size - 1;
    char *text = xmalloc(len ? len : 1);
    memcpy(text, data + 1, len);
    struct ferry_error err = {0};
    int rc;
    if (data[0] % 3 == 2) {
        char sha[41];
        long long modified = 0;
        rc = hfjson_revision(text, len, sha, &modified, &err);
        if (rc == 0)
            FUZZ_CHECK(strlen(sha) == 40 && strspn(sha, "0123456789abcdef") == 40);
    } else {
        struct hfjson_entries entries = {0};
        rc = data[0] % 3 == 0 ? hfjson_tree_page(text, len, &entries, &err)
                              : hfjson_paths_info(text, len, &entries, &err);
        if (rc == 0)
            check_entries(&entries);
        hfjson_entries_free(&entries);
    }
    FUZZ_CHECK(rc == 0 || (err.code != 0 && err.msg[0] != '\0'));
    free(text);
    return 0;
}

/* Manifests in aria2's input-file format (manifest_parse): whatever it
 * accepts has paths that stay inside the destination. */
#include "fuzz.h"

#include <ctype.h>

#include "ferry/fsutil.h"
#include "ferry/manifest.h"

static void check_entry(const struct manifest_entry *e)
{
    const char *why;
    FUZZ_CHECK(e->n_urls > 0 && e->path && fs_relpath_safe(e->path, &why));
    for (const char *p = e->sha256; p && *p; p++)
        FUZZ_CHECK(isxdigit((unsigned char)*p) && !isupper((unsigned char)*p));
    FUZZ_CHECK(!e->sha256 || strlen(e->sha256) == 64);
    for (size_t i = 0; i < e->n_urls; i++)
        FUZZ_CHECK(e->urls[i] && e->urls[i][0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* manifest_parse takes a length: give it exactly the bytes, no NUL. */
    char *text = xmalloc(size ? size : 1);
    memcpy(text, data, size);
    struct manifest m = {0};
    struct ferry_error err = {0};
    if (manifest_parse(text, size, "fuzz.txt", &m, &err) == 0) {
        for (size_t i = 0; i < m.count; i++) {
            check_entry(&m.entries[i]);
            for (size_t j = 0; j < i; j++)
                FUZZ_CHECK(strcmp(m.entries[i].path, m.entries[j].path) != 0);
        }
    } else {
        FUZZ_CHECK(err.code != 0 && err.msg[0] != '\0');
    }
    manifest_free(&m);
    free(text);
    return 0;
}

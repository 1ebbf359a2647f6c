/* latest_only's version rules over a listing (one path per line): the
 * latest of every group is kept, so however the names are made, a non-empty
 * listing never loses all of its files. */
#include "fuzz.h"

#include <stdbool.h>

#include "ferry/versions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    char **paths = NULL;
    size_t n = 0;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        paths = xrealloc(paths, (n + 1) * sizeof *paths);
        paths[n++] = line;
    }
    bool *older = xcalloc(n + 1, sizeof *older);
    versions_older(paths, n, older);
    bool kept = false;
    for (size_t i = 0; i < n; i++) {
        kept = kept || !older[i];
        size_t at, digits;
        unsigned long long number;
        if (version_find(paths[i], strlen(paths[i]), &at, &digits, &number))
            FUZZ_CHECK(digits > 0 && at + digits <= strlen(paths[i]));
    }
    FUZZ_CHECK(n == 0 || kept);
    free(older);
    free(paths);
    free(text);
    return 0;
}

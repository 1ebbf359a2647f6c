/* The path sanitiser (fs_relpath_safe): a path it accepts, joined under a
 * destination, never leaves it, whatever a remote listing or manifest says. */
#include "fuzz.h"

#include <stdbool.h>

#include "ferry/fsutil.h"

/* How deep below the destination the path ends, or -1 once it climbs out:
 * the lexical walk the kernel does for DEST/path (no symbolic links). */
static long depth_below(const char *path)
{
    long depth = 0;
    for (const char *seg = path; seg;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 2 && seg[0] == '.' && seg[1] == '.')
            depth--;
        else if (len > 0 && !(len == 1 && seg[0] == '.'))
            depth++;
        if (depth < 0)
            return -1;
        seg = end ? end + 1 : NULL;
    }
    return depth;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = fuzz_text(data, size);
    const char *why = NULL;
    bool safe = fs_relpath_safe(path, &why);
    if (safe) {
        FUZZ_CHECK(path[0] != '\0' && path[0] != '/' && !strchr(path, '\\'));
        FUZZ_CHECK(depth_below(path) > 0);
    } else {
        FUZZ_CHECK(why && why[0] != '\0');
    }
    free(path);
    return 0;
}

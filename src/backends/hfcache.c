#include "local.h"
#include "ferry/fsutil.h"
#include "ferry/hfcache.h"
#include "ferry/xalloc.h"

#include <stdlib.h>
#include <string.h>

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

char *hfcache_default_dir(void)
{
    if (env("HF_HUB_CACHE"))
        return xstrdup(env("HF_HUB_CACHE"));
    if (env("HUGGINGFACE_HUB_CACHE"))
        return xstrdup(env("HUGGINGFACE_HUB_CACHE"));
    if (env("HF_HOME"))
        return xasprintf("%s/hub", env("HF_HOME"));
    if (env("XDG_CACHE_HOME"))
        return xasprintf("%s/huggingface/hub", env("XDG_CACHE_HOME"));
    return xasprintf("%s/.cache/huggingface/hub", env("HOME") ? env("HOME") : ".");
}

int hfcache_open(const char *cache_dir, const char *location, const struct cache_place *where,
                 struct backend **out, struct ferry_error *err)
{
    struct cache_place place = *where;
    const char *why = NULL;
    if (place.ref && !fs_relpath_safe(place.ref, &why))
        return err_set(err, FERRY_EUSAGE, "%s: revision '%s' cannot name a file under refs/: %s",
                       location, place.ref, why);

    size_t n = strlen(cache_dir);
    while (n > 1 && cache_dir[n - 1] == '/')
        n--;
    char *repo = xasprintf("%.*s/%s", (int)n, cache_dir, place.repo_folder);
    const char *slash = *place.path ? "/" : "";
    char *root = xasprintf("%s/snapshots/%s%s%s", repo, place.commit, slash, place.path);
    /* Part files of one commit and path are the same bytes for every job. */
    char *parts = xasprintf("%s/" FS_STATE_NAME "/%s%s%s", repo, place.commit, slash, place.path);
    char *state = fs_state_dir(parts, NULL);
    char *blobs = xasprintf("%s/blobs", repo);
    /* From root up to repo: snapshots, the commit, each folder of the path. */
    size_t depth = 2;
    for (const char *c = place.path; *c && (c = strchr(c, '/')); c++)
        depth++;
    depth += *place.path ? 1 : 0;
    char *up = xmalloc(3 * depth + 1), *end = up;
    *end = '\0';
    while (depth--)
        end = stpcpy(end, "../");
    char *refs = xasprintf("%s/refs", repo);
    char *ref = place.ref ? xasprintf("%s/%s", refs, place.ref) : NULL;

    char *top = xstrndup(cache_dir, n);
    struct local_layout layout = {
        .top = top, .root = root, .state_dir = state, .parts_root = parts, .blobs = blobs,
        .blobs_up = up, .refs = refs, .ref_file = ref, .ref_text = place.commit,
    };
    int rc = local_open_layout(&layout, out, err);
    free(top);
    free(repo);
    free(root);
    free(parts);
    free(state);
    free(blobs);
    free(up);
    free(refs);
    free(ref);
    return rc;
}

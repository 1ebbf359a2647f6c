#include "ferry/backend.h"
#include "ferry/xalloc.h"

#include <stdlib.h>
#include <string.h>

/* Every storage kind ferry knows; the first that claims a location wins. */
static const struct backend_ops *const backend_kinds[] = {
    &backend_hf,
    &backend_http,
    &backend_local,
};

static char **allowed_prefixes;
static size_t n_allowed_prefixes;

void backend_set_allowed(char **prefixes, size_t n)
{
    allowed_prefixes = prefixes;
    n_allowed_prefixes = n;
}

int backend_check_allowed(const char *location, struct ferry_error *err)
{
    if (n_allowed_prefixes == 0)
        return 0;
    for (size_t i = 0; i < n_allowed_prefixes; i++)
        if (strncmp(location, allowed_prefixes[i], strlen(allowed_prefixes[i])) == 0)
            return 0;
    return err_set(err, FERRY_EUSAGE, "%s: not under any of the config's allowed_prefixes "
                   "(%s%s): refused before any request", location, allowed_prefixes[0],
                   n_allowed_prefixes > 1 ? ", ..." : "");
}

int backend_open(const char *location, struct backend **out,
                 struct ferry_error *err)
{
    for (size_t i = 0; i < sizeof backend_kinds / sizeof *backend_kinds; i++) {
        const struct backend_ops *ops = backend_kinds[i];
        if (!ops->claims(location))
            continue;
        int rc = ops->open(location, out, err);
        if (rc == 0) {
            (*out)->ops = ops;
            (*out)->location = xstrdup(location);
        }
        return rc;
    }
    const char *colon = strstr(location, "://");
    if (colon)
        return err_set(err, FERRY_EUSAGE,
                       "%s: this build of ferry cannot reach '%.*s://' locations yet",
                       location, (int)(colon - location), location);
    return err_set(err, FERRY_EUSAGE, "%s: not a location ferry understands", location);
}

const struct backend_ops *backend_kind(const char *location)
{
    for (size_t i = 0; i < sizeof backend_kinds / sizeof *backend_kinds; i++)
        if (backend_kinds[i]->claims(location))
            return backend_kinds[i];
    return NULL;
}

void backend_close(struct backend *b)
{
    if (!b)
        return;
    char *location = b->location;
    b->ops->close(b);
    free(location);
}

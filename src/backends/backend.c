#include "ferry/backend.h"
#include "ferry/xalloc.h"

#include <stdlib.h>
#include <string.h>

/* Every storage kind ferry knows; the first that claims a location wins. */
static const struct backend_ops *const backend_kinds[] = {
    &backend_hf,
    &backend_http,
    &backend_s3,
    &backend_ssh,
    &backend_local,
};

bool backend_is_scp_form(const char *location)
{
    const char *colon = strchr(location, ':'), *slash = strchr(location, '/');
    return colon && colon != location && (!slash || colon < slash) && !strstr(location, "://") &&
           location[0] != '@';
}

void upload_file_clear(struct upload_file *u)
{
    for (int k = 0; u->receipts && k < u->n_parts; k++)
        free(u->receipts[k]);
    free(u->receipts);
    free(u->reason);
    u->receipts = NULL;
    u->reason = NULL;
}

static const char *endpoint;

void backend_set_endpoint(const char *url)
{
    endpoint = url;
}

const char *backend_endpoint(void)
{
    return endpoint;
}

static char **allowed_prefixes;
static size_t n_allowed_prefixes;

void backend_set_allowed(char **prefixes, size_t n)
{
    allowed_prefixes = prefixes;
    n_allowed_prefixes = n;
}

/* What follows "hf://" and the default kind's "models/": a Hub prefix may be
 * written "hf://datasets/O/N", "datasets/O/N" or "O/N" (a model, as in
 * hf://O/N).  NULL for a URL of another scheme. */
static const char *hub_part(const char *s)
{
    if (strncmp(s, "hf://", 5) == 0)
        s += 5;
    else if (strstr(s, "://"))
        return NULL;
    return strncmp(s, "models/", 7) == 0 ? s + 7 : s;
}

bool backend_prefix_allows(const char *prefix, const char *location)
{
    bool hub = strncmp(location, "hf://", 5) == 0;
    const char *p = hub_part(prefix), *l = hub ? hub_part(location) : location;
    if (hub != (p != NULL))
        return false;
    if (!hub)
        p = prefix;
    size_t n = strlen(p);
    /* "datasets/O/" and "datasets/O" both mean O's datasets. */
    while (hub && n > 0 && p[n - 1] == '/')
        n--;
    if (n == 0)
        return hub;
    if (strncmp(l, p, n) != 0)
        return false;
    /* Only at a boundary: "O/N" must not allow "O/NN", nor a host a longer
     * host, another port or "host@elsewhere". */
    char next = l[n];
    return p[n - 1] == '/' || next == '\0' || next == '/' ||
           (hub ? next == '@' : next == '?' || next == '#');
}

int backend_check_allowed(const char *location, struct ferry_error *err)
{
    if (n_allowed_prefixes == 0)
        return 0;
    for (size_t i = 0; i < n_allowed_prefixes; i++)
        if (backend_prefix_allows(allowed_prefixes[i], location))
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
    if (backend_is_scp_form(location))
        return err_set(err, FERRY_EUSAGE, "%s: an SSH host's path ([USER@]HOST:PATH, as scp "
                       "writes it), which this build of ferry cannot reach yet; a local folder "
                       "whose name holds ':' is written ./%s", location, location);
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

#include "ferry/hfurl.h"
#include "ferry/xalloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define HFURL_DEFAULT_ENDPOINT "https://huggingface.co"

/* The Hub's rule for an owner or a repo name: letters, digits, '-', '_',
 * '.', not starting with '.' or '-', no "..". */
static bool valid_name(const char *s, size_t n)
{
    if (n == 0 || n > 96 || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok || (c == '.' && i + 1 < n && s[i + 1] == '.'))
            return false;
    }
    return true;
}

/* Length of the revision at s: up to the next '/', except the two kinds of
 * ref that contain one. */
static size_t revision_length(const char *s)
{
    if (strncmp(s, "refs/pr/", 8) == 0 || strncmp(s, "refs/convert/", 13) == 0) {
        const char *rest = s + (s[5] == 'p' ? 8 : 13);
        return (size_t)(rest - s) + strcspn(rest, "/");
    }
    return strcspn(s, "/");
}

static void strip_slashes(char *path)
{
    size_t n = strlen(path);
    while (n && path[n - 1] == '/')
        path[--n] = '\0';
    size_t lead = strspn(path, "/");
    memmove(path, path + lead, n - lead + 1);
}

int hfurl_parse(const char *text, struct hf_url *out, struct ferry_error *err)
{
    memset(out, 0, sizeof *out);
    if (strncmp(text, "hf://", 5) != 0)
        return err_set(err, FERRY_EUSAGE, "%s: not an hf:// location", text);
    const char *p = text + 5;
    out->type = HF_MODEL;
    if (strncmp(p, "datasets/", 9) == 0) {
        out->type = HF_DATASET;
        p += 9;
    } else if (strncmp(p, "spaces/", 7) == 0) {
        out->type = HF_SPACE;
        p += 7;
    } else if (strncmp(p, "models/", 7) == 0) {
        p += 7;
    }
    size_t owner = strcspn(p, "/@");
    if (p[owner] != '/')
        return err_set(err, FERRY_EUSAGE, "%s: expected hf://[datasets/|spaces/]OWNER/NAME", text);
    const char *name = p + owner + 1;
    size_t name_len = strcspn(name, "/@");
    if (!valid_name(p, owner) || !valid_name(name, name_len))
        return err_set(err, FERRY_EUSAGE, "%s: '%.*s' is not a valid repo id", text,
                       (int)(owner + 1 + name_len), p);
    out->repo_id = xstrndup(p, owner + 1 + name_len);
    const char *rest = name + name_len;
    if (*rest == '@') {
        rest++;
        size_t n = revision_length(rest);
        if (n == 0) {
            hfurl_free(out);
            return err_set(err, FERRY_EUSAGE, "%s: empty revision after '@'", text);
        }
        out->revision = xstrndup(rest, n);
        rest += n;
    }
    out->path = xstrdup(rest);
    strip_slashes(out->path);
    return 0;
}

void hfurl_free(struct hf_url *url)
{
    free(url->repo_id);
    free(url->revision);
    free(url->path);
    memset(url, 0, sizeof *url);
}

const char *hfurl_api_kind(enum hf_repo_type type)
{
    return type == HF_DATASET ? "datasets" : type == HF_SPACE ? "spaces" : "models";
}

const char *hfurl_url_prefix(enum hf_repo_type type)
{
    return type == HF_DATASET ? "datasets/" : type == HF_SPACE ? "spaces/" : "";
}

char *hfurl_endpoint(void)
{
    const char *set = getenv("HF_ENDPOINT");
    char *endpoint = xstrdup(set && *set ? set : HFURL_DEFAULT_ENDPOINT);
    size_t len = strlen(endpoint);
    while (len > 0 && endpoint[len - 1] == '/')
        endpoint[--len] = '\0';
    return endpoint;
}

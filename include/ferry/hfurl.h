/* hf:// locations, in huggingface_hub's HfFileSystem form:
 *   hf://datasets/OWNER/NAME[@REVISION][/PATH]
 *   hf://spaces/OWNER/NAME[@REVISION][/PATH]
 *   hf://OWNER/NAME[@REVISION][/PATH]            (a model)
 * A revision is a branch, tag or 40-hex commit; "refs/pr/N" and
 * "refs/convert/NAME" contain a slash and are recognised as such. */
#ifndef FERRY_HFURL_H
#define FERRY_HFURL_H

#include "ferry/err.h"

enum hf_repo_type { HF_MODEL, HF_DATASET, HF_SPACE };

struct hf_url {
    enum hf_repo_type type;
    char *repo_id;           /* OWNER/NAME */
    char *revision;          /* NULL: the default branch */
    char *path;              /* "" for the root, no leading or trailing '/' */
};

int hfurl_parse(const char *text, struct hf_url *out, struct ferry_error *err);
void hfurl_free(struct hf_url *url);

/* "datasets", "spaces" or "models": the plural the API paths use. */
const char *hfurl_api_kind(enum hf_repo_type type);
/* "datasets/", "spaces/" or "": the prefix of resolve URLs. */
const char *hfurl_url_prefix(enum hf_repo_type type);

/* The Hub's base URL: $HF_ENDPOINT, else https://huggingface.co, without a
 * trailing '/' (a fresh string). */
char *hfurl_endpoint(void);

#endif

/* What the Hub backend's files share: the backend itself and its API calls.
 * Internal to src/backends: hf.c lists and downloads, hfpush.c uploads. */
#ifndef FERRY_BACKENDS_HF_H
#define FERRY_BACKENDS_HF_H

#include "remote.h"
#include "ferry/hfurl.h"
#include "ferry/net.h"

#include <cjson/cJSON.h>

struct hf_backend {
    struct remote_backend remote;    /* first: a struct backend underneath */
    struct hf_url url;
    char *endpoint;
    char *commit;                    /* what the revision pointed at when listed */
    char *repo_folder;               /* for the cache layout, made on demand */
};

/* One API call (req's url on the Hub) that draws on the job's budget.  With
 * retry, transient failures and 429s are waited out; without (a commit,
 * which must never be sent twice blindly), only a 429 answered before the
 * request counted is.  Returns the 2xx answer, else NULL with err set. */
struct net_transfer *hf_api(struct hf_backend *hb, const struct net_request *req, bool retry,
                            struct ferry_error *err);

/* "LOCATION: METHOD URL", naming a request in a message (a fresh string;
 * tokens travel in headers, never in the URL). */
char *hf_request_name(const struct hf_backend *hb, const struct net_request *req);

/* The answer's body as JSON, or NULL with err naming what was asked. */
cJSON *hf_json(struct hf_backend *hb, struct net_transfer *t, const char *what,
               struct ferry_error *err);

/* The commit the revision points at now (a fresh string), or NULL. */
char *hf_head(struct hf_backend *hb, struct ferry_error *err);

/* Backend operations for a destination (hfpush.c). */
int hf_create(struct backend *b, bool public, struct ferry_error *err);
int hf_push(struct backend *b, MPI_Comm comm, struct backend *src, const struct plan *plan,
            const struct push_options *opts, struct sched_report *report,
            struct ferry_error *err);

#endif

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

/* Admission at net's gate (the job's budget of Hub calls) for url, waiting as
 * long as it takes.  Returns whether *ticket must be settled (net_gate_settle). */
bool hf_gate_wait(struct hf_backend *hb, const char *url, int *ticket);

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

/* List the Hub location (hf://...) as a source would, on every rank of
 * comm, and add its files to into (rank 0's listing) under folder, each with
 * its own resolve URL at the listed commit and the token for the Hub's
 * origin: how a manifest's hf:// lines join its URLs. */
int hf_list_into(struct remote_backend *into, const char *location, const char *folder,
                 MPI_Comm comm, struct ferry_error *err);

/* Backend operations for a destination (hfpush.c). */
int hf_create(struct backend *b, bool public, struct ferry_error *err);
int hf_upload_plan(struct backend *b, struct backend *src, const struct upload_request *req,
                   const struct upload_options *opts, struct upload_plan *up,
                   struct ferry_error *err);
int hf_finish_batch(struct backend *b, struct upload_plan *up, int batch,
                    struct ferry_error *err);
void hf_upload_free(struct backend *b, struct upload_plan *up);
int hf_write_open(struct backend *b, const struct write_spec *spec, struct backend_write **out,
                  struct ferry_error *err);
int hf_write_poll(struct backend_write *w, long long *moved, struct ferry_error *err);

#endif

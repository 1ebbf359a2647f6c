/* One budget of Hub calls for the whole job, and for jobs that share a file.
 *
 * The Hub counts calls per token in fixed windows: api and resolvers per
 * 5 minutes, commits per hour.  Every rank draws a token before each Hub
 * request.  Rank 0 owns the counts (the bank) and leases tokens to the other
 * ranks in small grants on a communicator of its own, so a rank rarely waits
 * a round trip; a lease ends with the window it was granted in.  What the
 * server says is learned: RateLimit's remaining calls raise the count, and
 * a 429 pauses the class on every rank until the window resets.  The
 * server's own quota and window (RateLimit-Policy) are a second count beside
 * --rate's, so a job that was not told the quota keeps to it all the same:
 * every token taken and not yet settled counts against the lowest r the
 * server said, and each rank says its lowest r before it asks for more.
 *
 * limiter_start installs the limiter as net's gate (net.h), so that every
 * request net starts to the Hub draws a token; limiter_stop removes it.
 *
 * Windows are aligned to the epoch, as the Hub's are, and moved when the
 * server's reset time says its windows lie elsewhere.
 *
 * With a limiter file (see limitfile.h) rank 0 claims its tokens in blocks
 * from a file that other jobs claim from too.
 *
 * Before limiter_start, and after limiter_stop, every take succeeds: a
 * command that never starts the limiter makes its calls unmetered. */
#ifndef FERRY_LIMITER_H
#define FERRY_LIMITER_H

#include <mpi.h>
#include <stdbool.h>
#include "ferry/err.h"
#include "ferry/net.h"

/* The Hub's three quotas, and the object stores' requests (s3://, gs://):
 * those are not metered unless --rate store=N/W says so, but a 503 (SlowDown)
 * from a store pauses every rank's new requests to it for a while, as a 429
 * pauses a Hub class. */
enum limiter_class { LIMIT_API, LIMIT_RESOLVE, LIMIT_COMMIT, LIMIT_STORE, LIMIT_CLASSES };

struct limiter_rate {
    long long cap;                   /* calls per window */
    double window;                   /* seconds */
};

struct limiter_options {
    struct limiter_rate rate[LIMIT_CLASSES];
    const char *file;                /* --limiter-file: shared with other jobs; NULL: none */
    int file_jobs;                   /* the share taken when the file cannot be locked */
};

/* Summed over ranks on rank 0 by limiter_report. */
struct limiter_stats {
    long long calls[LIMIT_CLASSES];      /* tokens spent */
    long long throttled[LIMIT_CLASSES];  /* 429 answers seen */
    double waited;                       /* seconds the slowest rank waited for tokens */
    bool file_fallback;                  /* the limiter file could not be locked */
};

/* "api", "resolve", "commit". */
const char *limiter_class_name(enum limiter_class cls);

/* api 2500/300, resolve 5000/300, commit 100/3600. */
void limiter_default_rates(struct limiter_rate rate[LIMIT_CLASSES]);

/* spec ("api=1000/300,resolve=5000/300,commit=50/3600", any subset) over
 * rate.  origin names the spec in errors ("--rate", a config file). */
int limiter_parse_rate(const char *spec, const char *origin,
                       struct limiter_rate rate[LIMIT_CLASSES], struct ferry_error *err);

/* Collective over comm.  Rank 0 opens the limiter file, if any. */
int limiter_start(MPI_Comm comm, const struct limiter_options *opts, struct ferry_error *err);

/* Collective: the counts so far, summed over ranks, on rank 0. */
void limiter_report(struct limiter_stats *stats);

/* Collective: ranks hand back unused leases; rank 0 gives unused tokens
 * back to the limiter file. */
void limiter_stop(void);

/* The class a request to url draws from; false when it is not a Hub call
 * (a CDN, storage, or any other origin). */
bool limiter_class_of(const char *url, enum limiter_class *cls);

/* Take a token; false when none is to be had now (try again shortly).
 * Never blocks: it only moves lease messages. */
bool limiter_take(enum limiter_class cls);

/* Take a token, waiting as long as it takes (rank 0's listing calls). */
void limiter_take_wait(enum limiter_class cls);

/* Sleep, moving lease messages meanwhile (rank 0 must never stop serving). */
void limiter_sleep(double seconds);

/* After every answer to a metered request: the RateLimit headers and a 429.
 * It settles the token the request took. */
void limiter_learn(enum limiter_class cls, long status, const struct net_headers *h);

/* A token taken whose request got no answer (failed, or never sent). */
void limiter_cancel(enum limiter_class cls);

/* Move lease messages: rank 0 answers requests, the others take grants.
 * Loops that wait on other things call it often. */
void limiter_poll(void);

#endif

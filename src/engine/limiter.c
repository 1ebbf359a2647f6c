#include "ferry/limiter.h"
#include "ferry/hfurl.h"
#include "ferry/limitfile.h"
#include "ferry/log.h"
#include "ferry/xalloc.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIMITER_TAG 1
#define LIMITER_GRANT_MAX 8          /* tokens in one lease */
#define LIMITER_FILE_BLOCK_MAX 64    /* tokens claimed from the file at once */
#define LIMITER_GUARD_MAX 0.5        /* seconds a new window waits for the old one's calls in flight */
#define LIMITER_METER_GUARD_MAX 1.0  /* seconds the server's window is kept after the end t said */
#define LIMITER_NOTE_EVERY 0.25      /* seconds between a rank's notes of what the server said */
#define LIMITER_RETRY_CLAIM 0.05     /* seconds before claiming from a spent file again */
#define LIMITER_DEFAULT_JOBS 8       /* the share without a lockable file, when none is given */

/* Messages on the limiter's own communicator: a kind, then words. */
enum msg_kind {
    MSG_ASK = 1,     /* rank -> 0: class; a lease, please */
    MSG_NOTE,        /* rank -> 0: class, status, r, reset (unix ms), q, w, bucket, pause us */
    MSG_DONE,        /* rank -> 0: unused tokens of each class's lease */
    MSG_GRANT,       /* 0 -> rank: class, tokens, microseconds the lease lasts */
    MSG_PAUSE,       /* 0 -> rank: class, microseconds to pause */
    MSG_BYE,         /* 0 -> rank: all DONE received */
    MSG_SETTLED,     /* rank -> 0: only the settled counts every message to rank 0 carries */
};
#define MSG_WORDS 13
#define MSG_SETTLED_AT 9 /* words 9..12 of a message to rank 0: tokens settled, per class */
#define LIMITER_STORE_PAUSE 1.0      /* seconds a store's SlowDown pauses every rank, without Retry-After */

struct sent {
    MPI_Request request;
    int64_t msg[MSG_WORDS];
};

/* What the server says of one class's quota (RateLimit, RateLimit-Policy).
 * Its window may differ from --rate's (a job that was not told the quota
 * keeps the defaults), so it is a second count beside the bank's own, and a
 * token must pass both. */
struct meter {
    long long quota;             /* q; 0: not said */
    double window;               /* w, seconds; 0: not said */
    double end;                  /* unix time the server's window ends; 0: unknown */
    long long left;              /* the lowest r said for that window; -1: none yet */
};

/* Rank 0's count of one class (unix seconds). */
struct bank {
    long long cap;
    double window;
    double phase;                /* windows start at phase + k * window */
    double start;                /* the current window's */
    long long used;              /* tokens handed out in it */
    long long seen, seen_next;   /* calls the server counted in it, and in the next */
    long long used_at_seen;      /* used when seen was learned: ours since then add to it */
    long long server_quota;      /* the server's q for this window length; 0: unknown */
    long long claimed;           /* with a limiter file: tokens claimed for this window */
    double retry_claim;          /* no claim before this time (the file said spent) */
    double paused_until;
    struct meter meter;
    long long out;               /* tokens taken on any rank and not yet settled */
};

/* One rank's lease of one class (monotonic seconds). */
struct lease {
    long long tokens;
    double expires;
    bool asked;
    double paused_until;
    int64_t note[MSG_WORDS];     /* the latest answer's headers, not yet sent */
    bool note_pending;
    double noted_at;
};

struct ask {
    int rank;
    enum limiter_class cls;
};

static struct {
    bool on;
    MPI_Comm comm;
    int rank, size;
    char hub_origin[512];
    struct bank bank[LIMIT_CLASSES];
    struct lease lease[LIMIT_CLASSES];
    struct ask *asks;
    size_t n_asks, cap_asks;
    struct sent **sent;
    size_t n_sent, cap_sent;
    struct limiter_stats stats;
    long long settled[LIMIT_CLASSES];    /* a rank's tokens settled since its last message */
    double reported_at;                  /* monotonic: a rank's last message to rank 0 */
    double blocked_since;        /* monotonic; 0 while not blocked */
    struct limitfile *file;
    bool file_broken;
    int file_jobs;
    int done;                    /* rank 0 in limiter_stop: ranks that said DONE */
    bool commit_held;            /* a commit's token taken, its api token not yet */
} L;

static const char *const class_names[LIMIT_CLASSES] = {"api", "resolve", "commit", "store"};

/* A class with no cap (the stores' by default) hands out no tokens: every
 * take succeeds unless the class is paused, and nothing is settled. */
static bool metered(enum limiter_class cls)
{
    return L.bank[cls].cap > 0;
}

const char *limiter_class_name(enum limiter_class cls)
{
    return class_names[cls];
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- --rate ----------------------------------------------------------- */

static int class_by_name(const char *name, size_t len)
{
    for (int c = 0; c < LIMIT_CLASSES; c++)
        if (strlen(class_names[c]) == len && strncmp(name, class_names[c], len) == 0)
            return c;
    return -1;
}

void limiter_default_rates(struct limiter_rate rate[LIMIT_CLASSES])
{
    rate[LIMIT_API] = (struct limiter_rate){2500, 300};
    rate[LIMIT_RESOLVE] = (struct limiter_rate){5000, 300};
    rate[LIMIT_COMMIT] = (struct limiter_rate){100, 3600};
    rate[LIMIT_STORE] = (struct limiter_rate){0, 1};
}

int limiter_parse_rate(const char *spec, const char *origin,
                       struct limiter_rate rate[LIMIT_CLASSES], struct ferry_error *err)
{
    if (!spec)
        return 0;
    char *copy = xstrdup(spec), *save = NULL;
    int rc = 0;
    for (char *item = strtok_r(copy, ",", &save); item && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        int cls = eq ? class_by_name(item, (size_t)(eq - item)) : -1;
        char *end = NULL;
        long long cap = eq ? strtoll(eq + 1, &end, 10) : 0;
        double window = end && *end == '/' ? strtod(end + 1, &end) : 0;
        if (cls < 0 || cap < 1 || !(window > 0) || !isfinite(window) || *end != '\0')
            rc = err_set(err, FERRY_EUSAGE, "%s: '%s' is not CLASS=CALLS/SECONDS with CLASS "
                         "api, resolve, commit or store (say api=1000/300)", origin, item);
        else
            rate[cls] = (struct limiter_rate){cap, window};
    }
    free(copy);
    return rc;
}

/* ---- classes of URL --------------------------------------------------- */

bool limiter_class_of(const char *url, enum limiter_class *cls)
{
    size_t n = strlen(L.hub_origin);
    if (L.on && net_is_store(url)) {
        *cls = LIMIT_STORE;
        return true;
    }
    if (!L.on || n == 0 || strncmp(url, L.hub_origin, n) != 0 || (url[n] && url[n] != '/'))
        return false;
    const char *path = url + n;
    size_t path_len = strcspn(path, "?#");
    static const char batch[] = "/info/lfs/objects/batch";
    if (strncmp(path, "/api/", 5) == 0 ||
        (path_len >= sizeof batch - 1 &&
         strncmp(path + path_len - (sizeof batch - 1), batch, sizeof batch - 1) == 0)) {
        *cls = LIMIT_API;
        return true;
    }
    const char *resolve = strstr(path, "/resolve/");
    if (resolve && resolve < path + path_len) {
        *cls = LIMIT_RESOLVE;
        return true;
    }
    return false;
}

/* ---- messages ---------------------------------------------------------- */

static void send_msg(int to, const int64_t *msg)
{
    struct sent *s = xmalloc(sizeof *s);
    memcpy(s->msg, msg, sizeof s->msg);
    MPI_Isend(s->msg, MSG_WORDS, MPI_INT64_T, to, LIMITER_TAG, L.comm, &s->request);
    xgrow((void **)&L.sent, &L.cap_sent, L.n_sent + 1, sizeof *L.sent);
    L.sent[L.n_sent++] = s;
}

/* A rank's message to rank 0, with the tokens it settled since its last.
 * What answers said goes first: rank 0 must not take a call off the tokens
 * out before it has the r its answer said, or it would count the call nowhere. */
static void send_to_bank(int64_t *msg)
{
    for (int c = 0; c < LIMIT_CLASSES; c++) {
        struct lease *l = &L.lease[c];
        if (l->note_pending && l->note != msg) {
            l->note_pending = false;
            l->noted_at = mono_now();
            send_msg(0, l->note);
        }
    }
    for (int c = 0; c < LIMIT_CLASSES; c++) {
        msg[MSG_SETTLED_AT + c] = L.settled[c];
        L.settled[c] = 0;
    }
    L.reported_at = mono_now();
    send_msg(0, msg);
}

static void send_note(struct lease *l)
{
    l->note_pending = false;
    l->noted_at = mono_now();
    send_to_bank(l->note);
}

/* Free the sends that have completed. */
static void reap_sent(bool wait)
{
    size_t keep = 0;
    for (size_t i = 0; i < L.n_sent; i++) {
        int done = 0;
        if (wait)
            MPI_Wait(&L.sent[i]->request, MPI_STATUS_IGNORE), done = 1;
        else
            MPI_Test(&L.sent[i]->request, &done, MPI_STATUS_IGNORE);
        if (done)
            free(L.sent[i]);
        else
            L.sent[keep++] = L.sent[i];
    }
    L.n_sent = keep;
}

/* The next message for this rank, if one is waiting. */
static bool receive(int64_t *msg, int *from)
{
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, LIMITER_TAG, L.comm, &flag, &st);
    if (!flag)
        return false;
    MPI_Recv(msg, MSG_WORDS, MPI_INT64_T, st.MPI_SOURCE, LIMITER_TAG, L.comm, MPI_STATUS_IGNORE);
    *from = st.MPI_SOURCE;
    return true;
}

/* ---- rank 0: the bank -------------------------------------------------- */

static double window_start_at(const struct bank *b, double now)
{
    return b->phase + floor((now - b->phase) / b->window) * b->window;
}

static long long effective_cap(const struct bank *b)
{
    long long cap = b->server_quota > 0 && b->server_quota < b->cap ? b->server_quota : b->cap;
    if (L.file_broken)
        cap /= L.file_jobs;
    return cap > 0 ? cap : 1;
}

/* Tokens per lease: at most a quarter of the smaller quota over all ranks. */
static long long grant_of(const struct bank *b)
{
    long long cap = effective_cap(b);
    if (b->meter.quota > 0 && b->meter.quota < cap)
        cap = b->meter.quota;
    long long grant = cap / (4LL * L.size);
    return grant < 1 ? 1 : grant > LIMITER_GRANT_MAX ? LIMITER_GRANT_MAX : grant;
}

/* The server's window has ended: its count starts again.  The end is
 * learned from t, which the test hub rounds up; a server that rounded down
 * would end its windows up to a second before we think, so they roll a
 * little late (a second of the Hub's 5 minutes). */
static void meter_roll(struct meter *m, double now)
{
    double guard = m->window / 50 < LIMITER_METER_GUARD_MAX ? m->window / 50
                                                           : LIMITER_METER_GUARD_MAX;
    if (m->end <= 0 || now < m->end + guard)
        return;
    m->left = -1;
    if (m->window > 0)
        m->end += ceil((now - m->end + 1e-9) / m->window) * m->window;
    else
        m->end = 0;
}

/* Tokens the server's count leaves.  Every token out may still reach the
 * server in this window, so all of them count against what it said is left:
 * calls it had already counted when it answered are counted twice for a
 * moment, which costs a little speed and never a 429. */
static long long meter_available(struct meter *m, long long out, double now)
{
    meter_roll(m, now);
    if (m->left < 0 && m->quota <= 0)
        return LLONG_MAX;
    long long left = (m->left >= 0 ? m->left : m->quota) - out;
    return left > 0 ? left : 0;
}

/* An answer said r calls are left in the server's window ending at end
 * (unix seconds; t is rounded up, so end is never early: the earliest
 * said is the best), and q per w seconds. */
static void meter_learn(struct meter *m, long long r, double end, long long q, long long w,
                        double now)
{
    if (q > 0 && w > 0) {
        m->quota = q;
        m->window = (double)w;
    }
    if (r < 0 || end <= 0)
        return;
    meter_roll(m, now);
    double half = m->window > 0 ? m->window / 2 : 0.5;
    if (m->end <= 0 || end > m->end + half) {
        m->end = end;            /* the first word, or the server's next window */
        m->left = r;
    } else if (end >= m->end - half) {
        m->end = end < m->end ? end : m->end;
        m->left = m->left < 0 || r < m->left ? r : m->left;
    }                            /* else a late answer from the window before */
}

static void bank_roll(struct bank *b, double now)
{
    if (now < b->start + b->window)
        return;
    double start = window_start_at(b, now);
    b->seen = start < b->start + 1.5 * b->window ? b->seen_next : 0;
    b->seen_next = 0;
    b->start = start;
    b->used = b->claimed = b->used_at_seen = 0;
    b->retry_claim = 0;
}

static void broadcast_pause(enum limiter_class cls, double seconds)
{
    int64_t msg[MSG_WORDS] = {MSG_PAUSE, cls, (int64_t)(seconds * 1e6)};
    for (int r = 1; r < L.size; r++)
        send_msg(r, msg);
}

/* A lease's tokens that will not be used: settled, never sent. */
static void drop_lease(enum limiter_class cls)
{
    struct lease *l = &L.lease[cls];
    if (l->tokens > 0)
        L.settled[cls] += l->tokens;
    l->tokens = 0;
}

static void pause_locally(enum limiter_class cls, double seconds)
{
    struct lease *l = &L.lease[cls];
    double until = mono_now() + seconds;
    if (until > l->paused_until)
        l->paused_until = until;
    drop_lease(cls);
}

/* Rank 0: tokens some rank settled. */
static void bank_settle(enum limiter_class cls, long long n)
{
    struct bank *b = &L.bank[cls];
    b->out -= n < b->out ? n : b->out;
}

/* The whole job stops drawing on cls until unix time until. */
static void bank_pause(enum limiter_class cls, double until, bool from_file)
{
    struct bank *b = &L.bank[cls];
    double now = wall_now();
    if (until <= b->paused_until + 0.5 || until <= now)
        return;
    b->paused_until = until;
    if (cls == LIMIT_STORE)
        FLOG(LOG_INFO, "the object store asked to slow down: every rank pauses for %.1f s",
             until - now);
    else
        FLOG(LOG_INFO, "Hub %s calls paused for %.1f s (rate limited)", class_names[cls],
             until - now);
    pause_locally(cls, until - now);
    broadcast_pause(cls, until - now);
    if (L.file && !L.file_broken && !from_file && cls != LIMIT_STORE) {
        struct ferry_error err = {0};
        if (limitfile_pause(L.file, class_names[cls], b->start, b->window, effective_cap(b),
                            until, &err) != 0)
            FLOG(LOG_WARN, "%s", err.msg);
    }
}

/* Claim a block from the limiter file when this job's claim is spent. */
static void claim_from_file(struct bank *b, enum limiter_class cls, double now)
{
    if (b->claimed > b->used || now < b->retry_claim)
        return;
    long long block = effective_cap(b) / 20;
    block = block < 1 ? 1 : block > LIMITER_FILE_BLOCK_MAX ? LIMITER_FILE_BLOCK_MAX : block;
    double paused_until = 0;
    struct ferry_error err = {0};
    long long got = limitfile_claim(L.file, class_names[cls], b->start, b->window,
                                    effective_cap(b), block, b->seen, &paused_until, &err);
    if (got < 0) {
        L.file_broken = true;
        L.stats.file_fallback = true;
        FLOG(LOG_WARN, "%s; this job now keeps to 1/%d of the budget on its own", err.msg,
             L.file_jobs);
        return;
    }
    b->claimed += got;
    if (got == 0)
        b->retry_claim = now + LIMITER_RETRY_CLAIM;
    if (paused_until > now)
        bank_pause(cls, paused_until, true);
}

/* Tokens rank 0 can hand out now. */
static long long bank_available(enum limiter_class cls)
{
    struct bank *b = &L.bank[cls];
    double now = wall_now();
    bank_roll(b, now);
    double guard = b->window / 50 < LIMITER_GUARD_MAX ? b->window / 50 : LIMITER_GUARD_MAX;
    if (now < b->paused_until || now < b->start + guard)
        return 0;
    long long said = meter_available(&b->meter, b->out, now);
    if (L.file && !L.file_broken) {
        claim_from_file(b, cls, now);
        if (!L.file_broken)
            return b->claimed - b->used < said ? b->claimed - b->used : said;
    }
    long long counted = b->seen + (b->used - b->used_at_seen);
    long long used = b->used > counted ? b->used : counted;
    long long left = effective_cap(b) - used;
    left = left < said ? left : said;
    return left > 0 ? left : 0;
}

static long long bank_take(enum limiter_class cls, long long want)
{
    long long n = bank_available(cls);
    n = n < want ? n : want;
    L.bank[cls].used += n;
    L.bank[cls].out += n;
    return n;
}

/* What an answer's RateLimit headers say: the server counted quota - r
 * calls in the window that ends at server_end (unix seconds). */
static void bank_learn(enum limiter_class cls, long long r, double server_end, long long q,
                       long long w)
{
    struct bank *b = &L.bank[cls];
    double now = wall_now();
    bank_roll(b, now);
    meter_learn(&b->meter, r, server_end, q, w, now);
    /* A window of another length than ours is the meter's alone: following
     * it would move our windows at every answer and forget our count. */
    if (w > 0 && fabs((double)w - b->window) >= 0.5)
        return;
    if (q > 0 && w > 0)
        b->server_quota = q;
    if (r < 0 || server_end <= 0)
        return;
    long long quota = b->server_quota > 0 ? b->server_quota : effective_cap(b);
    long long count = quota - r > 0 ? quota - r : 0;
    double end = b->start + b->window;
    /* t is whole seconds, rounded up: allow for that and a little skew. */
    double slack = b->window / 4 < 2.5 ? b->window / 4 : 2.5;
    if (fabs(server_end - end) <= slack) {
        if (count > b->seen) {
            b->seen = count;
            b->used_at_seen = b->used;
        }
    } else if (fabs(server_end - end - b->window) <= slack) {
        if (count > b->seen_next)
            b->seen_next = count;
    } else if (fabs(server_end - end + b->window) > slack && server_end - now <= b->window + 1) {
        /* Neither this window, the next nor the last: the server's windows
         * start elsewhere than ours.  Follow them. */
        b->phase = fmod(server_end, b->window);
        b->start = server_end - b->window;
        b->used = b->claimed = b->used_at_seen = 0;
        b->seen = count;
        b->seen_next = 0;
        FLOG(LOG_DEBUG, "Hub %s windows: following the server's (reset in %.0f s)",
             class_names[cls], server_end - now);
    }
}

static void bank_grant_waiting(void)
{
    size_t keep = 0;
    bool spent[LIMIT_CLASSES] = {false};
    for (size_t i = 0; i < L.n_asks; i++) {
        struct ask a = L.asks[i];
        long long n = spent[a.cls] ? 0 : bank_take(a.cls, grant_of(&L.bank[a.cls]));
        if (n == 0) {
            spent[a.cls] = true;
            L.asks[keep++] = a;
            continue;
        }
        const struct bank *b = &L.bank[a.cls];
        double lasts = b->start + b->window - wall_now();
        int64_t msg[MSG_WORDS] = {MSG_GRANT, a.cls, n, (int64_t)(lasts * 1e6)};
        send_msg(a.rank, msg);
    }
    L.n_asks = keep;
}

/* ---- every rank: learning from answers ---------------------------------- */

static enum limiter_class bucket_of(const struct net_headers *h, enum limiter_class cls)
{
    if (strcmp(h->ratelimit_name, "api") == 0)
        return LIMIT_API;
    if (strcmp(h->ratelimit_name, "resolvers") == 0)
        return LIMIT_RESOLVE;
    return cls;
}

/* How long a 429 stops the class: until the window resets, or as long as
 * Retry-After says if that is longer. */
static double pause_seconds(const struct net_headers *h, enum limiter_class cls)
{
    if (cls == LIMIT_STORE)
        return h->retry_after > 0 ? (double)h->retry_after : LIMITER_STORE_PAUSE;
    /* RateLimit may describe another quota than the one that refused (a
     * commit refused for the hourly commit quota carries the api window's):
     * its reset counts only when that quota is spent too. */
    bool same = bucket_of(h, cls) == cls || h->ratelimit_remaining == 0;
    double wait = same && h->ratelimit_reset >= 0 ? (double)h->ratelimit_reset : -1;
    if (h->retry_after > wait)
        wait = (double)h->retry_after;
    if (wait < 0 && L.rank == 0) {
        const struct bank *b = &L.bank[cls];
        wait = b->start + b->window - wall_now();
    }
    return wait > 0 ? wait : 1;
}

/* Rank 0 acting on an answer (its own, or one a rank noted). */
static void apply_note(const int64_t *note)
{
    enum limiter_class cls = (enum limiter_class)note[1];
    long status = (long)note[2];
    enum limiter_class bucket = (enum limiter_class)note[7];
    bank_learn(bucket, note[3], (double)note[4] / 1e3, note[5], note[6]);
    if (status == 429) {
        double until = wall_now() + (double)note[8] / 1e6;
        bank_pause(cls, until, false);
        if (bucket != cls && note[3] == 0)
            bank_pause(bucket, until, false);
    }
}

/* One token of cls is spent: answered, failed or never sent. */
static void settle_one(enum limiter_class cls)
{
    if (!metered(cls))
        return;
    if (L.rank == 0)
        bank_settle(cls, 1);
    else
        L.settled[cls]++;
}

void limiter_cancel(enum limiter_class cls)
{
    if (L.on)
        settle_one(cls);
}

/* Does a rank's note say more than the one it has not sent yet?  The
 * lowest r counts, or any r of a later window. */
static bool note_better(const int64_t *note, const int64_t *pending)
{
    int64_t half_ms = note[6] > 0 ? note[6] * 500 : 1000;
    return note[3] >= 0 && (pending[3] < 0 || note[3] < pending[3] || note[4] > pending[4] + half_ms);
}

void limiter_learn(enum limiter_class cls, long status, const struct net_headers *h)
{
    if (!L.on)
        return;
    settle_one(cls);
    if (status == 429)
        L.stats.throttled[cls]++;
    bool said = h->ratelimit_remaining >= 0 || h->ratelimit_quota > 0;
    if (status != 429 && !said)
        return;
    double pause = status == 429 ? pause_seconds(h, cls) : 0;
    double reset_at = h->ratelimit_reset >= 0 ? wall_now() + (double)h->ratelimit_reset : 0;
    int64_t note[MSG_WORDS] = {
        MSG_NOTE, cls, status, h->ratelimit_remaining, (int64_t)(reset_at * 1e3),
        h->ratelimit_quota, h->ratelimit_window, bucket_of(h, cls), (int64_t)(pause * 1e6),
    };
    if (L.rank == 0) {
        apply_note(note);
        return;
    }
    struct lease *l = &L.lease[cls];
    if (status == 429)
        pause_locally(cls, pause);     /* at once: rank 0's pause is a message away */
    if (status == 429 || !l->note_pending || note_better(note, l->note)) {
        memcpy(l->note, note, sizeof note);
        l->note_pending = true;
    }
    if (status == 429 || h->ratelimit_remaining == 0 || mono_now() - l->noted_at >= LIMITER_NOTE_EVERY)
        send_note(l);
}

/* ---- the message loop ----------------------------------------------------- */

static void rank0_message(const int64_t *msg, int from)
{
    for (int c = 0; c < LIMIT_CLASSES; c++)
        bank_settle((enum limiter_class)c, msg[MSG_SETTLED_AT + c]);
    switch (msg[0]) {
    case MSG_ASK:
        xgrow((void **)&L.asks, &L.cap_asks, L.n_asks + 1, sizeof *L.asks);
        L.asks[L.n_asks++] = (struct ask){from, (enum limiter_class)msg[1]};
        break;
    case MSG_NOTE:
        apply_note(msg);
        break;
    case MSG_DONE:
        /* Unused leases of the window still running come back to it. */
        for (int c = 0; c < LIMIT_CLASSES; c++) {
            L.bank[c].used -= msg[1 + c] < L.bank[c].used ? msg[1 + c] : L.bank[c].used;
            bank_settle((enum limiter_class)c, msg[1 + c]);
        }
        L.done++;
        break;
    }
}

static void worker_message(const int64_t *msg)
{
    enum limiter_class cls = (enum limiter_class)msg[1];
    struct lease *l = &L.lease[cls];
    double now = mono_now();
    if (msg[0] == MSG_GRANT) {
        if (now >= l->expires)
            drop_lease(cls);
        l->tokens += msg[2];
        /* A little early: rank 0's clock decides when the window ends. */
        l->expires = now + (double)msg[3] / 1e6 - 0.01;
        l->asked = false;
    } else if (msg[0] == MSG_PAUSE) {
        pause_locally(cls, (double)msg[2] / 1e6);
    }
}

void limiter_poll(void)
{
    if (!L.on)
        return;
    int64_t msg[MSG_WORDS];
    int from;
    while (receive(msg, &from)) {
        if (L.rank == 0)
            rank0_message(msg, from);
        else
            worker_message(msg);
    }
    if (L.rank == 0) {
        bank_grant_waiting();
    } else {
        bool settled = false;
        for (int c = 0; c < LIMIT_CLASSES; c++) {
            struct lease *l = &L.lease[c];
            if (l->note_pending && mono_now() - l->noted_at >= LIMITER_NOTE_EVERY)
                send_note(l);
            settled = settled || L.settled[c] > 0;
        }
        if (settled && mono_now() - L.reported_at >= LIMITER_NOTE_EVERY) {
            int64_t msg_settled[MSG_WORDS] = {MSG_SETTLED};
            send_to_bank(msg_settled);
        }
    }
    reap_sent(false);
}

/* ---- taking tokens ------------------------------------------------------ */

static void note_blocked(bool blocked)
{
    double now = mono_now();
    if (blocked && L.blocked_since == 0)
        L.blocked_since = now;
    if (!blocked && L.blocked_since != 0) {
        L.stats.waited += now - L.blocked_since;
        L.blocked_since = 0;
    }
}

static bool take_leased(enum limiter_class cls)
{
    struct lease *l = &L.lease[cls];
    double now = mono_now();
    if (now < l->paused_until)
        return false;
    if (now >= l->expires)
        drop_lease(cls);
    if (l->tokens <= 0) {
        if (!l->asked) {
            int64_t msg[MSG_WORDS] = {MSG_ASK, cls};
            send_to_bank(msg);
            l->asked = true;
        }
        return false;
    }
    l->tokens--;
    return true;
}

bool limiter_take(enum limiter_class cls)
{
    if (!L.on)
        return true;
    limiter_poll();
    bool free_now = mono_now() >= L.lease[cls].paused_until;
    bool got = !metered(cls) ? free_now
             : L.rank == 0   ? free_now && bank_take(cls, 1) == 1
                             : take_leased(cls);
    note_blocked(!got);
    if (got)
        L.stats.calls[cls]++;
    return got;
}

/* Rank 0: seconds until cls can have tokens again (the pause, or the window's end). */
static double seconds_to_tokens(enum limiter_class cls)
{
    const struct bank *b = &L.bank[cls];
    double now = wall_now();
    double until = b->paused_until > now ? b->paused_until : b->start + b->window;
    return until - now;
}

void limiter_take_wait(enum limiter_class cls)
{
    if (limiter_take(cls))
        return;
    /* A long wait (the hourly commit quota) must not look like a hang. */
    double wait = L.rank == 0 ? seconds_to_tokens(cls) : 0;
    if (wait > 2) {
        const struct bank *b = &L.bank[cls];
        FLOG(LOG_INFO, "the Hub %s budget (%lld per %.0f s) is spent: waiting %.0f s", class_names[cls],
             effective_cap(b), b->window, wait);
    }
    while (!limiter_take(cls))
        nanosleep(&(struct timespec){0, 1000000}, NULL);
}

void limiter_sleep(double seconds)
{
    double until = mono_now() + seconds;
    while (mono_now() < until) {
        limiter_poll();
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

/* ---- net's gate ---------------------------------------------------------- */

/* A commit's ticket: it spends a commit token and an api token. */
#define TICKET_COMMIT LIMIT_CLASSES

/* Is url (metered, under the Hub's origin) a commit, /api/KIND/OWNER/NAME/commit/REV? */
static bool is_commit(const char *url)
{
    const char *path = url + strlen(L.hub_origin);
    if (strncmp(path, "/api/", 5) != 0)
        return false;
    path += 5;
    for (int segment = 0; segment < 3; segment++) {
        path = strchr(path, '/');
        if (!path)
            return false;
        path++;
    }
    return strncmp(path, "commit/", 7) == 0;
}

static int gate_admit(const char *url, int *ticket)
{
    enum limiter_class cls;
    if (!limiter_class_of(url, &cls))
        return 0;
    if (cls != LIMIT_STORE && is_commit(url)) {
        /* The scarce commit token first, held while the api token is
         * awaited, so that asking again does not spend another. */
        if (!L.commit_held && !limiter_take(LIMIT_COMMIT))
            return -1;
        L.commit_held = true;
        if (!limiter_take(LIMIT_API))
            return -1;
        L.commit_held = false;
        *ticket = TICKET_COMMIT;
        return 1;
    }
    if (!limiter_take(cls))
        return -1;
    *ticket = (int)cls;
    return 1;
}

static void gate_settle(int ticket, long status, const struct net_headers *h)
{
    if (ticket == TICKET_COMMIT) {
        /* A 429 on a commit is the commit quota's; any other answer's
         * RateLimit headers speak of the api quota. */
        bool commit_refused = h && status == 429;
        gate_settle(LIMIT_COMMIT, status, commit_refused ? h : NULL);
        gate_settle(LIMIT_API, status, commit_refused ? NULL : h);
        return;
    }
    /* A store's 503 (SlowDown, or ServiceUnavailable) asks the whole job to
     * back off, as a Hub 429 does. */
    if (ticket == LIMIT_STORE && status == 503)
        status = 429;
    if (h)
        limiter_learn((enum limiter_class)ticket, status, h);
    else
        limiter_cancel((enum limiter_class)ticket);
}

static const struct net_gate gate = {gate_admit, gate_settle, limiter_sleep};

/* ---- start and stop ----------------------------------------------------- */

int limiter_start(MPI_Comm comm, const struct limiter_options *opts, struct ferry_error *err)
{
    memset(&L, 0, sizeof L);
    MPI_Comm_dup(comm, &L.comm);
    MPI_Comm_rank(L.comm, &L.rank);
    MPI_Comm_size(L.comm, &L.size);
    char *endpoint = hfurl_endpoint();
    if (!net_origin(endpoint, L.hub_origin, sizeof L.hub_origin))
        L.hub_origin[0] = '\0';
    free(endpoint);
    L.file_jobs = opts->file_jobs > 0 ? opts->file_jobs : LIMITER_DEFAULT_JOBS;
    double now = wall_now();
    for (int c = 0; c < LIMIT_CLASSES; c++) {
        struct bank *b = &L.bank[c];
        b->cap = opts->rate[c].cap;
        b->window = opts->rate[c].window;
        b->start = window_start_at(b, now);
        b->meter.left = -1;
    }
    int rc = 0;
    if (L.rank == 0 && opts->file)
        rc = limitfile_open(opts->file, &L.file, err);
    MPI_Bcast(&rc, 1, MPI_INT, 0, L.comm);
    if (rc != 0) {
        if (L.rank != 0)
            err_set(err, rc, "stopped by rank 0");
        MPI_Comm_free(&L.comm);
        return rc;
    }
    L.on = true;
    net_set_gate(&gate);
    return 0;
}

/* Tokens of a lease still usable: they go back to the window. */
static long long unused_lease(enum limiter_class cls)
{
    const struct lease *l = &L.lease[cls];
    return mono_now() < l->expires && l->tokens > 0 ? l->tokens : 0;
}

void limiter_report(struct limiter_stats *stats)
{
    struct limiter_stats sum = {0};
    if (L.on) {
        note_blocked(false);
        MPI_Reduce(L.stats.calls, sum.calls, LIMIT_CLASSES, MPI_LONG_LONG, MPI_SUM, 0, L.comm);
        MPI_Reduce(L.stats.throttled, sum.throttled, LIMIT_CLASSES, MPI_LONG_LONG, MPI_SUM, 0,
                   L.comm);
        MPI_Reduce(&L.stats.waited, &sum.waited, 1, MPI_DOUBLE, MPI_MAX, 0, L.comm);
        sum.file_fallback = L.stats.file_fallback;
    }
    if (stats)
        *stats = sum;
}

void limiter_stop(void)
{
    if (!L.on)
        return;
    net_set_gate(NULL);
    int64_t msg[MSG_WORDS];
    int from;
    if (L.rank != 0) {
        int64_t done[MSG_WORDS] = {MSG_DONE};
        for (int c = 0; c < LIMIT_CLASSES; c++)
            done[1 + c] = unused_lease((enum limiter_class)c);
        send_to_bank(done);
        /* Grants and pauses sent before the goodbye arrive before it. */
        for (bool bye = false; !bye;) {
            if (receive(msg, &from))
                bye = msg[0] == MSG_BYE;
            else
                nanosleep(&(struct timespec){0, 200000}, NULL);
        }
    } else {
        L.n_asks = 0;
        while (L.done < L.size - 1) {
            if (receive(msg, &from))
                rank0_message(msg, from);
            else
                nanosleep(&(struct timespec){0, 200000}, NULL);
        }
        int64_t bye[MSG_WORDS] = {MSG_BYE};
        for (int r = 1; r < L.size; r++)
            send_msg(r, bye);
        for (int c = 0; L.file && !L.file_broken && c < LIMIT_CLASSES; c++) {
            struct bank *b = &L.bank[c];
            struct ferry_error err = {0};
            bank_roll(b, wall_now());
            if (b->claimed > b->used &&
                limitfile_give_back(L.file, class_names[c], b->start, b->claimed - b->used,
                                    &err) != 0)
                FLOG(LOG_WARN, "%s", err.msg);
        }
    }
    reap_sent(true);
    limitfile_close(L.file);
    free(L.asks);
    free(L.sent);
    MPI_Comm_free(&L.comm);
    memset(&L, 0, sizeof L);
}

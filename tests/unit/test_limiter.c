/* The Hub budget on one rank: --rate specs, which URLs count, tokens per
 * window, what RateLimit and a 429 teach it; and the limiter file. */
#include "check.h"
#include "ferry/limiter.h"
#include "ferry/limitfile.h"

#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 1000.0

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_rates(void)
{
    struct limiter_rate r[LIMIT_CLASSES];
    struct ferry_error err = {0};
    limiter_default_rates(r);
    CHECK(r[LIMIT_API].cap == 2500 && r[LIMIT_API].window == 300);
    CHECK(r[LIMIT_RESOLVE].cap == 5000 && r[LIMIT_COMMIT].window == 3600);
    CHECK(limiter_parse_rate("api=1000/300,commit=50/3600", "--rate", r, &err) == 0);
    CHECK(r[LIMIT_API].cap == 1000 && r[LIMIT_COMMIT].cap == 50);
    CHECK(r[LIMIT_RESOLVE].cap == 5000);           /* untouched */
    CHECK(limiter_parse_rate(NULL, "--rate", r, &err) == 0);
    const char *bad[] = {"api=10", "pages=1/2", "api=0/10", "api=5/0", "api=5/10x", "=5/10",
                         "api=-3/10"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(limiter_parse_rate(bad[i], "--rate", r, &err) == FERRY_EUSAGE);
        CHECK(strstr(err.msg, "--rate") != NULL);
    }
}

static void test_file(void)
{
    char path[] = "/tmp/ferry-test-limiter-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    struct ferry_error err = {0};
    struct limitfile *f = NULL;
    CHECK(limitfile_open(path, &f, &err) == 0);
    double pause = -1;
    CHECK(limitfile_claim(f, "api", 1000, 300, 10, 4, 0, &pause, &err) == 4);
    CHECK(pause == 0);
    CHECK(limitfile_claim(f, "api", 1000, 300, 10, 4, 0, &pause, &err) == 4);
    CHECK(limitfile_claim(f, "api", 1000, 300, 10, 4, 0, &pause, &err) == 2);   /* cap */
    CHECK(limitfile_claim(f, "api", 1000, 300, 10, 4, 0, &pause, &err) == 0);
    CHECK(limitfile_give_back(f, "api", 1000, 3, &err) == 0);
    CHECK(limitfile_claim(f, "api", 1000, 300, 10, 4, 0, &pause, &err) == 3);
    /* Another class has its own count; a new window starts from zero. */
    CHECK(limitfile_claim(f, "resolve", 1000, 300, 10, 4, 0, &pause, &err) == 4);
    CHECK(limitfile_claim(f, "api", 1300, 300, 10, 4, 0, &pause, &err) == 4);
    /* A hand-back for a window that is over changes nothing. */
    CHECK(limitfile_give_back(f, "api", 1000, 4, &err) == 0);
    CHECK(limitfile_claim(f, "api", 1300, 300, 10, 10, 0, &pause, &err) == 6);
    /* What the server counted raises the count first. */
    CHECK(limitfile_claim(f, "resolve", 1000, 300, 10, 10, 8, &pause, &err) == 2);
    /* A pause is kept for the other jobs, and spends the window. */
    CHECK(limitfile_pause(f, "resolve", 1600, 300, 10, 1900.5, &err) == 0);
    CHECK(limitfile_claim(f, "resolve", 1600, 300, 10, 4, 0, &pause, &err) == 0);
    CHECK(fabs(pause - 1900.5) < 0.01);
    limitfile_close(f);

    /* A damaged file counts the window as spent, never as fresh. */
    FILE *out = fopen(path, "w");
    fputs("api 1300 300 garbage\n", out);
    fclose(out);
    CHECK(limitfile_open(path, &f, &err) == 0);
    CHECK(limitfile_claim(f, "api", 1300, 300, 10, 4, 0, &pause, &err) == 0);
    CHECK(limitfile_claim(f, "api", 1600, 300, 10, 4, 0, &pause, &err) == 4);
    limitfile_close(f);
    unlink(path);
}

static struct net_headers headers(long long r, long long t, long long q, long long w)
{
    struct net_headers h;
    memset(&h, 0, sizeof h);
    h.linked_size = h.retry_after = -1;
    h.ratelimit_remaining = r;
    h.ratelimit_reset = t;
    h.ratelimit_quota = q;
    h.ratelimit_window = w;
    return h;
}

static int take_all(enum limiter_class cls, int most)
{
    int n = 0;
    while (n < most && limiter_take(cls))
        n++;
    return n;
}

static void test_budget(void)
{
    /* Keep clear of a window's edges: the first half second of a window is
     * held back for calls of the last one still on their way. */
    double into = fmod(wall(), WINDOW);
    if (into < 1 || into > WINDOW - 5)
        sleep((unsigned)(into < 1 ? 2 : WINDOW - into + 2));

    enum limiter_class cls;
    CHECK(!limiter_class_of("http://127.0.0.1:9/api/datasets/a/b", &cls));   /* not started */
    CHECK(limiter_take(LIMIT_API));                                           /* unmetered */

    setenv("HF_ENDPOINT", "http://127.0.0.1:9/", 1);
    struct limiter_options opts = {0};
    limiter_default_rates(opts.rate);
    opts.rate[LIMIT_API] = (struct limiter_rate){5, WINDOW};
    opts.rate[LIMIT_RESOLVE] = (struct limiter_rate){100, WINDOW};
    struct ferry_error err = {0};
    CHECK(limiter_start(MPI_COMM_WORLD, &opts, &err) == 0);

    CHECK(limiter_class_of("http://127.0.0.1:9/api/datasets/a/b/tree/main", &cls) &&
          cls == LIMIT_API);
    CHECK(limiter_class_of("http://127.0.0.1:9/datasets/a/b/resolve/c0ffee/x.bin", &cls) &&
          cls == LIMIT_RESOLVE);
    CHECK(limiter_class_of("http://127.0.0.1:9/datasets/a/b.git/info/lfs/objects/batch", &cls)
          && cls == LIMIT_API);
    CHECK(!limiter_class_of("http://127.0.0.1:9/datasets/a/b/blob/main/x", &cls));
    CHECK(!limiter_class_of("http://127.0.0.1:99/api/datasets/a/b", &cls));   /* another port */
    CHECK(!limiter_class_of("http://cdn.example/api/x", &cls));

    CHECK(take_all(LIMIT_API, 100) == 5);

    /* The server says 95 of its 100 resolve calls are gone in this window. */
    long long left = (long long)(WINDOW - fmod(wall(), WINDOW)) + 1;
    struct net_headers h = headers(5, left, 100, (long long)WINDOW);
    snprintf(h.ratelimit_name, sizeof h.ratelimit_name, "resolvers");
    limiter_learn(LIMIT_RESOLVE, 200, &h);
    CHECK(take_all(LIMIT_RESOLVE, 100) == 5);

    struct limiter_stats stats;
    limiter_report(&stats);
    CHECK(stats.calls[LIMIT_API] == 5 && stats.calls[LIMIT_RESOLVE] == 5);
    CHECK(stats.throttled[LIMIT_API] == 0);
    limiter_stop();

    /* A 429 pauses the class until the reset the server gives (and the
     * budget follows the server's window, which ends then). */
    opts.rate[LIMIT_API] = (struct limiter_rate){1000, WINDOW};
    CHECK(limiter_start(MPI_COMM_WORLD, &opts, &err) == 0);
    CHECK(limiter_take(LIMIT_API));
    h = headers(0, 2, -1, -1);
    h.retry_after = 1;
    limiter_learn(LIMIT_API, 429, &h);
    CHECK(!limiter_take(LIMIT_API));
    sleep(1);
    CHECK(!limiter_take(LIMIT_API));                 /* t=2 outlasts Retry-After: 1 */
    usleep(1700000);             /* past the reset, and the new window's first 0.5 s */
    CHECK(limiter_take(LIMIT_API));
    limiter_report(&stats);
    CHECK(stats.throttled[LIMIT_API] == 1 && stats.waited >= 1.5);
    limiter_stop();
    CHECK(limiter_take(LIMIT_API));                  /* stopped: unmetered again */
}

/* A commit spends a commit token and an api token; the commit token, taken
 * first, is held while the api token is awaited, so asking again does not
 * spend another.  Only /api/KIND/OWNER/NAME/commit/REV is a commit. */
static void test_commit_gate(void)
{
    double into = fmod(wall(), WINDOW);
    if (into < 1 || into > WINDOW - 5)
        sleep((unsigned)(into < 1 ? 2 : WINDOW - into + 2));
    setenv("HF_ENDPOINT", "http://127.0.0.1:9/", 1);
    struct limiter_options opts = {0};
    limiter_default_rates(opts.rate);
    opts.rate[LIMIT_API] = (struct limiter_rate){4, WINDOW};
    opts.rate[LIMIT_COMMIT] = (struct limiter_rate){2, WINDOW};
    struct ferry_error err = {0};
    CHECK(limiter_start(MPI_COMM_WORLD, &opts, &err) == 0);

    int ticket = -1;
    CHECK(net_gate_admit("http://127.0.0.1:9/api/datasets/a/commit/preupload/main", &ticket) == 1
          && ticket == LIMIT_API);                       /* a repository named commit */
    net_gate_settle(ticket, NULL);
    const char *commit = "http://127.0.0.1:9/api/datasets/a/b/commit/main";
    CHECK(net_gate_admit(commit, &ticket) == 1 && ticket != LIMIT_API);
    CHECK(take_all(LIMIT_API, 100) == 2);
    CHECK(net_gate_admit(commit, &ticket) == -1);        /* no api token left */
    CHECK(net_gate_admit(commit, &ticket) == -1);

    struct limiter_stats stats;
    limiter_report(&stats);
    CHECK(stats.calls[LIMIT_COMMIT] == 2 && stats.calls[LIMIT_API] == 4);
    limiter_stop();
}

/* A job left at the default --rate learns the server's quota, of another
 * window than its own, from RateLimit and RateLimit-Policy: every token out
 * counts against the lowest r said until it is settled, and the server's
 * window ending gives its quota back.  Requests reach it through net's gate. */
static void test_learn(void)
{
    setenv("HF_ENDPOINT", "http://127.0.0.1:9/", 1);
    struct limiter_options opts = {0};
    limiter_default_rates(opts.rate);
    struct ferry_error err = {0};
    const char *url = "http://127.0.0.1:9/datasets/a/b/resolve/c0ffee/x.bin";
    int ticket = -1;
    CHECK(net_gate_admit(url, &ticket) == 0);                    /* no gate yet */
    CHECK(limiter_start(MPI_COMM_WORLD, &opts, &err) == 0);
    CHECK(net_gate_admit("http://cdn.example/x.bin", &ticket) == 0);

    /* 3 of 10 per 4 s left; the server's window ends in 2 s. */
    struct net_headers h = headers(3, 2, 10, 4);
    snprintf(h.ratelimit_name, sizeof h.ratelimit_name, "resolvers");
    limiter_learn(LIMIT_RESOLVE, 200, &h);
    CHECK(take_all(LIMIT_RESOLVE, 100) == 3);

    /* One answer says 2 left: the other two tokens out may take them. */
    h = headers(2, 2, 10, 4);
    snprintf(h.ratelimit_name, sizeof h.ratelimit_name, "resolvers");
    limiter_learn(LIMIT_RESOLVE, 200, &h);
    CHECK(!limiter_take(LIMIT_RESOLVE));
    CHECK(net_gate_admit(url, &ticket) == -1);

    /* An answer of a later r, late, teaches nothing: the lowest r holds. */
    limiter_cancel(LIMIT_RESOLVE);
    limiter_cancel(LIMIT_RESOLVE);
    h = headers(7, 2, 10, 4);
    snprintf(h.ratelimit_name, sizeof h.ratelimit_name, "resolvers");
    limiter_learn(LIMIT_RESOLVE, 200, &h);       /* settles nothing taken: none out */
    CHECK(net_gate_admit(url, &ticket) == 1 && ticket == LIMIT_RESOLVE);
    CHECK(take_all(LIMIT_RESOLVE, 100) == 1);

    /* The server's window ends: its quota less the 2 tokens still out. */
    usleep(2100000);
    CHECK(take_all(LIMIT_RESOLVE, 100) == 8);
    net_gate_settle(ticket, NULL);               /* the gate's token, never sent */
    CHECK(take_all(LIMIT_RESOLVE, 100) == 1);

    struct limiter_stats stats;
    limiter_report(&stats);
    CHECK(stats.calls[LIMIT_RESOLVE] == 14 && stats.throttled[LIMIT_RESOLVE] == 0);
    limiter_stop();
    CHECK(net_gate_admit(url, &ticket) == 0);                    /* the gate is gone */
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    test_rates();
    test_file();
    test_budget();
    test_commit_gate();
    test_learn();
    MPI_Finalize();
    return check_summary("test_limiter");
}

#include "ferry/progress.h"
#include "ferry/plan.h"
#include "ferry/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_BAR_EVERY 0.25
#define PROGRESS_LINE_EVERY 10.0
#define PROGRESS_JSON_EVERY 1.0

struct progress {
    bool bar, lines, json;
    const char *what;
    long long total_files, total_bytes;
    long long files, bytes;
    long long entries;       /* archive entries extracted, when there are any */
    long long unpacked, total_unpacked;     /* archive bytes read by extraction */
    double start, last_bar, last_line, last_json;
    double rate;             /* bytes per second, smoothed */
    double rate_at;
    long long rate_bytes;
};

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct progress *progress_new(enum progress_mode mode, bool json, const char *what,
                              long long total_files, long long total_bytes)
{
    struct progress *p = xcalloc(1, sizeof *p);
    bool tty = isatty(STDERR_FILENO);
    p->bar = mode == PROGRESS_ALWAYS || (mode == PROGRESS_AUTO && tty);
    p->lines = mode == PROGRESS_AUTO && !tty;
    p->json = json;
    p->what = what;
    p->total_files = total_files;
    p->total_bytes = total_bytes;
    p->start = p->last_bar = p->last_line = p->last_json = p->rate_at = progress_now();
    return p;
}

void progress_add(struct progress *p, long long files, long long bytes)
{
    p->files += files;
    p->bytes += bytes;
}

void progress_add_entries(struct progress *p, long long entries)
{
    p->entries += entries;
}

void progress_expect_unpacked(struct progress *p, long long total)
{
    p->total_unpacked = total;
}

void progress_add_unpacked(struct progress *p, long long bytes)
{
    p->unpacked += bytes;
}

/* ", archives read A/B" where the run extracts what it transfers, and
 * ", entries N" once archives are being extracted; else "". */
static void format_entries(const struct progress *p, char *buf, size_t len)
{
    int n = 0;
    buf[0] = '\0';
    if (p->total_unpacked > 0) {
        char done[32], total[32];
        plan_format_bytes(p->unpacked, done, sizeof done);
        plan_format_bytes(p->total_unpacked, total, sizeof total);
        n = snprintf(buf, len, ", archives read %s/%s", done, total);
    }
    if (p->entries > 0 && n >= 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, ", entries %lld", p->entries);
}

static void update_rate(struct progress *p, double now)
{
    double dt = now - p->rate_at;
    if (dt < 1.0)
        return;
    double recent = (double)(p->bytes - p->rate_bytes) / dt;
    /* Smooth over a few seconds so the ETA does not jump with every file. */
    p->rate = p->rate > 0 ? 0.7 * p->rate + 0.3 * recent : recent;
    p->rate_at = now;
    p->rate_bytes = p->bytes;
}

static void format_eta(const struct progress *p, char *buf, size_t len)
{
    long long left = p->total_bytes - p->bytes;
    if (p->rate <= 0 || left <= 0) {
        snprintf(buf, len, "--:--");
        return;
    }
    long long s = (long long)((double)left / p->rate);
    snprintf(buf, len, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}

static void print_bar(const struct progress *p)
{
    double frac = p->total_bytes > 0 ? (double)p->bytes / (double)p->total_bytes : 1.0;
    if (frac > 1.0)
        frac = 1.0;
    char bar[31], done[32], total[32], rate[32], eta[32], entries[96];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[30] = '\0';
    plan_format_bytes(p->bytes, done, sizeof done);
    plan_format_bytes(p->total_bytes, total, sizeof total);
    plan_format_bytes((long long)p->rate, rate, sizeof rate);
    format_eta(p, eta, sizeof eta);
    format_entries(p, entries, sizeof entries);
    fprintf(stderr, "\r%s [%s] %3.0f%% %s/%s %s/s ETA %s files %lld/%lld%s \033[K",
            p->what, bar, frac * 100, done, total, rate, eta, p->files, p->total_files,
            entries);
    fflush(stderr);
}

static void print_line(const struct progress *p, double now)
{
    char done[32], total[32], rate[32], eta[32], entries[96];
    plan_format_bytes(p->bytes, done, sizeof done);
    plan_format_bytes(p->total_bytes, total, sizeof total);
    plan_format_bytes((long long)p->rate, rate, sizeof rate);
    format_eta(p, eta, sizeof eta);
    format_entries(p, entries, sizeof entries);
    fprintf(stderr, "%s: %s of %s, files %lld of %lld%s, %s/s, %.0f s, ETA %s\n", p->what,
            done, total, p->files, p->total_files, entries, rate, now - p->start, eta);
}

static void print_json(const struct progress *p, double now)
{
    printf("{\"event\":\"progress\",\"files\":%lld,\"total_files\":%lld,\"bytes\":%lld,"
           "\"total_bytes\":%lld,\"entries\":%lld,\"extract_bytes\":%lld,"
           "\"extract_total_bytes\":%lld,\"seconds\":%.1f,\"rate\":%.0f}\n",
           p->files, p->total_files, p->bytes, p->total_bytes, p->entries, p->unpacked,
           p->total_unpacked, now - p->start, p->rate);
    fflush(stdout);
}

void progress_tick(struct progress *p)
{
    double now = progress_now();
    update_rate(p, now);
    if (p->bar && now - p->last_bar >= PROGRESS_BAR_EVERY) {
        print_bar(p);
        p->last_bar = now;
    }
    if (p->lines && now - p->last_line >= PROGRESS_LINE_EVERY) {
        print_line(p, now);
        p->last_line = now;
    }
    if (p->json && now - p->last_json >= PROGRESS_JSON_EVERY) {
        print_json(p, now);
        p->last_json = now;
    }
}

void progress_free(struct progress *p)
{
    if (!p)
        return;
    if (p->bar) {
        print_bar(p);
        fputc('\n', stderr);
    }
    free(p);
}

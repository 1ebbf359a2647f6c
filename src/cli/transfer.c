/* get, put, sync and plan: resolve the locations, build the options, let the
 * job run, print the plan and the report. */
#include "cli.h"
#include "ferry/fsutil.h"
#include "ferry/escape.h"
#include "ferry/extract.h"
#include "ferry/hfcache.h"
#include "ferry/job.h"
#include "ferry/lock.h"
#include "ferry/net.h"
#include "ferry/xalloc.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* A bare word that the config names stands for its location; remote_first
 * says which table to try first (the remote side of get is its source). */
static const char *resolve(const struct ferry_config *cfg, const char *arg, bool remote_first)
{
    if (strchr(arg, '/') || strstr(arg, "://"))
        return arg;
    const char *first = remote_first ? config_remote(cfg, arg) : config_root(cfg, arg);
    const char *second = remote_first ? config_root(cfg, arg) : config_remote(cfg, arg);
    return first ? first : second ? second : arg;
}

/* get --hf-cache SRC [DIR], or --hf-cache=DIR: DST is the cache, or the default one. */
static int resolve_cache(struct cli *cli, const char *dir, const char **src, const char **dst)
{
    if (cli->n_args < 1 || cli->n_args > (dir ? 1 : 2))
        return cli_fail(cli, FERRY_EUSAGE, "usage: ferry get SRC --hf-cache [DIR], or "
                        "ferry get SRC --hf-cache=DIR");
    *src = resolve(&cli->config, cli->args[0], true);
    *dst = cli->n_args == 2 ? cli->args[1] : dir;
    if (!*dst)
        *dst = cli->default_cache = hfcache_default_dir();
    return 0;
}

static int resolve_locations(struct cli *cli, const char *command,
                             const struct cli_transfer *opt, const char **src, const char **dst)
{
    bool get = strcmp(command, "get") == 0;
    if (opt->hf_cache.given)
        return resolve_cache(cli, opt->hf_cache.value, src, dst);
    if (cli->n_args == 1) {
        const char *name = cli->args[0];
        const char *root = config_root(&cli->config, name);
        const char *remote = config_remote(&cli->config, name);
        if (!root || !remote) {
            char msg[512];
            snprintf(msg, sizeof msg, "'%s' needs a root and a remote of that name in the "
                     "config (%s), or give SRC and DST", name,
                     cli->config.path ? cli->config.path : "no config file found");
            return cli_fail(cli, FERRY_EUSAGE, msg);
        }
        *src = get ? remote : root;
        *dst = get ? root : remote;
        return 0;
    }
    if (cli->n_args != 2) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s takes SRC and DST (see ferry %s --help)", command, command);
        return cli_fail(cli, FERRY_EUSAGE, msg);
    }
    *src = resolve(&cli->config, cli->args[0], get);
    *dst = resolve(&cli->config, cli->args[1], !get);
    return 0;
}

/* A folder ferry reads and writes files in directly. */
static bool is_local(const char *location)
{
    const struct backend_ops *kind = backend_kind(location);
    return kind && kind->open_read && kind->write_open;
}

/* get fills a local folder and put reads one; sync and plan need a local
 * side too, as no kind copies between two remotes (a Hub upload reads its
 * files with open_read, which only a folder has; no other remote takes
 * files). */
static int check_kinds(const struct cli *cli, const char *command, bool hf_cache,
                       const char *src, const char *dst)
{
    bool src_local = is_local(src);
    bool dst_local = hf_cache || is_local(dst);
    const char *why = NULL, *where = NULL;
    if (strcmp(command, "get") == 0 && !dst_local)
        why = "get downloads into a local folder", where = dst;
    else if (strcmp(command, "put") == 0 && !src_local)
        why = "put uploads a local folder (get downloads)", where = src;
    else if (!src_local && !dst_local)
        why = "one side must be a local folder", where = dst;
    if (!why)
        return 0;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s: not a local path or file:// URL: %s", where, why);
    return cli_fail(cli, FERRY_EUSAGE, msg);
}

static void split_scenes(const char *list, struct plan_options *opts)
{
    char *copy = xstrdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        opts->scenes = xrealloc(opts->scenes, (opts->n_scenes + 1) * sizeof *opts->scenes);
        opts->scenes[opts->n_scenes++] = xstrdup(tok);
    }
    free(copy);
}

static void build_plan_options(const struct cli *cli, const char *command,
                               const struct cli_transfer *opt, struct plan_options *opts)
{
    bool upload = strcmp(command, "put") == 0 || strcmp(command, "sync") == 0;
    memset(opts, 0, sizeof *opts);
    opts->all = opt->all;
    opts->recheck = opt->recheck;
    if (opt->scenes)
        split_scenes(opt->scenes, opts);
    opts->scene_includes = opt->scene_includes;
    for (size_t i = 0; i < opt->includes.n; i++)
        pattern_filter_include(&opts->filter, opt->includes.items[i]);
    for (size_t i = 0; i < opt->excludes.n; i++)
        pattern_filter_exclude(&opts->filter, opt->excludes.items[i]);
    if (upload && !opt->no_default_excludes)
        for (size_t i = 0; i < cli->config.n_default_excludes; i++)
            pattern_filter_exclude(&opts->filter, cli->config.default_excludes[i]);
    opts->deletes = strcmp(command, "sync") == 0 ||
                    (strcmp(command, "plan") == 0 && opt->delete);
}

struct confirm_context {
    const struct cli *cli;
    const struct cli_transfer *opt;
    const struct job_options *job;
};

/* Where --schedule keeps job scripts and the tasks' state: --state-dir, or
 * the local side's .ferry (SRC/.ferry/push when the destination is remote). */
static char *schedule_base(const struct job_options *job)
{
    if (job->state_dir)
        return xstrdup(job->state_dir);
    if (strstr(job->dst, "://") && strncmp(job->dst, "file://", 7) != 0)
        return fs_state_dir(job->src, "push");
    return fs_state_dir(job->dst, NULL);
}

/* Only Enter, y or yes (any case) starts a job: a stray answer such as "n"
 * must never start a transfer that deletes or uploads. */
static bool agreed(const char *line)
{
    char word[8];
    int end = 0;
    if (sscanf(line, " %7s%n", word, &end) != 1)
        return true;                 /* Enter alone */
    return line[end + strspn(line + end, " \t\r\n")] == '\0' &&
           (strcasecmp(word, "y") == 0 || strcasecmp(word, "yes") == 0);
}

static int ask(const struct plan *plan, void *ud, struct ferry_error *err)
{
    const struct confirm_context *cc = ud;
    const struct cli *cli = cc->cli;
    if (cli->json)
        plan_print_json(plan, cc->job->command, cc->job->src, cc->job->dst, stdout);
    else if (!cli->quiet || !cli->yes)
        plan_print_text(plan, stdout);
    fflush(stdout);
    if (cli->dry_run || strcmp(cc->job->command, "plan") == 0)
        return 0;
    /* Nothing to do still runs (an empty schedule), so that the journal of an
     * earlier interrupted run is cleared and the report says all is done. */
    if (plan->total_transfer.files == 0 && plan->total_remove.files == 0) {
        if (!cli->quiet && !cli->json && plan->walk_errors)
            printf("nothing to fetch, but the source could not be read completely\n");
        else if (!cli->quiet && !cli->json && plan->n_unpack)
            printf("nothing to fetch; %zu archives to extract\n", plan->n_unpack);
        else if (!cli->quiet && !cli->json)
            printf("nothing to do\n");
        return 1;
    }
    if (cli->yes)
        return 1;
    if (!isatty(STDIN_FILENO))
        return err_set(err, FERRY_EUSAGE, "stdin is not a terminal, so nobody can confirm "
                       "the plan: pass --yes to start without asking (under mpirun or srun "
                       "stdin is never a terminal)");
    printf("Press Enter (or y) to start; any other answer cancels: ");
    fflush(stdout);
    char line[64];
    if (fgets(line, sizeof line, stdin) && agreed(line))
        return 1;
    printf("cancelled\n");
    return 0;
}

/* The plan shown and agreed to: run it, or with --schedule hand it to Slurm. */
static int confirm(const struct plan *plan, void *ud, struct ferry_error *err)
{
    const struct confirm_context *cc = ud;
    int go = ask(plan, ud, err);
    if (go != 1 || !cc->opt->schedule)
        return go;
    char *base = schedule_base(cc->job);
    int rc = schedule_submit(cc->cli, cc->opt, base, plan, err);
    free(base);
    return rc;
}

static void print_summary(const struct cli *cli, const char *command,
                          const struct sched_report *r, int rc)
{
    if (cli->json) {
        char *json = job_report_json(command, r, rc);
        printf("%s\n", json);
        free(json);
        return;
    }
    char bytes[32], rate[32];
    plan_format_bytes(r->bytes_done, bytes, sizeof bytes);
    plan_format_bytes(r->seconds > 0 ? (long long)((double)r->bytes_done / r->seconds) : 0,
                      rate, sizeof rate);
    printf("%s: %lld files, %s in %.1f s (%s/s); %lld deleted; %lld failed%s\n", command,
           r->files_done, bytes, r->seconds, rate, r->files_deleted, r->files_failed,
           r->interrupted ? "; interrupted: run the same command again to resume" : "");
    if (r->n_scenes)
        printf("%-30s %9s %11s %9s %9s %11s\n", "scene", "uploaded", "bytes", "deleted",
               "unchanged", "bytes");
    for (size_t i = 0; i < r->n_scenes; i++) {
        const struct scene_outcome *s = &r->scenes[i];
        char up[32], same[32];
        plan_format_bytes(s->bytes_up, up, sizeof up);
        plan_format_bytes(s->bytes_unchanged, same, sizeof same);
        printf("%-30s %9lld %11s %9lld %9lld %11s\n",
               *s->name ? escape_display(s->name) : "(root files)", s->files_up, up,
               s->files_deleted, s->files_unchanged, same);
    }
    const struct limiter_stats *l = &r->limits;
    if (l->calls[LIMIT_API] + l->calls[LIMIT_RESOLVE] + l->calls[LIMIT_COMMIT] > 0)
        printf("Hub calls: api %lld, resolve %lld, commit %lld; %lld rate limited (429); "
               "%.1f s waited for the budget%s\n", l->calls[LIMIT_API], l->calls[LIMIT_RESOLVE],
               l->calls[LIMIT_COMMIT],
               l->throttled[LIMIT_API] + l->throttled[LIMIT_RESOLVE] + l->throttled[LIMIT_COMMIT],
               l->waited, l->file_fallback ? " (limiter file not lockable: a smaller share)" : "");
    if (l->calls[LIMIT_STORE] > 0)
        printf("store calls: %lld; %lld asked to slow down (503), each pausing every rank\n",
               l->calls[LIMIT_STORE], l->throttled[LIMIT_STORE]);
    if (r->archives) {
        char unpacked[32];
        plan_format_bytes(r->entries.bytes, unpacked, sizeof unpacked);
        printf("extract: %lld archives (%lld done, %lld failed); entries: %lld extracted (%s), "
               "%lld skipped, %lld refused\n", r->archives, r->archives_done, r->archives_failed,
               r->entries.extracted, unpacked, r->entries.skipped, r->entries.refused);
    }
    for (size_t i = 0; i < r->n_failures; i++)
        printf("  failed: %s: %s\n", escape_display(r->failures[i].path),
               escape_display(r->failures[i].reason));
}

static void free_plan_options(struct plan_options *opts)
{
    for (size_t i = 0; i < opts->n_scenes; i++)
        free(opts->scenes[i]);
    free(opts->scenes);
    pattern_filter_free(&opts->filter);
}

/* One transfer from src to dst, with a target's selection when t is given:
 * the plan, the run and its summary.  Returns the exit status. */
int transfer_one(struct cli *cli, const char *command, const struct cli_transfer *opt,
                 const char *src, const char *dst, const struct transfer_target *t)
{
    struct job_options job = {
        .command = command, .dry_run = cli->dry_run, .force = opt->force,
        .json = cli->json, .quiet = cli->quiet, .fsync = opt->fsync, .progress = cli->progress,
        .state_dir = opt->state_dir, .hf_cache = opt->hf_cache.given,
        .chunk_size = opt->chunk_size ? opt->chunk_size
                    : cli->config.chunk_size ? cli->config.chunk_size : SCHED_DEFAULT_CHUNK,
        .lock_ttl = cli->config.lock_ttl > 0 ? cli->config.lock_ttl : LOCK_DEFAULT_TTL,
        .connections = opt->connections ? opt->connections
                     : t && t->connections ? t->connections : cli->config.connections,
        .create = opt->create, .public = opt->public, .files_per_commit = opt->files_per_commit,
        .extract_dest = opt->extract_into, .stage = opt->extract_into ? &extract_stage : NULL,
        .src = src, .dst = dst,
    };
    int status = cli_limits(cli, &opt->budget, &job.limits);
    if (status != 0)
        return status;
    if ((status = check_kinds(cli, command, opt->hf_cache.given, job.src, job.dst)) != 0)
        return status;
    build_plan_options(cli, command, opt, &job.plan);
    if (t) {
        job.plan.latest_only = t->latest_only;
        job.plan.max_depth = t->max_depth;
        job.plan.send_all = t->send_all;
        job.plan.quiet_since = t->quiet_since;
    }
    struct confirm_context cc = {cli, opt, &job};
    job.confirm = confirm;
    job.confirm_ud = &cc;

    struct sched_report report;
    struct ferry_error err = {0};
    int rc = job_transfer(MPI_COMM_WORLD, &job, &report, &err);
    bool ran = rc == 0 || rc == FERRY_EFAIL || rc == FERRY_EINTR;
    bool summary = ran && (report.items > 0 || report.n_failures > 0 || report.archives);
    /* A failure before the run (a bad listing, a lock) has no summary to
     * tell it, whatever its code: its message is all the user gets. */
    if (cli->rank == 0 && summary)
        print_summary(cli, command, &report, rc);
    else if (cli->rank == 0 && rc != 0)
        fprintf(stderr, "ferry: %s\n",
                err.msg[0] ? escape_display(err.msg) : "stopped before any transfer");
    sched_report_free(&report);
    free_plan_options(&job.plan);
    return err_exit_status(rc);
}

int cmd_transfer(struct cli *cli, const char *command, const struct cli_transfer *opt)
{
    backend_set_allowed(cli->config.allowed_prefixes, cli->config.n_allowed_prefixes);
    backend_set_endpoint(opt->endpoint);
    net_set_stall_timeout((long)cli->config.stall_timeout);
    if (targets_wanted(cli, command, opt))
        return transfer_targets(cli, command, opt);
    if (opt->watch.given)
        return cli_fail(cli, FERRY_EUSAGE, "--watch goes with config targets (--target NAME, "
                        "or the config's default_target)");
    const char *src, *dst;
    if (resolve_locations(cli, command, opt, &src, &dst) != 0)
        return err_exit_status(FERRY_EUSAGE);
    return transfer_one(cli, command, opt, src, dst, NULL);
}

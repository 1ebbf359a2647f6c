/* Config targets (targets.h): put, sync and plan to one or several of them
 * (--target, the default target), by path class (--only), with --watch
 * round after round; `ferry targets` lists them, `ferry init` writes a
 * template config. */
#include "cli.h"
#include "ferry/escape.h"
#include "ferry/fsutil.h"
#include "ferry/signals.h"
#include "ferry/targets.h"
#include "ferry/xalloc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WATCH_DEFAULT_S 60

bool targets_wanted(const struct cli *cli, const char *command, const struct cli_transfer *opt)
{
    if (strcmp(command, "get") == 0)
        return false;
    if (opt->targets.n > 0)
        return true;
    if (!cli->config.default_target || cli->n_args > 1)
        return false;
    /* `ferry put NAME` with a root and a remote of that name keeps its meaning. */
    return cli->n_args == 0 || !config_root(&cli->config, cli->args[0]) ||
           !config_remote(&cli->config, cli->args[0]);
}

/* One transfer of a run to targets. */
struct leg {
    const struct config_target *target;
    const char *class_name;
    const char *src;
    char *dst;
};

static bool listed(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, word, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

static int fail_with(struct cli *cli, const char *fmt, const char *a, const char *b)
    __attribute__((format(printf, 2, 0)));

static int fail_with(struct cli *cli, const char *fmt, const char *a, const char *b)
{
    char msg[1024];
    snprintf(msg, sizeof msg, fmt, a, b);
    return cli_fail(cli, FERRY_EUSAGE, msg);
}

static const char *config_name(const struct cli *cli)
{
    return cli->config.path ? cli->config.path : "no config file found";
}

/* The legs of target t: its classes (those --only names), each from the
 * config's root of that name, or from SRC. */
static int add_legs(struct cli *cli, const struct cli_transfer *opt,
                    const struct config_target *t, struct leg **legs, size_t *n)
{
    const char *src = cli->n_args == 1 ? cli->args[0] : NULL;
    size_t chosen = 0;
    const char *only_class = NULL;
    for (size_t k = 0; k < t->n_paths; k++) {
        const char *c = t->paths[k].name;
        if (opt->only ? listed(opt->only, c) : !src || strcmp(src, c) == 0) {
            chosen++;
            only_class = c;
        }
    }
    /* SRC that is no class of t: the one class --only (or t) leaves. */
    if (src && chosen == 0 && !opt->only && t->n_paths == 1) {
        chosen = 1;
        only_class = t->paths[0].name;
    }
    if (chosen == 0)
        return fail_with(cli, "target %s has no class to send here (its classes are in "
                         "`ferry targets`; %s)", t->name,
                         opt->only ? "--only names none of them" : "SRC names none of them");
    if (src && chosen > 1)
        return fail_with(cli, "target %s has several classes: say which one %s receives with "
                         "--only CLASS", t->name, src);
    for (size_t k = 0; k < t->n_paths; k++) {
        const char *c = t->paths[k].name;
        if (src ? c != only_class : !(opt->only ? listed(opt->only, c) : true))
            continue;
        const char *from = src ? (config_root(&cli->config, src) ? config_root(&cli->config, src)
                                                                 : src)
                               : config_root(&cli->config, c);
        if (!from)
            return fail_with(cli, "class %s of target %s has no local folder: add a root of "
                             "that name to the config, or give SRC", c, t->name);
        *legs = xrealloc(*legs, (*n + 1) * sizeof **legs);
        (*legs)[(*n)++] = (struct leg){t, c, from, target_location(t, t->paths[k].path)};
    }
    return 0;
}

static void free_legs(struct leg *legs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(legs[i].dst);
    free(legs);
}

static int plan_legs(struct cli *cli, const struct cli_transfer *opt, struct leg **legs,
                     size_t *n)
{
    if (cli->n_args > 1)
        return cli_fail(cli, FERRY_EUSAGE, "with targets, give at most SRC (the destination is "
                        "the target's folder of its class)");
    const char *default_only[] = {cli->config.default_target};
    const char *const *names = opt->targets.n ? opt->targets.items : default_only;
    size_t count = opt->targets.n ? opt->targets.n : 1;
    for (size_t i = 0; i < count; i++) {
        const struct config_target *t =
            target_find(cli->config.targets, cli->config.n_targets, names[i]);
        if (!t) {
            char known[512] = "";
            for (size_t k = 0; k < cli->config.n_targets; k++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                         k ? ", " : "", cli->config.targets[k].name);
            char where[700];
            snprintf(where, sizeof where, "%s: %s", config_name(cli),
                     *known ? known : "it has no targets; `ferry init` writes a template");
            return fail_with(cli, "unknown target '%s' (%s)", names[i], where);
        }
        int status = add_legs(cli, opt, t, legs, n);
        if (status != 0)
            return status;
    }
    return 0;
}

/* Sleep s seconds unless a signal comes to any rank first (then true). */
static bool stopped_while_waiting(double s)
{
    for (double waited = 0;; waited += 0.25) {
        int mine = signals_pending() != 0, any = 0;
        MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (any)
            return true;
        if (waited >= s)
            return false;
        struct timespec ts = {0, 250 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* The worse of two exit statuses: a failed item (1) is less than the rest. */
static int worse(int a, int b)
{
    return a == 0 || (a == 1 && b != 0) ? b : a;
}

int transfer_targets(struct cli *cli, const char *command, const struct cli_transfer *opt)
{
    double interval = WATCH_DEFAULT_S;
    if (opt->watch.given && opt->watch.value) {
        char *end;
        interval = strtod(opt->watch.value, &end);
        if (*end || !(interval > 0) || interval > 86400 * 7)
            return cli_fail(cli, FERRY_EUSAGE, "--watch takes seconds between rounds, e.g. "
                            "--watch 120");
    }
    struct leg *legs = NULL;
    size_t n = 0;
    int status = plan_legs(cli, opt, &legs, &n);
    bool watch = opt->watch.given && !cli->dry_run && strcmp(command, "plan") != 0;
    for (int round = 1; status == 0 || (watch && status == 1); round++) {
        /* A file changed within the interval may still be written. */
        long long quiet_since = watch ? (long long)time(NULL) - (long long)interval : 0;
        MPI_Bcast(&quiet_since, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
        int round_status = 0;
        for (size_t i = 0; i < n && round_status != 75; i++) {
            const struct config_target *t = legs[i].target;
            char which[32] = "";
            if (watch)
                snprintf(which, sizeof which, " (round %d)", round);
            if (cli->rank == 0 && !cli->json && (!cli->quiet || n > 1))
                printf("%s== target %s, %s%s: %s -> %s\n", i || round > 1 ? "\n" : "",
                       t->name, legs[i].class_name, which, escape_display(legs[i].src),
                       legs[i].dst);
            fflush(stdout);
            struct transfer_target tt = {
                .latest_only = t->latest_only && !opt->all_versions,
                .send_all = !t->check_remote_first,
                .max_depth = t->max_depth,
                .connections = t->parallel_transfers,
                .quiet_since = quiet_since,
            };
            round_status = worse(round_status, transfer_one(cli, command, opt, legs[i].src,
                                                            legs[i].dst, &tt));
        }
        status = round_status;
        if (!watch || status == 75 || (status != 0 && status != 1))
            break;
        /* Only the first round asks; the later ones do what it agreed to. */
        cli->yes = true;
        if (cli->rank == 0 && !cli->json && !cli->quiet)
            printf("\nround %d done; the next in %.0f s (SIGINT or SIGTERM ends the watch)\n",
                   round, interval);
        fflush(stdout);
        if (stopped_while_waiting(interval)) {
            if (cli->rank == 0 && !cli->quiet)
                fprintf(stderr, "ferry: stopped between rounds; nothing is half-copied\n");
            break;
        }
    }
    free_legs(legs, n);
    return status;
}

/* ---- ferry targets ------------------------------------------------------------ */

static cJSON *target_json(const struct cli *cli, const struct config_target *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddBoolToObject(o, "default", cli->config.default_target &&
                          strcmp(cli->config.default_target, t->name) == 0);
    cJSON_AddStringToObject(o, "host", t->host);
    if (t->user)
        cJSON_AddStringToObject(o, "user", t->user);
    if (t->port)
        cJSON_AddNumberToObject(o, "port", t->port);
    cJSON_AddBoolToObject(o, "latest_only", t->latest_only);
    cJSON_AddNumberToObject(o, "max_depth", t->max_depth);
    cJSON_AddNumberToObject(o, "parallel_transfers", t->parallel_transfers);
    cJSON_AddBoolToObject(o, "check_remote_first", t->check_remote_first);
    cJSON *paths = cJSON_AddObjectToObject(o, "paths");
    for (size_t k = 0; k < t->n_paths; k++) {
        cJSON *p = cJSON_AddObjectToObject(paths, t->paths[k].name);
        char *where = target_location(t, t->paths[k].path);
        cJSON_AddStringToObject(p, "remote", where);
        free(where);
        const char *root = config_root(&cli->config, t->paths[k].name);
        if (root)
            cJSON_AddStringToObject(p, "local", root);
    }
    return o;
}

static void print_target(const struct cli *cli, const struct config_target *t)
{
    bool is_default = cli->config.default_target &&
                      strcmp(cli->config.default_target, t->name) == 0;
    printf("%s%s\n", t->name, is_default ? " (default)" : "");
    printf("  host %s%s%s", t->user ? t->user : "", t->user ? "@" : "", t->host);
    if (t->port)
        printf(" port %d", t->port);
    printf("\n  latest_only %s, max_depth %s%.0d, parallel_transfers %s%.0d, "
           "check_remote_first %s\n", t->latest_only ? "true" : "false",
           t->max_depth ? "" : "any", t->max_depth,
           t->parallel_transfers ? "" : "default", t->parallel_transfers,
           t->check_remote_first ? "true" : "false");
    for (size_t k = 0; k < t->n_paths; k++) {
        char *where = target_location(t, t->paths[k].path);
        const char *root = config_root(&cli->config, t->paths[k].name);
        printf("  %-14s %s <- %s\n", t->paths[k].name, where,
               root ? root : "(no root of that name: give SRC)");
        free(where);
    }
}

int cmd_targets(struct cli *cli)
{
    if (cli->n_args != 0)
        return cli_fail(cli, FERRY_EUSAGE, "targets takes no arguments (see ferry targets --help)");
    if (cli->rank != 0)
        return 0;
    if (cli->json) {
        cJSON *all = cJSON_CreateArray();
        for (size_t i = 0; i < cli->config.n_targets; i++)
            cJSON_AddItemToArray(all, target_json(cli, &cli->config.targets[i]));
        char *text = cJSON_PrintUnformatted(all);
        printf("%s\n", text);
        free(text);
        cJSON_Delete(all);
        return 0;
    }
    if (cli->config.n_targets == 0) {
        printf("no targets in %s (`ferry init` writes a template)\n", config_name(cli));
        return 0;
    }
    printf("targets in %s:\n", config_name(cli));
    for (size_t i = 0; i < cli->config.n_targets; i++) {
        printf("\n");
        print_target(cli, &cli->config.targets[i]);
    }
    return 0;
}

/* ---- ferry init ----------------------------------------------------------------- */

int cmd_init(struct cli *cli)
{
    if (cli->n_args > 1)
        return cli_fail(cli, FERRY_EUSAGE, "init takes at most FILE (see ferry init --help)");
    if (cli->rank != 0)
        return 0;
    const char *env = getenv("FERRY_CONFIG"), *home = getenv("HOME");
    char *path = cli->n_args ? xstrdup(cli->args[0])
               : cli->config_path ? xstrdup(cli->config_path)
               : env && *env ? xstrdup(env)
               : xasprintf("%s/.config/ferry/config.json", home ? home : ".");
    char *copy = xstrdup(path);
    struct ferry_error err = {0};
    int rc = fs_mkdirs(dirname(copy), &err);
    free(copy);
    int fd = -1;
    if (rc == 0) {
        /* Never over an existing config, nor through a link. */
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST)
            rc = err_set(&err, FERRY_EUSAGE, "%s exists already: ferry init never overwrites a "
                         "config (name another FILE)", path);
        else if (fd < 0)
            rc = err_sys(&err, FERRY_EPREFLIGHT, errno, "%s", path);
    }
    if (rc == 0) {
        size_t len = strlen(targets_template);
        if (write(fd, targets_template, len) != (ssize_t)len || fsync(fd) != 0)
            rc = err_sys(&err, FERRY_EPREFLIGHT, errno, "writing %s", path);
        close(fd);
        if (rc != 0)
            unlink(path);
    }
    if (rc == 0)
        printf("wrote %s: set its roots, hosts and paths, then `ferry targets` shows them\n",
               path);
    free(path);
    return rc == 0 ? 0 : cli_fail(cli, rc, err.msg);
}

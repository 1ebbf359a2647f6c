/* ferry's entry point: start MPI, parse the command line, run one command,
 * stop MPI, exit with the status DESIGN.md gives. */
#include "cli.h"
#include "ferry/err.h"
#include "ferry/escape.h"
#include "ferry/libversions.h"
#include "ferry/limiter.h"
#include "ferry/log.h"
#include "ferry/signals.h"
#include "ferry/xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum long_only {
    OPT_JSON = 256, OPT_CONFIG, OPT_PROGRESS, OPT_STATE_DIR, OPT_ALL, OPT_SCENES,
    OPT_SCENE_INCLUDES, OPT_INCLUDE, OPT_EXCLUDE, OPT_CHUNK_SIZE, OPT_FORCE,
    OPT_NO_DEFAULT_EXCLUDES, OPT_CLEANUP, OPT_DELETE, OPT_FSYNC, OPT_CONNECTIONS, OPT_AGAINST,
    OPT_HF_CACHE, OPT_RATE, OPT_LIMITER_FILE, OPT_LIMITER_JOBS, OPT_CREATE, OPT_PUBLIC,
    OPT_FILES_PER_COMMIT, OPT_OVERWRITE, OPT_REMOVE_ARCHIVE, OPT_SPEC,
    OPT_EXTRACT, OPT_OUT, OPT_EMBEDDER, OPT_DIM, OPT_SEED, OPT_WEIGHTS, OPT_BATCH, OPT_METRIC,
    OPT_GEO, OPT_COMMIT_EVERY, OPT_DEVICE, OPT_SCHEDULE, OPT_SLURM_JOB_NAME, OPT_SLURM_TIME,
    OPT_SLURM_PARALLELISM, OPT_SLURM_GRES, OPT_SLURM_PARTITION, OPT_SLURM_ACCOUNT, OPT_RECHECK,
};

static const struct option long_options[] = {
    {"dry-run", no_argument, NULL, 'n'},
    {"yes", no_argument, NULL, 'y'},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"progress", required_argument, NULL, OPT_PROGRESS},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {"all", no_argument, NULL, OPT_ALL},
    {"scenes", required_argument, NULL, OPT_SCENES},
    {"scene-includes", required_argument, NULL, OPT_SCENE_INCLUDES},
    {"include", required_argument, NULL, OPT_INCLUDE},
    {"exclude", required_argument, NULL, OPT_EXCLUDE},
    {"chunk-size", required_argument, NULL, OPT_CHUNK_SIZE},
    {"force", no_argument, NULL, OPT_FORCE},
    {"no-default-excludes", no_argument, NULL, OPT_NO_DEFAULT_EXCLUDES},
    {"cleanup", no_argument, NULL, OPT_CLEANUP},
    {"delete", no_argument, NULL, OPT_DELETE},
    {"fsync", no_argument, NULL, OPT_FSYNC},
    {"recheck", no_argument, NULL, OPT_RECHECK},
    {"connections", required_argument, NULL, OPT_CONNECTIONS},
    {"against", required_argument, NULL, OPT_AGAINST},
    {"hf-cache", optional_argument, NULL, OPT_HF_CACHE},
    {"rate", required_argument, NULL, OPT_RATE},
    {"limiter-file", required_argument, NULL, OPT_LIMITER_FILE},
    {"limiter-jobs", required_argument, NULL, OPT_LIMITER_JOBS},
    {"create", no_argument, NULL, OPT_CREATE},
    {"public", no_argument, NULL, OPT_PUBLIC},
    {"files-per-commit", required_argument, NULL, OPT_FILES_PER_COMMIT},
    {"directory", required_argument, NULL, 'C'},
    {"overwrite", no_argument, NULL, OPT_OVERWRITE},
    {"remove-archive", no_argument, NULL, OPT_REMOVE_ARCHIVE},
    {"spec", required_argument, NULL, OPT_SPEC},
    {"extract", required_argument, NULL, OPT_EXTRACT},
    {"out", required_argument, NULL, OPT_OUT},
    {"embedder", required_argument, NULL, OPT_EMBEDDER},
    {"dim", required_argument, NULL, OPT_DIM},
    {"seed", required_argument, NULL, OPT_SEED},
    {"weights", required_argument, NULL, OPT_WEIGHTS},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"metric", required_argument, NULL, OPT_METRIC},
    {"geo", required_argument, NULL, OPT_GEO},
    {"commit-every", required_argument, NULL, OPT_COMMIT_EVERY},
    {"device", required_argument, NULL, OPT_DEVICE},
    {"schedule", no_argument, NULL, OPT_SCHEDULE},
    {"slurm-job-name", required_argument, NULL, OPT_SLURM_JOB_NAME},
    {"slurm-time", required_argument, NULL, OPT_SLURM_TIME},
    {"slurm-array-parallelism", required_argument, NULL, OPT_SLURM_PARALLELISM},
    {"slurm-gres", required_argument, NULL, OPT_SLURM_GRES},
    {"slurm-partition", required_argument, NULL, OPT_SLURM_PARTITION},
    {"slurm-account", required_argument, NULL, OPT_SLURM_ACCOUNT},
    {NULL, 0, NULL, 0},
};

int cli_fail(const struct cli *cli, int code, const char *msg)
{
    if (cli->rank == 0)
        fprintf(stderr, "ferry: %s\n", escape_display(msg));
    return err_exit_status(code);
}

int cli_limits(const struct cli *cli, struct limiter_options *out)
{
    struct ferry_error err = {0};
    memset(out, 0, sizeof *out);
    limiter_default_rates(out->rate);
    char origin[600];
    snprintf(origin, sizeof origin, "%s: rate", cli->config.path ? cli->config.path : "config");
    if (limiter_parse_rate(cli->config.rate, origin, out->rate, &err) != 0 ||
        limiter_parse_rate(cli->rate, "--rate", out->rate, &err) != 0)
        return cli_fail(cli, err.code, err.msg);
    out->file = cli->limiter_file;
    /* Without a lockable file a Slurm array task takes its share of the tasks. */
    const char *tasks = getenv("SLURM_ARRAY_TASK_COUNT");
    out->file_jobs = cli->limiter_jobs ? cli->limiter_jobs : tasks ? atoi(tasks) : 0;
    return 0;
}

static void push(const char ***list, size_t *n, const char *value)
{
    *list = xrealloc(*list, (*n + 1) * sizeof **list);
    (*list)[(*n)++] = value;
}

static int parse_progress(const char *text, enum progress_mode *mode)
{
    if (strcmp(text, "auto") == 0)
        *mode = PROGRESS_AUTO;
    else if (strcmp(text, "always") == 0)
        *mode = PROGRESS_ALWAYS;
    else if (strcmp(text, "never") == 0)
        *mode = PROGRESS_NEVER;
    else
        return -1;
    return 0;
}

/* Options without a value; false when c is not one of them. */
static bool parse_flag(struct cli *cli, int c)
{
    switch (c) {
    case 'n': cli->dry_run = true; break;
    case 'y': cli->yes = true; break;
    case 'q': cli->quiet = true; break;
    case 'v': cli->verbose = true; break;
    case OPT_JSON: cli->json = true; break;
    case OPT_ALL: cli->all = true; break;
    case OPT_FORCE: cli->force = true; break;
    case OPT_NO_DEFAULT_EXCLUDES: cli->no_default_excludes = true; break;
    case OPT_CLEANUP: cli->cleanup = true; break;
    case OPT_DELETE: cli->delete = true; break;
    case OPT_FSYNC: cli->fsync = true; break;
    case OPT_RECHECK: cli->recheck = true; break;
    case OPT_OVERWRITE: cli->overwrite = true; break;
    case OPT_SCHEDULE: cli->schedule = true; break;
    case OPT_REMOVE_ARCHIVE: cli->remove_archive = true; break;
    case OPT_CREATE: cli->create = true; break;
    case OPT_PUBLIC: cli->public = true; break;
    default: return false;
    }
    return true;
}

/* Options whose value is kept as given: the command that uses one checks
 * it.  False when c is not one of them. */
static bool parse_string(struct cli *cli, int c, const char *arg)
{
    switch (c) {
    case OPT_CONFIG: cli->config_path = arg; break;
    case OPT_STATE_DIR: cli->state_dir = arg; break;
    case OPT_SCENES: cli->scenes = arg; break;
    case OPT_SCENE_INCLUDES: cli->scene_includes = arg; break;
    case OPT_INCLUDE: push(&cli->includes, &cli->n_includes, arg); break;
    case OPT_EXCLUDE: push(&cli->excludes, &cli->n_excludes, arg); break;
    case OPT_AGAINST: cli->against = arg; break;
    case OPT_HF_CACHE:
        cli->hf_cache = true;
        cli->hf_cache_dir = arg;
        break;
    case OPT_RATE: cli->rate = arg; break;
    case OPT_LIMITER_FILE: cli->limiter_file = arg; break;
    case 'C': cli->extract_dest = arg; break;
    case OPT_SPEC: cli->spec = arg; break;
    case OPT_EXTRACT: cli->extract_into = arg; break;
    case OPT_OUT: cli->out = arg; break;
    case OPT_EMBEDDER: cli->embedder = arg; break;
    case OPT_WEIGHTS: cli->weights = arg; break;
    case OPT_METRIC: cli->metric = arg; break;
    case OPT_GEO: cli->geo = arg; break;
    case OPT_DEVICE: cli->device = arg; break;
    case OPT_SLURM_JOB_NAME: cli->slurm.job_name = arg; break;
    case OPT_SLURM_TIME: cli->slurm.time = arg; break;
    case OPT_SLURM_GRES: cli->slurm.gres = arg; break;
    case OPT_SLURM_PARTITION: cli->slurm.partition = arg; break;
    case OPT_SLURM_ACCOUNT: cli->slurm.account = arg; break;
    default: return false;
    }
    return true;
}

/* Every numeric option goes through here, so none can take junk after its
 * digits ("8x"), a number out of range, or an empty string. */
static int whole_number(const struct cli *cli, const char *name, const char *text,
                        long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (end == text || *end || errno == ERANGE || value < min || value > max) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s takes a whole number from %lld to %lld, not '%.64s'",
                 name, min, max, text);
        return cli_fail(cli, FERRY_EUSAGE, msg);
    }
    *out = value;
    return 0;
}

static int int_option(const struct cli *cli, const char *name, const char *text, int min,
                      int max, int *out)
{
    long long value;
    int status = whole_number(cli, name, text, min, max, &value);
    if (status == 0)
        *out = (int)value;
    return status;
}

static int seconds_option(const struct cli *cli, const char *name, const char *text,
                          double *out)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (end == text || *end || errno == ERANGE || !(value > 0) || value > 1e9) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s takes seconds, more than 0, not '%.64s'", name, text);
        return cli_fail(cli, FERRY_EUSAGE, msg);
    }
    *out = value;
    return 0;
}

/* Options that take a value, checked here so that no command starts with a
 * bad one.  Returns 0, or the exit status of a usage error. */
static int parse_value(struct cli *cli, int c, const char *arg)
{
    switch (c) {
    case OPT_PROGRESS:
        if (parse_progress(arg, &cli->progress) != 0)
            return cli_fail(cli, FERRY_EUSAGE, "--progress takes auto, always or never");
        return 0;
    case OPT_CHUNK_SIZE:
        cli->chunk_size = config_parse_size(arg);
        if (cli->chunk_size <= 0)
            return cli_fail(cli, FERRY_EUSAGE, "--chunk-size: not a size (say 64M)");
        return 0;
    case OPT_CONNECTIONS:
        return int_option(cli, "--connections", arg, 1, 256, &cli->connections);
    case OPT_FILES_PER_COMMIT:
        return int_option(cli, "--files-per-commit", arg, 1, 10000, &cli->files_per_commit);
    case OPT_LIMITER_JOBS:
        return int_option(cli, "--limiter-jobs", arg, 1, 100000, &cli->limiter_jobs);
    case OPT_SLURM_PARALLELISM:
        return int_option(cli, "--slurm-array-parallelism", arg, 1, 1000000,
                          &cli->slurm.parallelism);
    case OPT_DIM:
        return int_option(cli, "--dim", arg, 1, 1000000, &cli->dim);
    case OPT_BATCH:
        return int_option(cli, "--batch", arg, 1, 1000000, &cli->batch);
    case 'k':
        return int_option(cli, "-k", arg, 1, 1000000, &cli->k);
    case OPT_SEED:
        return whole_number(cli, "--seed", arg, LLONG_MIN, LLONG_MAX, &cli->seed);
    case OPT_COMMIT_EVERY:
        return seconds_option(cli, "--commit-every", arg, &cli->commit_every);
    default:
        /* An option in long_options that nothing here takes: never ignored. */
        return cli_fail(cli, FERRY_EUSAGE, "an option this build of ferry does not handle");
    }
}

static int unknown_option(const struct cli *cli, char **argv)
{
    char msg[256];
    if (optopt > ' ' && optopt < 127)
        snprintf(msg, sizeof msg, "unknown option '-%c', or it lacks its value (see ferry --help)",
                 optopt);
    else
        snprintf(msg, sizeof msg, "unknown option '%.100s', or it lacks its value (see ferry "
                 "--help)", argv[optind - 1]);
    return cli_fail(cli, FERRY_EUSAGE, msg);
}

/* Returns 0 to go on, or an exit status (help, version, a usage error). */
static int parse_args(struct cli *cli, int argc, char **argv, bool *done)
{
    bool help = false, version = false;
    int c;
    opterr = 0;
    /* GNU getopt permutes: options may stand before or after the command. */
    while ((c = getopt_long(argc, argv, "nyqvhVC:k:", long_options, NULL)) != -1) {
        int status = 0;
        if (c == 'h')
            help = true;
        else if (c == 'V')
            version = true;
        else if (c == '?' || c == ':')
            status = unknown_option(cli, argv);
        else if (!parse_flag(cli, c) && !parse_string(cli, c, optarg))
            status = parse_value(cli, c, optarg);
        if (status != 0)
            return status;
    }
    const char *command = optind < argc ? argv[optind] : NULL;
    if (version) {
        *done = true;
        if (cli->rank == 0)
            libversions_print(stdout);
        return 0;
    }
    if (help || !command) {
        *done = true;
        if (help && command && !help_exists(command))
            return cli_fail(cli, FERRY_EUSAGE, "unknown command (see ferry --help)");
        if (cli->rank == 0)
            help_print(help ? command : NULL);
        return help ? 0 : err_exit_status(FERRY_EUSAGE);
    }
    cli->args = argv + optind;
    cli->n_args = argc - optind;
    return 0;
}

static int run_command(struct cli *cli)
{
    const char *command = cli->args[0];
    cli->args++;
    cli->n_args--;
    if (strcmp(command, "get") == 0 || strcmp(command, "put") == 0 ||
        strcmp(command, "sync") == 0 || strcmp(command, "plan") == 0)
        return cmd_transfer(cli, command);
    if (strcmp(command, "locks") == 0)
        return cmd_locks(cli);
    if (strcmp(command, "status") == 0)
        return cmd_status(cli);
    if (strcmp(command, "verify") == 0)
        return cmd_verify(cli);
    if (strcmp(command, "extract") == 0)
        return cmd_extract(cli);
    if (strcmp(command, "embed") == 0)
        return cmd_embed(cli);
    if (strcmp(command, "knn") == 0)
        return cmd_knn(cli);
    if (strcmp(command, "run") == 0)
        return cmd_run(cli);
    char msg[256];
    snprintf(msg, sizeof msg, "unknown command '%s' (see ferry --help)", command);
    return cli_fail(cli, FERRY_EUSAGE, msg);
}

int cli_parse(struct cli *cli, int argc, char **argv, bool *done)
{
    optind = 0;       /* glibc: start afresh, as ferry run parses one command line a phase */
    *done = false;
    int status = parse_args(cli, argc, argv, done);
    /* Whatever failed to parse, nothing runs. */
    if (status != 0)
        *done = true;
    return status;
}

void cli_free(struct cli *cli)
{
    free(cli->argv);
    free(cli->self);
    free(cli->default_cache);
    cli->argv = NULL;
    cli->self = NULL;
    cli->default_cache = NULL;
    config_free(&cli->config);
    free(cli->includes);
    free(cli->excludes);
    cli->includes = cli->excludes = NULL;
}

int cli_main(int rank, int argc, char **argv)
{
    struct cli cli = {.progress = PROGRESS_AUTO, .rank = rank, .argc = argc};
    /* Job scripts name the options as given and this binary by its path
     * (getopt reorders argv, so it is copied first). */
    cli.argv = xcalloc((size_t)argc + 1, sizeof *cli.argv);
    memcpy(cli.argv, argv, (size_t)argc * sizeof *argv);
    cli.self = realpath("/proc/self/exe", NULL);
    if (!cli.self)
        cli.self = xstrdup(argv[0]);
    bool done = false;
    int status = cli_parse(&cli, argc, argv, &done);
    log_setup(cli.rank, cli.verbose ? LOG_DEBUG : cli.quiet ? LOG_WARN : LOG_INFO);
    if (!done) {
        struct ferry_error err = {0};
        if (config_load(cli.config_path, &cli.config, &err) != 0)
            status = cli_fail(&cli, err.code, err.msg);
        else
            status = run_command(&cli);
    }
    cli_free(&cli);
    return status;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    signals_install();
    int status = cli_main(rank, argc, argv);
    MPI_Finalize();
    return status;
}

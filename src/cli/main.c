/* ferry's entry point: start MPI, parse the command line (options.c), run one
 * command, stop MPI, exit with the status DESIGN.md gives. */
#include "cli.h"
#include "ferry/err.h"
#include "ferry/limiter.h"
#include "ferry/log.h"
#include "ferry/signals.h"
#include "ferry/xalloc.h"

#include <mpi.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_limits(const struct cli *cli, const struct cli_budget *budget,
               struct limiter_options *out)
{
    struct ferry_error err = {0};
    memset(out, 0, sizeof *out);
    limiter_default_rates(out->rate);
    char origin[600];
    snprintf(origin, sizeof origin, "%s: rate", cli->config.path ? cli->config.path : "config");
    if (limiter_parse_rate(cli->config.rate, origin, out->rate, &err) != 0 ||
        limiter_parse_rate(budget->rate, "--rate", out->rate, &err) != 0)
        return cli_fail(cli, err.code, err.msg);
    out->file = budget->limiter_file;
    /* Without a lockable file a Slurm array task takes its share of the tasks. */
    const char *tasks = getenv("SLURM_ARRAY_TASK_COUNT");
    out->file_jobs = budget->limiter_jobs ? budget->limiter_jobs : tasks ? atoi(tasks) : 0;
    return 0;
}

static int run_command(struct cli *cli)
{
    const char *command = cli->args[0];
    cli->args++;
    cli->n_args--;
    switch (cli_command_find(command)) {
    case CLI_PLAN: case CLI_GET: case CLI_PUT: case CLI_SYNC:
        return cmd_transfer(cli, command, &cli->transfer);
    case CLI_LOCKS: return cmd_locks(cli, &cli->locks);
    case CLI_STATUS: return cmd_status(cli, &cli->status);
    case CLI_VERIFY: return cmd_verify(cli, &cli->verify);
    case CLI_EXTRACT: return cmd_extract(cli, &cli->extract);
    case CLI_EMBED: return cmd_embed(cli, &cli->embed);
    case CLI_KNN: return cmd_knn(cli, &cli->knn);
    case CLI_RUN: return cmd_run(cli);
    case CLI_TARGETS: return cmd_targets(cli);
    case CLI_INIT: return cmd_init(cli);
    }
    /* cli_parse let no other command through */
    return cli_fail(cli, FERRY_EUSAGE, "unknown command (see ferry --help)");
}

int cli_main(int rank, int argc, char **argv)
{
    struct cli cli = {.progress = PROGRESS_AUTO, .rank = rank, .argc = argc};
    /* Job scripts name the options as given and this binary by its path. */
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

/* Is ferry a plain command: no mpirun, srun or other launcher around it? */
static bool launched_alone(void)
{
    static const char *const launched[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                           "PMI_SIZE", "SLURM_STEP_ID"};
    for (size_t i = 0; i < sizeof launched / sizeof *launched; i++)
        if (getenv(launched[i]))
            return false;
    return true;
}

/* A command line that ends in its parse (--help, --version, a usage error)
 * needs no MPI, so a plain command answers it before MPI starts (a third of
 * a second).  Under a launcher every rank must start MPI, or the launcher
 * takes the early exits for a failed job. */
static bool answered_before_mpi(int argc, char **argv, int *status)
{
    struct cli cli = {.progress = PROGRESS_AUTO, .rank = 0, .argc = argc};
    bool done = false;
    *status = cli_parse(&cli, argc, argv, &done);
    cli_free(&cli);
    return done;
}

int main(int argc, char **argv)
{
    int status;
    bool alone = launched_alone();
    if (alone && answered_before_mpi(argc, argv, &status))
        return status;
    /* Alone, Open MPI would start a helper daemon for a job of one process;
     * ferry never spawns processes, so it asks for an isolated singleton,
     * which starts in about 0.3 s instead of 0.5 (a user's own setting wins). */
    if (alone)
        setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    signals_install();
    status = cli_main(rank, argc, argv);
    MPI_Finalize();
    return status;
}

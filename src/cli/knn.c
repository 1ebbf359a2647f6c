/* ferry knn FILE.h5 [-k K] [--metric l2|cosine] [--geo META] */
#include "cli.h"
#include "ferry/neighbours.h"

#include <mpi.h>
#include <stdio.h>

int cmd_knn(struct cli *cli, const struct cli_knn *opt)
{
    if (cli->n_args != 1)
        return cli_fail(cli, FERRY_EUSAGE, "usage: ferry knn FILE.h5 [-k K] [--metric l2|cosine] "
                        "[--geo META]");
    struct neighbours_options o = {
        .file = cli->args[0], .k = opt->k, .metric = opt->metric, .geo = opt->geo,
        .overwrite = opt->overwrite, .commit_every = opt->commit_every, .quiet = cli->quiet,
        .json = cli->json,
    };
    struct neighbours_report r;
    struct ferry_error err = {0};
    int rc = neighbours_run(MPI_COMM_WORLD, &o, &r, &err);
    if (rc != 0 && rc != FERRY_EINTR)
        return cli_fail(cli, err.code, err.msg);
    if (cli->rank == 0 && cli->json)
        printf("{\"event\":\"summary\",\"command\":\"knn\",\"status\":%d,\"rows\":%lld,"
               "\"done_before\":%lld,\"computed\":%lld,\"without_neighbours\":%lld,"
               "\"seconds\":%.3f,\"interrupted\":%s}\n", err_exit_status(rc), r.rows,
               r.done_before, r.computed, r.without, r.seconds, r.interrupted ? "true" : "false");
    else if (cli->rank == 0)
        printf("knn: %lld rows in %s (%lld done before); computed %lld (%lld without neighbours) "
               "in %.1f s%s\n", r.rows, o.file, r.done_before, r.computed, r.without, r.seconds,
               r.interrupted ? "; interrupted: run the same command again to resume" : "");
    return err_exit_status(rc);
}

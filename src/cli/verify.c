/* ferry verify DIR --against SRC */
#include "cli.h"
#include "ferry/limiter.h"
#include "ferry/verify.h"

#include <mpi.h>
#include <stdio.h>

int cmd_verify(struct cli *cli)
{
    if (cli->n_args != 1 || !cli->against)
        return cli_fail(cli, FERRY_EUSAGE, "usage: ferry verify DIR --against SRC");
    backend_set_allowed(cli->config.allowed_prefixes, cli->config.n_allowed_prefixes);
    struct limiter_options limits;
    int status = cli_limits(cli, &limits);
    if (status != 0)
        return status;
    struct verify_report r;
    struct ferry_error err = {0};
    /* Listing a Hub source draws on the same budget as a transfer. */
    int rc = limiter_start(MPI_COMM_WORLD, &limits, &err);
    if (rc == 0) {
        rc = verify_run(MPI_COMM_WORLD, cli->args[0], cli->against, stdout, &r, &err);
        limiter_stop();
    }
    if (rc != 0)
        return cli_fail(cli, err.code, err.msg);
    if (cli->rank != 0)
        return 0;
    long long problems = r.missing + r.extra + r.corrupt;
    printf("verify: %lld files compared (%lld by content hash, the rest by size); "
           "%lld missing, %lld extra, %lld corrupt\n",
           r.checked, r.hashed, r.missing, r.extra, r.corrupt);
    return problems ? err_exit_status(FERRY_EFAIL) : 0;
}

/* ferry verify DIR --against SRC */
#include "cli.h"
#include "ferry/comm.h"
#include "ferry/limiter.h"
#include "ferry/spec.h"
#include "ferry/verify.h"

#include <mpi.h>
#include <stdio.h>

/* verify DIR --spec SPEC.json: rank 0 checks, every rank exits alike. */
static int verify_spec(struct cli *cli, const char *spec)
{
    struct ferry_error err = {0};
    int failed = 0, rc = 0;
    if (cli->rank == 0) {
        rc = spec_check(cli->args[0], spec, stdout, &failed, &err);
        if (rc == 0)
            printf("verify: %s against %s: %s\n", cli->args[0], spec,
                   failed ? "FAILED" : "every check passes");
        if (rc == 0 && failed)
            printf("verify: %d checks failed\n", failed);
        rc = rc != 0 ? rc : failed ? FERRY_EFAIL : 0;
        if (rc != 0 && rc != FERRY_EFAIL)
            cli_fail(cli, err.code, err.msg);
    }
    return err_exit_status(comm_agree(MPI_COMM_WORLD, rc, &err));
}

int cmd_verify(struct cli *cli, const struct cli_verify *opt)
{
    if (cli->n_args == 1 && opt->spec && !opt->against)
        return verify_spec(cli, opt->spec);
    if (cli->n_args != 1 || !opt->against)
        return cli_fail(cli, FERRY_EUSAGE, "usage: ferry verify DIR --against SRC, or "
                        "ferry verify DIR --spec SPEC.json");
    backend_set_allowed(cli->config.allowed_prefixes, cli->config.n_allowed_prefixes);
    backend_set_endpoint(opt->endpoint);
    struct limiter_options limits;
    int status = cli_limits(cli, &opt->budget, &limits);
    if (status != 0)
        return status;
    struct verify_report r;
    struct ferry_error err = {0};
    /* Listing a Hub source draws on the same budget as a transfer. */
    int rc = limiter_start(MPI_COMM_WORLD, &limits, &err);
    if (rc == 0) {
        rc = verify_run(MPI_COMM_WORLD, cli->args[0], opt->against, stdout, &r, &err);
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

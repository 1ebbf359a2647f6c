/* ferry extract ARCHIVE...|DIR -C DEST */
#include "cli.h"
#include "ferry/extract.h"
#include "ferry/plan.h"

#include <mpi.h>
#include <stdio.h>

int cmd_extract(struct cli *cli)
{
    if (cli->n_args < 1 || !cli->extract_dest)
        return cli_fail(cli, FERRY_EUSAGE, "usage: ferry extract ARCHIVE...|DIR -C DEST");
    struct extract_options opts = {
        .dest = cli->extract_dest, .overwrite = cli->overwrite,
        .remove_archive = cli->remove_archive,
    };
    struct extract_report r;
    struct ferry_error err = {0};
    int rc = extract_run(MPI_COMM_WORLD, cli->args, (size_t)cli->n_args, &opts, &r, &err);
    if (rc != 0 && rc != FERRY_EFAIL)
        return cli_fail(cli, err.code, err.msg);
    if (cli->rank == 0) {
        char bytes[32];
        plan_format_bytes(r.entries.bytes, bytes, sizeof bytes);
        printf("extract: %lld archives (%lld done now, %lld done before, %lld failed); entries: "
               "%lld extracted (%s), %lld skipped, %lld refused, %lld failed; %.1f s\n",
               r.archives, r.archives_done, r.archives_skipped, r.archives_failed,
               r.entries.extracted, bytes, r.entries.skipped, r.entries.refused,
               r.entries.failed, r.seconds);
    }
    return err_exit_status(rc);
}

/* ferry extract ARCHIVE...|DIR -C DEST */
#include "cli.h"
#include "ferry/escape.h"
#include "ferry/extract.h"
#include "ferry/job.h"
#include "ferry/plan.h"
#include "ferry/sched.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int cmd_extract(struct cli *cli, const struct cli_extract *opt)
{
    if (cli->n_args < 1 || !opt->dest)
        return cli_fail(cli, FERRY_EUSAGE, "usage: ferry extract ARCHIVE...|DIR -C DEST");
    struct extract_options opts = {
        .dest = opt->dest, .overwrite = opt->overwrite,
        .remove_archive = opt->remove_archive, .json = cli->json,
        .progress = cli->quiet ? PROGRESS_NEVER : cli->progress,
    };
    struct sched_report r;
    struct ferry_error err = {0};
    int rc = extract_run(MPI_COMM_WORLD, cli->args, (size_t)cli->n_args, &opts, &r, &err);
    bool ran = rc == 0 || rc == FERRY_EFAIL || rc == FERRY_EINTR;
    if (!ran) {
        sched_report_free(&r);
        return cli_fail(cli, err.code, err.msg);
    }
    if (cli->rank == 0 && cli->json) {
        char *json = job_report_json("extract", &r, rc);
        printf("%s\n", json);
        free(json);
    } else if (cli->rank == 0) {
        char bytes[32];
        plan_format_bytes(r.entries.bytes, bytes, sizeof bytes);
        printf("extract: %lld archives (%lld done now, %lld done before, %lld failed); entries: "
               "%lld extracted (%s), %lld skipped, %lld refused, %lld failed; %.1f s%s\n",
               r.archives, r.archives_done, r.archives_skipped, r.archives_failed,
               r.entries.extracted, bytes, r.entries.skipped, r.entries.refused,
               r.entries.failed, r.seconds,
               r.interrupted ? "; interrupted: run the same command again to resume" : "");
        for (size_t i = 0; i < r.n_failures; i++)
            printf("  failed: %s\n", escape_display(r.failures[i].reason));
    }
    sched_report_free(&r);
    return err_exit_status(rc);
}

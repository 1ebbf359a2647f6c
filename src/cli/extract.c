/* ferry extract ARCHIVE...|DIR -C DEST */
#include "cli.h"
#include "ferry/extract.h"
#include "ferry/plan.h"
#include "ferry/sched.h"

#include <cjson/cJSON.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static void print_json(const struct sched_report *r, int rc)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", "summary");
    cJSON_AddStringToObject(o, "command", "extract");
    cJSON_AddNumberToObject(o, "status", err_exit_status(rc));
    cJSON_AddNumberToObject(o, "archives", (double)r->archives);
    cJSON_AddNumberToObject(o, "archives_done", (double)r->archives_done);
    cJSON_AddNumberToObject(o, "archives_skipped", (double)r->archives_skipped);
    cJSON_AddNumberToObject(o, "archives_failed", (double)r->archives_failed);
    cJSON_AddNumberToObject(o, "entries_extracted", (double)r->entries.extracted);
    cJSON_AddNumberToObject(o, "entries_skipped", (double)r->entries.skipped);
    cJSON_AddNumberToObject(o, "entries_refused", (double)r->entries.refused);
    cJSON_AddNumberToObject(o, "entries_failed", (double)r->entries.failed);
    cJSON_AddNumberToObject(o, "bytes", (double)r->entries.bytes);
    cJSON_AddNumberToObject(o, "items", (double)r->items);           /* archives and zip parts */
    cJSON_AddNumberToObject(o, "items_rank0", (double)r->items_self);
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    cJSON_AddBoolToObject(o, "interrupted", r->interrupted);
    cJSON *failures = cJSON_AddArrayToObject(o, "failures");
    for (size_t i = 0; i < r->n_failures; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "path", r->failures[i].path);
        cJSON_AddStringToObject(f, "reason", r->failures[i].reason);
        cJSON_AddItemToArray(failures, f);
    }
    char *text = cJSON_PrintUnformatted(o);
    printf("%s\n", text);
    free(text);
    cJSON_Delete(o);
}

int cmd_extract(struct cli *cli)
{
    if (cli->n_args < 1 || !cli->extract_dest)
        return cli_fail(cli, FERRY_EUSAGE, "usage: ferry extract ARCHIVE...|DIR -C DEST");
    struct extract_options opts = {
        .dest = cli->extract_dest, .overwrite = cli->overwrite,
        .remove_archive = cli->remove_archive, .json = cli->json,
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
        print_json(&r, rc);
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
            printf("  failed: %s\n", r.failures[i].reason);
    }
    sched_report_free(&r);
    return err_exit_status(rc);
}

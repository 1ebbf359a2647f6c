/* ferry embed INPUT... --out FILE.h5 */
#include "cli.h"
#include "ferry/embed.h"
#include "ferry/escape.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static void print_json(const struct embed_report *r, int rc)
{
    printf("{\"event\":\"summary\",\"command\":\"embed\",\"status\":%d,\"rows\":%lld,"
           "\"done_before\":%lld,\"computed\":%lld,\"ok\":%lld,\"undecodable\":%lld,"
           "\"seconds\":%.3f,\"ranks_on_gpu\":%d,\"interrupted\":%s}\n", err_exit_status(rc),
           r->rows, r->done_before, r->computed, r->ok, r->undecodable, r->seconds, r->on_gpu,
           r->interrupted ? "true" : "false");
}

static void print_text(const struct embed_report *r, const char *out)
{
    char where[48] = "on the CPU";
    if (r->on_gpu)
        snprintf(where, sizeof where, "on GPUs (%d ranks)", r->on_gpu);
    printf("embed: %lld rows in %s (%lld done before); computed %lld (%lld ok, %lld undecodable) "
           "in %.1f s, %.0f images/s, %s%s\n", r->rows, out, r->done_before, r->computed, r->ok,
           r->undecodable, r->seconds, r->seconds > 0 ? (double)r->computed / r->seconds : 0.0,
           where, r->interrupted ? "; interrupted: run the same command again to resume" : "");
    for (size_t i = 0; i < r->n_undecodable_items && i < 20; i++)
        printf("  undecodable: %s: %s\n", escape_display(r->undecodable_items[i].path),
               escape_display(r->undecodable_items[i].reason));
    if (r->n_undecodable_items > 20)
        printf("  (and %zu more undecodable)\n", r->n_undecodable_items - 20);
}

int cmd_embed(struct cli *cli, const struct cli_embed *opt)
{
    if (cli->n_args < 1 || !opt->out)
        return cli_fail(cli, FERRY_EUSAGE, "usage: ferry embed INPUT... --out FILE.h5");
    struct embed_options o = {
        .inputs = cli->args, .n_inputs = cli->n_args, .out = opt->out,
        .embedder = {.name = opt->embedder ? opt->embedder : "rp", .dim = opt->dim,
                     .seed = opt->seed, .weights = opt->weights, .device = opt->device},
        .batch = opt->batch, .commit_every = opt->commit_every, .overwrite = opt->overwrite,
        .quiet = cli->quiet, .json = cli->json,
    };
    struct embed_report r;
    struct ferry_error err = {0};
    int rc = embed_run(MPI_COMM_WORLD, &o, &r, &err);
    if (rc != 0 && rc != FERRY_EINTR) {
        embed_report_free(&r);
        return cli_fail(cli, err.code, err.msg);
    }
    if (cli->rank == 0 && cli->json)
        print_json(&r, rc);
    else if (cli->rank == 0)
        print_text(&r, opt->out);
    embed_report_free(&r);
    return err_exit_status(rc);
}

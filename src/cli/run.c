/* ferry run JOB.json: the phases of a pipeline in order, each resumable, with
 * a marker per finished phase; and ferry status JOB.json. */
#include "cli.h"
#include "ferry/fsutil.h"
#include "ferry/escape.h"
#include "ferry/extract.h"
#include "ferry/h5store.h"
#include "ferry/journal.h"
#include "ferry/jobspec.h"
#include "ferry/plan.h"
#include "ferry/signals.h"
#include "ferry/xalloc.h"

#include <cjson/cJSON.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A command line of the spec with the settings its command takes: settings
 * go to every phase, and a phase is not refused an option that only other
 * commands take. */
static char **phase_argv(const struct jobspec *spec, const struct jobspec_argv *line, int *argc)
{
    char **argv = jobspec_command(spec, line, argc);
    if (line->argc < 1)
        return argv;
    int head = 1 + line->argc;
    *argc = head + cli_settings_for(line->argv[0], argv + head, *argc - head, argv + head);
    argv[*argc] = NULL;
    return argv;
}

/* Run one command line of the spec on every rank; all return the worst status. */
static int run_line(const struct cli *cli, const struct jobspec *spec,
                    const struct jobspec_argv *line)
{
    int argc;
    char **argv = phase_argv(spec, line, &argc);
    int status = cli_main(cli->rank, argc, argv);
    free(argv);
    MPI_Allreduce(MPI_IN_PLACE, &status, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return status;
}

static void say(const struct cli *cli, const char *fmt, const char *a, const char *b)
{
    if (cli->rank != 0 || cli->quiet)
        return;
    printf(fmt, a, b);
    fflush(stdout);
}

/* The after_phase steps; a failed one is reported and remembered, not
 * fatal; an interrupted one stops the job (75). */
static int run_after(const struct cli *cli, const struct jobspec *spec, const char *phase)
{
    int worst = 0;
    for (size_t s = 0; s < spec->n_after; s++) {
        say(cli, "run: after %s: %s\n", phase, spec->after[s].argv[0]);
        int status = run_line(cli, spec, &spec->after[s]);
        if (status == err_exit_status(FERRY_EINTR))
            return status;
        if (status != 0 && cli->rank == 0)
            fprintf(stderr, "ferry: run: after phase %s, step %zu (%s) exited %d\n", phase, s + 1,
                    spec->after[s].argv[0], status);
        if (status > worst)
            worst = status;
    }
    return worst;
}

/* Rank 0 checks the marker; every rank learns. */
static bool phase_done(const struct cli *cli, const struct jobspec *spec, size_t i)
{
    int done = cli->rank == 0 && jobspec_phase_done(spec, i, NULL);
    MPI_Bcast(&done, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return done;
}

static int run_phases(const struct cli *cli, const struct jobspec *spec)
{
    int after_status = 0;
    size_t skipped = 0;
    for (size_t i = 0; i < spec->n_phases; i++) {
        const struct jobspec_phase *ph = &spec->phases[i];
        if (phase_done(cli, spec, i)) {
            say(cli, "run: phase %s: done before (%s)\n", ph->name, "marker found");
            skipped++;
            continue;
        }
        if (signals_pending()) {
            say(cli, "run: interrupted before phase %s%s\n", ph->name,
                "; run the same job again to resume");
            return err_exit_status(FERRY_EINTR);
        }
        say(cli, "run: phase %s: ferry %s\n", ph->name, ph->run.argv[0]);
        int status = run_line(cli, spec, &ph->run);
        if (status != 0) {
            if (cli->rank == 0)
                fprintf(stderr, "ferry: run: phase %s %s (exit %d)%s\n", ph->name,
                        status == 75 ? "interrupted" : "failed", status,
                        status == 75 ? "; run the same job again to resume" : "");
            return status;
        }
        struct ferry_error err = {0};
        if (cli->rank == 0 && jobspec_mark_done(spec, i, &err) != 0)
            fprintf(stderr, "ferry: run: phase %s is done but its marker is not written: %s\n",
                    ph->name, err.msg);
        int after = run_after(cli, spec, ph->name);
        if (after == err_exit_status(FERRY_EINTR)) {
            say(cli, "run: interrupted after phase %s%s\n", ph->name,
                "; run the same job again to resume");
            return after;
        }
        after_status = after > after_status ? after : after_status;
    }
    if (cli->rank == 0 && !cli->quiet)
        printf("run: %s: %zu phases done (%zu before this run)%s\n", spec->name, spec->n_phases,
               skipped, after_status ? "; some after_phase steps failed" : "");
    return after_status ? err_exit_status(FERRY_EFAIL) : 0;
}

/* 0, or the exit status of a spec that cannot be read (reported). */
static int load_spec(const struct cli *cli, struct jobspec *spec)
{
    struct ferry_error err = {0};
    int rc = jobspec_load(cli->args[0], spec, &err);
    if (rc != 0) {
        jobspec_free(spec);
        return cli_fail(cli, rc, err.msg);
    }
    return 0;
}

int cmd_run(struct cli *cli)
{
    if (cli->n_args != 1)
        return cli_fail(cli, FERRY_EUSAGE, "usage: ferry run JOB.json");
    struct jobspec spec;
    int rc = load_spec(cli, &spec);
    if (rc != 0)
        return rc;
    int status = run_phases(cli, &spec);
    jobspec_free(&spec);
    return status;
}

/* ---- status JOB.json ------------------------------------------------------- */

/* A phase's command line parsed as it will be run (positional words and options). */
static bool parse_phase(const struct jobspec *spec, const struct jobspec_phase *ph, struct cli *c,
                        char ***argv)
{
    int argc;
    *argv = phase_argv(spec, &ph->run, &argc);
    memset(c, 0, sizeof *c);
    bool done = false;
    c->rank = 1;                     /* quiet: a usage error is shown when the phase runs */
    cli_parse(c, argc, *argv, &done);
    return !done && c->n_args >= 1;
}

static void transfer_remains(const struct cli *c, const char *command)
{
    if (c->n_args < 3) {
        printf("    (no destination given)\n");
        return;
    }
    bool upload = strcmp(command, "get") != 0;
    const char *where = upload && strncmp(c->args[2], "hf://", 5) == 0 ? c->args[1] : c->args[2];
    const char *given = c->transfer.state_dir;
    /* A put to the Hub keeps its state in SRC/.ferry/push. */
    char *state = given ? xstrdup(given) : fs_state_dir(where, where == c->args[1] ? "push" : NULL);
    struct journal_summary j;
    struct ferry_error err = {0};
    status_print_last_run(state, "    ");
    char bytes[32];
    if (journal_summarize(state, &j, &err) == 0 && (j.files || j.chunks)) {
        plan_format_bytes(j.chunk_bytes, bytes, sizeof bytes);
        printf("    %lld files and %lld chunks (%s) already in place (journal %s); the rest "
               "remains\n", j.files, j.chunks, bytes, state);
    } else {
        printf("    nothing journalled yet in %s\n", state);
    }
    free(state);
}

static void extract_remains(const struct cli *c)
{
    const char *dest = c->extract.dest;
    if (!dest) {
        printf("    (no -C DEST)\n");
        return;
    }
    char *state = xasprintf("%s/%s", dest, EXTRACT_STATE);
    struct journal *j = NULL;
    struct ferry_error err = {0};
    if (journal_load(state, EXTRACT_JOURNAL, &j, &err) == 0)
        printf("    %lld archives extracted so far into %s\n", journal_count(j), dest);
    journal_close(j);
    free(state);
}

static void rows_remain(const char *file, const char *which, const char *what)
{
    long long rows, done;
    struct ferry_error err = {0};
    if (h5store_progress(file, which, &rows, &done, &err) != 0)
        printf("    %s\n", escape_display(err.msg));
    else if (rows == 0)
        printf("    %s not started in %s\n", what, file);
    else
        printf("    %s: %lld of %lld rows done, %lld remain\n", what, done, rows, rows - done);
}

static void print_remains(const struct jobspec *spec, const struct jobspec_phase *ph)
{
    struct cli c;
    char **argv;
    if (!parse_phase(spec, ph, &c, &argv)) {
        printf("    (its command line does not parse: run it to see why)\n");
    } else {
        const char *command = c.args[0];
        if (!strcmp(command, "get") || !strcmp(command, "put") || !strcmp(command, "sync"))
            transfer_remains(&c, command);
        else if (!strcmp(command, "extract"))
            extract_remains(&c);
        else if (!strcmp(command, "embed") && c.embed.out)
            rows_remain(c.embed.out, "", "embeddings");
        else if (!strcmp(command, "knn") && c.n_args >= 2)
            rows_remain(c.args[1], "knn", "neighbours");
        else
            printf("    runs whole when its turn comes\n");
    }
    cli_free(&c);
    free(argv);
}

/* status --json JOB.json: one line, the phases with their state. */
static void print_json(const struct jobspec *spec)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", "status");
    cJSON_AddStringToObject(o, "job", spec->name);
    cJSON_AddStringToObject(o, "state_dir", spec->state_dir);
    cJSON *phases = cJSON_AddArrayToObject(o, "phases");
    for (size_t i = 0; i < spec->n_phases; i++) {
        double when = 0;
        bool done = jobspec_phase_done(spec, i, &when);
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "name", spec->phases[i].name);
        cJSON_AddStringToObject(p, "command", spec->phases[i].run.argv[0]);
        cJSON_AddBoolToObject(p, "done", done);
        if (done)
            cJSON_AddNumberToObject(p, "finished", when);
        cJSON_AddItemToArray(phases, p);
    }
    char *text = cJSON_PrintUnformatted(o);
    printf("%s\n", text);
    free(text);
    cJSON_Delete(o);
}

int run_status(struct cli *cli)
{
    if (cli->rank != 0)
        return 0;
    struct jobspec spec;
    int rc = load_spec(cli, &spec);
    if (rc != 0)
        return rc;
    if (cli->json) {
        print_json(&spec);
        jobspec_free(&spec);
        return 0;
    }
    printf("%s: %zu phases (markers in %s)\n", spec.name, spec.n_phases, spec.state_dir);
    size_t done = 0;
    for (size_t i = 0; i < spec.n_phases; i++) {
        double when = 0;
        const struct jobspec_phase *ph = &spec.phases[i];
        if (jobspec_phase_done(&spec, i, &when)) {
            char stamp[64];
            time_t t = (time_t)when;
            strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
            printf("  %zu %-12s done (%s)\n", i + 1, ph->name, stamp);
            done++;
            continue;
        }
        printf("  %zu %-12s to do: ferry %s\n", i + 1, ph->name, ph->run.argv[0]);
        print_remains(&spec, ph);
    }
    printf("%zu of %zu phases done\n", done, spec.n_phases);
    jobspec_free(&spec);
    return 0;
}

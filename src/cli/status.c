/* ferry status DIR: what the state in a destination says: who holds it, how
 * the last run ended, and what a rerun of the same command would skip. */
#include "cli.h"
#include "ferry/fsutil.h"
#include "ferry/h5store.h"
#include "ferry/journal.h"
#include "ferry/lock.h"
#include "ferry/plan.h"
#include "ferry/xalloc.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The last report, or NULL when there is none. */
static cJSON *read_report(const char *state_dir)
{
    char *path = xasprintf("%s/report.json", state_dir);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f)
        return NULL;
    char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return cJSON_Parse(text);
}

static void print_report(const cJSON *r);

static double number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

void status_print_last_run(const char *state_dir, const char *indent)
{
    cJSON *report = read_report(state_dir);
    if (report) {
        fputs(indent, stdout);
        print_report(report);
    }
    cJSON_Delete(report);
}

static void print_report(const cJSON *r)
{
    const cJSON *command = cJSON_GetObjectItemCaseSensitive(r, "command");
    char done[32], planned[32];
    plan_format_bytes((long long)number(r, "bytes_done") + (long long)number(r, "bytes_resumed"),
                      done, sizeof done);
    plan_format_bytes((long long)number(r, "planned_bytes"), planned, sizeof planned);
    int status = (int)number(r, "status");
    printf("last run: %s, %s (exit %d): %.0f of %.0f files, %s of %s; %.0f deleted, %.0f failed\n",
           cJSON_IsString(command) ? command->valuestring : "?",
           status == 75 ? "interrupted" : status == 0 ? "complete" : "finished with failures",
           status, number(r, "files_done"), number(r, "planned_files"), done, planned,
           number(r, "files_deleted"), number(r, "files_failed"));
}

static void print_text(const char *dir, const char *state_dir, enum lock_state state,
                       const struct lock_info *holder, const cJSON *report,
                       const struct journal_summary *journal)
{
    printf("%s (state in %s)\n", dir, state_dir);
    if (state == LOCK_FREE) {
        printf("lock: free\n");
    } else {
        char who[512];
        lock_describe(holder, who, sizeof who);
        printf("lock: %s: %s\n", state == LOCK_HELD ? "held" : state == LOCK_STALE ? "stale"
                                 : "left by a dead process", who);
    }
    if (report)
        print_report(report);
    else
        printf("last run: none recorded\n");
    char bytes[32];
    plan_format_bytes(journal->chunk_bytes, bytes, sizeof bytes);
    if (journal->files || journal->chunks)
        printf("journal: %lld files and %lld chunks (%s) done; the same command again skips them\n",
               journal->files, journal->chunks, bytes);
    else
        printf("journal: empty\n");
}

static void print_json(const char *dir, enum lock_state state, const struct lock_info *holder,
                       cJSON *report, const struct journal_summary *journal)
{
    static const char *states[] = {"free", "held", "dead_holder", "stale"};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", "status");
    cJSON_AddStringToObject(o, "destination", dir);
    cJSON *lock = cJSON_AddObjectToObject(o, "lock");
    cJSON_AddStringToObject(lock, "state", states[state]);
    if (state != LOCK_FREE) {
        cJSON_AddStringToObject(lock, "host", holder->host);
        cJSON_AddNumberToObject(lock, "pid", (double)holder->pid);
        cJSON_AddStringToObject(lock, "slurm_job_id", holder->slurm_job_id);
    }
    cJSON_AddItemToObject(o, "last_run", report ? cJSON_Duplicate(report, true) : cJSON_CreateNull());
    cJSON *j = cJSON_AddObjectToObject(o, "journal");
    cJSON_AddNumberToObject(j, "files", (double)journal->files);
    cJSON_AddNumberToObject(j, "chunks", (double)journal->chunks);
    cJSON_AddNumberToObject(j, "chunk_bytes", (double)journal->chunk_bytes);
    char *text = cJSON_PrintUnformatted(o);
    printf("%s\n", text);
    free(text);
    cJSON_Delete(o);
}

static void print_embeddings_json(const char *file, const struct h5store_summary *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", "status");
    cJSON_AddStringToObject(o, "file", file);
    cJSON_AddStringToObject(o, "embedder", s->embedder);
    cJSON_AddNumberToObject(o, "dim", s->dim);
    cJSON_AddNumberToObject(o, "rows", (double)s->rows);
    cJSON_AddNumberToObject(o, "rows_done", (double)s->done);
    cJSON_AddBoolToObject(o, "embed_complete", s->done == s->rows);
    cJSON *knn = s->knn ? cJSON_AddObjectToObject(o, "knn") : NULL;
    if (!knn) {
        cJSON_AddNullToObject(o, "knn");
    } else {
        cJSON_AddNumberToObject(knn, "k", s->k);
        cJSON_AddStringToObject(knn, "metric", s->metric);
        cJSON_AddNumberToObject(knn, "rows_done", (double)s->knn_done);
        cJSON_AddBoolToObject(knn, "complete", s->knn_done == s->rows);
    }
    char *text = cJSON_PrintUnformatted(o);
    printf("%s\n", text);
    free(text);
    cJSON_Delete(o);
}

/* status FILE.h5: how far ferry embed and ferry knn got (rank 0). */
static int embeddings_status(struct cli *cli, const char *file)
{
    if (cli->rank != 0)
        return 0;
    struct h5store_summary s;
    struct ferry_error err = {0};
    if (h5store_summarize(file, &s, &err) != 0)
        return cli_fail(cli, err.code, err.msg);
    if (cli->json) {
        print_embeddings_json(file, &s);
        return 0;
    }
    printf("%s: embeddings (%s, D = %d): %lld of %lld rows done%s\n", file, s.embedder, s.dim,
           s.done, s.rows, s.done == s.rows ? ", complete" : "; the same embed command resumes");
    if (!s.knn)
        printf("knn: not run\n");
    else
        printf("knn (k = %d, %s): %lld of %lld rows done%s\n", s.k, s.metric, s.knn_done, s.rows,
               s.knn_done == s.rows ? ", complete" : "; the same knn command resumes");
    return 0;
}

int cmd_status(struct cli *cli, const struct cli_status *opt)
{
    if (cli->n_args != 1)
        return cli_fail(cli, FERRY_EUSAGE, "status takes one destination (see ferry status --help)");
    const char *dir = cli->args[0];
    static const char *const json[] = {".json"};
    struct stat st;
    static const char *const h5[] = {".h5", ".hdf5"};
    if (fs_has_suffix(dir, json, 1, false) && stat(dir, &st) == 0 && S_ISREG(st.st_mode))
        return run_status(cli);
    if (fs_has_suffix(dir, h5, 2, true))
        return embeddings_status(cli, dir);
    if (cli->rank != 0)
        return 0;
    char *state_dir = opt->state_dir ? xstrdup(opt->state_dir) : fs_state_dir(dir, NULL);
    int rc = 0;
    if (access(state_dir, F_OK) != 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s: no ferry state here (nothing was ever run into it)", dir);
        rc = cli_fail(cli, FERRY_ENOTFOUND, msg);
        free(state_dir);
        return rc;
    }
    double ttl = cli->config.lock_ttl > 0 ? cli->config.lock_ttl : LOCK_DEFAULT_TTL;
    struct ferry_error err = {0};
    struct lock_info holder;
    enum lock_state state;
    struct journal_summary journal;
    if (lock_inspect(state_dir, ttl, &holder, &state, &err) != 0 ||
        journal_summarize(state_dir, &journal, &err) != 0) {
        rc = cli_fail(cli, err.code, err.msg);
    } else {
        cJSON *report = read_report(state_dir);
        if (cli->json)
            print_json(dir, state, &holder, report, &journal);
        else
            print_text(dir, state_dir, state, &holder, report, &journal);
        cJSON_Delete(report);
    }
    free(state_dir);
    return rc;
}

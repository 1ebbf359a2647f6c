#include "ferry/jobspec.h"
#include "ferry/fsutil.h"
#include "ferry/xalloc.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOBSPEC_MAX_BYTES (1 << 20)

static char *read_text(const char *path, struct ferry_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        err_sys(err, FERRY_ENOTFOUND, errno, "%s", path);
        return NULL;
    }
    char *text = xmalloc(JOBSPEC_MAX_BYTES + 1);
    size_t n = fread(text, 1, JOBSPEC_MAX_BYTES, f);
    bool whole = feof(f);
    fclose(f);
    text[n] = '\0';
    if (!whole) {
        free(text);
        err_set(err, FERRY_EUSAGE, "%s: bigger than a job spec can be (1 MiB)", path);
        return NULL;
    }
    return text;
}

/* An array of strings into argv; false if it is not one. */
static bool read_argv(const cJSON *array, struct jobspec_argv *out)
{
    if (!cJSON_IsArray(array))
        return false;
    int n = cJSON_GetArraySize(array);
    out->argv = xcalloc((size_t)n + 1, sizeof *out->argv);
    out->argc = 0;
    const cJSON *word;
    cJSON_ArrayForEach(word, array) {
        if (!cJSON_IsString(word))
            return false;
        out->argv[out->argc++] = xstrdup(word->valuestring);
    }
    return true;
}

static void free_argv(struct jobspec_argv *a)
{
    for (int i = 0; a->argv && i < a->argc; i++)
        free(a->argv[i]);
    free(a->argv);
    a->argv = NULL;
    a->argc = 0;
}

static int read_phases(const cJSON *root, struct jobspec *spec, struct ferry_error *err)
{
    const cJSON *phases = cJSON_GetObjectItemCaseSensitive(root, "phases");
    if (!cJSON_IsArray(phases) || cJSON_GetArraySize(phases) == 0)
        return err_set(err, FERRY_EUSAGE, "%s: \"phases\" must be a non-empty array", spec->path);
    spec->phases = xcalloc((size_t)cJSON_GetArraySize(phases), sizeof *spec->phases);
    const cJSON *p;
    cJSON_ArrayForEach(p, phases) {
        struct jobspec_phase *ph = &spec->phases[spec->n_phases++];
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
        const cJSON *run = cJSON_GetObjectItemCaseSensitive(p, "run");
        bool ok = read_argv(run, &ph->run) && ph->run.argc > 0;
        if (!ok)
            return err_set(err, FERRY_EUSAGE, "%s: phase %zu needs \"run\": a ferry command line "
                           "as an array of strings, such as [\"get\", \"SRC\", \"DST\"]",
                           spec->path, spec->n_phases);
        if (strcmp(ph->run.argv[0], "run") == 0)
            return err_set(err, FERRY_EUSAGE, "%s: phase %zu: a phase cannot be another run",
                           spec->path, spec->n_phases);
        ph->name = xstrdup(cJSON_IsString(name) ? name->valuestring : ph->run.argv[0]);
    }
    return 0;
}

static int read_after(const cJSON *root, struct jobspec *spec, struct ferry_error *err)
{
    const cJSON *after = cJSON_GetObjectItemCaseSensitive(root, "after_phase");
    if (!after)
        return 0;
    if (!cJSON_IsArray(after))
        return err_set(err, FERRY_EUSAGE, "%s: \"after_phase\" must be an array of command lines",
                       spec->path);
    spec->after = xcalloc((size_t)cJSON_GetArraySize(after) + 1, sizeof *spec->after);
    const cJSON *step;
    cJSON_ArrayForEach(step, after) {
        struct jobspec_argv *a = &spec->after[spec->n_after++];
        if (!read_argv(step, a) || a->argc == 0)
            return err_set(err, FERRY_EUSAGE, "%s: after_phase step %zu must be a command line "
                           "(an array of strings)", spec->path, spec->n_after);
    }
    return 0;
}

/* The spec's name and state folder: given, or from the file's name and place. */
static void name_and_state(const cJSON *root, struct jobspec *spec)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(root, "state_dir");
    char *copy = xstrdup(spec->path), *copy2 = xstrdup(spec->path);
    char *base = basename(copy), *dir = dirname(copy2);
    char *dot = strrchr(base, '.');
    if (dot && strcmp(dot, ".json") == 0)
        *dot = '\0';
    spec->name = xstrdup(cJSON_IsString(name) ? name->valuestring : base);
    spec->state_dir = cJSON_IsString(state) ? xstrdup(state->valuestring)
                                           : xasprintf("%s/" FS_RUN_STATE_NAME "/%s", dir, spec->name);
    free(copy);
    free(copy2);
}

int jobspec_parse(const char *text, const char *path, struct jobspec *spec,
                  struct ferry_error *err)
{
    memset(spec, 0, sizeof *spec);
    spec->path = xstrdup(path);
    cJSON *root = cJSON_Parse(text);
    int rc = 0;
    if (!cJSON_IsObject(root))
        rc = err_set(err, FERRY_EUSAGE, "%s: not a JSON object", path);
    const cJSON *settings = root ? cJSON_GetObjectItemCaseSensitive(root, "settings") : NULL;
    if (rc == 0 && settings && !read_argv(settings, &spec->settings))
        rc = err_set(err, FERRY_EUSAGE, "%s: \"settings\" must be an array of options, such as "
                     "[\"--yes\", \"--connections\", \"16\"]", path);
    if (rc == 0)
        rc = read_phases(root, spec, err);
    if (rc == 0)
        rc = read_after(root, spec, err);
    if (rc == 0)
        name_and_state(root, spec);
    cJSON_Delete(root);
    return rc;
}

int jobspec_load(const char *path, struct jobspec *spec, struct ferry_error *err)
{
    char *text = read_text(path, err);
    if (!text) {
        memset(spec, 0, sizeof *spec);
        spec->path = xstrdup(path);
        return err->code;
    }
    int rc = jobspec_parse(text, path, spec, err);
    free(text);
    return rc;
}

void jobspec_free(struct jobspec *spec)
{
    for (size_t i = 0; i < spec->n_phases; i++) {
        free(spec->phases[i].name);
        free_argv(&spec->phases[i].run);
    }
    for (size_t i = 0; i < spec->n_after; i++)
        free_argv(&spec->after[i]);
    free_argv(&spec->settings);
    free(spec->phases);
    free(spec->after);
    free(spec->path);
    free(spec->name);
    free(spec->state_dir);
    memset(spec, 0, sizeof *spec);
}

static char *marker_path(const struct jobspec *spec, size_t i)
{
    return xasprintf("%s/phase-%02zu.done", spec->state_dir, i + 1);
}

static cJSON *argv_json(const struct jobspec_argv *a)
{
    cJSON *array = cJSON_CreateArray();
    for (int i = 0; i < a->argc; i++)
        cJSON_AddItemToArray(array, cJSON_CreateString(a->argv[i]));
    return array;
}

bool jobspec_phase_done(const struct jobspec *spec, size_t i, double *finished)
{
    char *path = marker_path(spec, i);
    struct ferry_error err = {0};
    char *text = read_text(path, &err);
    free(path);
    if (!text)
        return false;
    cJSON *marker = cJSON_Parse(text);
    free(text);
    cJSON *want = argv_json(&spec->phases[i].run);
    const cJSON *ran = cJSON_GetObjectItemCaseSensitive(marker, "run");
    const cJSON *when = cJSON_GetObjectItemCaseSensitive(marker, "finished");
    bool same = ran && cJSON_Compare(ran, want, true);
    if (same && finished)
        *finished = cJSON_IsNumber(when) ? when->valuedouble : 0;
    cJSON_Delete(want);
    cJSON_Delete(marker);
    return same;
}

int jobspec_mark_done(const struct jobspec *spec, size_t i, struct ferry_error *err)
{
    int rc = fs_mkdirs(spec->state_dir, err);
    if (rc != 0)
        return rc;
    cJSON *marker = cJSON_CreateObject();
    cJSON_AddStringToObject(marker, "phase", spec->phases[i].name);
    cJSON_AddItemToObject(marker, "run", argv_json(&spec->phases[i].run));
    cJSON_AddNumberToObject(marker, "finished", (double)time(NULL));
    char *text = cJSON_PrintUnformatted(marker);
    cJSON_Delete(marker);
    char *path = marker_path(spec, i);
    rc = fs_write_atomic(path, text, strlen(text), err);
    free(path);
    free(text);
    return rc;
}

char **jobspec_command(const struct jobspec *spec, const struct jobspec_argv *cmd, int *argc)
{
    char **argv = xcalloc((size_t)(spec->settings.argc + cmd->argc + 2), sizeof *argv);
    int n = 0;
    argv[n++] = "ferry";
    for (int i = 0; i < cmd->argc; i++)
        argv[n++] = cmd->argv[i];
    for (int i = 0; i < spec->settings.argc; i++)
        argv[n++] = spec->settings.argv[i];
    *argc = n;
    return argv;
}

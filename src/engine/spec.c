#include "ferry/spec.h"
#include "ferry/escape.h"
#include "ferry/xalloc.h"

#include <cjson/cJSON.h>

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SPEC_MAX_BYTES (16 << 20)
#define SPEC_BAD_LINES_SHOWN 5

struct checker {
    const char *dir;
    FILE *out;
    int failed;
    char **files;                    /* every file under dir, relative */
    size_t n_files, cap_files;
};

static void result(struct checker *c, bool ok, const char *fmt, const char *what,
                   const char *detail)
{
    fprintf(c->out, "%s: ", ok ? "ok" : "FAIL");
    fprintf(c->out, fmt, escape_display(what), detail ? escape_display(detail) : "");
    fputc('\n', c->out);
    c->failed += !ok;
}

/* Every file under dir/rel, relative to dir; hidden folders (.ferry) left out. */
static void walk(struct checker *c, const char *rel)
{
    char *path = *rel ? xasprintf("%s/%s", c->dir, rel) : xstrdup(c->dir);
    DIR *d = opendir(path);
    free(path);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *child = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
        char *full = xasprintf("%s/%s", c->dir, child);
        struct stat st;
        if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            walk(c, child);
            free(child);
        } else {
            xgrow((void **)&c->files, &c->cap_files, c->n_files + 1, sizeof *c->files);
            c->files[c->n_files++] = child;
        }
        free(full);
    }
    closedir(d);
}

static void check_required(struct checker *c, const char *want)
{
    size_t len = strlen(want);
    bool folder = len > 0 && want[len - 1] == '/';
    char *path = xasprintf("%s/%s", c->dir, want);
    struct stat st;
    bool ok = stat(path, &st) == 0 && (folder ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
    free(path);
    result(c, ok, "required %s %s", want, ok ? "is there" : "is missing");
}

/* Lines of a JSON-lines file: *records the non-empty ones; bad lines listed. */
static bool scan_jsonl(struct checker *c, const char *rel, long long *records, char *bad,
                       size_t bad_len)
{
    char *path = xasprintf("%s/%s", c->dir, rel);
    FILE *f = fopen(path, "r");
    free(path);
    *records = 0;
    bad[0] = '\0';
    if (!f) {
        snprintf(bad, bad_len, "cannot be read: %s", strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long long number = 0, wrong = 0;
    size_t used = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        number++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        (*records)++;
        cJSON *json = cJSON_ParseWithLength(line, (size_t)len);
        if (json) {
            cJSON_Delete(json);
            continue;
        }
        if (wrong++ < SPEC_BAD_LINES_SHOWN && used < bad_len)
            used += (size_t)snprintf(bad + used, bad_len - used, "%s%lld", used ? ", " : "",
                                     number);
    }
    free(line);
    fclose(f);
    if (wrong > SPEC_BAD_LINES_SHOWN && used < bad_len)
        snprintf(bad + used, bad_len - used, " (%lld bad lines in all)", wrong);
    return wrong == 0;
}

static void check_jsonl(struct checker *c, const char *pattern)
{
    bool any = false;
    for (size_t i = 0; i < c->n_files; i++) {
        if (fnmatch(pattern, c->files[i], FNM_PATHNAME) != 0)
            continue;
        any = true;
        long long records;
        char bad[256], detail[300];
        bool ok = scan_jsonl(c, c->files[i], &records, bad, sizeof bad);
        if (ok)
            snprintf(detail, sizeof detail, ": %lld records, every line parses", records);
        else
            snprintf(detail, sizeof detail, ": lines that do not parse: %s", bad);
        result(c, ok, "JSON lines %s%s", c->files[i], detail);
    }
    if (!any)
        result(c, false, "JSON lines %s%s", pattern, ": no file matches");
}

static void check_count(struct checker *c, const cJSON *spec)
{
    const cJSON *records = cJSON_GetObjectItemCaseSensitive(spec, "records");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(spec, "files");
    const cJSON *pattern = cJSON_GetObjectItemCaseSensitive(spec, "pattern");
    if (!cJSON_IsString(records) || !cJSON_IsString(files)) {
        result(c, false, "count %s%s", "entry", ": needs \"records\" and \"files\" strings");
        return;
    }
    const char *glob = cJSON_IsString(pattern) ? pattern->valuestring : "*";
    char prefix[4096];
    snprintf(prefix, sizeof prefix, "%s", files->valuestring);
    size_t plen = strlen(prefix);
    if (plen > 0 && prefix[plen - 1] != '/' && plen + 1 < sizeof prefix)
        strcpy(prefix + plen++, "/");
    long long n_files = 0;
    for (size_t i = 0; i < c->n_files; i++) {
        if (strncmp(c->files[i], prefix, plen) != 0)
            continue;
        const char *name = strrchr(c->files[i], '/');
        n_files += fnmatch(glob, name ? name + 1 : c->files[i], 0) == 0;
    }
    long long n_records;
    char bad[256], detail[600];
    scan_jsonl(c, records->valuestring, &n_records, bad, sizeof bad);
    snprintf(detail, sizeof detail, " has %lld records, %s has %lld files matching %s",
             n_records, prefix, n_files, glob);
    result(c, n_records == n_files && !strstr(bad, "cannot be read"), "count: %s%s",
           records->valuestring, detail);
}

static int load_spec(const char *path, cJSON **out, struct ferry_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return err_sys(err, FERRY_EUSAGE, errno, "%s", path);
    char *text = xmalloc(SPEC_MAX_BYTES + 1);
    size_t len = fread(text, 1, SPEC_MAX_BYTES, f);
    fclose(f);
    text[len] = '\0';
    *out = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        return err_set(err, FERRY_EUSAGE, "%s: not a JSON object", path);
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, *out) {
        bool known = strcmp(item->string, "required") == 0 || strcmp(item->string, "jsonl") == 0 ||
                     strcmp(item->string, "counts") == 0;
        if (!known || !cJSON_IsArray(item)) {
            int rc = err_set(err, FERRY_EUSAGE, "%s: \"%s\" %s", path, item->string,
                             known ? "must be a list" : "is not a key of a spec (required, "
                             "jsonl, counts)");
            cJSON_Delete(*out);
            return rc;
        }
    }
    return 0;
}

int spec_check(const char *dir, const char *spec_path, FILE *out, int *failed,
               struct ferry_error *err)
{
    cJSON *spec = NULL;
    int rc = load_spec(spec_path, &spec, err);
    if (rc != 0)
        return rc;
    struct checker c = {.dir = dir, .out = out};
    walk(&c, "");
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(spec, "required"))
        if (cJSON_IsString(item))
            check_required(&c, item->valuestring);
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(spec, "jsonl"))
        if (cJSON_IsString(item))
            check_jsonl(&c, item->valuestring);
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(spec, "counts"))
        check_count(&c, item);
    for (size_t i = 0; i < c.n_files; i++)
        free(c.files[i]);
    free(c.files);
    cJSON_Delete(spec);
    *failed = c.failed;
    return 0;
}

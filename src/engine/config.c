#include "ferry/config.h"
#include "ferry/targets.h"
#include "ferry/xalloc.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where cJSON stopped, as line:column of text. */
static void error_position(const char *text, const char *stop, int *line, int *column)
{
    *line = 1;
    *column = 1;
    for (const char *p = text; p < stop && *p; p++) {
        if (*p == '\n') {
            (*line)++;
            *column = 1;
        } else {
            (*column)++;
        }
    }
}

static int type_error(struct ferry_error *err, const char *origin, const char *key,
                      const char *expected)
{
    return err_set(err, FERRY_EUSAGE, "%s: \"%s\" must be %s", origin, key, expected);
}

bool config_comment(const char *key)
{
    return key && strncmp(key, "//", 2) == 0;
}

/* {"name": "location", ...} */
static int parse_names(const cJSON *item, const char *origin, struct config_name **out,
                       size_t *count, struct ferry_error *err)
{
    if (!cJSON_IsObject(item))
        return type_error(err, origin, item->string, "an object of names to locations");
    const cJSON *entry;
    cJSON_ArrayForEach(entry, item) {
        if (config_comment(entry->string))
            continue;
        if (!cJSON_IsString(entry) || !*entry->valuestring)
            return err_set(err, FERRY_EUSAGE, "%s: \"%s\".\"%s\" must be a location string",
                           origin, item->string, entry->string);
        *out = xrealloc(*out, (*count + 1) * sizeof **out);
        (*out)[(*count)++] = (struct config_name){xstrdup(entry->string),
                                                  xstrdup(entry->valuestring)};
    }
    return 0;
}

static int parse_strings(const cJSON *item, const char *origin, char ***out, size_t *count,
                         struct ferry_error *err)
{
    if (!cJSON_IsArray(item))
        return type_error(err, origin, item->string, "an array of strings");
    const cJSON *entry;
    cJSON_ArrayForEach(entry, item) {
        if (!cJSON_IsString(entry))
            return type_error(err, origin, item->string, "an array of strings");
        *out = xrealloc(*out, (*count + 1) * sizeof **out);
        (*out)[(*count)++] = xstrdup(entry->valuestring);
    }
    return 0;
}

static int parse_positive(const cJSON *item, const char *origin, double *out,
                          struct ferry_error *err)
{
    if (!cJSON_IsNumber(item) || item->valuedouble <= 0)
        return type_error(err, origin, item->string, "a positive number");
    *out = item->valuedouble;
    return 0;
}

/* An empty prefix would allow every repository: say so instead.  The forms
 * a prefix takes are read by backend_prefix_allows. */
static int parse_prefixes(const cJSON *item, const char *origin, struct ferry_config *cfg,
                          struct ferry_error *err)
{
    int rc = parse_strings(item, origin, &cfg->allowed_prefixes, &cfg->n_allowed_prefixes, err);
    for (size_t i = 0; rc == 0 && i < cfg->n_allowed_prefixes; i++)
        if (!*cfg->allowed_prefixes[i])
            rc = type_error(err, origin, item->string, "prefixes such as \"hf://datasets/OWNER/\", "
                            "\"datasets/OWNER/NAME\" or \"https://HOST/\" (\"\" is none of them)");
    return rc;
}

/* Bytes, or -1 where a long long cannot hold them (NaN and infinities too:
 * converting those is undefined behaviour). */
static long long size_from_double(double value)
{
    return value >= 0 && value <= 9.2e18 ? (long long)value : -1;
}

static int parse_key(const cJSON *item, const char *origin, struct ferry_config *cfg,
                     struct ferry_error *err)
{
    const char *key = item->string;
    double number = 0;
    int rc;
    if (strcmp(key, "roots") == 0)
        return parse_names(item, origin, &cfg->roots, &cfg->n_roots, err);
    if (strcmp(key, "remotes") == 0)
        return parse_names(item, origin, &cfg->remotes, &cfg->n_remotes, err);
    if (strcmp(key, "default_excludes") == 0)
        return parse_strings(item, origin, &cfg->default_excludes, &cfg->n_default_excludes, err);
    if (strcmp(key, "allowed_prefixes") == 0)
        return parse_prefixes(item, origin, cfg, err);
    if (strcmp(key, "rate") == 0) {
        if (!cJSON_IsString(item))
            return type_error(err, origin, key, "a string like \"api=2500/300\"");
        /* JSON allows a key twice; the last one counts, as for the numbers. */
        free(cfg->rate);
        cfg->rate = xstrdup(item->valuestring);
        return 0;
    }
    if (strcmp(key, "connections") == 0) {
        if ((rc = parse_positive(item, origin, &number, err)) != 0)
            return rc;
        if (number != floor(number) || number > 1024)
            return type_error(err, origin, key, "a whole number from 1 to 1024");
        cfg->connections = (int)number;
        return 0;
    }
    if (strcmp(key, "chunk_size") == 0) {
        cfg->chunk_size = cJSON_IsString(item) ? config_parse_size(item->valuestring)
                        : cJSON_IsNumber(item) ? size_from_double(item->valuedouble) : -1;
        return cfg->chunk_size > 0 ? 0 : type_error(err, origin, key, "a size such as \"64M\"");
    }
    if (strcmp(key, "targets") == 0)
        return targets_parse(item, origin, &cfg->targets, &cfg->n_targets, err);
    if (strcmp(key, "default_target") == 0) {
        if (!cJSON_IsString(item) || !*item->valuestring)
            return type_error(err, origin, key, "the name of a target");
        free(cfg->default_target);
        cfg->default_target = xstrdup(item->valuestring);
        return 0;
    }
    if (config_comment(key))
        return 0;
    if (strcmp(key, "lock_ttl") == 0)
        return parse_positive(item, origin, &cfg->lock_ttl, err);
    if (strcmp(key, "stall_timeout") == 0)
        return parse_positive(item, origin, &cfg->stall_timeout, err);
    return err_set(err, FERRY_EUSAGE, "%s: unknown key \"%s\" (known: roots, remotes, "
                   "default_excludes, allowed_prefixes, rate, connections, chunk_size, "
                   "lock_ttl, stall_timeout, targets, default_target; \"//\" for comments)",
                   origin, key);
}

int config_parse(const char *text, const char *origin, struct ferry_config *cfg,
                 struct ferry_error *err)
{
    const char *stop = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &stop, true);
    if (!root) {
        int line, column;
        error_position(text, stop ? stop : text, &line, &column);
        return err_set(err, FERRY_EUSAGE, "%s:%d:%d: not valid JSON", origin, line, column);
    }
    int rc = 0;
    if (!cJSON_IsObject(root))
        rc = err_set(err, FERRY_EUSAGE, "%s: the config must be a JSON object", origin);
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (rc == 0)
            rc = parse_key(item, origin, cfg, err);
    }
    cJSON_Delete(root);
    if (rc == 0 && cfg->default_target &&
        !target_find(cfg->targets, cfg->n_targets, cfg->default_target))
        rc = err_set(err, FERRY_EUSAGE, "%s: default_target \"%s\" is not one of the targets",
                     origin, cfg->default_target);
    return rc;
}

static char *read_file(const char *path, int *errnum)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        *errnum = errno;
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *text = xmalloc(cap);
    size_t n;
    while ((n = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2)
            text = xrealloc(text, cap *= 2);
    }
    text[len] = '\0';
    fclose(f);
    return text;
}

/* misc/ folders, at any depth, hold a scene's debug output, which never
 * belongs in an upload (the users' earlier tool left them out too).  The
 * config's default_excludes come on top; --no-default-excludes lifts all. */
static const char *const builtin_excludes[] = {"misc/", "*/misc/"};

int config_load(const char *explicit_path, struct ferry_config *cfg, struct ferry_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    size_t n_builtin = sizeof builtin_excludes / sizeof *builtin_excludes;
    cfg->default_excludes = xcalloc(n_builtin, sizeof *cfg->default_excludes);
    for (size_t i = 0; i < n_builtin; i++)
        cfg->default_excludes[cfg->n_default_excludes++] = xstrdup(builtin_excludes[i]);
    const char *env = getenv("FERRY_CONFIG");
    const char *required = explicit_path ? explicit_path : (env && *env) ? env : NULL;
    char *home_path = xasprintf("%s/.config/ferry/config.json",
                                getenv("HOME") ? getenv("HOME") : "");
    const char *candidates[] = {required, required ? NULL : "ferry.json",
                                required ? NULL : home_path};
    int rc = 0;
    for (size_t i = 0; i < 3; i++) {
        if (!candidates[i])
            continue;
        int errnum = 0;
        char *text = read_file(candidates[i], &errnum);
        if (!text) {
            /* The default places may be absent; a named file may not. */
            if (!required && errnum == ENOENT)
                continue;
            rc = err_sys(err, FERRY_EUSAGE, errnum, "config %s", candidates[i]);
            break;
        }
        cfg->path = xstrdup(candidates[i]);
        rc = config_parse(text, candidates[i], cfg, err);
        free(text);
        break;
    }
    free(home_path);
    return rc;
}

static const char *lookup(const struct config_name *names, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(names[i].name, name) == 0)
            return names[i].location;
    return NULL;
}

const char *config_root(const struct ferry_config *cfg, const char *name)
{
    return lookup(cfg->roots, cfg->n_roots, name);
}

const char *config_remote(const struct ferry_config *cfg, const char *name)
{
    return lookup(cfg->remotes, cfg->n_remotes, name);
}

static void free_names(struct config_name *names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(names[i].name);
        free(names[i].location);
    }
    free(names);
}

static void free_strings(char **strings, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(strings[i]);
    free(strings);
}

void config_free(struct ferry_config *cfg)
{
    free(cfg->path);
    free_names(cfg->roots, cfg->n_roots);
    free_names(cfg->remotes, cfg->n_remotes);
    free_strings(cfg->default_excludes, cfg->n_default_excludes);
    free_strings(cfg->allowed_prefixes, cfg->n_allowed_prefixes);
    free(cfg->rate);
    targets_free(cfg->targets, cfg->n_targets);
    free(cfg->default_target);
    memset(cfg, 0, sizeof *cfg);
}

long long config_parse_size(const char *text)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (end == text || errno != 0 || value < 0)
        return -1;
    static const char units[] = "KMGT";
    /* 64M, 64m, 64MiB and 64MB all mean 64 MiB. */
    const char *unit = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
    if (*end && !unit)
        return -1;
    if (unit) {
        for (const char *u = units; u <= unit; u++)
            value *= 1024.0;
        end++;
        if (*end == 'i')
            end++;
        if (*end == 'B')
            end++;
    } else if (*end == 'B') {
        end++;
    }
    return *end ? -1 : size_from_double(value);
}

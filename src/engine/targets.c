#include "ferry/targets.h"
#include "ferry/config.h"
#include "ferry/xalloc.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A key "//" is a comment: JSON has none, and a template needs them. */
static bool comment(const cJSON *item)
{
    return config_comment(item->string);
}

static int bad(struct ferry_error *err, const char *origin, const char *target, const char *key,
               const char *expected)
{
    return err_set(err, FERRY_EUSAGE, "%s: targets.\"%s\".\"%s\" must be %s", origin, target, key,
                   expected);
}

static int whole(const cJSON *v, int min, int max, int *out)
{
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < min ||
        v->valuedouble > max)
        return -1;
    *out = (int)v->valuedouble;
    return 0;
}

static int parse_paths(const cJSON *v, const char *origin, struct config_target *t,
                       struct ferry_error *err)
{
    if (!cJSON_IsObject(v))
        return bad(err, origin, t->name, "paths", "an object of classes to folders");
    const cJSON *p;
    cJSON_ArrayForEach(p, v) {
        if (comment(p))
            continue;
        if (!cJSON_IsString(p) || !*p->valuestring)
            return bad(err, origin, t->name, "paths", "an object of classes to folders (strings)");
        t->paths = xrealloc(t->paths, (t->n_paths + 1) * sizeof *t->paths);
        t->paths[t->n_paths++] = (struct target_path){xstrdup(p->string), xstrdup(p->valuestring)};
    }
    return t->n_paths ? 0 : bad(err, origin, t->name, "paths", "at least one class");
}

static int parse_key(const cJSON *v, const char *origin, struct config_target *t,
                     struct ferry_error *err)
{
    const char *key = v->string;
    if (strcmp(key, "host") == 0 || strcmp(key, "user") == 0) {
        if (!cJSON_IsString(v) || !*v->valuestring)
            return bad(err, origin, t->name, key, "a string");
        char **field = key[0] == 'h' ? &t->host : &t->user;
        free(*field);
        *field = xstrdup(v->valuestring);
        return 0;
    }
    if (strcmp(key, "port") == 0)
        return whole(v, 1, 65535, &t->port) ? bad(err, origin, t->name, key, "a port number") : 0;
    if (strcmp(key, "paths") == 0)
        return parse_paths(v, origin, t, err);
    if (strcmp(key, "latest_only") == 0 || strcmp(key, "check_remote_first") == 0) {
        if (!cJSON_IsBool(v))
            return bad(err, origin, t->name, key, "true or false");
        *(key[0] == 'l' ? &t->latest_only : &t->check_remote_first) = cJSON_IsTrue(v);
        return 0;
    }
    if (strcmp(key, "max_depth") == 0)
        return whole(v, 1, 4096, &t->max_depth) ? bad(err, origin, t->name, key,
                                                       "a whole number from 1") : 0;
    if (strcmp(key, "parallel_transfers") == 0)
        return whole(v, 1, 256, &t->parallel_transfers)
                   ? bad(err, origin, t->name, key, "a whole number from 1 to 256") : 0;
    return err_set(err, FERRY_EUSAGE, "%s: targets.\"%s\": unknown key \"%s\" (known: host, user, "
                   "port, paths, latest_only, max_depth, parallel_transfers, check_remote_first)",
                   origin, t->name, key);
}

int targets_parse(const cJSON *item, const char *origin, struct config_target **out,
                  size_t *count, struct ferry_error *err)
{
    if (!cJSON_IsObject(item))
        return err_set(err, FERRY_EUSAGE, "%s: \"targets\" must be an object of names to targets",
                       origin);
    const cJSON *entry;
    cJSON_ArrayForEach(entry, item) {
        if (comment(entry))
            continue;
        if (!cJSON_IsObject(entry))
            return err_set(err, FERRY_EUSAGE, "%s: targets.\"%s\" must be an object", origin,
                           entry->string);
        if (target_find(*out, *count, entry->string))
            return err_set(err, FERRY_EUSAGE, "%s: target \"%s\" is named twice", origin,
                           entry->string);
        *out = xrealloc(*out, (*count + 1) * sizeof **out);
        struct config_target *t = &(*out)[(*count)++];
        *t = (struct config_target){.name = xstrdup(entry->string), .check_remote_first = true};
        const cJSON *v;
        cJSON_ArrayForEach(v, entry) {
            int rc = comment(v) ? 0 : parse_key(v, origin, t, err);
            if (rc != 0)
                return rc;
        }
        if (!t->host)
            return bad(err, origin, t->name, "host", "given");
        if (!t->paths)
            return bad(err, origin, t->name, "paths", "given");
    }
    return 0;
}

void targets_free(struct config_target *targets, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        struct config_target *t = &targets[i];
        for (size_t k = 0; k < t->n_paths; k++) {
            free(t->paths[k].name);
            free(t->paths[k].path);
        }
        free(t->paths);
        free(t->name);
        free(t->host);
        free(t->user);
    }
    free(targets);
}

const struct config_target *target_find(const struct config_target *targets, size_t count,
                                        const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(targets[i].name, name) == 0)
            return &targets[i];
    return NULL;
}

const char *target_path(const struct config_target *t, const char *class_name)
{
    for (size_t k = 0; k < t->n_paths; k++)
        if (strcmp(t->paths[k].name, class_name) == 0)
            return t->paths[k].path;
    return NULL;
}

char *target_location(const struct config_target *t, const char *path)
{
    char port[16] = "";
    if (t->port)
        snprintf(port, sizeof port, ":%d", t->port);
    bool v6 = strchr(t->host, ':') != NULL;
    /* A relative folder is under the home, as for scp: "/~/" says so. */
    if (strncmp(path, "~/", 2) == 0)
        path += 2;
    return xasprintf("ssh://%s%s%s%s%s%s/%s%s", t->user ? t->user : "", t->user ? "@" : "",
                     v6 ? "[" : "", t->host, v6 ? "]" : "", port, path[0] == '/' ? "" : "~/",
                     path[0] == '/' ? path + 1 : path);
}

const char targets_template[] =
    "{\n"
    "  \"//\": \"ferry's config (ferry init wrote this; keys named // are comments).\",\n"
    "  \"//\": \"ferry targets lists the targets; ferry sync --target NAME copies every class\",\n"
    "  \"//\": \"of NAME from its root below to the target's folder of that class.\",\n"
    "  \"roots\": {\n"
    "    \"//\": \"class -> local folder (on the cluster) that a target's class receives\",\n"
    "    \"sweeps\": \"/scratch/USER/sweeps\",\n"
    "    \"wandb\": \"/scratch/USER/wandb\"\n"
    "  },\n"
    "  \"targets\": {\n"
    "    \"desktop\": {\n"
    "      \"//\": \"host: a name, an address or a Host alias of ~/.ssh/config\",\n"
    "      \"host\": \"workstation.example.org\",\n"
    "      \"user\": \"USER\",\n"
    "      \"//\": \"class -> folder on the host (absolute, or ~/x under the home)\",\n"
    "      \"paths\": {\n"
    "        \"sweeps\": \"~/sweeps\",\n"
    "        \"wandb\": \"~/wandb\"\n"
    "      },\n"
    "      \"//\": \"only the highest of siblings that differ by a version (model:v1 model:v2,\",\n"
    "      \"//\": \"ckpt_v2, epoch=3); --all-versions sends them all\",\n"
    "      \"latest_only\": true,\n"
    "      \"//\": \"no files deeper than this many folders below a class\",\n"
    "      \"max_depth\": 8,\n"
    "      \"//\": \"SFTP transfers in flight per rank (each on its own connection, at most 8)\",\n"
    "      \"parallel_transfers\": 8,\n"
    "      \"//\": \"list the host first and send only new or changed files (false: send all)\",\n"
    "      \"check_remote_first\": true\n"
    "    },\n"
    "    \"backup\": {\n"
    "      \"host\": \"backup.example.org\",\n"
    "      \"port\": 22,\n"
    "      \"paths\": {\n"
    "        \"sweeps\": \"/backup/USER/sweeps\",\n"
    "        \"wandb\": \"/backup/USER/wandb\"\n"
    "      }\n"
    "    }\n"
    "  },\n"
    "  \"//\": \"the target of ferry sync/put/plan when no --target is given\",\n"
    "  \"default_target\": \"desktop\"\n"
    "}\n";

/* Named SSH targets in the config: where a sweep's outputs go on a
 * workstation or a backup host, by path class, with the options each host
 * wants.  Part of the JSON config (config.h):
 *
 *   "targets": {
 *     "desktop": {
 *       "host": "ws1.lab.example",       a name, an address or a ~/.ssh/config alias
 *       "user": "me",                    optional: else ssh's
 *       "port": 22,                      optional: else ssh's
 *       "paths": {                       class -> folder on the host ("~/x" or "x": under home)
 *         "sweeps": "/data/sweeps",
 *         "wandb": "/data/wandb"
 *       },
 *       "latest_only": true,             only the highest of model:v1 model:v2 ... (default false)
 *       "max_depth": 6,                  no files deeper than this below a class (default: any)
 *       "parallel_transfers": 8,         transfers in flight per rank (default --connections)
 *       "check_remote_first": true       compare with one listing of the host (default true)
 *     }
 *   },
 *   "default_target": "desktop"
 *
 * A class's local side is the config's root of the same name ("roots"). */
#ifndef FERRY_TARGETS_H
#define FERRY_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include "ferry/err.h"

struct cJSON;

struct target_path {
    char *name;                      /* the class */
    char *path;
};

struct config_target {
    char *name;
    char *host, *user;               /* user NULL: ssh's */
    int port;                        /* 0: ssh's */
    struct target_path *paths;
    size_t n_paths;
    bool latest_only;
    int max_depth;                   /* 0: any */
    int parallel_transfers;          /* 0: the command's */
    bool check_remote_first;
};

/* The "targets" object of a config (origin names the file in errors). */
int targets_parse(const struct cJSON *item, const char *origin, struct config_target **out,
                  size_t *count, struct ferry_error *err);
void targets_free(struct config_target *targets, size_t count);

const struct config_target *target_find(const struct config_target *targets, size_t count,
                                        const char *name);
/* The folder of class on t, or NULL when t has none. */
const char *target_path(const struct config_target *t, const char *class_name);
/* ssh://[USER@]HOST[:PORT]/PATH for a folder of t (fresh string). */
char *target_location(const struct config_target *t, const char *path);

/* The commented template `ferry init` writes. */
extern const char targets_template[];

#endif

/* The JSON config file: named roots and remotes, default excludes, allowed
 * remote prefixes, rate caps, worker counts.
 *
 * Looked up in order: --config FILE, $FERRY_CONFIG, ./ferry.json,
 * ~/.config/ferry/config.json.  A file named by --config or $FERRY_CONFIG
 * must exist; the two default places may be absent (an empty config).
 *
 * Example:
 *   {
 *     "roots":   { "gt": "/scratch/me/gt" },
 *     "remotes": { "gt": "hf://datasets/me/gt" },
 *     "default_excludes": ["misc/"],
 *     "allowed_prefixes": ["hf://datasets/me/"],
 *     "rate": "api=2500/300,resolve=5000/300,commit=100/3600",
 *     "connections": 8,
 *     "chunk_size": "64M",
 *     "lock_ttl": 86400,
 *     "stall_timeout": 30,
 *     "targets": { ... },            SSH targets, see targets.h
 *     "default_target": "desktop"
 *   }
 * Keys that start with "//" are comments, at any level.
 * Unknown keys and values of the wrong type are errors that name the file,
 * the key and what was expected (a typo must not silently change a job). */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include "ferry/err.h"

struct config_target;

struct config_name {
    char *name;
    char *location;
};

struct ferry_config {
    char *path;                      /* the file read, or NULL when none */
    struct config_name *roots;       /* local roots by name */
    size_t n_roots;
    struct config_name *remotes;     /* remote locations by name */
    size_t n_remotes;
    char **default_excludes;
    size_t n_default_excludes;
    char **allowed_prefixes;         /* empty: every remote is allowed */
    size_t n_allowed_prefixes;
    char *rate;                      /* a --rate spec, or NULL */
    int connections;                 /* transfers in flight per rank; 0 = default */
    long long chunk_size;            /* bytes; 0 = default */
    double lock_ttl;                 /* seconds; 0 = default */
    double stall_timeout;            /* seconds a transfer may stall; 0 = default */
    struct config_target *targets;   /* SSH targets by name (targets.h) */
    size_t n_targets;
    char *default_target;            /* or NULL */
};

/* Is key a comment ("//...")? */
bool config_comment(const char *key);

/* Find and parse the config.  explicit_path is --config (or NULL). */
int config_load(const char *explicit_path, struct ferry_config *cfg,
                struct ferry_error *err);

/* Parse a config from a string; origin names it in error messages. */
int config_parse(const char *text, const char *origin, struct ferry_config *cfg,
                 struct ferry_error *err);

/* The location a name stands for, or NULL. */
const char *config_root(const struct ferry_config *cfg, const char *name);
const char *config_remote(const struct ferry_config *cfg, const char *name);

void config_free(struct ferry_config *cfg);

/* "64M", "1G", "4096", "1.5G" (binary units K, M, G, T; an optional trailing
 * 'i' and 'B' are accepted) to bytes.  Returns -1 on a malformed size. */
long long config_parse_size(const char *text);

#endif

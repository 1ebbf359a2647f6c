/* What the command-line front end shares between its files.  Commands parse
 * nothing themselves: options.c parses argv by its one table of options,
 * each into the struct of the command that takes it, and checks every value
 * before any command runs; each cmd_X gets its own struct. */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "ferry/config.h"
#include "ferry/progress.h"

/* The commands, in the order help lists them. */
enum cli_command {
    CLI_PLAN, CLI_GET, CLI_PUT, CLI_SYNC, CLI_VERIFY, CLI_EXTRACT, CLI_EMBED, CLI_KNN,
    CLI_RUN, CLI_STATUS, CLI_LOCKS, CLI_TARGETS, CLI_INIT, CLI_COMMANDS
};
#define CLI_BIT(c) (1u << (c))

/* A repeatable option's values, in order. */
struct cli_list {
    const char **items;
    size_t n;
};

/* --name[=VALUE]: given, and the value if one was. */
struct cli_optional {
    bool given;
    const char *value;
};

/* The Hub budget: --rate, --limiter-file, --limiter-jobs. */
struct cli_budget {
    const char *rate;
    const char *limiter_file;
    int limiter_jobs;
};

/* get, put, sync and plan. */
struct cli_transfer {
    bool all, force, no_default_excludes, delete, fsync, recheck;
    const char *scenes;              /* comma list */
    const char *scene_includes;
    struct cli_list includes, excludes;
    const char *state_dir;
    const char *endpoint;            /* --endpoint URL: s3:// and gs:// go there */
    long long chunk_size;
    int connections;
    struct cli_optional hf_cache;    /* get --hf-cache[=DIR] */
    const char *extract_into;        /* get --extract DIR */
    bool create, public;             /* put/sync --create [--public] */
    int files_per_commit;
    struct cli_budget budget;
    /* put|sync|plan to config targets (targets.h) */
    struct cli_list targets;         /* --target NAME, repeatable */
    const char *only;                /* --only CLASS[,CLASS]: these path classes */
    bool all_versions;               /* lifts the targets' latest_only */
    struct cli_optional watch;       /* --watch [SECONDS] */
    /* get|put|sync --schedule: a Slurm array job, one scene a task */
    bool schedule;
    struct {
        const char *job_name, *time, *gres, *partition, *account;
        int parallelism;
    } slurm;
};

struct cli_verify {
    const char *against;             /* --against SRC */
    const char *endpoint;            /* --endpoint URL */
    const char *spec;                /* --spec SPEC.json */
    struct cli_budget budget;
};

struct cli_extract {
    const char *dest;                /* -C DEST */
    bool overwrite, remove_archive;
};

struct cli_embed {
    const char *out;                 /* --out FILE.h5 */
    const char *embedder, *weights, *device;
    int dim, batch;
    long long seed;
    double commit_every;
    bool overwrite;
};

struct cli_knn {
    const char *metric, *geo;
    int k;
    double commit_every;
    bool overwrite;
};

struct cli_status {
    const char *state_dir;
};

struct cli_locks {
    const char *state_dir;
    bool cleanup, force;
};

struct cli {
    int rank;
    /* global: every command takes these */
    bool dry_run, yes, json, quiet, verbose, help, version;
    const char *config_path;
    enum progress_mode progress;
    /* each command's own */
    struct cli_transfer transfer;
    struct cli_verify verify;
    struct cli_extract extract;
    struct cli_embed embed;
    struct cli_knn knn;
    struct cli_status status;
    struct cli_locks locks;
    /* the command line as given, and this binary's path (for job scripts) */
    int argc;
    char **argv;
    char *self;
    char *default_cache;             /* made when --hf-cache names no folder */
    /* positional arguments: the command, then its own (run_command steps past the command) */
    char **args;
    int n_args;
    char **words;                    /* what args points into, owned */
    struct ferry_config config;
};

/* Each returns a process exit status. */
int cmd_transfer(struct cli *cli, const char *command, const struct cli_transfer *opt);
int cmd_targets(struct cli *cli);
int cmd_init(struct cli *cli);

/* A config target's say in one transfer (targets.c). */
struct transfer_target {
    bool latest_only, send_all;
    int max_depth, connections;
    long long quiet_since;
};
int transfer_one(struct cli *cli, const char *command, const struct cli_transfer *opt,
                 const char *src, const char *dst, const struct transfer_target *t);
/* Does this command line go to config targets (--target, or the default
 * target when no DST is given)? */
bool targets_wanted(const struct cli *cli, const char *command, const struct cli_transfer *opt);
/* Each target and class in turn, and with --watch round after round. */
int transfer_targets(struct cli *cli, const char *command, const struct cli_transfer *opt);
int cmd_locks(struct cli *cli, const struct cli_locks *opt);
int cmd_status(struct cli *cli, const struct cli_status *opt);
int cmd_verify(struct cli *cli, const struct cli_verify *opt);
int cmd_extract(struct cli *cli, const struct cli_extract *opt);
int cmd_embed(struct cli *cli, const struct cli_embed *opt);
int cmd_knn(struct cli *cli, const struct cli_knn *opt);
int cmd_run(struct cli *cli);
/* --schedule: write the array job's script under state_base and submit it. */
struct plan;
int schedule_submit(const struct cli *cli, const struct cli_transfer *opt, const char *state_base,
                    const struct plan *plan, struct ferry_error *err);

/* The "last run: ..." line of a destination's state folder, if it has a report. */
void status_print_last_run(const char *state_dir, const char *indent);

/* status JOB.json: per phase, what is done and what remains (rank 0). */
int run_status(struct cli *cli);

/* ---- options.c: the table of options and the parser ---------------------- */

enum cli_kind {
    CLI_FLAG,                        /* bool, no value */
    CLI_INT,                         /* int in [min, max] */
    CLI_LLONG,                       /* long long in [min, max] */
    CLI_SIZE,                        /* long long > 0: 64M, 1.5G */
    CLI_SECONDS,                     /* double > 0 */
    CLI_STRING,                      /* const char *, not empty */
    CLI_LIST,                        /* struct cli_list, repeatable */
    CLI_CHOICE,                      /* const char *, one of choices */
    CLI_PROGRESS,                    /* enum progress_mode */
    CLI_RATE,                        /* const char *, a valid --rate spec */
    CLI_OPTIONAL,                    /* struct cli_optional: --name[=VALUE] */
    CLI_OPTIONAL_SECONDS,            /* struct cli_optional: --name[=S] or --name S, S a number */
};

/* Which struct an option's offset is into. */
enum cli_group {
    CLI_IN_GLOBAL, CLI_IN_TRANSFER, CLI_IN_VERIFY, CLI_IN_EXTRACT, CLI_IN_EMBED, CLI_IN_KNN,
    CLI_IN_STATUS, CLI_IN_LOCKS
};

struct cli_option {
    const char *name;                /* long name without "--"; NULL for a short one alone */
    char short_name;                 /* 0: none */
    enum cli_kind kind;
    unsigned commands;               /* CLI_BIT of each command that takes it */
    enum cli_group group;
    size_t offset;                   /* into the group's struct */
    long long min, max;              /* CLI_INT, CLI_LLONG */
    const char *const *choices;      /* CLI_CHOICE: NULL-terminated */
    const char *arg;                 /* its value in help ("N"); NULL for a flag */
    const char *help;                /* lines after the first are indented by help.c */
};

/* The table; an option that several commands store apart has a row each. */
const struct cli_option *cli_options(size_t *n);
/* The struct of cli that options of group are stored in (cli itself for globals). */
void *cli_group_base(struct cli *cli, enum cli_group group);
/* The command's index, or -1. */
int cli_command_find(const char *name);
const char *cli_command_name(int command);
/* Does this row belong in `ferry --help` (every command takes it)? */
bool cli_option_global(const struct cli_option *o);

/* Parse a command line into cli (rank set); *done when nothing is left to
 * run (help, version, a usage error: the return is then the exit status). */
int cli_parse(struct cli *cli, int argc, char **argv, bool *done);
void cli_free(struct cli *cli);
/* Of a job spec's settings, the words command takes (options with their
 * values), into out (room for n); returns how many.  Unknown words stay, so
 * that the phase reports them. */
int cli_settings_for(const char *command, char **words, int n, char **out);
/* Parse and run a command line: what main does, and ferry run for each phase. */
int cli_main(int rank, int argc, char **argv);

/* Print a command's help (NULL: the overview) to out; false if there is no such command. */
bool help_print(FILE *out, const char *command);
/* Is there such a command?  (Every rank can ask; only rank 0 prints.) */
bool help_exists(const char *command);

/* The Hub budget from the config's rate, --rate over it, and the limiter
 * file options.  Reports a bad spec and returns its exit status. */
struct limiter_options;
int cli_limits(const struct cli *cli, const struct cli_budget *budget,
               struct limiter_options *out);

/* Report an error on rank 0 and return its exit status. */
int cli_fail(const struct cli *cli, int code, const char *msg);

#endif

/* What the command-line front end shares between its files.  Commands parse
 * nothing themselves: main.c parses every option into struct cli, and each
 * command checks the ones it uses. */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <stdbool.h>
#include "ferry/config.h"
#include "ferry/progress.h"

struct cli {
    int rank;
    /* global */
    bool dry_run, yes, json, quiet, verbose;
    const char *config_path;
    enum progress_mode progress;
    const char *state_dir;
    /* selection and transfer */
    bool all, force, no_default_excludes, cleanup, delete, fsync, recheck;
    const char *scenes;              /* comma list */
    const char *scene_includes;
    const char **includes, **excludes;
    size_t n_includes, n_excludes;
    long long chunk_size;
    int connections;
    const char *against;             /* verify --against SRC */
    const char *spec;                /* verify --spec SPEC.json */
    bool hf_cache;                   /* get --hf-cache[=DIR] */
    const char *hf_cache_dir;
    const char *rate;                /* --rate SPEC */
    bool create, public;             /* put/sync --create [--public] */
    const char *extract_dest;        /* extract -C DEST */
    const char *extract_into;        /* get --extract DIR */
    /* embed and knn */
    const char *out;                 /* embed --out FILE.h5 */
    const char *embedder, *weights, *metric, *geo, *device;
    int dim, batch, k;
    long long seed;
    double commit_every;             /* embed --commit-every SECONDS */
    /* get|put|sync --schedule: a Slurm array job, one scene a task */
    bool schedule;
    struct {
        const char *job_name, *time, *gres, *partition, *account;
        int parallelism;
    } slurm;
    /* the command line as given, and this binary's path (for job scripts) */
    int argc;
    char **argv;
    char *self;
    bool overwrite, remove_archive;
    int files_per_commit;
    const char *limiter_file;
    int limiter_jobs;
    char *default_cache;             /* made when --hf-cache names no folder */
    /* positional arguments after the command */
    char **args;
    int n_args;
    struct ferry_config config;
};

/* Each returns a process exit status. */
int cmd_transfer(struct cli *cli, const char *command);
int cmd_locks(struct cli *cli);
int cmd_status(struct cli *cli);
int cmd_verify(struct cli *cli);
int cmd_extract(struct cli *cli);
int cmd_embed(struct cli *cli);
int cmd_knn(struct cli *cli);
int cmd_run(struct cli *cli);
/* --schedule: write the array job's script under state_base and submit it. */
struct plan;
int schedule_submit(const struct cli *cli, const char *state_base, const struct plan *plan,
                    struct ferry_error *err);

/* The "last run: ..." line of a destination's state folder, if it has a report. */
void status_print_last_run(const char *state_dir, const char *indent);

/* status JOB.json: per phase, what is done and what remains (rank 0). */
int run_status(struct cli *cli);

/* Parse a command line into cli (rank set); *done when nothing is left to
 * run (help, version, a usage error: the return is then the exit status). */
int cli_parse(struct cli *cli, int argc, char **argv, bool *done);
void cli_free(struct cli *cli);
/* Parse and run a command line: what main does, and ferry run for each phase. */
int cli_main(int rank, int argc, char **argv);

/* Print a command's help (NULL: the overview); false if there is no such command. */
bool help_print(const char *command);
/* Is there such a command?  (Every rank can ask; only rank 0 prints.) */
bool help_exists(const char *command);

/* The Hub budget from the config's rate, --rate over it, and the limiter
 * file options.  Reports a bad spec and returns its exit status. */
struct limiter_options;
int cli_limits(const struct cli *cli, struct limiter_options *out);

/* Report an error on rank 0 and return its exit status. */
int cli_fail(const struct cli *cli, int code, const char *msg);

#endif

/* get|put|sync ... --schedule: after the plan, write a Slurm array job with
 * one scene per task and submit it with sbatch.
 *
 * Each task runs the same command line, less the scheduling options, for its
 * scene, with a state folder of its own (the destination's lock and journal
 * are per run, and the tasks run at once) and one limiter file for the whole
 * array, so the tasks share the Hub's budget.  The token is never written:
 * it travels in the environment (sbatch --export=ALL), where ferry reads it. */
#include "cli.h"
#include "ferry/fsutil.h"
#include "ferry/plan.h"
#include "ferry/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Options of the scheduling run that the tasks must not repeat. */
static const char *const dropped_with_value[] = {
    "--slurm-job-name", "--slurm-time", "--slurm-array-parallelism", "--slurm-gres",
    "--slurm-partition", "--slurm-account", "--scenes", "--scene-includes", "--state-dir",
    "--limiter-file",
};
static const char *const dropped_alone[] = {"--schedule", "--all", "--yes", "-y", "--dry-run",
                                            "-n", "--json"};

static bool in_list(const char *word, const char *const *list, size_t n, bool with_value)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(list[i]);
        if (strcmp(word, list[i]) == 0 ||
            (with_value && strncmp(word, list[i], len) == 0 && word[len] == '='))
            return true;
    }
    return false;
}

/* word in single quotes for the shell. */
static void put_quoted(FILE *f, const char *word)
{
    fputc('\'', f);
    for (const char *p = word; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", f);
        else
            fputc(*p, f);
    }
    fputc('\'', f);
}

/* The task's command line: the run's own, less what scheduling decides. */
static void put_command(FILE *f, const struct cli *cli)
{
    put_quoted(f, cli->self);
    for (int i = 1; i < cli->argc; i++) {
        const char *w = cli->argv[i];
        if (in_list(w, dropped_alone, sizeof dropped_alone / sizeof *dropped_alone, false))
            continue;
        if (in_list(w, dropped_with_value, sizeof dropped_with_value / sizeof *dropped_with_value,
                    false)) {
            i++;                     /* and its value */
            continue;
        }
        if (in_list(w, dropped_with_value, sizeof dropped_with_value / sizeof *dropped_with_value,
                    true))
            continue;
        fputc(' ', f);
        put_quoted(f, w);
    }
}

/* sbatch reads a directive's value up to the end of the line, unquoted. */
static void put_directive(FILE *f, const char *name, const char *value)
{
    if (value)
        fprintf(f, "#SBATCH --%s=%s\n", name, value);
}

/* Directive values are single words (checked before anything is written). */
static int check_word(const char *option, const char *value, struct ferry_error *err)
{
    if (value && value[strcspn(value, " \t\n\r")])
        return err_set(err, FERRY_EUSAGE, "%s: '%s' has blanks, which a #SBATCH line cannot "
                       "carry", option, value);
    return 0;
}

/* The scenes with work to do; files at the root are left to a plain run. */
static size_t busy_scenes(const struct plan *plan, const char **names)
{
    size_t n = 0;
    for (size_t i = 0; i < plan->n_scenes; i++) {
        const struct plan_scene *s = &plan->scenes[i];
        if (s->transfer.files == 0 && s->remove.files == 0)
            continue;
        if (!*s->name) {
            fprintf(stderr, "ferry: --schedule: the files at the root of the source are not "
                            "scheduled (a task takes a scene); run the command without "
                            "--schedule for them\n");
            continue;
        }
        names[n++] = s->name;
    }
    return n;
}

static int write_script(const struct cli *cli, const struct cli_transfer *opt, const char *dir,
                        const char *path, const char **scenes, size_t n, struct ferry_error *err)
{
    int fd;
    FILE *f = fs_create_excl(path, O_WRONLY, &fd, err) == 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return err_sys(err, FERRY_EPREFLIGHT, e, "%s", path);
    }
    fprintf(f, "#!/bin/bash\n# Written by ferry --schedule: one scene per array task.\n");
    put_directive(f, "job-name", opt->slurm.job_name ? opt->slurm.job_name : "ferry");
    fprintf(f, "#SBATCH --array=0-%zu", n - 1);
    if (opt->slurm.parallelism)
        fprintf(f, "%%%d", opt->slurm.parallelism);
    fprintf(f, "\n");
    put_directive(f, "time", opt->slurm.time);
    put_directive(f, "gres", opt->slurm.gres);
    put_directive(f, "partition", opt->slurm.partition);
    put_directive(f, "account", opt->slurm.account);
    char *out = xasprintf("%s/%%x-%%A_%%a.out", dir), *cwd = getcwd(NULL, 0);
    put_directive(f, "output", out);
    put_directive(f, "chdir", cwd);          /* relative paths mean what they meant here */
    free(out);
    free(cwd);
    fprintf(f, "set -euo pipefail\nscenes=(");
    for (size_t i = 0; i < n; i++) {
        fputc(' ', f);
        put_quoted(f, scenes[i]);
    }
    fprintf(f, " )\nscene=${scenes[$SLURM_ARRAY_TASK_ID]}\n");
    fprintf(f, "# FERRY_LAUNCH: how to start the ranks (default srun; empty: one process).\n");
    fprintf(f, "${FERRY_LAUNCH-srun} ");
    put_command(f, cli);
    fprintf(f, " --yes --scenes \"$scene\" --state-dir ");
    put_quoted(f, dir);
    fprintf(f, "\"/scene-$scene\" --limiter-file ");
    put_quoted(f, dir);
    fprintf(f, "/limiter\n");
    bool ok = fclose(f) == 0;
    return ok ? 0 : err_sys(err, FERRY_EPREFLIGHT, errno, "%s", path);
}

/* sbatch --export=ALL SCRIPT, started without a shell. */
static int submit(const char *path, struct ferry_error *err)
{
    char *argv[] = {"sbatch", "--export=ALL", (char *)path, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "sbatch", NULL, NULL, argv, environ);
    if (rc != 0)
        return err_set(err, FERRY_EPREFLIGHT, "sbatch: %s (the job script is %s: submit it "
                       "where Slurm is)", strerror(rc), path);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return err_set(err, FERRY_EPREFLIGHT, "sbatch refused %s (its message is above)", path);
    return 0;
}

int schedule_submit(const struct cli *cli, const struct cli_transfer *opt, const char *state_base,
                    const struct plan *plan, struct ferry_error *err)
{
    const char **scenes = xcalloc(plan->n_scenes + 1, sizeof *scenes);
    size_t n = busy_scenes(plan, scenes);
    if (n == 0) {
        free(scenes);
        printf("nothing to schedule: no scene has work to do\n");
        return 0;
    }
    char stamp[32];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", gmtime(&now));
    char *made = xasprintf("%s/slurm-%s", state_base, stamp);
    int rc = check_word("--slurm-job-name", opt->slurm.job_name, err);
    rc = rc ? rc : check_word("--slurm-time", opt->slurm.time, err);
    rc = rc ? rc : check_word("--slurm-gres", opt->slurm.gres, err);
    rc = rc ? rc : check_word("--slurm-partition", opt->slurm.partition, err);
    rc = rc ? rc : check_word("--slurm-account", opt->slurm.account, err);
    rc = rc ? rc : fs_mkdirs_under(state_base, made, err);
    char *real = rc == 0 ? realpath(made, NULL) : NULL, *dir = made;
    if (real) {
        free(made);
        dir = real;
    }
    char *path = xasprintf("%s/array.sbatch", dir);
    rc = rc ? rc : check_word("the state folder", path, err);
    if (rc == 0)
        rc = write_script(cli, opt, dir, path, scenes, n, err);
    if (rc == 0) {
        printf("scheduling %zu scenes as a Slurm array job: %s\n", n, path);
        fflush(stdout);
        rc = submit(path, err);
    }
    free(scenes);
    free(dir);
    free(path);
    return rc;
}

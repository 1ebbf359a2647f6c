/* A pipeline's job spec (JSON) and its phase markers.
 *
 *   {
 *     "name": "photos",                          (default: the file's name)
 *     "state_dir": "/scratch/photos/.ferry-run",  (default: .ferry-run/NAME beside the spec)
 *     "settings": ["--yes", "--connections", "16"],     options given to every phase
 *     "phases": [
 *       {"name": "fetch", "run": ["get", "hf://datasets/me/photos", "/scratch/photos/raw"]},
 *       {"name": "unpack", "run": ["extract", "/scratch/photos/raw", "-C", "/scratch/photos/x"]},
 *       ...
 *     ],
 *     "after_phase": [["put", "/scratch/photos/logs", "hf://datasets/me/logs"]]
 *   }
 *
 * A phase is a ferry command line (without "ferry"), so every option means
 * what it means on the command line.  When a phase finishes, rank 0 writes
 * STATE/phase-NN.done holding the command line it ran; a restarted job skips
 * the phases whose marker holds the same command line (an edited phase runs
 * again) and resumes inside the first one that has none. */
#ifndef FERRY_JOBSPEC_H
#define FERRY_JOBSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include "ferry/err.h"

struct jobspec_argv {
    char **argv;                     /* NULL-terminated */
    int argc;
};

struct jobspec_phase {
    char *name;
    struct jobspec_argv run;
};

struct jobspec {
    char *path, *name, *state_dir;
    struct jobspec_argv settings;
    struct jobspec_phase *phases;
    size_t n_phases;
    struct jobspec_argv *after;      /* after_phase steps */
    size_t n_after;
};

/* Read and check a spec (FERRY_EUSAGE naming the file and what is wrong). */
int jobspec_load(const char *path, struct jobspec *out, struct ferry_error *err);
/* The same for a spec's text; path names it in messages and places the
 * default state folder.  Reads no file. */
int jobspec_parse(const char *text, const char *path, struct jobspec *out,
                  struct ferry_error *err);
void jobspec_free(struct jobspec *spec);

/* Does phase i have a marker for its current command line?  *finished gets
 * when (unix seconds) if so. */
bool jobspec_phase_done(const struct jobspec *spec, size_t i, double *finished);

/* Write phase i's marker (atomically; the state folder is made if missing). */
int jobspec_mark_done(const struct jobspec *spec, size_t i, struct ferry_error *err);

/* argv for phase (or step) cmd: "ferry", the settings, then cmd's words
 * (the strings are the spec's; free only the array). */
char **jobspec_command(const struct jobspec *spec, const struct jobspec_argv *cmd, int *argc);

#endif

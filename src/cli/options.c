/* The command line: one table of options, each with the commands that take
 * it and the struct it lands in, walked by one parser.  Every value is
 * checked here, so that a usage error exits 2 before any command runs, and
 * an option given to a command that does not take it is refused by name. */
#include "cli.h"
#include "ferry/err.h"
#include "ferry/escape.h"
#include "ferry/libversions.h"
#include "ferry/limiter.h"
#include "ferry/xalloc.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const command_names[CLI_COMMANDS] = {
    [CLI_PLAN] = "plan", [CLI_GET] = "get", [CLI_PUT] = "put", [CLI_SYNC] = "sync",
    [CLI_VERIFY] = "verify", [CLI_EXTRACT] = "extract", [CLI_EMBED] = "embed",
    [CLI_KNN] = "knn", [CLI_RUN] = "run", [CLI_STATUS] = "status", [CLI_LOCKS] = "locks",
    [CLI_TARGETS] = "targets", [CLI_INIT] = "init",
};

#define ALL ((1u << CLI_COMMANDS) - 1)
#define PLAN CLI_BIT(CLI_PLAN)
#define GET CLI_BIT(CLI_GET)
#define PUT CLI_BIT(CLI_PUT)
#define SYNC CLI_BIT(CLI_SYNC)
#define MOVE (GET | PUT | SYNC)
#define TRANSFER (PLAN | MOVE)

/* Where a row's value lands: the group and the offset in its struct. */
#define ENDPOINT_HELP                                                                  \
    "the server of s3:// or gs:// locations (an S3-compatible\nstore; else AWS_ENDPOINT_URL, "  \
    "STORAGE_EMULATOR_HOST\nfor gs://, the profile's endpoint_url, the provider's)"
#define G(field) CLI_IN_GLOBAL, offsetof(struct cli, field)
#define T(field) CLI_IN_TRANSFER, offsetof(struct cli_transfer, field)
#define VE(field) CLI_IN_VERIFY, offsetof(struct cli_verify, field)
#define X(field) CLI_IN_EXTRACT, offsetof(struct cli_extract, field)
#define E(field) CLI_IN_EMBED, offsetof(struct cli_embed, field)
#define K(field) CLI_IN_KNN, offsetof(struct cli_knn, field)
#define S(field) CLI_IN_STATUS, offsetof(struct cli_status, field)
#define L(field) CLI_IN_LOCKS, offsetof(struct cli_locks, field)

static const char *const embedders[] = {"rp", "pixels", "dhash", "mlp", NULL};
static const char *const devices[] = {"auto", "cpu", "gpu", NULL};
static const char *const metrics[] = {"l2", "cosine", NULL};

/* Help text that several rows share. */
#define STATE_DIR_HELP "where the journal, lock and report live (default DST/.ferry)"
#define RATE_HELP "the Hub budget every rank draws on, calls per window in\n" \
    "seconds: api=2500/300,resolve=5000/300,commit=100/3600 by\n" \
    "default; any subset overrides the config's \"rate\";\n" \
    "store=N/W caps requests to s3:// and gs:// (none by default)"
#define LIMITER_FILE_HELP "share that budget with other jobs (a Slurm array)\n" \
    "that name the same file on a shared file system (fcntl locks)"
#define LIMITER_JOBS_HELP "if PATH cannot be locked, keep to 1/N of the budget\n" \
    "(default $SLURM_ARRAY_TASK_COUNT, else 8)"
#define COMMIT_EVERY_HELP "seconds between commits (5)"

static const struct cli_option options[] = {
    /* global */
    {"dry-run", 'n', CLI_FLAG, ALL, G(dry_run), 0, 0, NULL, NULL, "plan and print, then stop"},
    {"yes", 'y', CLI_FLAG, ALL, G(yes), 0, 0, NULL, NULL,
     "start without asking (needed when stdin is no terminal)"},
    {"json", 0, CLI_FLAG, ALL, G(json), 0, 0, NULL, NULL,
     "plan, progress and report as JSON lines on stdout"},
    {"quiet", 'q', CLI_FLAG, ALL, G(quiet), 0, 0, NULL, NULL, "only errors and the final summary"},
    {"verbose", 'v', CLI_FLAG, ALL, G(verbose), 0, 0, NULL, NULL, "debug logging"},
    {"config", 0, CLI_STRING, ALL, G(config_path), 0, 0, NULL, "FILE",
     "config file (else $FERRY_CONFIG, ./ferry.json,\n~/.config/ferry/config.json)"},
    {"progress", 0, CLI_PROGRESS, ALL, G(progress), 0, 0, NULL, "MODE",
     "auto (bar on a terminal, a line every 10 s otherwise),\nalways, never"},
    {"help", 'h', CLI_FLAG, ALL, G(help), 0, 0, NULL, NULL,
     "this help; `ferry COMMAND --help` for a command"},
    {"version", 'V', CLI_FLAG, ALL, G(version), 0, 0, NULL, NULL,
     "versions of ferry and its libraries"},
    /* get, put, sync, plan: selection */
    {"all", 0, CLI_FLAG, TRANSFER, T(all), 0, 0, NULL, NULL,
     "every scene and the files at the root (the default)"},
    {"scenes", 0, CLI_STRING, TRANSFER, T(scenes), 0, 0, NULL, "A,B", "these scenes only"},
    {"scene-includes", 0, CLI_STRING, TRANSFER, T(scene_includes), 0, 0, NULL, "SUB",
     "scenes whose name contains SUB"},
    {"include", 0, CLI_LIST, TRANSFER, T(includes), 0, 0, NULL, "GLOB",
     "only files matching GLOB (repeatable)"},
    {"exclude", 0, CLI_LIST, TRANSFER, T(excludes), 0, 0, NULL, "GLOB",
     "no files matching GLOB (repeatable); GLOB follows\nthe Hub: '*' also crosses '/', and a "
     "trailing '/'\nmeans a whole folder (\"misc/\")"},
    {"delete", 0, CLI_FLAG, PLAN, T(delete), 0, 0, NULL, NULL, "also list what sync would delete"},
    {"no-default-excludes", 0, CLI_FLAG, PUT | SYNC, T(no_default_excludes), 0, 0, NULL, NULL,
     "keep misc/ folders (left out at any depth) and the\nconfig's default_excludes"},
    /* transfer */
    {"state-dir", 0, CLI_STRING, TRANSFER, T(state_dir), 0, 0, NULL, "DIR", STATE_DIR_HELP},
    {"endpoint", 0, CLI_STRING, TRANSFER, T(endpoint), 0, 0, NULL, "URL", ENDPOINT_HELP},
    {"chunk-size", 0, CLI_SIZE, TRANSFER, T(chunk_size), 0, 0, NULL, "SIZE",
     "split files above SIZE over ranks (default 64M)"},
    {"connections", 0, CLI_INT, TRANSFER, T(connections), 1, 256, NULL, "N",
     "remote transfers in flight per rank (default 16)"},
    {"recheck", 0, CLI_FLAG, TRANSFER, T(recheck), 0, 0, NULL, NULL,
     "read what DST holds and transfer again what differs\nfrom SRC (its listed sha256/sha1, "
     "else its bytes)"},
    {"force", 0, CLI_FLAG, TRANSFER, T(force), 0, 0, NULL, NULL,
     "take the destination's lock even if it is held"},
    {"fsync", 0, CLI_FLAG, TRANSFER, T(fsync), 0, 0, NULL, NULL,
     "flush each file and chunk to disk before it is journalled,\nso a resume after a node "
     "crash (not only a killed job)\ntrusts only data that reached the disk; slower"},
    {"hf-cache", 0, CLI_OPTIONAL, GET, T(hf_cache), 0, 0, NULL, "[=DIR]",
     "write a Hub repository in the Hugging Face cache layout"},
    {"extract", 0, CLI_STRING, GET, T(extract_into), 0, 0, NULL, "DIR",
     "extract each archive into DIR once it is in place,\nwhile the rest still downloads"},
    {"create", 0, CLI_FLAG, PUT | SYNC, T(create), 0, 0, NULL, NULL,
     "create the repository if it is missing (private)"},
    {"public", 0, CLI_FLAG, PUT | SYNC, T(public), 0, 0, NULL, NULL, "with --create: a public one"},
    {"files-per-commit", 0, CLI_INT, PUT | SYNC, T(files_per_commit), 1, 10000, NULL, "N",
     "entries per commit (default 100, the Hub's advice)"},
    {"rate", 0, CLI_RATE, TRANSFER, T(budget.rate), 0, 0, NULL, "SPEC", RATE_HELP},
    {"limiter-file", 0, CLI_STRING, TRANSFER, T(budget.limiter_file), 0, 0, NULL, "PATH",
     LIMITER_FILE_HELP},
    {"limiter-jobs", 0, CLI_INT, TRANSFER, T(budget.limiter_jobs), 1, 100000, NULL, "N",
     LIMITER_JOBS_HELP},
    /* config targets */
    {"target", 0, CLI_LIST, PLAN | PUT | SYNC, T(targets), 0, 0, NULL, "NAME",
     "to the config's target NAME (repeatable): each of its\npath classes gets the config's "
     "root of that name, or\nSRC (with one class); see `ferry targets`"},
    {"only", 0, CLI_STRING, PLAN | PUT | SYNC, T(only), 0, 0, NULL, "CLASS,...",
     "with targets: these path classes only"},
    {"all-versions", 0, CLI_FLAG, PLAN | PUT | SYNC, T(all_versions), 0, 0, NULL, NULL,
     "with targets: every version, not only the latest\n(lifts latest_only)"},
    {"watch", 0, CLI_OPTIONAL_SECONDS, PUT | SYNC, T(watch), 0, 0, NULL, " [SECONDS]",
     "with targets: sync again every SECONDS (60); a file\ngoes once it has not changed for "
     "that long; SIGINT or\nSIGTERM end it (exit 0 between rounds, 75 in one)"},
    /* Slurm */
    {"schedule", 0, CLI_FLAG, MOVE, T(schedule), 0, 0, NULL, NULL,
     "after the plan, submit an array job, one scene a task\n(sbatch --export=ALL; the script "
     "goes to DST/.ferry)"},
    {"slurm-job-name", 0, CLI_STRING, MOVE, T(slurm.job_name), 0, 0, NULL, "NAME",
     "with --schedule: the job's name (ferry)"},
    {"slurm-time", 0, CLI_STRING, MOVE, T(slurm.time), 0, 0, NULL, "T",
     "with --schedule: each task's time limit"},
    {"slurm-array-parallelism", 0, CLI_INT, MOVE, T(slurm.parallelism), 1, 1000000, NULL, "N",
     "with --schedule: tasks at once"},
    {"slurm-gres", 0, CLI_STRING, MOVE, T(slurm.gres), 0, 0, NULL, "G",
     "with --schedule: each task's generic resources"},
    {"slurm-partition", 0, CLI_STRING, MOVE, T(slurm.partition), 0, 0, NULL, "P",
     "with --schedule: the partition"},
    {"slurm-account", 0, CLI_STRING, MOVE, T(slurm.account), 0, 0, NULL, "A",
     "with --schedule: the account"},
    /* verify */
    {"endpoint", 0, CLI_STRING, CLI_BIT(CLI_VERIFY), VE(endpoint), 0, 0, NULL, "URL",
     ENDPOINT_HELP},
    {"against", 0, CLI_STRING, CLI_BIT(CLI_VERIFY), VE(against), 0, 0, NULL, "SRC",
     "the source whose listing DIR must match"},
    {"spec", 0, CLI_STRING, CLI_BIT(CLI_VERIFY), VE(spec), 0, 0, NULL, "SPEC.json",
     "check the structure SPEC.json describes instead"},
    {"rate", 0, CLI_RATE, CLI_BIT(CLI_VERIFY), VE(budget.rate), 0, 0, NULL, "SPEC", RATE_HELP},
    {"limiter-file", 0, CLI_STRING, CLI_BIT(CLI_VERIFY), VE(budget.limiter_file), 0, 0, NULL,
     "PATH", LIMITER_FILE_HELP},
    {"limiter-jobs", 0, CLI_INT, CLI_BIT(CLI_VERIFY), VE(budget.limiter_jobs), 1, 100000, NULL,
     "N", LIMITER_JOBS_HELP},
    /* extract */
    {"directory", 'C', CLI_STRING, CLI_BIT(CLI_EXTRACT), X(dest), 0, 0, NULL, "DEST",
     "where to extract (made if missing)"},
    {"overwrite", 0, CLI_FLAG, CLI_BIT(CLI_EXTRACT), X(overwrite), 0, 0, NULL, NULL,
     "extract every entry again, and archives done before"},
    {"remove-archive", 0, CLI_FLAG, CLI_BIT(CLI_EXTRACT), X(remove_archive), 0, 0, NULL, NULL,
     "delete each archive once it is extracted"},
    /* embed */
    {"out", 0, CLI_STRING, CLI_BIT(CLI_EMBED), E(out), 0, 0, NULL, "FILE.h5",
     "the HDF5 file to write (its folder made)"},
    {"embedder", 0, CLI_CHOICE, CLI_BIT(CLI_EMBED), E(embedder), 0, 0, embedders, "NAME",
     "rp (default): Gaussian random projection of 32x32\nnormalised pixels; pixels: SxS "
     "normalised pixels\n(D = 3·S², 768 by default); dhash: 64-bit difference\nhash; mlp: the "
     "network in --weights"},
    {"dim", 0, CLI_INT, CLI_BIT(CLI_EMBED), E(dim), 1, 1000000, NULL, "D", "rp: 256 by default"},
    {"seed", 0, CLI_LLONG, CLI_BIT(CLI_EMBED), E(seed), LLONG_MIN, LLONG_MAX, NULL, "S",
     "rp: the projection's seed (0 by default)"},
    {"weights", 0, CLI_STRING, CLI_BIT(CLI_EMBED), E(weights), 0, 0, NULL, "FILE.h5",
     "mlp: layers/I/weight [out, in] and layers/I/bias [out],\nPyTorch's layout, ReLU between "
     "layers (docs/guide.md)"},
    {"batch", 0, CLI_INT, CLI_BIT(CLI_EMBED), E(batch), 1, 1000000, NULL, "N",
     "images a rank decodes and embeds per round (default:\nabout 1 MiB of embeddings, 1,024 "
     "images at D = 256)"},
    {"device", 0, CLI_CHOICE, CLI_BIT(CLI_EMBED), E(device), 0, 0, devices, "auto|cpu|gpu",
     "where rp and mlp multiply: auto (the default) uses\nan NVIDIA GPU when cuBLAS and a "
     "device are there (ranks\nshare a node's GPUs by node-local rank), gpu insists\n(exit 5 "
     "without one), cpu never tries"},
    {"commit-every", 0, CLI_SECONDS, CLI_BIT(CLI_EMBED), E(commit_every), 0, 0, NULL, "S",
     COMMIT_EVERY_HELP},
    {"overwrite", 0, CLI_FLAG, CLI_BIT(CLI_EMBED), E(overwrite), 0, 0, NULL, NULL,
     "start FILE.h5 afresh"},
    /* knn */
    {NULL, 'k', CLI_INT, CLI_BIT(CLI_KNN), K(k), 1, 1000000, NULL, "K", "neighbours per row (10)"},
    {"metric", 0, CLI_CHOICE, CLI_BIT(CLI_KNN), K(metric), 0, 0, metrics, "l2|cosine",
     "Euclidean distance (default) or 1 - cosine"},
    {"geo", 0, CLI_STRING, CLI_BIT(CLI_KNN), K(geo), 0, 0, NULL, "META",
     "great-circle metres between the rows' latitude and\nlongitude, from JSON lines or CSV "
     "keyed by path\n(file_name|path|filename, latitude|lat, longitude|lon)"},
    {"commit-every", 0, CLI_SECONDS, CLI_BIT(CLI_KNN), K(commit_every), 0, 0, NULL, "S",
     COMMIT_EVERY_HELP},
    {"overwrite", 0, CLI_FLAG, CLI_BIT(CLI_KNN), K(overwrite), 0, 0, NULL, NULL,
     "compute afresh tables made with another K or metric"},
    /* status, locks */
    {"state-dir", 0, CLI_STRING, CLI_BIT(CLI_STATUS), S(state_dir), 0, 0, NULL, "DIR",
     STATE_DIR_HELP},
    {"state-dir", 0, CLI_STRING, CLI_BIT(CLI_LOCKS), L(state_dir), 0, 0, NULL, "DIR",
     STATE_DIR_HELP},
    {"cleanup", 0, CLI_FLAG, CLI_BIT(CLI_LOCKS), L(cleanup), 0, 0, NULL, NULL,
     "remove a stale lock, or one left by a dead process"},
    {"force", 0, CLI_FLAG, CLI_BIT(CLI_LOCKS), L(force), 0, 0, NULL, NULL,
     "with --cleanup: whatever holds it"},
};

const struct cli_option *cli_options(size_t *n)
{
    *n = sizeof options / sizeof *options;
    return options;
}

int cli_command_find(const char *name)
{
    for (int c = 0; c < CLI_COMMANDS; c++)
        if (strcmp(command_names[c], name) == 0)
            return c;
    return -1;
}

const char *cli_command_name(int command)
{
    return command >= 0 && command < CLI_COMMANDS ? command_names[command] : NULL;
}

bool cli_option_global(const struct cli_option *o)
{
    return o->commands == ALL;
}

int cli_fail(const struct cli *cli, int code, const char *msg)
{
    if (cli->rank == 0)
        fprintf(stderr, "ferry: %s\n", escape_display(msg));
    return err_exit_status(code);
}

static int usage(const struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage(const struct cli *cli, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cli_fail(cli, FERRY_EUSAGE, msg);
}

/* The row called name (len bytes; or short_name) that command takes; with
 * command -1, the first row of that name whatever takes it. */
static const struct cli_option *find(const char *name, size_t len, char short_name, int command)
{
    for (size_t i = 0; i < sizeof options / sizeof *options; i++) {
        const struct cli_option *o = &options[i];
        bool named = name ? o->name && strlen(o->name) == len && strncmp(o->name, name, len) == 0
                          : short_name && o->short_name == short_name;
        if (named && (command < 0 || (o->commands & CLI_BIT(command))))
            return o;
    }
    return NULL;
}

/* One option as the command line gave it, before the command is known. */
struct given {
    char text[64];                   /* "--name" or "-k", for messages */
    const char *name;                /* NULL: a short option */
    size_t len;
    char short_name;
    const char *value;               /* NULL: none */
};

static bool takes_value(const struct cli_option *o)
{
    return o->kind != CLI_FLAG && o->kind != CLI_OPTIONAL && o->kind != CLI_OPTIONAL_SECONDS;
}

/* A word that can only be a number of seconds ("120", "2.5"), not a path. */
static bool is_seconds(const char *word)
{
    char *end;
    errno = 0;
    double v = strtod(word, &end);
    return *word >= '0' && *word <= '9' && !*end && errno == 0 && v > 0;
}

/* --name, --name=VALUE or --name VALUE (i steps past a value taken). */
static int scan_long(const struct cli *cli, char **argv, int argc, int *i, struct given *g)
{
    const char *word = argv[*i] + 2, *eq = strchr(word, '=');
    g->name = word;
    g->len = eq ? (size_t)(eq - word) : strlen(word);
    snprintf(g->text, sizeof g->text, "--%.*s", (int)(g->len < 40 ? g->len : 40), word);
    const struct cli_option *o = find(g->name, g->len, 0, -1);
    if (!o)
        return usage(cli, "unknown option '%.100s' (see ferry --help)", argv[*i]);
    if (o->kind == CLI_FLAG && eq)
        return usage(cli, "%s takes no value", g->text);
    if (eq)
        g->value = eq + 1;
    else if (o->kind == CLI_OPTIONAL_SECONDS && *i + 1 < argc && is_seconds(argv[*i + 1]))
        g->value = argv[++*i];
    else if (takes_value(o) && *i + 1 < argc)
        g->value = argv[++*i];
    else if (takes_value(o))
        return usage(cli, "%s needs a value (%s)", g->text, o->arg);
    return 0;
}

/* -abc: flags, the last of them perhaps taking a value (-kVALUE or -k VALUE). */
static int scan_short(const struct cli *cli, char **argv, int argc, int *i, struct given *out,
                      size_t *n)
{
    const char *word = argv[*i];
    for (const char *p = word + 1; *p; p++) {
        struct given *g = &out[(*n)++];
        memset(g, 0, sizeof *g);
        g->short_name = *p;
        snprintf(g->text, sizeof g->text, "-%c", *p);
        const struct cli_option *o = find(NULL, 0, *p, -1);
        if (!o && *p > ' ' && *p < 127)
            return usage(cli, "unknown option '-%c' (see ferry --help)", *p);
        if (!o)
            return usage(cli, "unknown option '%.100s' (see ferry --help)", word);
        if (!takes_value(o))
            continue;
        if (p[1])
            g->value = p + 1;
        else if (*i + 1 < argc)
            g->value = argv[++*i];
        else
            return usage(cli, "%s needs a value (%s)", g->text, o->arg);
        break;
    }
    return 0;
}

/* Options apart from positional words; "--" ends the options. */
static int scan(struct cli *cli, int argc, char **argv, struct given *given, size_t *n_given)
{
    cli->words = xcalloc((size_t)argc + 1, sizeof *cli->words);
    cli->args = cli->words;
    cli->n_args = 0;
    bool options_end = false;
    for (int i = 1; i < argc; i++) {
        const char *w = argv[i];
        int status = 0;
        if (options_end || w[0] != '-' || w[1] == '\0')
            cli->words[cli->n_args++] = argv[i];
        else if (strcmp(w, "--") == 0)
            options_end = true;
        else if (w[1] == '-') {
            memset(&given[*n_given], 0, sizeof *given);
            status = scan_long(cli, argv, argc, &i, &given[(*n_given)++]);
        } else
            status = scan_short(cli, argv, argc, &i, given, n_given);
        if (status != 0)
            return status;
    }
    return 0;
}

/* Every number goes through here, so none can take junk after its digits
 * ("8x"), a number out of range, or an empty string. */
static int whole_number(const struct cli *cli, const struct given *g, long long min,
                        long long max, long long *out)
{
    char *end;
    errno = 0;
    long long value = strtoll(g->value, &end, 10);
    if (end == g->value || *end || errno == ERANGE || value < min || value > max)
        return usage(cli, "%s takes a whole number from %lld to %lld, not '%.64s'", g->text,
                     min, max, g->value);
    *out = value;
    return 0;
}

static int seconds(const struct cli *cli, const struct given *g, double *out)
{
    char *end;
    errno = 0;
    double value = strtod(g->value, &end);
    if (end == g->value || *end || errno == ERANGE || !(value > 0) || value > 1e9)
        return usage(cli, "%s takes seconds, more than 0, not '%.64s'", g->text, g->value);
    *out = value;
    return 0;
}

static int choice(const struct cli *cli, const struct cli_option *o, const struct given *g,
                  const char **out)
{
    for (const char *const *c = o->choices; *c; c++)
        if (strcmp(*c, g->value) == 0) {
            *out = *c;
            return 0;
        }
    char list[128] = "";
    for (const char *const *c = o->choices; *c; c++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", c == o->choices ? "" :
                 c[1] ? ", " : " or ", *c);
    return usage(cli, "%s takes %s, not '%.64s'", g->text, list, g->value);
}

static int rate(const struct cli *cli, const struct given *g)
{
    struct limiter_rate scratch[LIMIT_CLASSES];
    struct ferry_error err = {0};
    limiter_default_rates(scratch);
    if (limiter_parse_rate(g->value, g->text, scratch, &err) != 0)
        return cli_fail(cli, FERRY_EUSAGE, err.msg);
    return 0;
}

void *cli_group_base(struct cli *cli, enum cli_group group)
{
    switch (group) {
    case CLI_IN_TRANSFER: return &cli->transfer;
    case CLI_IN_VERIFY: return &cli->verify;
    case CLI_IN_EXTRACT: return &cli->extract;
    case CLI_IN_EMBED: return &cli->embed;
    case CLI_IN_KNN: return &cli->knn;
    case CLI_IN_STATUS: return &cli->status;
    case CLI_IN_LOCKS: return &cli->locks;
    case CLI_IN_GLOBAL: break;
    }
    return cli;
}

/* Check the value and store it where the row says. */
static int store(struct cli *cli, const struct cli_option *o, const struct given *g)
{
    char *field = (char *)cli_group_base(cli, o->group) + o->offset;
    long long number;
    int status = 0;
    if (takes_value(o) && !*g->value)
        return usage(cli, "%s needs a value (%s), not ''", g->text, o->arg);
    switch (o->kind) {
    case CLI_FLAG:
        *(bool *)field = true;
        break;
    case CLI_INT:
        if ((status = whole_number(cli, g, o->min, o->max, &number)) == 0)
            *(int *)field = (int)number;
        break;
    case CLI_LLONG:
        status = whole_number(cli, g, o->min, o->max, (long long *)field);
        break;
    case CLI_SIZE:
        *(long long *)field = config_parse_size(g->value);
        if (*(long long *)field <= 0)
            status = usage(cli, "%s: not a size (say 64M), not '%.64s'", g->text, g->value);
        break;
    case CLI_SECONDS:
        status = seconds(cli, g, (double *)field);
        break;
    case CLI_RATE:                   /* kept as given, parsed again over the config's */
        status = rate(cli, g);
        *(const char **)field = g->value;
        break;
    case CLI_STRING:
        *(const char **)field = g->value;
        break;
    case CLI_LIST: {
        struct cli_list *list = (struct cli_list *)field;
        list->items = xrealloc(list->items, (list->n + 1) * sizeof *list->items);
        list->items[list->n++] = g->value;
        break;
    }
    case CLI_CHOICE:
        status = choice(cli, o, g, (const char **)field);
        break;
    case CLI_PROGRESS: {
        static const char *const modes[] = {"auto", "always", "never", NULL};
        static const struct cli_option progress = {.choices = modes};
        const char *mode;
        if ((status = choice(cli, &progress, g, &mode)) == 0)
            *(enum progress_mode *)field = mode == modes[0] ? PROGRESS_AUTO
                                         : mode == modes[1] ? PROGRESS_ALWAYS : PROGRESS_NEVER;
        break;
    }
    case CLI_OPTIONAL:
    case CLI_OPTIONAL_SECONDS:
        if (g->value && !*g->value)
            return usage(cli, "%s=: give a folder after the '='", g->text);
        ((struct cli_optional *)field)->given = true;
        ((struct cli_optional *)field)->value = g->value;
        break;
    }
    return status;
}

/* Options that exclude or need each other: usage errors too, found before
 * anything runs. */
static int check_transfer(const struct cli *cli, const struct cli_transfer *t)
{
    if (t->public && !t->create)
        return usage(cli, "--public goes with --create");
    if (t->schedule && cli->dry_run)
        return usage(cli, "--schedule goes with get, put or sync (not a dry run)");
    if (!t->schedule && (t->slurm.job_name || t->slurm.time || t->slurm.gres ||
                         t->slurm.partition || t->slurm.account || t->slurm.parallelism))
        return usage(cli, "the --slurm-* options go with --schedule");
    if (t->extract_into && t->hf_cache.given)
        return usage(cli, "--extract and --hf-cache exclude each other (the cache keeps files "
                     "as the Hub has them)");
    if (t->scenes && t->scene_includes)
        return usage(cli, "--scenes and --scene-includes exclude each other");
    return 0;
}

static int check_combinations(const struct cli *cli, int command)
{
    if (CLI_BIT(command) & TRANSFER)
        return check_transfer(cli, &cli->transfer);
    if (command == CLI_KNN && cli->knn.geo && cli->knn.metric)
        return usage(cli, "--geo ranks by great-circle distance: no --metric with it");
    return 0;
}

/* Help, version or no command: all that is left to do is print.  Returns
 * the exit status, or -1 to go on. */
static int early_exit(struct cli *cli)
{
    const char *command = cli->n_args ? cli->args[0] : NULL;
    if (cli->version) {
        if (cli->rank == 0)
            libversions_print(stdout);
        return 0;
    }
    if (cli->help && command && !help_exists(command))
        return usage(cli, "unknown command '%.100s' (see ferry --help)", command);
    if (cli->help || !command) {
        if (cli->rank == 0)
            help_print(stdout, cli->help ? command : NULL);
        return cli->help ? 0 : err_exit_status(FERRY_EUSAGE);
    }
    if (cli_command_find(command) < 0)
        return usage(cli, "unknown command '%.100s' (see ferry --help)", command);
    return -1;
}

/* Each option that is not global must be one of the command's own, and
 * lands where that command keeps it. */
static int store_for_command(struct cli *cli, const struct given *given, size_t n, int command)
{
    for (size_t i = 0; i < n; i++) {
        const struct given *g = &given[i];
        if (cli_option_global(find(g->name, g->len, g->short_name, -1)))
            continue;
        const struct cli_option *o = find(g->name, g->len, g->short_name, command);
        if (!o)
            return usage(cli, "%s is not an option of %s (see ferry %s --help)", g->text,
                         command_names[command], command_names[command]);
        int status = store(cli, o, g);
        if (status != 0)
            return status;
    }
    return 0;
}

/* Returns 0 to go on, or an exit status (help, version, a usage error). */
static int parse_args(struct cli *cli, int argc, char **argv, bool *done)
{
    /* A word gives at most one option per character. */
    size_t room = 1, n = 0;
    for (int i = 1; i < argc; i++)
        room += strlen(argv[i]);
    struct given *given = xcalloc(room, sizeof *given);
    int status = scan(cli, argc, argv, given, &n);
    /* Global options first: --help and --version decide whether a command runs. */
    for (size_t i = 0; i < n && status == 0; i++) {
        const struct cli_option *o = find(given[i].name, given[i].len, given[i].short_name, -1);
        if (cli_option_global(o))
            status = store(cli, o, &given[i]);
    }
    int exit = status == 0 ? early_exit(cli) : -1;
    if (exit >= 0) {
        *done = true;
        status = exit;
    } else if (status == 0) {
        int command = cli_command_find(cli->args[0]);
        status = store_for_command(cli, given, n, command);
        if (status == 0)
            status = check_combinations(cli, command);
    }
    free(given);
    return status;
}

int cli_parse(struct cli *cli, int argc, char **argv, bool *done)
{
    *done = false;
    int status = parse_args(cli, argc, argv, done);
    /* Whatever failed to parse, nothing runs. */
    if (status != 0)
        *done = true;
    return status;
}

void cli_free(struct cli *cli)
{
    free(cli->argv);
    free(cli->self);
    free(cli->default_cache);
    free(cli->words);
    free(cli->transfer.includes.items);
    free(cli->transfer.excludes.items);
    free(cli->transfer.targets.items);
    cli->argv = cli->words = NULL;
    cli->self = cli->default_cache = NULL;
    cli->transfer.includes = cli->transfer.excludes = cli->transfer.targets = (struct cli_list){0};
    config_free(&cli->config);
}

int cli_settings_for(const char *command, char **words, int n, char **out)
{
    int c = cli_command_find(command), kept = 0;
    for (int i = 0; i < n; i++) {
        const char *w = words[i];
        bool is_long = strncmp(w, "--", 2) == 0 && w[2];
        bool is_short = !is_long && w[0] == '-' && w[1] && w[1] != '-';
        const char *name = is_long ? w + 2 : NULL, *eq = is_long ? strchr(name, '=') : NULL;
        size_t len = !is_long ? 0 : eq ? (size_t)(eq - name) : strlen(name);
        const struct cli_option *any = is_long || is_short ? find(name, len, w[1], -1) : NULL;
        bool with_next = any && takes_value(any) && !eq && !(is_short && w[2]) && i + 1 < n;
        bool keep = c < 0 || !any || find(name, len, w[1], c);
        if (keep)
            out[kept++] = words[i];
        if (keep && with_next)
            out[kept++] = words[i + 1];
        i += with_next;
    }
    return kept;
}

/* The command line's table of options: each command's --help lists exactly
 * the options the table gives it; every row parses a good value into its
 * command's struct and only there; bad values, missing values, unknown
 * options and options of another command are usage errors (exit 2) named on
 * stderr; a job spec's settings reach each phase only as its command takes
 * them. */
#include "check.h"
#include "cli.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- help ------------------------------------------------------------------ */

static __attribute__((noinline)) char *help_text(const char *command)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    help_print(f, command);
    fclose(f);
    return text;
}

static bool word_char(char c)
{
    return isalnum((unsigned char)c) || c == '-';
}

/* Does text name the option ("--name" or "-k" standing alone)? */
static bool names(const char *text, const struct cli_option *o)
{
    char token[64];
    if (o->name)
        snprintf(token, sizeof token, "--%s", o->name);
    else
        snprintf(token, sizeof token, "-%c", o->short_name);
    size_t len = strlen(token);
    for (const char *p = strstr(text, token); p; p = strstr(p + 1, token))
        if ((p == text || !word_char(p[-1])) && !word_char(p[len]))
            return true;
    return false;
}

/* Does any row of that name (or short name) belong to command? */
static bool taken_by(const struct cli_option *o, int command)
{
    size_t n;
    const struct cli_option *rows = cli_options(&n);
    for (size_t i = 0; i < n; i++) {
        bool same = o->name ? rows[i].name && strcmp(rows[i].name, o->name) == 0
                            : !rows[i].name && rows[i].short_name == o->short_name;
        if (same && (rows[i].commands & CLI_BIT(command)))
            return true;
    }
    return false;
}

static void test_help(void)
{
    size_t n;
    const struct cli_option *rows = cli_options(&n);
    char *overview = help_text(NULL);
    const char *globals = strstr(overview, "\nglobal options");
    CHECK(globals != NULL);
    for (int c = 0; c < CLI_COMMANDS; c++) {
        char *help = help_text(cli_command_name(c));
        CHECK(help != NULL && strncmp(help, "usage: ", 7) == 0);
        for (size_t i = 0; i < n; i++) {
            if (cli_option_global(&rows[i]))
                continue;
            bool listed = names(help, &rows[i]), takes = taken_by(&rows[i], c);
            if (listed != takes)
                fprintf(stderr, "ferry %s --help %s %s%s\n", cli_command_name(c),
                        listed ? "names" : "lacks", rows[i].name ? "--" : "-",
                        rows[i].name ? rows[i].name : (char[]){rows[i].short_name, 0});
            CHECK(listed == takes);
        }
        free(help);
    }
    for (size_t i = 0; i < n; i++) {
        bool listed = globals && names(globals, &rows[i]);
        if (listed != cli_option_global(&rows[i]))
            fprintf(stderr, "ferry --help's global options %s %s%s\n", listed ? "name" : "lack",
                    rows[i].name ? "--" : "-", rows[i].name ? rows[i].name
                                                          : (char[]){rows[i].short_name, 0});
        CHECK(listed == cli_option_global(&rows[i]));
    }
    free(overview);
}

/* ---- parsing --------------------------------------------------------------- */

static char stderr_text[4096];

/* Parse words (space-separated; "''" an empty word) as rank 0, with what it
 * writes to stderr kept in stderr_text.  Returns the status, -1 when the
 * command would run. */
static int parse_into(struct cli *cli, const char *line)
{
    static char copy[1024];
    char *argv[64] = {"ferry"};
    int argc = 1;
    snprintf(copy, sizeof copy, "%s", line);
    for (char *save = NULL, *w = strtok_r(copy, " ", &save); w && argc < 63;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = strcmp(w, "''") == 0 ? "" : w;
    argv[argc] = NULL;
    memset(cli, 0, sizeof *cli);
    cli->argc = argc;
    fflush(stderr);
    FILE *err = tmpfile();
    int saved = dup(2);
    dup2(fileno(err), 2);
    bool done = false;
    int status = cli_parse(cli, argc, argv, &done);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(err);
    size_t got = fread(stderr_text, 1, sizeof stderr_text - 1, err);
    stderr_text[got] = '\0';
    fclose(err);
    return done ? status : -1;
}

static bool refused(const char *line, const char *message)
{
    struct cli cli;
    int status = parse_into(&cli, line);
    bool ok = status == 2 && strncmp(stderr_text, "ferry: ", 7) == 0 &&
              (!message || strstr(stderr_text, message));
    if (!ok)
        fprintf(stderr, "'%s': status %d, stderr '%s'\n", line, status, stderr_text);
    cli_free(&cli);
    return ok;
}

#define REFUSED(line, message) CHECK(refused(line, message))

/* A good value of the row's kind, with the blank before it ("" for a flag). */
static const char *good_value(const struct cli_option *o)
{
    static char choice[64];
    switch (o->kind) {
    case CLI_FLAG: return "";
    case CLI_INT: return " 3";
    case CLI_LLONG: return " -7";
    case CLI_SIZE: return " 2M";
    case CLI_SECONDS: return " 1.5";
    case CLI_STRING: case CLI_LIST: return " x";
    case CLI_CHOICE:
        snprintf(choice, sizeof choice, " %s", o->choices[1]);
        return choice;
    case CLI_PROGRESS: return " never";
    case CLI_RATE: return " api=10/60";
    case CLI_OPTIONAL: return "=dir";
    case CLI_OPTIONAL_SECONDS: return " 90";
    }
    return "";
}

static bool stored(struct cli *cli, const struct cli_option *o, const char *value)
{
    char *field = (char *)cli_group_base(cli, o->group) + o->offset;
    switch (o->kind) {
    case CLI_FLAG: return *(bool *)field;
    case CLI_INT: return *(int *)field == 3;
    case CLI_LLONG: return *(long long *)field == -7;
    case CLI_SIZE: return *(long long *)field == 2 << 20;
    case CLI_SECONDS: return *(double *)field == 1.5;
    case CLI_LIST: {
        const struct cli_list *l = (const struct cli_list *)field;
        return l->n == 1 && strcmp(l->items[0], "x") == 0;
    }
    case CLI_PROGRESS: return *(enum progress_mode *)field == PROGRESS_NEVER;
    case CLI_OPTIONAL: {
        const struct cli_optional *v = (const struct cli_optional *)field;
        return v->given && v->value && strcmp(v->value, "dir") == 0;
    }
    case CLI_OPTIONAL_SECONDS: {
        const struct cli_optional *v = (const struct cli_optional *)field;
        return v->given && v->value && strcmp(v->value, "90") == 0;
    }
    case CLI_STRING: case CLI_CHOICE: case CLI_RATE:
        return *(const char **)field && strcmp(*(const char **)field, value + 1) == 0;
    }
    return false;
}

/* The option as a command line: itself, what it needs beside it, its value. */
static void option_words(const struct cli_option *o, const char *value, char *out, size_t size)
{
    const char *needs = !o->name ? ""
                      : strncmp(o->name, "slurm-", 6) == 0 ? "--schedule "
                      : strcmp(o->name, "public") == 0 ? "--create " : "";
    if (o->name)
        snprintf(out, size, "%s--%s%s", needs, o->name, value);
    else
        snprintf(out, size, "-%c%s", o->short_name, value);
}

/* Every row: a good value lands in its command's struct for each command
 * that takes it; every other command refuses it by name. */
static void test_every_row(void)
{
    size_t n;
    const struct cli_option *rows = cli_options(&n);
    for (size_t i = 0; i < n; i++) {
        const struct cli_option *o = &rows[i];
        if (o->group == CLI_IN_GLOBAL && (o->short_name == 'h' || o->short_name == 'V'))
            continue;            /* they print and stop */
        char words[256], line[512];
        option_words(o, good_value(o), words, sizeof words);
        for (int c = 0; c < CLI_COMMANDS; c++) {
            const char *command = cli_command_name(c);
            snprintf(line, sizeof line, "%s %s a b", command, words);
            if (o->commands & CLI_BIT(c)) {
                struct cli cli;
                int status = parse_into(&cli, line);
                if (status != -1 || !stored(&cli, o, good_value(o)))
                    fprintf(stderr, "'%s': status %d, stderr '%s'\n", line, status, stderr_text);
                CHECK(status == -1 && stored(&cli, o, good_value(o)));
                CHECK(cli.n_args == 3 && strcmp(cli.args[0], command) == 0);
                cli_free(&cli);
            } else if (!taken_by(o, c)) {
                REFUSED(line, "is not an option of");
                CHECK(strstr(stderr_text, command) != NULL);
            }
        }
        /* Numbers one past either end of the range are refused. */
        if (o->kind == CLI_INT) {
            char value[64];
            snprintf(value, sizeof value, " %lld", o->min - 1);
            option_words(o, value, words, sizeof words);
            snprintf(line, sizeof line, "%s %s a b", cli_command_name(__builtin_ctz(o->commands)),
                     words);
            REFUSED(line, "takes a whole number");
            snprintf(value, sizeof value, " %lld", o->max + 1);
            option_words(o, value, words, sizeof words);
            snprintf(line, sizeof line, "%s %s a b", cli_command_name(__builtin_ctz(o->commands)),
                     words);
            REFUSED(line, "takes a whole number");
        }
    }
}

static void test_kinds(void)
{
    struct cli cli;
    /* values as the next word, after '=', attached to a short option, clustered flags */
    CHECK(parse_into(&cli, "get --connections=8 -nyq a b --include x --include y") == -1);
    CHECK(cli.transfer.connections == 8 && cli.dry_run && cli.yes && cli.quiet);
    CHECK(cli.transfer.includes.n == 2 && strcmp(cli.transfer.includes.items[1], "y") == 0);
    cli_free(&cli);
    CHECK(parse_into(&cli, "knn -k3 f.h5") == -1 && cli.knn.k == 3);
    cli_free(&cli);
    CHECK(parse_into(&cli, "extract a.tar -Cdest") == -1 && strcmp(cli.extract.dest, "dest") == 0);
    cli_free(&cli);
    CHECK(parse_into(&cli, "embed x --out f.h5 --seed -9223372036854775808") == -1 &&
          cli.embed.seed == -9223372036854775807LL - 1);
    cli_free(&cli);
    /* --hf-cache takes a value only after '=' */
    CHECK(parse_into(&cli, "get --hf-cache hf://datasets/a/b") == -1);
    CHECK(cli.transfer.hf_cache.given && !cli.transfer.hf_cache.value && cli.n_args == 2);
    cli_free(&cli);
    /* "--" ends the options */
    CHECK(parse_into(&cli, "get a -- --b") == -1 && cli.n_args == 3 &&
          strcmp(cli.args[2], "--b") == 0);
    cli_free(&cli);

    REFUSED("get --connections 0 a b", "--connections takes a whole number from 1 to 256, not '0'");
    REFUSED("get --connections -5 a b", "not '-5'");
    REFUSED("get --connections 8x a b", "not '8x'");
    REFUSED("get --connections '' a b", "--connections needs a value");
    REFUSED("get --connections 99999999999999999999 a b", "takes a whole number");
    REFUSED("embed x --out f --seed 99999999999999999999", "--seed takes a whole number");
    REFUSED("embed x --out f --dim 4294967297", "--dim takes a whole number");
    REFUSED("get --chunk-size 0 a b", "--chunk-size: not a size");
    REFUSED("get --chunk-size -1M a b", "--chunk-size: not a size");
    REFUSED("embed x --out f --commit-every 0", "--commit-every takes seconds");
    REFUSED("embed x --out f --commit-every 1s", "--commit-every takes seconds");
    REFUSED("embed x --out f --device tpu", "--device takes auto, cpu or gpu, not 'tpu'");
    REFUSED("knn f --metric manhattan", "--metric takes l2 or cosine");
    REFUSED("--progress sometimes get a b", "--progress takes auto, always or never");
    REFUSED("get --rate api=x a b", "--rate");
    REFUSED("get a b --connections", "--connections needs a value");
    REFUSED("knn f -k", "-k needs a value");
    REFUSED("get --hf-cache= a b", "--hf-cache=");
    REFUSED("get --yes=1 a b", "--yes takes no value");
    REFUSED("get --bogus a b", "unknown option '--bogus'");
    REFUSED("get -Z a b", "unknown option '-Z'");
    REFUSED("frobnicate a b", "unknown command 'frobnicate'");
    REFUSED("--connections 4 frobnicate", "unknown command 'frobnicate'");
    REFUSED("embed x --out f --connections 3",
            "--connections is not an option of embed (see ferry embed --help)");
    REFUSED("plan --schedule a b", "--schedule is not an option of plan");
    REFUSED("put --public a b", "--public goes with --create");
    REFUSED("get --slurm-time 1:00 a b", "go with --schedule");
    REFUSED("get --schedule -n a b", "--schedule goes with");
    REFUSED("get --scenes a --scene-includes b a b", "exclude each other");
    REFUSED("get --extract x --hf-cache=d a", "exclude each other");
    REFUSED("knn f --geo g --metric l2", "no --metric");
    /* no command: the overview, and exit 2 */
    struct cli quiet = {.rank = 1};
    bool done = false;
    char *argv[] = {"ferry", "-v", NULL};
    CHECK(cli_parse(&quiet, 2, argv, &done) == 2 && done);
    cli_free(&quiet);
    /* help: exit 0, nothing runs (rank 1 prints nothing) */
    struct cli help = {.rank = 1};
    char *help_argv[] = {"ferry", "get", "--help", "--connections", "0", NULL};
    CHECK(cli_parse(&help, 5, help_argv, &done) == 0 && done);
    cli_free(&help);
}

static void test_settings(void)
{
    char *settings[] = {"--yes", "--connections", "16", "--progress=never", "-k", "5",
                        "--chunk-size=1M", "--bogus"};
    char *out[8];
    int n = cli_settings_for("embed", settings, 8, out);
    CHECK(n == 3 && strcmp(out[0], "--yes") == 0 && strcmp(out[1], "--progress=never") == 0 &&
          strcmp(out[2], "--bogus") == 0);
    n = cli_settings_for("knn", settings, 8, out);
    CHECK(n == 5 && strcmp(out[2], "-k") == 0 && strcmp(out[3], "5") == 0);
    n = cli_settings_for("get", settings, 8, out);
    CHECK(n == 6 && strcmp(out[1], "--connections") == 0 && strcmp(out[2], "16") == 0 &&
          strcmp(out[4], "--chunk-size=1M") == 0);
    n = cli_settings_for("frobnicate", settings, 8, out);
    CHECK(n == 8);
}

/* --watch takes a number as its own word, never a path. */
static void test_watch_words(void)
{
    struct cli cli;
    CHECK(parse_into(&cli, "sync --target t --watch 90 src") == -1);
    CHECK(cli.transfer.watch.given && strcmp(cli.transfer.watch.value, "90") == 0);
    CHECK(cli.n_args == 2 && strcmp(cli.args[1], "src") == 0);
    cli_free(&cli);
    CHECK(parse_into(&cli, "sync --target t --watch src") == -1);
    CHECK(cli.transfer.watch.given && !cli.transfer.watch.value);
    CHECK(cli.n_args == 2 && strcmp(cli.args[1], "src") == 0);
    cli_free(&cli);
    CHECK(parse_into(&cli, "sync --watch=2.5 --target t") == -1);
    CHECK(strcmp(cli.transfer.watch.value, "2.5") == 0);
    cli_free(&cli);
}

int main(void)
{
    test_help();
    test_watch_words();
    test_every_row();
    test_kinds();
    test_settings();
    return check_summary("test_cli");
}

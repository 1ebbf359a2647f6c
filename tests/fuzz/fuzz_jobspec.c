/* A pipeline's job spec (jobspec_parse) and the command lines made from it. */
#include "fuzz.h"

#include "ferry/jobspec.h"

static void check_command(const struct jobspec *spec, const struct jobspec_argv *cmd)
{
    int argc = 0;
    char **argv = jobspec_command(spec, cmd, &argc);
    FUZZ_CHECK(argc == 1 + cmd->argc + spec->settings.argc && argv[argc] == NULL);
    free(argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    struct jobspec spec;
    struct ferry_error err = {0};
    if (jobspec_parse(text, "/scratch/jobs/fuzz.json", &spec, &err) == 0) {
        FUZZ_CHECK(spec.n_phases > 0 && spec.name && spec.state_dir);
        for (size_t i = 0; i < spec.n_phases; i++) {
            FUZZ_CHECK(spec.phases[i].name && spec.phases[i].run.argc > 0);
            check_command(&spec, &spec.phases[i].run);
        }
        for (size_t i = 0; i < spec.n_after; i++)
            check_command(&spec, &spec.after[i]);
    } else {
        FUZZ_CHECK(err.code != 0 && err.msg[0] != '\0');
    }
    jobspec_free(&spec);
    free(text);
    return 0;
}

/* The command line (cli_parse): the input is argv after "ferry", words
 * separated by NUL bytes.  Parsing runs nothing; rank 1 keeps usage
 * messages and help off the terminal. */
#include "fuzz.h"

#include "cli.h"

#define FUZZ_MAX_WORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    char *argv[FUZZ_MAX_WORDS + 2] = {"ferry"};
    int argc = 1;
    for (char *p = text; p < text + size && argc <= FUZZ_MAX_WORDS; p += strlen(p) + 1)
        argv[argc++] = p;
    argv[argc] = NULL;
    struct cli cli = {.rank = 1, .argc = argc};
    bool done = false;
    int status = cli_parse(&cli, argc, argv, &done);
    FUZZ_CHECK(status >= 0 && status <= 5);
    if (!done)
        FUZZ_CHECK(status == 0 && cli.n_args >= 1 && cli.args[0] != NULL);
    cli_free(&cli);
    free(text);
    return 0;
}

/* The JSON config file (config_parse) and the size syntax it shares with
 * --chunk-size (config_parse_size). */
#include "fuzz.h"

#include "ferry/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    struct ferry_config cfg = {0};
    struct ferry_error err = {0};
    if (config_parse(text, "fuzz.json", &cfg, &err) == 0) {
        for (size_t i = 0; i < cfg.n_roots; i++)
            FUZZ_CHECK(config_root(&cfg, cfg.roots[i].name) != NULL);
        for (size_t i = 0; i < cfg.n_remotes; i++)
            FUZZ_CHECK(config_remote(&cfg, cfg.remotes[i].name) != NULL);
    } else {
        FUZZ_CHECK(err.code != 0 && err.msg[0] != '\0');
    }
    config_free(&cfg);
    long long bytes = config_parse_size(text);
    FUZZ_CHECK(bytes >= -1);
    free(text);
    return 0;
}

/* Config parsing and the errors a user sees for a bad file. */
#include "check.h"
#include "ferry/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse(const char *text, struct ferry_config *cfg, struct ferry_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    return config_parse(text, "test.json", cfg, err);
}

static void test_good(void)
{
    struct ferry_config cfg;
    struct ferry_error err = {0};
    CHECK(parse("{\"roots\": {\"gt\": \"/scratch/gt\"}, \"remotes\": {\"gt\": \"hf://datasets/me/gt\"},"
                " \"default_excludes\": [\"misc/\"], \"allowed_prefixes\": [\"hf://datasets/me/\"],"
                " \"rate\": \"api=10/60\", \"connections\": 8, \"chunk_size\": \"16M\","
                " \"lock_ttl\": 60}", &cfg, &err) == 0);
    CHECK(strcmp(config_root(&cfg, "gt"), "/scratch/gt") == 0);
    CHECK(strcmp(config_remote(&cfg, "gt"), "hf://datasets/me/gt") == 0);
    CHECK(config_root(&cfg, "nope") == NULL);
    CHECK(cfg.n_default_excludes == 1 && strcmp(cfg.default_excludes[0], "misc/") == 0);
    CHECK(cfg.n_allowed_prefixes == 1);
    CHECK(cfg.connections == 8 && cfg.chunk_size == 16 << 20 && cfg.lock_ttl == 60);
    CHECK(strcmp(cfg.rate, "api=10/60") == 0);
    config_free(&cfg);
}

static void test_errors(void)
{
    struct ferry_config cfg;
    struct ferry_error err = {0};
    CHECK(parse("{\n  \"roots\": {},\n  oops\n}", &cfg, &err) == FERRY_EUSAGE);
    CHECK(strstr(err.msg, "test.json:3:") != NULL);
    config_free(&cfg);

    CHECK(parse("{\"chunksize\": 3}", &cfg, &err) == FERRY_EUSAGE);
    CHECK(strstr(err.msg, "test.json") && strstr(err.msg, "unknown key \"chunksize\""));
    config_free(&cfg);

    CHECK(parse("{\"roots\": {\"a\": 1}}", &cfg, &err) == FERRY_EUSAGE);
    CHECK(strstr(err.msg, "\"roots\".\"a\"") != NULL);
    config_free(&cfg);

    CHECK(parse("{\"connections\": -2}", &cfg, &err) == FERRY_EUSAGE);
    CHECK(parse("{\"chunk_size\": \"lots\"}", &cfg, &err) == FERRY_EUSAGE);
    CHECK(parse("{\"default_excludes\": \"misc/\"}", &cfg, &err) == FERRY_EUSAGE);
    CHECK(parse("[1, 2]", &cfg, &err) == FERRY_EUSAGE);
    config_free(&cfg);

    /* An empty prefix would allow everything. */
    CHECK(parse("{\"allowed_prefixes\": [\"datasets/me/gt\", \"\"]}", &cfg, &err) == FERRY_EUSAGE);
    CHECK(strstr(err.msg, "\"allowed_prefixes\" must be prefixes such as") != NULL);
    config_free(&cfg);
    CHECK(parse("{\"chunk_size\": 51e508}", &cfg, &err) == FERRY_EUSAGE);
    CHECK(parse("{\"chunk_size\": 1e19}", &cfg, &err) == FERRY_EUSAGE);
    CHECK(strstr(err.msg, "\"chunk_size\" must be a size") != NULL);
    config_free(&cfg);
    /* Found by fuzz_config: a key given twice leaked the first value. */
    CHECK(parse("{\"rate\": \"api=1/1\", \"rate\": \"api=2/1\"}", &cfg, &err) == 0);
    CHECK(cfg.rate && strcmp(cfg.rate, "api=2/1") == 0);
    config_free(&cfg);
}

static void test_sizes(void)
{
    CHECK(config_parse_size("4096") == 4096);
    CHECK(config_parse_size("64M") == 64LL << 20);
    CHECK(config_parse_size("1.5G") == 3LL << 29);
    CHECK(config_parse_size("2GiB") == 2LL << 30);
    CHECK(config_parse_size("8KB") == 8192);
    CHECK(config_parse_size("12X") == -1);
    CHECK(config_parse_size("") == -1);
    CHECK(config_parse_size("-1M") == -1);
    /* Found by fuzz_config: no size may come from a value a long long cannot hold. */
    CHECK(config_parse_size("nan") == -1);
    CHECK(config_parse_size("NaNK") == -1);
    CHECK(config_parse_size("inf") == -1);
}

static void test_load(void)
{
    struct ferry_config cfg;
    struct ferry_error err = {0};
    CHECK(config_load("/nonexistent/ferry.json", &cfg, &err) == FERRY_EUSAGE);
    CHECK(strstr(err.msg, "/nonexistent/ferry.json") != NULL);
    config_free(&cfg);

    char path[] = "/tmp/ferry-test-config-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "{\"roots\": {\"x\": \"/tmp/x\"}}";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    setenv("FERRY_CONFIG", path, 1);
    CHECK(config_load(NULL, &cfg, &err) == 0);
    CHECK(cfg.path && strcmp(cfg.path, path) == 0 && config_root(&cfg, "x"));
    config_free(&cfg);
    unlink(path);
    CHECK(config_load(NULL, &cfg, &err) == FERRY_EUSAGE);   /* FERRY_CONFIG names a missing file */
    config_free(&cfg);

    unsetenv("FERRY_CONFIG");
    setenv("HOME", "/nonexistent", 1);
    CHECK(chdir("/") == 0);
    CHECK(config_load(NULL, &cfg, &err) == 0 && cfg.path == NULL);   /* none: empty config */
    /* ... but for the built-in excludes: misc/ folders at any depth. */
    CHECK(cfg.n_default_excludes == 2 && strcmp(cfg.default_excludes[0], "misc/") == 0 &&
          strcmp(cfg.default_excludes[1], "*/misc/") == 0);
    config_free(&cfg);
}

int main(void)
{
    test_good();
    test_errors();
    test_sizes();
    test_load();
    return check_summary("test_config");
}

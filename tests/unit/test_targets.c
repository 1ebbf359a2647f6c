/* Config targets and the version rules of latest_only. */
#include "check.h"
#include "ferry/config.h"
#include "ferry/targets.h"
#include "ferry/versions.h"

#include <stdlib.h>
#include <string.h>

static int parse(const char *text, struct ferry_config *cfg, struct ferry_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    return config_parse(text, "t.json", cfg, err);
}

static void test_targets(void)
{
    struct ferry_config cfg;
    struct ferry_error err = {0};
    CHECK(parse("{\"//\": \"a comment\", \"roots\": {\"//\": \"x\", \"sweeps\": \"/s\"},"
                " \"targets\": {\"desk\": {\"//\": \"c\", \"host\": \"ws\", \"user\": \"me\","
                " \"port\": 2222, \"paths\": {\"sweeps\": \"/data/s\", \"wandb\": \"~/w\"},"
                " \"latest_only\": true, \"max_depth\": 3, \"parallel_transfers\": 4,"
                " \"check_remote_first\": false},"
                " \"v6\": {\"host\": \"::1\", \"paths\": {\"a\": \"rel\"}}},"
                " \"default_target\": \"desk\"}", &cfg, &err) == 0);
    CHECK(cfg.n_roots == 1 && cfg.n_targets == 2);
    const struct config_target *t = target_find(cfg.targets, cfg.n_targets, "desk");
    CHECK(t && t->port == 2222 && t->latest_only && t->max_depth == 3 &&
          t->parallel_transfers == 4 && !t->check_remote_first && t->n_paths == 2);
    char *loc = target_location(t, target_path(t, "sweeps"));
    CHECK(strcmp(loc, "ssh://me@ws:2222/data/s") == 0);
    free(loc);
    loc = target_location(t, target_path(t, "wandb"));
    CHECK(strcmp(loc, "ssh://me@ws:2222/~/w") == 0);
    free(loc);
    t = target_find(cfg.targets, cfg.n_targets, "v6");
    CHECK(t && t->check_remote_first && !t->latest_only);
    loc = target_location(t, "rel");
    CHECK(strcmp(loc, "ssh://[::1]/~/rel") == 0);
    free(loc);
    CHECK(target_path(t, "nope") == NULL);
    config_free(&cfg);

    static const char *const bad[] = {
        "{\"targets\": {\"a\": {\"paths\": {\"x\": \"/x\"}}}}",                  /* no host */
        "{\"targets\": {\"a\": {\"host\": \"h\"}}}",                              /* no paths */
        "{\"targets\": {\"a\": {\"host\": \"h\", \"paths\": {}}}}",
        "{\"targets\": {\"a\": {\"host\": \"h\", \"paths\": {\"x\": 1}}}}",
        "{\"targets\": {\"a\": {\"host\": \"h\", \"paths\": {\"x\": \"/x\"}, \"port\": 0}}}",
        "{\"targets\": {\"a\": {\"host\": \"h\", \"paths\": {\"x\": \"/x\"}, \"max_depth\": 1.5}}}",
        "{\"targets\": {\"a\": {\"host\": \"h\", \"paths\": {\"x\": \"/x\"}, \"latest_only\": 1}}}",
        "{\"targets\": {\"a\": {\"host\": \"h\", \"paths\": {\"x\": \"/x\"}, \"lastest_only\": true}}}",
        "{\"targets\": {\"a\": {\"host\": \"h\", \"paths\": {\"x\": \"/x\"}}}, \"default_target\": \"b\"}",
        "{\"targets\": []}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&err, 0, sizeof err);
        CHECK(parse(bad[i], &cfg, &err) == FERRY_EUSAGE);
        CHECK(strstr(err.msg, "t.json") != NULL);
        config_free(&cfg);
    }
    /* The template ferry init writes parses, with its default target. */
    CHECK(parse(targets_template, &cfg, &err) == 0);
    CHECK(cfg.n_targets == 2 && cfg.default_target && strcmp(cfg.default_target, "desktop") == 0);
    config_free(&cfg);
}

static void test_versions(void)
{
    size_t at, digits;
    unsigned long long n;
    CHECK(version_find("model:v12", 9, &at, &digits, &n) && n == 12 && at == 7 && digits == 2);
    CHECK(version_find("ckpt_v2.pt", 10, &at, &digits, &n) && n == 2);
    CHECK(version_find("epoch=3.ckpt", 12, &at, &digits, &n) && n == 3);
    CHECK(version_find("v7", 2, &at, &digits, &n) && n == 7);
    CHECK(!version_find("run_007", 7, &at, &digits, &n));
    CHECK(!version_find("dev3", 4, &at, &digits, &n));      /* a word ending in v, no version */
    CHECK(!version_find("20261201", 8, &at, &digits, &n));

    char *paths[] = {
        "r/ckpt_v1.pt", "r/ckpt_v2.pt", "r/ckpt_v10.pt",     /* 10 > 2 by number */
        "r/epoch=1.ckpt", "r/epoch=3.ckpt",
        "a/model:v1/w.bin", "a/model:v2/w.bin", "a/model:v2/x.bin",
        "b/model:v1/w.bin",                                  /* another folder: alone, latest */
        "r/run_001.log", "r/run_002.log",                    /* not versions */
        "r/final_v1.pt",                                     /* its own group */
    };
    size_t count = sizeof paths / sizeof *paths;
    bool older[sizeof paths / sizeof *paths];
    versions_older(paths, count, older);
    bool want[] = {true, true, false, true, false, true, false, false, false, false, false, false};
    for (size_t i = 0; i < count; i++)
        CHECK(older[i] == want[i]);
    CHECK(path_has_version("a/model:v2/w.bin") && path_has_version("epoch=3.ckpt"));
    CHECK(!path_has_version("run_001/logs/train.log") && !path_has_version(""));
    CHECK(path_depth("a") == 1 && path_depth("a/b/c") == 3 && path_depth("") == 0);
}

int main(void)
{
    test_targets();
    test_versions();
    return check_summary("test_targets");
}

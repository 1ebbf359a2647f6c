/* hf:// location parsing. */
#include "check.h"
#include "ferry/hfurl.h"

#include <string.h>

static int parse(const char *text, struct hf_url *u)
{
    struct ferry_error err = {0};
    return hfurl_parse(text, u, &err);
}

#define EQ(a, b) ((a) && strcmp((a), (b)) == 0)

int main(void)
{
    struct hf_url u;
    CHECK(parse("hf://datasets/me/gt", &u) == 0);
    CHECK(u.type == HF_DATASET && EQ(u.repo_id, "me/gt") && !u.revision && EQ(u.path, ""));
    hfurl_free(&u);

    CHECK(parse("hf://datasets/me/gt@v1.0/scene_01/", &u) == 0);
    CHECK(EQ(u.revision, "v1.0") && EQ(u.path, "scene_01"));
    hfurl_free(&u);

    CHECK(parse("hf://datasets/me/gt@refs/pr/3/data/train", &u) == 0);
    CHECK(EQ(u.revision, "refs/pr/3") && EQ(u.path, "data/train"));
    hfurl_free(&u);

    CHECK(parse("hf://me/model", &u) == 0);
    CHECK(u.type == HF_MODEL && EQ(u.repo_id, "me/model"));
    CHECK(strcmp(hfurl_url_prefix(u.type), "") == 0 && strcmp(hfurl_api_kind(u.type), "models") == 0);
    hfurl_free(&u);

    CHECK(parse("hf://spaces/me/demo@main", &u) == 0);
    CHECK(u.type == HF_SPACE && EQ(u.revision, "main") && EQ(u.path, ""));
    hfurl_free(&u);

    CHECK(parse("hf://datasets/onlyowner", &u) == FERRY_EUSAGE);
    CHECK(parse("hf://datasets/me/../etc", &u) == FERRY_EUSAGE);
    CHECK(parse("hf://datasets/me/gt@", &u) == FERRY_EUSAGE);
    CHECK(parse("https://example.org/x", &u) == FERRY_EUSAGE);
    return check_summary("test_hfurl");
}

/* The config's allowed_prefixes: the forms a prefix may take, and a match
 * only at a boundary. */
#include "check.h"
#include "ferry/backend.h"

#include <stdbool.h>

static bool allows(const char *prefix, const char *location)
{
    char *list[] = {(char *)prefix};
    struct ferry_error err = {0};
    backend_set_allowed(list, 1);
    int rc = backend_check_allowed(location, &err);
    backend_set_allowed(NULL, 0);
    return rc == 0;
}

int main(void)
{
    /* One repository, written four ways. */
    const char *forms[] = {"hf://datasets/alice/ds", "datasets/alice/ds", "hf://datasets/alice/ds/",
                           "datasets/alice/ds/"};
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        CHECK(allows(forms[i], "hf://datasets/alice/ds"));
        CHECK(allows(forms[i], "hf://datasets/alice/ds/train"));
        CHECK(allows(forms[i], "hf://datasets/alice/ds@v1.0/train"));
        CHECK(!allows(forms[i], "hf://datasets/alice/dsx"));
        CHECK(!allows(forms[i], "hf://datasets/alice/ds-evil/x"));
        CHECK(!allows(forms[i], "hf://alice/ds"));
        CHECK(!allows(forms[i], "https://example.org/hf://datasets/alice/ds"));
    }
    /* OWNER/NAME alone is a model, as in hf://OWNER/NAME. */
    CHECK(allows("alice/model", "hf://alice/model"));
    CHECK(allows("alice/model", "hf://models/alice/model/weights"));
    CHECK(allows("hf://models/alice/model", "hf://alice/model"));
    CHECK(!allows("alice/model", "hf://datasets/alice/model"));
    CHECK(!allows("alice/model", "hf://alice/modelx"));
    /* An owner's repositories of a kind. */
    CHECK(allows("datasets/alice/", "hf://datasets/alice/any"));
    CHECK(allows("hf://datasets/alice", "hf://datasets/alice/any"));
    CHECK(!allows("hf://datasets/alice", "hf://datasets/alicex/any"));
    CHECK(allows("hf://", "hf://datasets/anyone/any"));
    /* A pinned revision is a prefix too. */
    CHECK(allows("datasets/alice/ds@v1", "hf://datasets/alice/ds@v1/train"));
    CHECK(!allows("datasets/alice/ds@v1", "hf://datasets/alice/ds@v10"));
    /* URLs: a host or a folder, never a longer name, another port or user info. */
    CHECK(allows("https://example.org", "https://example.org/a.tar"));
    CHECK(allows("https://example.org/data/", "https://example.org/data/a.tar"));
    CHECK(allows("https://example.org/data", "https://example.org/data?x=1"));
    CHECK(!allows("https://example.org", "https://example.org.evil.com/a.tar"));
    CHECK(!allows("https://example.org", "https://example.org@evil.com/a.tar"));
    CHECK(!allows("https://example.org", "https://example.org:8443/a.tar"));
    CHECK(!allows("https://example.org/data", "https://example.org/database.tar"));
    CHECK(!allows("https://example.org", "hf://datasets/alice/ds"));
    return check_summary("test_allowed");
}

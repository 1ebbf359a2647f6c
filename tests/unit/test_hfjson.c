/* The Hub's JSON answers: well-formed ones read, hostile ones refused with a
 * message that says what is wrong. */
#include "check.h"
#include "ferry/hfjson.h"

#include <string.h>

#define SHA1 "0123456789abcdef0123456789abcdef01234567"
#define SHA256 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct ferry_error err;

static int tree(const char *text, size_t len, struct hfjson_entries *out)
{
    memset(&err, 0, sizeof err);
    return hfjson_tree_page(text, len, out, &err);
}

/* A page that must be refused, with a message containing want. */
static int refused(const char *text, size_t len, const char *want)
{
    struct hfjson_entries e = {0};
    int rc = tree(text, len, &e);
    hfjson_entries_free(&e);
    if (rc == FERRY_EFAIL && strstr(err.msg, want))
        return 1;
    fprintf(stderr, "  %.*s -> %d \"%s\"\n", (int)len, text, rc, err.msg);
    return 0;
}

#define REFUSED(text, want) refused(text, sizeof text - 1, want)

static void good_pages(void)
{
    static const char page[] =
        "[{\"type\":\"file\",\"oid\":\"" SHA1 "\",\"size\":12,\"path\":\"a/b.txt\"},"
        " {\"type\":\"directory\",\"oid\":\"x\",\"size\":0,\"path\":\"a\"},"
        " {\"type\":\"file\",\"oid\":\"" SHA1 "\",\"size\":134,\"path\":\"big.bin\","
        "  \"lfs\":{\"oid\":\"" SHA256 "\",\"size\":9007199254740992,\"pointerSize\":134}}]";
    struct hfjson_entries e = {0};
    CHECK(tree(page, sizeof page - 1, &e) == 0);
    CHECK(e.count == 3);
    CHECK(e.count == 3 && strcmp(e.entry[0].path, "a/b.txt") == 0 && e.entry[0].size == 12 &&
          !e.entry[0].directory && strcmp(e.entry[0].oid, SHA1) == 0 && !e.entry[0].lfs_oid);
    CHECK(e.count == 3 && e.entry[1].directory);
    CHECK(e.count == 3 && e.entry[2].size == HFJSON_MAX_SIZE &&
          strcmp(e.entry[2].lfs_oid, SHA256) == 0);
    /* Pages accumulate. */
    CHECK(tree("[]", 2, &e) == 0 && e.count == 3);
    hfjson_entries_free(&e);
    CHECK(e.count == 0 && !e.entry);
}

static void hostile_pages(void)
{
    CHECK(REFUSED("<html><body>Bad gateway</body></html>", "not JSON (it starts \"<html>"));
    CHECK(REFUSED("", "not JSON"));
    CHECK(REFUSED("{}", "not a list"));
    CHECK(REFUSED("[1,2,3]", "entry 0 is not an object"));
    CHECK(REFUSED("[{\"type\":\"file\",\"size\":1}]", "entry 0 has no path"));
    CHECK(REFUSED("[{\"type\":\"file\",\"size\":1,\"path\":\"\"}]", "entry 0 has no path"));
    CHECK(REFUSED("[{\"type\":\"link\",\"path\":\"x\"}]", "\"x\" is neither a file nor"));
    CHECK(REFUSED("[{\"type\":\"file\",\"path\":\"x\"}]", "\"x\" has no size"));
    CHECK(REFUSED("[{\"type\":\"file\",\"path\":\"x\",\"size\":-5}]", "bad size \"-5\""));
    CHECK(REFUSED("[{\"type\":\"file\",\"path\":\"x\",\"size\":1e300}]", "bad size \"1e+300\""));
    CHECK(REFUSED("[{\"type\":\"file\",\"path\":\"x\",\"size\":1.5}]", "bad size"));
    CHECK(REFUSED("[{\"type\":\"file\",\"path\":\"x\",\"size\":\"7\"}]", "bad size"));
    CHECK(REFUSED("[{\"type\":\"file\",\"path\":\"x\",\"size\":9007199254740994}]", "bad size"));
    CHECK(REFUSED("[{\"type\":\"file\",\"path\":\"x\",\"size\":1,\"oid\":\"../../etc\"}]",
                  "oid that is not 40 hex"));
    CHECK(REFUSED("[{\"type\":\"file\",\"path\":\"x\",\"size\":1,\"lfs\":{\"oid\":\"" SHA1
                  "\",\"size\":1}}]", "lfs oid that is not 64 hex"));
    CHECK(REFUSED("[{\"type\":\"file\",\"path\":\"x\",\"size\":1,\"lfs\":7}]", "lfs that is not"));
    /* A NUL would cut the path short: refused, shown escaped, whole. */
    CHECK(REFUSED("[{\"type\":\"file\",\"path\":\"evil\\u0000.txt\",\"size\":1}]",
                  "NUL byte in \"evil\\u0000.txt\""));
    CHECK(REFUSED("[{\"type\":\"file\",\"path\":\"raw\0.txt\",\"size\":1}]",
                  "NUL byte in \"raw\\x00.txt\""));
    /* An escaped backslash before u0000 is no NUL. */
    struct hfjson_entries e = {0};
    static const char text[] = "[{\"type\":\"file\",\"path\":\"a\\\\u0000\",\"size\":1}]";
    CHECK(tree(text, sizeof text - 1, &e) == 0 && e.count == 1 &&
          strcmp(e.entry[0].path, "a\\u0000") == 0);
    hfjson_entries_free(&e);
    /* Control bytes in a message are escaped. */
    CHECK(REFUSED("[{\"type\":\"link\",\"path\":\"a\\nb\"}]", "\"a\\x0ab\""));
}

static void revisions(void)
{
    char sha[41];
    long long when = 0;
    static const char good[] = "{\"sha\":\"" SHA1 "\",\"lastModified\":\"2024-01-02T03:04:05.000Z\"}";
    CHECK(hfjson_revision(good, sizeof good - 1, sha, &when, &err) == 0);
    CHECK(strcmp(sha, SHA1) == 0 && when == 1704164645);
    CHECK(hfjson_revision("{\"sha\":\"" SHA1 "\"}", 50, sha, &when, &err) == 0 && when == -1);
    CHECK(hfjson_revision("{\"sha\":\"abc123\"}", 16, sha, &when, &err) == FERRY_EFAIL &&
          strstr(err.msg, "sha \"abc123\" is not a commit id"));
    CHECK(hfjson_revision("{\"id\":1}", 8, sha, &when, &err) == FERRY_EFAIL &&
          strstr(err.msg, "has no sha"));
    CHECK(hfjson_revision("[1]", 3, sha, &when, &err) == FERRY_EFAIL &&
          strstr(err.msg, "not an object"));
    CHECK(hfjson_revision("<html>", 6, sha, &when, &err) == FERRY_EFAIL &&
          strstr(err.msg, "revision answer is not JSON"));
}

static void paths_info(void)
{
    struct hfjson_entries e = {0};
    static const char text[] = "[{\"type\":\"file\",\"oid\":\"" SHA1 "\",\"size\":3,\"path\":\"f\"}]";
    CHECK(hfjson_paths_info(text, sizeof text - 1, &e, &err) == 0 && e.count == 1);
    CHECK(hfjson_paths_info("{\"a\":1}", 7, &e, &err) == FERRY_EFAIL &&
          strstr(err.msg, "paths-info answer is not a list"));
    hfjson_entries_free(&e);
}

int main(void)
{
    good_pages();
    hostile_pages();
    revisions();
    paths_info();
    return check_summary("test_hfjson");
}

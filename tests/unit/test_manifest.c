/* manifest: aria2 input files, their options, and every refusal. */
#include "check.h"
#include "ferry/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse(const char *text, struct manifest *m, struct ferry_error *err)
{
    return manifest_parse(text, strlen(text), "list.txt", m, err);
}

static void test_entries(void)
{
    struct manifest m;
    struct ferry_error err = {0};
    const char *text =
        "# a comment\r\n"
        "\r\n"
        "https://a.example/x/shard%2000.tar\thttps://b.example/shard.tar\r\n"
        "  dir=shards\r\n"
        "  max-connection-per-server=4\r\n"
        "  checksum=SHA-256=ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\r\n"
        "http://c.example/y.bin?sig=1\n"
        "\tout=sub/renamed.bin\n"
        "file:///tmp/z.dat\n";
    CHECK(parse(text, &m, &err) == 0);
    CHECK(m.count == 3);
    CHECK(m.entries[0].n_urls == 2);
    CHECK(strcmp(m.entries[0].urls[1], "https://b.example/shard.tar") == 0);
    CHECK(strcmp(m.entries[0].path, "shards/shard 00.tar") == 0);
    CHECK(strcmp(m.entries[0].sha256,
                 "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789") == 0);
    CHECK(m.entries[0].line == 3);
    CHECK(strcmp(m.entries[1].path, "sub/renamed.bin") == 0 && !m.entries[1].sha256);
    CHECK(strcmp(m.entries[2].path, "z.dat") == 0);
    manifest_free(&m);
    CHECK(parse("", &m, &err) == 0 && m.count == 0);
}

/* Each bad manifest must fail with a message naming its line and cause. */
static void refuse(const char *text, const char *expect)
{
    struct manifest m;
    struct ferry_error err = {0};
    int rc = parse(text, &m, &err);
    CHECK(rc == FERRY_EUSAGE);
    if (!strstr(err.msg, expect)) {
        fprintf(stderr, "expected '%s' in '%s'\n", expect, err.msg);
        CHECK(0);
    }
}

static void test_refusals(void)
{
    refuse("  out=x\n", "list.txt:1: an option line before any URL");
    refuse("ftp://a/x\n", "list.txt:1: 'ftp://a/x': only http");
    refuse("http://a/x\n  out\n", "list.txt:2: an option line needs KEY=VALUE");
    refuse("http://a/x\n  checksum=md5=abc\n", "only sha-256");
    refuse("http://a/x\n  checksum=sha-256=abc\n", "64 hex digits");
    refuse("http://a/x\n  checksum=sha-256=" "zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
           "not hexadecimal");
    refuse("http://a/x\n  out=../evil\n", "list.txt:1: refusing '../evil'");
    refuse("http://a/x\n  out=/etc/passwd\n", "an absolute path");
    refuse("http://a/x\n  dir=a/../..\n", "refusing");
    refuse("http://a/x\n  out=a\\\\b\n", "a backslash");
    refuse("http://a/dir/\n", "list.txt:1: the URL names no file");
    refuse("http://a/x\nhttp://b/x\n", "list.txt:2: 'x' is also the output of line 1");
}

static void test_load(void)
{
    char path[] = "/tmp/ferry-manifest-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *text = "http://a.example/one.bin\n  dir=d\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    struct manifest m;
    struct ferry_error err = {0};
    CHECK(manifest_load(path, &m, &err) == 0 && m.count == 1);
    CHECK(strcmp(m.entries[0].path, "d/one.bin") == 0);
    manifest_free(&m);
    unlink(path);
    CHECK(manifest_load(path, &m, &err) == FERRY_ENOTFOUND);
}

/* hf:// lines: their folder, and what they refuse. */
static void test_hub_lines(void)
{
    struct manifest m;
    struct ferry_error err = {0};
    CHECK(parse("hf://datasets/me/gt\nhf://datasets/me/b@v1/train\n  dir=sets\n"
                "hf://me/model/w.bin\n  out=w\n", &m, &err) == 0);
    CHECK(m.count == 3 && strcmp(m.entries[0].path, "me/gt") == 0);
    CHECK(m.count == 3 && strcmp(m.entries[1].path, "sets/me/b") == 0);
    CHECK(m.count == 3 && strcmp(m.entries[2].path, "w") == 0 &&
          strcmp(m.entries[2].urls[0], "hf://me/model/w.bin") == 0);
    manifest_free(&m);
    CHECK(parse("hf://datasets/me/gt\thttps://a.example/x\n", &m, &err) == FERRY_EUSAGE &&
          strstr(err.msg, "list.txt:1: an hf:// location has no mirrors"));
    CHECK(parse("https://a.example/x\thf://datasets/me/gt\n", &m, &err) == FERRY_EUSAGE &&
          strstr(err.msg, "has no mirrors"));
    CHECK(parse("hf://datasets/me/gt\n  checksum=sha-256=" "0123456789abcdef0123456789abcdef"
                "0123456789abcdef0123456789abcdef\n", &m, &err) == FERRY_EUSAGE &&
          strstr(err.msg, "takes no checksum="));
    CHECK(parse("hf://datasets/me\n", &m, &err) == FERRY_EUSAGE &&
          strstr(err.msg, "list.txt:1: hf://datasets/me"));
    CHECK(parse("hf://datasets/me/gt\n  out=../up\n", &m, &err) == FERRY_EUSAGE);
    CHECK(parse("hf://datasets/me/gt\nhf://datasets/me/gt@v2\n", &m, &err) == FERRY_EUSAGE &&
          strstr(err.msg, "also the output of line 1"));
}

int main(void)
{
    test_entries();
    test_refusals();
    test_hub_lines();
    test_load();
    return check_summary("test_manifest");
}

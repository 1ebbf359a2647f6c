/* The file-system helpers that keep writes inside a destination: folders
 * walked without links, files created without following one, overlapping
 * folders told apart by real path. */
#include "check.h"
#include "ferry/fsutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char top[64];

static char *at(const char *rel)
{
    static char path[4][256];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", top, rel);
    return p;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static bool holds(const char *path, const char *text)
{
    char buf[64] = "";
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return strcmp(buf, text) == 0;
}

static void open_dir_checks(void)
{
    struct ferry_error err = {0};
    int fd = -1;
    CHECK(fs_open_dir(at("dst"), "a/b", true, &fd, &err) == 0 && fd >= 0);
    close(fd);
    struct stat st;
    CHECK(lstat(at("dst/a/b"), &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(fs_open_dir(at("dst"), "a/none", false, &fd, &err) == FERRY_ENOTFOUND && fd == -1);

    CHECK(mkdir(at("elsewhere"), 0755) == 0);
    CHECK(symlink(at("elsewhere"), at("dst/a/link")) == 0);
    CHECK(fs_open_dir(at("dst"), "a/link/c", true, &fd, &err) == FERRY_EFAIL && fd == -1);
    CHECK(strstr(err.msg, "dst/a/link is a symbolic link") != NULL);
    CHECK(access(at("elsewhere/c"), F_OK) != 0);
    CHECK(fs_mkdirs_under(at("dst"), at("dst/a/link/d"), &err) == FERRY_EFAIL);
    CHECK(access(at("elsewhere/d"), F_OK) != 0);
    /* The base itself is the user's to name, link or not. */
    CHECK(fs_open_dir(at("dst/a/link"), "e", true, &fd, &err) == 0);
    close(fd);
    CHECK(access(at("elsewhere/e"), F_OK) == 0);
}

static void create_checks(void)
{
    struct ferry_error err = {0};
    write_file(at("elsewhere/victim"), "precious");
    CHECK(symlink(at("elsewhere/victim"), at("dst/report.json.tmp.1")) == 0);
    int fd = -1;
    CHECK(fs_create_excl(at("dst/report.json.tmp.1"), O_WRONLY, &fd, &err) == 0 && fd >= 0);
    CHECK(write(fd, "new", 3) == 3);
    close(fd);
    CHECK(holds(at("elsewhere/victim"), "precious"));
    CHECK(holds(at("dst/report.json.tmp.1"), "new"));

    CHECK(symlink(at("elsewhere/victim"), at("dst/report.json")) == 0);
    CHECK(fs_write_atomic(at("dst/report.json"), "{}", 2, &err) == 0);
    CHECK(holds(at("elsewhere/victim"), "precious"));
    CHECK(holds(at("dst/report.json"), "{}"));
}

static void apart_checks(void)
{
    struct ferry_error err = {0};
    CHECK(fs_check_apart(at("dst"), at("elsewhere"), &err) == 0);
    CHECK(fs_check_apart(at("dst"), at("dst/"), &err) == FERRY_EUSAGE);
    CHECK(fs_check_apart(at("dst/a"), at("dst"), &err) == FERRY_EUSAGE);
    CHECK(strstr(err.msg, "overlap") != NULL);
    CHECK(fs_check_apart(at("dst"), at("dst/new/deeper"), &err) == FERRY_EUSAGE);
    CHECK(fs_check_apart(at("dst"), at("new/../dst"), &err) == FERRY_EUSAGE);
    CHECK(fs_check_apart(at("elsewhere"), at("dst/a/link"), &err) == FERRY_EUSAGE);
    CHECK(fs_check_apart(at("dst"), at("dstx"), &err) == 0);
    CHECK(strcmp(fs_file_url_path("file:///x/y"), "/x/y") == 0);
    CHECK(strcmp(fs_file_url_path("file://localhost/x"), "/x") == 0);
    CHECK(strcmp(fs_file_url_path("rel/x"), "rel/x") == 0);
}

int main(void)
{
    snprintf(top, sizeof top, "/tmp/ferry-test-fsutil-XXXXXX");
    CHECK(mkdtemp(top) != NULL);
    open_dir_checks();
    create_checks();
    apart_checks();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", top);
    CHECK(system(cmd) == 0);
    return check_summary("test_fsutil");
}

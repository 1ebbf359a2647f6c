/* Journal records survive a reopen; torn and malformed lines are ignored. */
#include "check.h"
#include "ferry/journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char dir[64], path[128];

static struct journal *reopen(struct journal *j)
{
    journal_close(j);
    struct ferry_error err = {0};
    struct journal *fresh = NULL;
    CHECK(journal_open(dir, &fresh, &err) == 0);
    return fresh;
}

static void append_raw(const char *text)
{
    FILE *f = fopen(path, "a");
    fputs(text, f);
    fclose(f);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ferry-test-journal-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/journal", dir);
    struct ferry_error err = {0};
    struct journal *j = NULL;
    CHECK(journal_open(dir, &j, &err) == 0);

    const char *odd = "scene 1/we\\ird\nname.bin";
    CHECK(journal_add_file(j, "a/b.bin", "10:100") == 0);
    CHECK(journal_add_chunk(j, "big.bin", "99:5", 0, 64) == 0);
    CHECK(journal_add_chunk(j, odd, "3:4", 64, 64) == 0);
    j = reopen(j);
    CHECK(journal_count(j) == 3);
    CHECK(journal_has_file(j, "a/b.bin", "10:100"));
    CHECK(!journal_has_file(j, "a/b.bin", "10:101"));      /* the source changed */
    CHECK(journal_has_chunk(j, "big.bin", "99:5", 0, 64));
    CHECK(!journal_has_chunk(j, "big.bin", "99:5", 64, 64));
    CHECK(journal_has_chunk(j, odd, "3:4", 64, 64));

    /* A malformed line, then a record torn by a kill. */
    append_raw("C notanumber 5 v x\n");
    append_raw("F 1:2 c/d.bin\nC 0 64 99:5 torn.b");
    j = reopen(j);
    CHECK(journal_count(j) == 4);
    CHECK(journal_has_file(j, "c/d.bin", "1:2"));
    CHECK(!journal_has_chunk(j, "torn.b", "99:5", 0, 64));

    CHECK(journal_reset(j, &err) == 0);
    CHECK(journal_count(j) == 0 && !journal_has_file(j, "a/b.bin", "10:100"));
    j = reopen(j);
    CHECK(journal_count(j) == 0);

    /* A million records replay quickly and in modest memory. */
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 1000000; i++)
        fprintf(f, "F %d:1700000000 scene_%03d/frames/frame_%07d.jpg\n", i, i % 100, i);
    fclose(f);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    j = reopen(j);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(journal_count(j) == 1000000);
    CHECK(journal_has_file(j, "scene_042/frames/frame_0123442.jpg", "123442:1700000000"));
    printf("replayed 1,000,000 records in %.2f s\n",
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
    journal_close(j);
    unlink(path);
    rmdir(dir);
    return check_summary("test_journal");
}

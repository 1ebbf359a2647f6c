/* Chunking and resume in the scheduler, on one rank: a big file is split into
 * chunks, written into one part file and renamed; journalled chunks are not
 * copied again. */
#include "check.h"
#include "fixture.h"
#include "ferry/journal.h"
#include "ferry/sched.h"

#include <mpi.h>

#define CHUNK (64 * 1024)

static char base[256], src[300], dst[300], state[300];

/* Open both ends and plan a copy of everything. */
static void open_and_plan(struct backend **s, struct backend **d, struct plan *plan)
{
    struct ferry_error err = {0};
    backend_open(src, s, &err);
    backend_open(dst, d, &err);
    struct plan_options popts = {0};
    CHECK(plan_build(MPI_COMM_WORLD, *s, *d, &popts, plan, &err) == 0);
}

static int run(struct sched_report *report, struct journal *journal)
{
    struct backend *s, *d;
    struct plan plan;
    open_and_plan(&s, &d, &plan);
    struct sched_options opts = {.chunk_size = CHUNK, .journal = journal};
    int rc = sched_run(MPI_COMM_WORLD, &plan, s, d, &opts, report);
    plan_free(&plan);
    backend_close(s);
    backend_close(d);
    return rc;
}

static void test_chunks(void)
{
    fixture_file(src, "scene/big.bin", 10 * CHUNK + 123, 11);
    fixture_file(src, "scene/small.bin", 1000, 12);
    fixture_file(src, "scene/empty.bin", 0, 13);
    struct journal *j;
    struct ferry_error err = {0};
    CHECK(journal_open(state, &j, &err) == 0);
    struct sched_report report;
    CHECK(run(&report, j) == 0);
    /* 11 chunks, 1 finalize, 2 whole files. */
    CHECK(report.items == 14);
    CHECK(report.files_done == 3);
    CHECK(report.bytes_done == 10 * CHUNK + 123 + 1000);
    CHECK(fixture_same(src, dst, "scene/big.bin"));
    CHECK(fixture_same(src, dst, "scene/small.bin"));
    CHECK(fixture_same(src, dst, "scene/empty.bin"));
    CHECK(!fixture_exists(dst, "scene/big.bin.ferry-part"));
    CHECK(journal_count(j) == 11 + 3);
    sched_report_free(&report);
    journal_close(j);
}

/* Write the first chunks of the part file and journal them, as a killed run
 * would have left them; the rerun must copy only the rest. */
static void test_resume(void)
{
    long long size = 8 * CHUNK + 5;
    fixture_file(src, "scene/resume.bin", size, 21);
    long long len;
    char *bytes = fixture_read(src, "scene/resume.bin", &len);
    char part[512];
    snprintf(part, sizeof part, "%s/scene/resume.bin.ferry-part", dst);
    FILE *f = fopen(part, "wb");
    fwrite(bytes, 1, 3 * CHUNK, f);           /* chunks 0..2 are in */
    fclose(f);
    CHECK(truncate(part, size) == 0);
    free(bytes);

    struct journal *j;
    struct ferry_error err = {0};
    CHECK(journal_open(state, &j, &err) == 0);
    journal_reset(j, &err);
    struct stat st;
    char path[512];
    snprintf(path, sizeof path, "%s/scene/resume.bin", src);
    stat(path, &st);
    char version[64];
    sched_version(size, st.st_mtim.tv_sec, version, sizeof version);
    for (int c = 0; c < 3; c++)
        journal_add_chunk(j, "scene/resume.bin", version, (long long)c * CHUNK, CHUNK);

    struct sched_report report;
    CHECK(run(&report, j) == 0);
    CHECK(report.bytes_resumed == 3 * CHUNK);
    CHECK(report.bytes_done == size - 3 * CHUNK);
    CHECK(fixture_same(src, dst, "scene/resume.bin"));
    sched_report_free(&report);
    journal_close(j);
}

static void test_vanished_source_fails_alone(void)
{
    fixture_file(src, "other/a.bin", 500, 31);
    fixture_file(src, "other/b.bin", 700, 32);
    struct backend *s, *d;
    struct plan plan;
    open_and_plan(&s, &d, &plan);
    char gone[512];
    snprintf(gone, sizeof gone, "%s/other/a.bin", src);
    unlink(gone);                              /* vanishes between plan and copy */
    struct sched_options opts = {.chunk_size = CHUNK};
    struct sched_report report;
    CHECK(sched_run(MPI_COMM_WORLD, &plan, s, d, &opts, &report) == FERRY_EFAIL);
    CHECK(report.files_failed == 1 && report.n_failures == 1);
    CHECK(report.n_failures == 1 && strcmp(report.failures[0].path, "other/a.bin") == 0);
    CHECK(report.n_failures == 1 && strstr(report.failures[0].reason, "a.bin") != NULL);
    CHECK(fixture_same(src, dst, "other/b.bin"));
    sched_report_free(&report);
    plan_free(&plan);
    backend_close(s);
    backend_close(d);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    char tmpl[] = "/tmp/ferry-test-sched-XXXXXX";
    snprintf(base, sizeof base, "%s", mkdtemp(tmpl));
    snprintf(src, sizeof src, "%s/src", base);
    snprintf(dst, sizeof dst, "%s/dst", base);
    snprintf(state, sizeof state, "%s/state", base);
    test_chunks();
    test_resume();
    test_vanished_source_fails_alone();
    fixture_rmtree(base);
    int rc = check_summary("test_sched");
    MPI_Finalize();
    return rc;
}

/* Plan diffing: new, changed, unchanged, deletes, selection, prune safety. */
#include "check.h"
#include "fixture.h"
#include "ferry/plan.h"

#include <mpi.h>

static char base[256], src[300], dst[300];

static void make_trees(void)
{
    snprintf(base, sizeof base, "/tmp/ferry-test-plan-XXXXXX");
    mkdtemp(base);
    snprintf(src, sizeof src, "%s/src", base);
    snprintf(dst, sizeof dst, "%s/dst", base);
    fixture_file(src, "alpha/x.bin", 100, 1);
    fixture_file(src, "alpha/sub/y.bin", 200, 2);
    fixture_file(src, "alpha/.git/hidden", 10, 3);
    fixture_file(src, "alpha/misc/debug.log", 7, 4);
    fixture_file(src, "beta/z.bin", 3000, 5);
    fixture_file(src, "root.txt", 5, 6);
    mkdir(src, 0777);
    char empty[400];
    snprintf(empty, sizeof empty, "%s/delta", src);
    mkdir(empty, 0777);

    fixture_file(dst, "alpha/x.bin", 100, 1);
    fixture_same_mtime(dst, "alpha/x.bin", src);     /* unchanged */
    fixture_file(dst, "alpha/sub/y.bin", 150, 2);    /* changed: other size */
    fixture_file(dst, "alpha/extra.bin", 40, 7);     /* only in DST */
    fixture_file(dst, "alpha/half.bin" ".ferry-part", 40, 8);  /* never content */
    fixture_file(dst, "delta/keep.bin", 9, 9);       /* scene empty on SRC */
    fixture_file(dst, "gamma/other.bin", 9, 9);      /* scene SRC lacks */
}

static int plan_with(struct plan_options *opts, struct plan *plan)
{
    struct backend *s, *d;
    struct ferry_error err = {0};
    backend_open(src, &s, &err);
    backend_open(dst, &d, &err);
    int rc = plan_build(MPI_COMM_WORLD, s, d, opts, plan, &err);
    backend_close(s);
    backend_close(d);
    return rc;
}

static const struct plan_scene *scene(const struct plan *plan, const char *name)
{
    for (size_t i = 0; i < plan->n_scenes; i++)
        if (strcmp(plan->scenes[i].name, name) == 0)
            return &plan->scenes[i];
    return NULL;
}

static void test_sync_all(void)
{
    struct plan_options opts = {.deletes = true};
    struct plan plan;
    CHECK(plan_with(&opts, &plan) == 0);
    CHECK(plan.n_scenes == 4);                       /* root, alpha, beta, delta */
    CHECK(plan.total_transfer.files == 4);           /* y, z, root.txt, misc log; x unchanged */
    CHECK(plan.total_transfer.bytes == 200 + 3000 + 5 + 7);
    CHECK(plan.total_unchanged.files == 1);
    CHECK(plan.total_remove.files == 1);             /* alpha/extra.bin only */
    CHECK(plan.n_deletes == 1 && strcmp(plan.deletes[0], "alpha/extra.bin") == 0);
    const struct plan_scene *delta = scene(&plan, "delta");
    CHECK(delta && delta->source_empty && delta->remove.files == 0);
    CHECK(scene(&plan, "gamma") == NULL);
    /* Largest first. */
    CHECK(plan.n_transfer == 4 && strcmp(plan.transfer[0].path, "beta/z.bin") == 0);
    for (size_t i = 0; i < plan.n_transfer; i++)
        CHECK(strstr(plan.transfer[i].path, ".git") == NULL);
    plan_free(&plan);
}

static void test_selection(void)
{
    char *names[] = {"beta"};
    struct plan_options opts = {.scenes = names, .n_scenes = 1};
    struct plan plan;
    CHECK(plan_with(&opts, &plan) == 0);
    CHECK(plan.n_scenes == 1 && plan.total_transfer.files == 1);
    plan_free(&plan);

    struct plan_options incl = {.scene_includes = "lph"};
    CHECK(plan_with(&incl, &plan) == 0);
    CHECK(plan.n_scenes == 1 && strcmp(plan.scenes[0].name, "alpha") == 0);
    plan_free(&plan);

    char *missing[] = {"beta", "nope"};
    struct plan_options bad = {.scenes = missing, .n_scenes = 2};
    CHECK(plan_with(&bad, &plan) == FERRY_ENOTFOUND);
    plan_free(&plan);

    struct plan_options none = {.scene_includes = "zzz"};
    CHECK(plan_with(&none, &plan) == FERRY_ENOTFOUND);
    plan_free(&plan);
}

static void test_filters(void)
{
    struct plan_options opts = {.deletes = true};
    pattern_filter_exclude(&opts.filter, "alpha/misc/");
    pattern_filter_exclude(&opts.filter, "*.txt");
    struct plan plan;
    CHECK(plan_with(&opts, &plan) == 0);
    CHECK(plan.total_transfer.files == 2);           /* y and z */
    plan_free(&plan);
    pattern_filter_free(&opts.filter);

    struct plan_options only = {0};
    pattern_filter_include(&only.filter, "*.bin");
    CHECK(plan_with(&only, &plan) == 0);
    CHECK(plan.total_transfer.files == 2 && plan.total_unchanged.files == 1);
    plan_free(&plan);
    pattern_filter_free(&only.filter);
}

static void test_missing_source(void)
{
    struct backend *s, *d;
    struct ferry_error err = {0};
    backend_open("/nonexistent/ferry/source", &s, &err);
    backend_open(dst, &d, &err);
    struct plan_options opts = {0};
    struct plan plan;
    CHECK(plan_build(MPI_COMM_WORLD, s, d, &opts, &plan, &err) == FERRY_ENOTFOUND);
    CHECK(strstr(err.msg, "/nonexistent/ferry/source") != NULL);
    backend_close(s);
    backend_close(d);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    make_trees();
    test_sync_all();
    test_selection();
    test_filters();
    test_missing_source();
    fixture_rmtree(base);
    int rc = check_summary("test_plan");
    MPI_Finalize();
    return rc;
}

/* The destination lock: exclusion, naming the holder, dead holders, TTL. */
#include "check.h"
#include "ferry/lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[64];

static void write_lock_of(const char *host, const char *job, long pid, double start)
{
    char path[128];
    snprintf(path, sizeof path, "%s/lock", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"host\":\"%s\",\"pid\":%ld,\"slurm_job_id\":\"%s\",\"start_time\":%.0f}",
            host, pid, job, start);
    fclose(f);
}

static void write_lock(long pid, double start)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    write_lock_of(host, "4242", pid, start);
}

static long dead_pid(void)
{
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    return (long)child;
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ferry-test-lock-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    struct ferry_error err = {0};
    struct lock_info info;
    enum lock_state state;

    CHECK(lock_inspect(dir, 60, &info, &state, &err) == 0 && state == LOCK_FREE);
    CHECK(lock_acquire(dir, false, 60, &err) == 0);
    CHECK(lock_inspect(dir, 60, &info, &state, &err) == 0 && state == LOCK_HELD);
    CHECK(info.pid == (long)getpid());
    lock_release(dir);
    CHECK(lock_inspect(dir, 60, &info, &state, &err) == 0 && state == LOCK_FREE);

    /* A live holder (our parent shell stands in for another run). */
    write_lock((long)getppid(), (double)time(NULL));
    CHECK(lock_acquire(dir, false, 60, &err) == FERRY_EPREFLIGHT);
    CHECK(strstr(err.msg, "Slurm job 4242") != NULL);
    lock_release(dir);                       /* not ours: stays */
    CHECK(lock_inspect(dir, 60, &info, &state, &err) == 0 && state == LOCK_HELD);
    CHECK(lock_cleanup(dir, 60, false, &err) == 0);   /* live and fresh: kept */
    CHECK(lock_acquire(dir, true, 60, &err) == 0);    /* --force */
    lock_release(dir);

    /* A dead holder on this host is taken over. */
    write_lock(dead_pid(), (double)time(NULL));
    CHECK(lock_inspect(dir, 60, &info, &state, &err) == 0 && state == LOCK_DEAD_HOLDER);
    CHECK(lock_acquire(dir, false, 60, &err) == 0);
    lock_release(dir);

    /* Older than the TTL: stale, reported, removed by cleanup. */
    write_lock((long)getppid(), (double)time(NULL) - 3600);
    CHECK(lock_inspect(dir, 60, &info, &state, &err) == 0 && state == LOCK_STALE);
    CHECK(lock_acquire(dir, false, 60, &err) == FERRY_EPREFLIGHT);
    CHECK(strstr(err.msg, "stale") != NULL);
    CHECK(lock_cleanup(dir, 60, false, &err) == 1);
    CHECK(lock_inspect(dir, 60, &info, &state, &err) == 0 && state == LOCK_FREE);

    /* On another host: nobody can tell whether it runs; the lock stays and
     * the message says how to clear it. */
    unsetenv("SLURM_ARRAY_JOB_ID");
    unsetenv("SLURM_ARRAY_TASK_ID");
    setenv("SLURM_JOB_ID", "777", 1);
    write_lock_of("node-elsewhere", "4242", 1, (double)time(NULL));
    CHECK(lock_inspect(dir, 60, &info, &state, &err) == 0 && state == LOCK_HELD);
    CHECK(!lock_is_local(&info));
    CHECK(lock_acquire(dir, false, 60, &err) == FERRY_EPREFLIGHT);
    CHECK(strstr(err.msg, "cannot tell") != NULL);
    CHECK(strstr(err.msg, "--cleanup --force") != NULL);
    CHECK(lock_cleanup(dir, 60, false, &err) == 0);

    /* The same Slurm job on another node: a requeued job's earlier run. */
    write_lock_of("node-elsewhere", "777", 1, (double)time(NULL));
    CHECK(lock_inspect(dir, 60, &info, &state, &err) == 0 && state == LOCK_DEAD_HOLDER);
    CHECK(lock_acquire(dir, false, 60, &err) == 0);
    CHECK(lock_inspect(dir, 60, &info, &state, &err) == 0 && info.pid == (long)getpid());
    lock_release(dir);
    unsetenv("SLURM_JOB_ID");
    write_lock_of("node-elsewhere", "777", 1, (double)time(NULL));
    CHECK(lock_inspect(dir, 60, &info, &state, &err) == 0 && state == LOCK_HELD);
    CHECK(lock_cleanup(dir, 60, true, &err) == 1);

    char buf[256];
    info = (struct lock_info){.host = "node7", .pid = 12, .start_time = 0};
    lock_describe(&info, buf, sizeof buf);
    CHECK(strcmp(buf, "host node7, pid 12, since 1970-01-01T00:00:00Z") == 0);

    char path[128];
    snprintf(path, sizeof path, "%s/lock", dir);
    FILE *f = fopen(path, "w");
    fputs("garbage", f);
    fclose(f);
    CHECK(lock_acquire(dir, false, 60, &err) == FERRY_EPREFLIGHT);
    CHECK(strstr(err.msg, "not a ferry lock") != NULL);
    unlink(path);
    rmdir(dir);
    return check_summary("test_lock");
}

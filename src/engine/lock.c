#include "ferry/lock.h"
#include "ferry/fsutil.h"
#include "ferry/log.h"
#include "ferry/xalloc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *lock_path(const char *state_dir)
{
    return xasprintf("%s/lock", state_dir);
}

static void self_info(struct lock_info *info)
{
    memset(info, 0, sizeof *info);
    gethostname(info->host, sizeof info->host - 1);
    info->pid = (long)getpid();
    const char *array = getenv("SLURM_ARRAY_JOB_ID"), *task = getenv("SLURM_ARRAY_TASK_ID");
    const char *job = getenv("SLURM_JOB_ID");
    if (array && task)
        snprintf(info->slurm_job_id, sizeof info->slurm_job_id, "%s_%s", array, task);
    else if (job)
        snprintf(info->slurm_job_id, sizeof info->slurm_job_id, "%s", job);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    info->start_time = (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static char *info_json(const struct lock_info *info)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "host", info->host);
    cJSON_AddNumberToObject(o, "pid", (double)info->pid);
    cJSON_AddStringToObject(o, "slurm_job_id", info->slurm_job_id);
    cJSON_AddNumberToObject(o, "start_time", info->start_time);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static int parse_info(const char *text, const char *path, struct lock_info *info,
                      struct ferry_error *err)
{
    memset(info, 0, sizeof *info);
    cJSON *o = cJSON_Parse(text);
    const cJSON *host = cJSON_GetObjectItemCaseSensitive(o, "host");
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(o, "pid");
    const cJSON *job = cJSON_GetObjectItemCaseSensitive(o, "slurm_job_id");
    const cJSON *start = cJSON_GetObjectItemCaseSensitive(o, "start_time");
    int rc = 0;
    if (!cJSON_IsString(host) || !cJSON_IsNumber(pid) || !cJSON_IsNumber(start))
        rc = err_set(err, FERRY_EPREFLIGHT, "%s: not a ferry lock (unreadable contents); "
                     "remove it by hand if no run holds the destination", path);
    else {
        snprintf(info->host, sizeof info->host, "%s", host->valuestring);
        info->pid = (long)pid->valuedouble;
        if (cJSON_IsString(job))
            snprintf(info->slurm_job_id, sizeof info->slurm_job_id, "%s", job->valuestring);
        info->start_time = start->valuedouble;
    }
    cJSON_Delete(o);
    return rc;
}

/* Read path into a fresh string; NULL with errno set when it cannot. */
static char *read_small(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = xcalloc(1, 4096);
    ssize_t n = read(fd, buf, 4095);
    int saved = errno;
    close(fd);
    if (n < 0) {
        free(buf);
        errno = saved;
        return NULL;
    }
    return buf;
}

/* A process that no longer runs: gone, or a zombie nobody reaped (a killed
 * rank whose launcher died too, in a container whose init does not reap). */
static bool process_gone(long pid)
{
    if (kill((pid_t)pid, 0) != 0)
        return errno == ESRCH;
    char path[64], stat[256] = "";
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *paren = strrchr(stat, ')');
    return paren && paren[1] == ' ' && paren[2] == 'Z';
}

bool lock_is_local(const struct lock_info *info)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    return strcmp(host, info->host) == 0;
}

/* Held by our own Slurm job on another node: an earlier run of this job,
 * which Slurm requeued (its node died), for a job runs only once at a time. */
static bool earlier_run_of_job(const struct lock_info *info)
{
    struct lock_info me;
    self_info(&me);
    return *me.slurm_job_id && strcmp(me.slurm_job_id, info->slurm_job_id) == 0 &&
           !lock_is_local(info);
}

static enum lock_state classify(const struct lock_info *info, double ttl)
{
    if (lock_is_local(info) && info->pid > 0 && process_gone(info->pid))
        return LOCK_DEAD_HOLDER;
    if (earlier_run_of_job(info))
        return LOCK_DEAD_HOLDER;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if ((double)now.tv_sec - info->start_time > ttl)
        return LOCK_STALE;
    return LOCK_HELD;
}

int lock_inspect(const char *state_dir, double ttl, struct lock_info *info,
                 enum lock_state *state, struct ferry_error *err)
{
    char *path = lock_path(state_dir);
    char *text = read_small(path);
    int rc = 0;
    memset(info, 0, sizeof *info);
    *state = LOCK_FREE;
    if (!text) {
        if (errno != ENOENT)
            rc = err_sys(err, FERRY_EPREFLIGHT, errno, "%s", path);
    } else if ((rc = parse_info(text, path, info, err)) == 0) {
        *state = classify(info, ttl);
    }
    free(text);
    free(path);
    return rc;
}

void lock_describe(const struct lock_info *info, char *buf, size_t len)
{
    char when[32];
    time_t t = (time_t)info->start_time;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(buf, len, "host %s, pid %ld%s%s, since %s", info->host, info->pid,
             *info->slurm_job_id ? ", Slurm job " : "", info->slurm_job_id, when);
}

/* Write our lock under a temporary name and link(2) it into place: link
 * fails with EEXIST if anyone holds the lock, atomically, on NFS and Lustre
 * too, where O_EXCL has not always been safe. */
static int try_create(const char *path, struct ferry_error *err)
{
    struct lock_info me;
    self_info(&me);
    char *text = info_json(&me);
    char *tmp = xasprintf("%s.%s.%ld", path, me.host, me.pid);
    int fd;
    int rc = fs_create_excl(tmp, O_WRONLY, &fd, err);
    if (rc != 0) {
        char cause[FERRY_ERRMSG_MAX];
        snprintf(cause, sizeof cause, "%s", err->msg);
        rc = err_set(err, FERRY_EPREFLIGHT, "cannot write the lock: %s", cause);
    }
    if (rc == 0 && (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) != 0))
        rc = err_sys(err, FERRY_EPREFLIGHT, errno, "cannot write %s", tmp);
    if (fd >= 0)
        close(fd);
    /* link(2) never follows a link at path: it fails with EEXIST. */
    if (rc == 0 && link(tmp, path) != 0)
        rc = errno == EEXIST ? 1 : err_sys(err, FERRY_EPREFLIGHT, errno, "cannot create %s", path);
    unlink(tmp);
    free(tmp);
    free(text);
    return rc;
}

/* Remove the lock at path only if it still holds what we saw, so two runs
 * taking over the same dead lock cannot remove each other's fresh one. */
static bool remove_if_same(const char *path, const struct lock_info *seen)
{
    char *text = read_small(path);
    struct lock_info now;
    bool same = text && parse_info(text, path, &now, NULL) == 0 &&
                strcmp(now.host, seen->host) == 0 && now.pid == seen->pid &&
                now.start_time == seen->start_time;
    free(text);
    return same && unlink(path) == 0;
}

static int refuse(const char *state_dir, const struct lock_info *holder,
                  enum lock_state state, struct ferry_error *err)
{
    char who[512];
    lock_describe(holder, who, sizeof who);
    if (state == LOCK_STALE)
        return err_set(err, FERRY_EPREFLIGHT, "%s is locked by %s (stale: older than the "
                       "TTL); wait for that run, or run `ferry locks` on the destination "
                       "with --cleanup", state_dir, who);
    if (!lock_is_local(holder))
        return err_set(err, FERRY_EPREFLIGHT, "%s is locked by %s, on another host: ferry "
                       "cannot tell from here whether it still runs; wait for that run, or if "
                       "it is gone, clear the lock with `ferry locks DST --cleanup --force` "
                       "(or pass --force)", state_dir, who);
    return err_set(err, FERRY_EPREFLIGHT, "%s is locked by %s; wait for that run, or pass "
                   "--force if it is not running", state_dir, who);
}

int lock_acquire(const char *state_dir, bool force, double ttl, struct ferry_error *err)
{
    char *path = lock_path(state_dir);
    int rc;
    for (int attempt = 0; attempt < 3; attempt++) {
        rc = try_create(path, err);
        if (rc <= 0)
            break;
        struct lock_info holder;
        enum lock_state state;
        rc = lock_inspect(state_dir, ttl, &holder, &state, err);
        if (rc != 0 && force) {
            FLOG(LOG_WARN, "%s: removing an unreadable lock (--force)", path);
            unlink(path);
            rc = 1;
            continue;
        }
        if (rc != 0)
            break;
        rc = 1;
        if (state == LOCK_FREE)         /* released while we looked: try again */
            continue;
        char who[512];
        lock_describe(&holder, who, sizeof who);
        if (state == LOCK_DEAD_HOLDER || force) {
            FLOG(LOG_WARN, "%s: taking over the lock of %s (%s)", state_dir, who,
                 force ? "--force" : lock_is_local(&holder) ? "that process is gone"
                                   : "an earlier run of this Slurm job, requeued");
            remove_if_same(path, &holder);
            continue;
        }
        rc = refuse(state_dir, &holder, state, err);
        break;
    }
    if (rc == 1)
        rc = err_set(err, FERRY_EPREFLIGHT, "%s: lost the race for the lock three times", path);
    free(path);
    return rc;
}

void lock_release(const char *state_dir)
{
    char *path = lock_path(state_dir);
    char *text = read_small(path);
    struct lock_info holder;
    if (text && parse_info(text, path, &holder, NULL) == 0 && holder.pid == (long)getpid()) {
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        if (strcmp(host, holder.host) == 0)
            unlink(path);
    }
    free(text);
    free(path);
}

int lock_cleanup(const char *state_dir, double ttl, bool force, struct ferry_error *err)
{
    struct lock_info holder;
    enum lock_state state;
    int rc = lock_inspect(state_dir, ttl, &holder, &state, err);
    if (rc != 0 || state == LOCK_FREE || (state == LOCK_HELD && !force))
        return rc;
    char *path = lock_path(state_dir);
    rc = remove_if_same(path, &holder) ? 1 : 0;
    free(path);
    return rc;
}

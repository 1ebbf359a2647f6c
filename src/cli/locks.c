/* ferry locks DIR [--cleanup] [--force]: who holds a destination. */
#include "cli.h"
#include "ferry/fsutil.h"
#include "ferry/lock.h"
#include "ferry/xalloc.h"

#include <stdio.h>
#include <stdlib.h>

static const char *state_names[] = {
    [LOCK_FREE] = "free",
    [LOCK_HELD] = "held",
    [LOCK_DEAD_HOLDER] = "held by a dead process",
    [LOCK_STALE] = "stale (older than the TTL)",
};

int cmd_locks(struct cli *cli, const struct cli_locks *opt)
{
    if (cli->n_args != 1)
        return cli_fail(cli, FERRY_EUSAGE, "locks takes one destination (see ferry locks --help)");
    if (cli->rank != 0)
        return 0;
    char *state_dir = opt->state_dir ? xstrdup(opt->state_dir)
                                     : fs_state_dir(cli->args[0], NULL);
    double ttl = cli->config.lock_ttl > 0 ? cli->config.lock_ttl : LOCK_DEFAULT_TTL;
    struct ferry_error err = {0};
    struct lock_info info;
    enum lock_state state;
    int rc = lock_inspect(state_dir, ttl, &info, &state, &err);
    if (rc == 0) {
        char who[512] = "";
        if (state != LOCK_FREE)
            lock_describe(&info, who, sizeof who);
        bool elsewhere = state == LOCK_HELD && !lock_is_local(&info);
        printf("%s: %s%s%s%s\n", cli->args[0], state_names[state], *who ? ": " : "", who,
               elsewhere ? " (on another host: ferry cannot tell whether it still runs)" : "");
        if (opt->cleanup && state != LOCK_FREE) {
            rc = lock_cleanup(state_dir, ttl, opt->force, &err);
            if (rc > 0)
                printf("%s: lock removed\n", cli->args[0]);
            else if (rc == 0 && !lock_is_local(&info))
                printf("%s: the holder is on another host, so ferry cannot tell whether it "
                       "still runs: left alone (if it is gone, `ferry locks %s --cleanup "
                       "--force` removes it)\n", cli->args[0], cli->args[0]);
            else if (rc == 0)
                printf("%s: the holder is alive and within the TTL: left alone "
                       "(--force removes it anyway)\n", cli->args[0]);
        }
    }
    free(state_dir);
    return rc < 0 ? cli_fail(cli, rc, err.msg) : 0;
}

/* SSH locations (ssh://[USER@]HOST[:PORT]/PATH and [USER@]HOST:PATH), as
 * a command line, a config target or a job spec gives them: opening one
 * connects to nothing, so the parse is all that runs.  It either takes the
 * location or refuses it as a usage error with a message; a host or user
 * that could read as an option ("-oProxyCommand=...") is never taken. */
#include "fuzz.h"

#include "ferry/backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *location = fuzz_text(data, size);
    if (backend_ssh.claims(location)) {
        struct backend *b = NULL;
        struct ferry_error err = {0};
        int rc = backend_ssh.open(location, &b, &err);
        FUZZ_CHECK(rc == 0 || (rc == FERRY_EUSAGE && err.msg[0]));
        FUZZ_CHECK((rc == 0) == (b != NULL));
        /* Whatever follows "://" or starts the scp form: never an option. */
        const char *authority = strstr(location, "://") ? strstr(location, "://") + 3 : location;
        const char *at = strchr(authority, '@'), *slash = strchr(authority, '/');
        const char *host = at && (!slash || at < slash) ? at + 1 : authority;
        if (rc == 0)
            FUZZ_CHECK(authority[0] != '-' && host[0] != '-');
        backend_close(b);
    }
    free(location);
    return 0;
}

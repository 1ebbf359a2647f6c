/* One SSH connection with SFTP on it, opened the way OpenSSH's ssh would:
 * ~/.ssh/config (Host aliases, HostName, User, Port, IdentityFile,
 * ProxyJump), keys from ssh-agent and the key files, and the host key
 * checked strictly against known_hosts.  An unknown or changed host key is
 * refused with its SHA256 fingerprint and how to accept it; ferry never
 * accepts one itself and never asks for a password.
 *
 * libssh (0.10) is used, not libssh2: it reads ~/.ssh/config and
 * known_hosts itself, which libssh2 leaves to the caller.  It takes "~" from
 * the passwd entry, so ferry points it at $HOME/.ssh (a batch job's HOME and
 * a test's fake one are honoured).
 *
 * A connection belongs to one thread at a time. */
#ifndef FERRY_SSHCONN_H
#define FERRY_SSHCONN_H

#include <stdbool.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include "ferry/err.h"

/* Where to connect: host is a name, an address or a config alias. */
struct ssh_where {
    char *user;                      /* NULL: the config's, or the local user */
    char *host;
    int port;                        /* 0: the config's, or 22 */
};

struct sshconn;

/* Connect, check the host key, authenticate and start SFTP.  Errors name
 * the host: FERRY_EAUTH for a refused host key or no accepted key,
 * FERRY_EFAIL for a host that cannot be reached. */
int sshconn_open(const struct ssh_where *where, struct sshconn **out, struct ferry_error *err);
sftp_session sshconn_sftp(struct sshconn *c);
/* Is the connection still up?  A request that failed on a dead connection
 * is worth a new connection; one the server refused is not. */
bool sshconn_alive(struct sshconn *c);
/* The last SFTP request's status (SSH_FX_*), or -1 when the connection
 * itself failed. */
int sshconn_status(struct sshconn *c);
/* Words for the last failure: the server's status ("permission denied",
 * "no space left or another failure") or the connection's error. */
const char *sshconn_why(struct sshconn *c);
void sshconn_close(struct sshconn *c);

/* Put a finished part file in place: give it size bytes (a longer one left
 * by another run is cut), mode and mtime, then rename it over final
 * (OpenSSH's posix-rename: atomic; a server without it has final removed
 * first).  NULL when done, else what failed ("setting its size, mode and
 * mtime", "putting it in place"), sshconn_why saying why. */
const char *sshconn_place(struct sshconn *c, const char *part, const char *final, long long size,
                          unsigned mode, long long mtime);

/* "HOST" or "USER@HOST:PORT" as the user would write it, for messages. */
char *sshconn_label(const struct ssh_where *where);

#endif

#include "ferry/sshconn.h"
#include "ferry/log.h"
#include "ferry/xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long a connect or a request may hang before the connection counts
 * as dead (libssh's default is none). */
#define SSHCONN_TIMEOUT_S 60

struct sshconn {
    ssh_session ssh;
    sftp_session sftp;
    char why[FERRY_ERRMSG_MAX / 2];
};

static pthread_once_t ssh_once = PTHREAD_ONCE_INIT;

static void ssh_library_init(void)
{
    ssh_init();
}

char *sshconn_label(const struct ssh_where *w)
{
    if (w->port > 0)
        return xasprintf("%s%s%s:%d", w->user ? w->user : "", w->user ? "@" : "", w->host,
                         w->port);
    return xasprintf("%s%s%s", w->user ? w->user : "", w->user ? "@" : "", w->host);
}

/* The name known_hosts and ssh-keygen -R use: "HOST", or "[HOST]:PORT". */
static char *known_name(ssh_session s)
{
    char *host = NULL;
    unsigned port = 22;
    ssh_options_get(s, SSH_OPTIONS_HOST, &host);
    ssh_options_get_port(s, &port);
    char *name = port == 22 ? xasprintf("%s", host ? host : "?")
                            : xasprintf("[%s]:%u", host ? host : "?", port);
    ssh_string_free_char(host);
    return name;
}

/* "ssh-ed25519 SHA256:..." for the server's key, as ssh prints it. */
static char *server_fingerprint(ssh_session s)
{
    ssh_key key = NULL;
    unsigned char *hash = NULL;
    size_t hlen = 0;
    char *out = NULL;
    if (ssh_get_server_publickey(s, &key) == SSH_OK &&
        ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == 0) {
        char *fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
        out = xasprintf("%s %s", ssh_key_type_to_char(ssh_key_type(key)), fp ? fp : "?");
        ssh_string_free_char(fp);
        ssh_clean_pubkey_hash(&hash);
    }
    ssh_key_free(key);
    return out ? out : xstrdup("(the server's key could not be read)");
}

/* Only a key known_hosts already holds goes on: libssh would authenticate
 * over a changed one just as well, so this check comes first. */
static int check_host_key(ssh_session s, const char *label, struct ferry_error *err)
{
    enum ssh_known_hosts_e state = ssh_session_is_known_server(s);
    if (state == SSH_KNOWN_HOSTS_OK)
        return 0;
    if (state == SSH_KNOWN_HOSTS_ERROR)
        return err_set(err, FERRY_EAUTH, "%s: cannot check the host key: %s", label,
                       ssh_get_error(s));
    char *fp = server_fingerprint(s), *name = known_name(s);
    int rc;
    if (state == SSH_KNOWN_HOSTS_CHANGED || state == SSH_KNOWN_HOSTS_OTHER)
        rc = err_set(err, FERRY_EAUTH,
                     "%s: the host key has changed (it is now %s): this can be an attack, so "
                     "ferry refuses it; if the change is expected, remove the old key with "
                     "`ssh-keygen -R '%s'` and accept the new one with ssh", label, fp, name);
    else
        rc = err_set(err, FERRY_EAUTH,
                     "%s: the host key is not known (%s); ferry never accepts one itself: "
                     "check the fingerprint, then connect once with ssh to accept it, or add "
                     "it with `ssh-keyscan` to ~/.ssh/known_hosts as '%s'", label, fp, name);
    free(fp);
    free(name);
    return rc;
}

static int configure(ssh_session s, const struct ssh_where *w, struct ferry_error *err)
{
    const char *home = getenv("HOME");
    long timeout = SSHCONN_TIMEOUT_S;
    int rc = ssh_options_set(s, SSH_OPTIONS_HOST, w->host);
    if (rc == 0 && w->user)
        rc = ssh_options_set(s, SSH_OPTIONS_USER, w->user);
    /* libssh takes "~" from the passwd entry; ssh's own files live under
     * $HOME/.ssh for a job whose HOME differs, so that is where to look. */
    if (rc == 0 && home && *home) {
        char *dir = xasprintf("%s/.ssh", home);
        rc = ssh_options_set(s, SSH_OPTIONS_SSH_DIR, dir);
        free(dir);
    }
    if (rc == 0)
        rc = ssh_options_parse_config(s, NULL);
    /* After the config: the location's port wins over the config's. */
    if (rc == 0 && w->port > 0) {
        unsigned port = (unsigned)w->port;
        rc = ssh_options_set(s, SSH_OPTIONS_PORT, &port);
    }
    if (rc == 0)
        rc = ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
    /* Each SFTP write waits for its answer: with Nagle's algorithm on, a
     * request's tail waits for the delayed ACK of the last (40 ms each). */
    int nodelay = 1;
    if (rc == 0)
        rc = ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay);
    if (rc != 0)
        return err_set(err, FERRY_EUSAGE, "%s: bad SSH settings: %s", w->host, ssh_get_error(s));
    return 0;
}

int sshconn_open(const struct ssh_where *w, struct sshconn **out, struct ferry_error *err)
{
    pthread_once(&ssh_once, ssh_library_init);
    *out = NULL;
    char *label = sshconn_label(w);
    struct sshconn *c = xcalloc(1, sizeof *c);
    c->ssh = ssh_new();
    int rc = c->ssh ? configure(c->ssh, w, err) : err_set(err, FERRY_EFAIL, "out of memory");
    if (rc == 0 && ssh_connect(c->ssh) != SSH_OK)
        rc = err_set(err, FERRY_EFAIL, "%s: cannot connect: %s", label, ssh_get_error(c->ssh));
    if (rc == 0)
        rc = check_host_key(c->ssh, label, err);
    if (rc == 0) {
        int auth = ssh_userauth_publickey_auto(c->ssh, NULL, NULL);
        /* An error while logging in (the connection lost, mostly) is no
         * refusal by the server: it is worth another connection. */
        if (auth == SSH_AUTH_ERROR)
            rc = err_set(err, FERRY_EFAIL, "%s: logging in failed: %s", label,
                         ssh_get_error(c->ssh));
        else if (auth != SSH_AUTH_SUCCESS)
            rc = err_set(err, FERRY_EAUTH,
                         "%s: no key was accepted (ssh-agent, the config's IdentityFile, "
                         "~/.ssh/id_*); ferry uses keys only, never passwords", label);
    }
    if (rc == 0) {
        c->sftp = sftp_new(c->ssh);
        if (!c->sftp || sftp_init(c->sftp) != SSH_OK)
            rc = err_set(err, FERRY_EFAIL, "%s: the server offers no SFTP: %s", label,
                         ssh_get_error(c->ssh));
    }
    free(label);
    if (rc != 0) {
        sshconn_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

sftp_session sshconn_sftp(struct sshconn *c)
{
    return c->sftp;
}

bool sshconn_alive(struct sshconn *c)
{
    return c->ssh && ssh_is_connected(c->ssh);
}

int sshconn_status(struct sshconn *c)
{
    if (!sshconn_alive(c))
        return -1;
    return sftp_get_error(c->sftp);
}

const char *sshconn_why(struct sshconn *c)
{
    int status = sshconn_status(c);
    const char *what;
    switch (status) {
    case SSH_FX_NO_SUCH_FILE: what = "no such file or folder"; break;
    case SSH_FX_PERMISSION_DENIED: what = "permission denied"; break;
    /* SFTP version 3 has no word for a full disk: OpenSSH says FAILURE. */
    case SSH_FX_FAILURE: what = "the server failed it (a full disk, or something in the way)";
        break;
    case SSH_FX_EOF: what = "the file ended early"; break;
    case SSH_FX_FILE_ALREADY_EXISTS: what = "it exists already"; break;
    case -1:
        snprintf(c->why, sizeof c->why, "the connection was lost (%s)",
                 c->ssh ? ssh_get_error(c->ssh) : "closed");
        return c->why;
    default:
        snprintf(c->why, sizeof c->why, "SFTP status %d (%s)", status, ssh_get_error(c->ssh));
        return c->why;
    }
    return what;
}

void sshconn_close(struct sshconn *c)
{
    if (!c)
        return;
    if (c->sftp)
        sftp_free(c->sftp);
    if (c->ssh) {
        if (ssh_is_connected(c->ssh))
            ssh_disconnect(c->ssh);
        ssh_free(c->ssh);
    }
    free(c);
}

const char *sshconn_place(struct sshconn *c, const char *part, const char *final, long long size,
                          unsigned mode, long long mtime)
{
    struct sftp_attributes_struct a = {0};
    a.flags = SSH_FILEXFER_ATTR_SIZE | SSH_FILEXFER_ATTR_PERMISSIONS | SSH_FILEXFER_ATTR_ACMODTIME;
    a.size = (uint64_t)size;
    a.permissions = mode ? (mode & 07777) : 0644;
    a.atime = a.mtime = (uint32_t)mtime;
    if (sftp_setstat(c->sftp, part, &a) != 0)
        return "setting its size, mode and mtime";
    if (sftp_rename(c->sftp, part, final) == 0)
        return NULL;
    /* A server without posix-rename will not rename over a file. */
    sftp_attributes there = sftp_stat(c->sftp, final);
    bool file = there && there->type == SSH_FILEXFER_TYPE_REGULAR;
    sftp_attributes_free(there);
    if (!file || sftp_unlink(c->sftp, final) != 0 || sftp_rename(c->sftp, part, final) != 0)
        return "putting it in place";
    return NULL;
}

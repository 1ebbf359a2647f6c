/* SSH hosts over SFTP: ssh://[USER@]HOST[:PORT]/PATH and scp's
 * [USER@]HOST:PATH (a relative PATH is under the remote home), as a source
 * and as a destination.
 *
 * A source is listed on the ranks by folders (remote_list_spread) with the
 * size, mtime and mode SFTP gives with each name, and read in ranges by the
 * pool's threads (sftpjobs.h), many requests in flight per connection.
 *
 * As a destination every file goes by parts: each range is written at its
 * offset into NAME.ferry-part by whichever rank has it, and rank 0 puts the
 * file in place when its parts are in: the size, mode and mtime are set on
 * the part, which is then renamed over NAME (atomic with OpenSSH's
 * posix-rename).  A file in one part is put in place the same way by the
 * thread that sent it.  A file that could not be sent leaves NAME as it was. */
#include "remote.h"
#include "ferry/log.h"
#include "ferry/sftpjobs.h"
#include "ferry/sshconn.h"
#include "ferry/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SSH_SPLIT_MIN_FOLDERS 2          /* list folders on several ranks from this many */
/* Connections (threads) per rank: sshd refuses unauthenticated connections
 * beyond MaxStartups (10 by default), so ranks that all connect at once
 * must not ask for many each. */
#define SSH_MAX_CONNECTIONS 8

struct ssh_backend {
    struct remote_backend remote;    /* first: the listing, shared by remote.c */
    struct ssh_where where;
    char *label;                     /* USER@HOST:PORT, for messages */
    char *root;                      /* the remote folder as SFTP takes it ("." the home) */
    struct sshconn *conn;            /* this rank's own, opened on first use */
    struct sftp_pool *pool;          /* transfers, started on the first */
    int missing;                     /* the root is not there (1), shared by prepare */
};

static struct ssh_backend *ssh_of(struct backend *b)
{
    return (struct ssh_backend *)b;
}

static bool ssh_claims(const char *location)
{
    return strncmp(location, "ssh://", 6) == 0 || strncmp(location, "sftp://", 7) == 0 ||
           backend_is_scp_form(location);
}

/* A host name, an address, or a config alias; nothing an option or a shell
 * could read as more (ProxyCommand expands %h into a command line). */
static bool host_ok(const char *h)
{
    if (!*h || *h == '-')
        return false;
    for (const char *c = h; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr(".-_:", *c))
            return false;
    return true;
}

static bool user_ok(const char *u)
{
    if (!*u || *u == '-')
        return false;
    for (const char *c = u; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr(".-_", *c))
            return false;
    return true;
}

/* [USER@]HOST (HOST may be "[v6]"), up to end; the port is the caller's. */
static int parse_authority(const char *s, size_t len, struct ssh_where *w, const char *location,
                           struct ferry_error *err)
{
    const char *at = memchr(s, '@', len);
    if (at) {
        w->user = xstrndup(s, (size_t)(at - s));
        len -= (size_t)(at - s) + 1;
        s = at + 1;
    }
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']')
        w->host = xstrndup(s + 1, len - 2);
    else
        w->host = xstrndup(s, len);
    if ((w->user && !user_ok(w->user)) || !host_ok(w->host))
        return err_set(err, FERRY_EUSAGE, "%s: not a user and host ssh would take", location);
    return 0;
}

/* ssh://[USER@]HOST[:PORT][/PATH] ("/~/PATH" under the home) or
 * [USER@]HOST:PATH. */
static int parse_location(const char *location, struct ssh_where *w, char **root,
                          struct ferry_error *err)
{
    const char *path;
    if (strstr(location, "://")) {
        const char *s = strstr(location, "://") + 3;
        const char *end = strchr(s, '/');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        /* A port after the last ':' that follows any ']'. */
        const char *bracket = memchr(s, ']', len);
        const char *colon = NULL;
        for (const char *c = bracket ? bracket : s; c < s + len; c++)
            if (*c == ':')
                colon = c;
        if (colon) {
            char *digits = xstrndup(colon + 1, (size_t)(s + len - colon - 1)), *stop;
            long port = strtol(digits, &stop, 10);
            bool good = *digits && !*stop && port > 0 && port < 65536;
            free(digits);
            if (!good)
                return err_set(err, FERRY_EUSAGE, "%s: bad port", location);
            w->port = (int)port;
            len = (size_t)(colon - s);
        }
        int rc = parse_authority(s, len, w, location, err);
        if (rc != 0)
            return rc;
        path = end ? end : "";
        if (strcmp(path, "/~") == 0)
            path = "";
        else if (strncmp(path, "/~/", 3) == 0)
            path += 3;
    } else {
        const char *colon = location[0] == '[' ? strstr(location, "]:") : strchr(location, ':');
        if (!colon)
            return err_set(err, FERRY_EUSAGE, "%s: not [USER@]HOST:PATH", location);
        if (*colon == ']')
            colon++;
        int rc = parse_authority(location, (size_t)(colon - location), w, location, err);
        if (rc != 0)
            return rc;
        path = colon + 1;
    }
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    *root = n ? xstrndup(path, n) : xstrdup(".");
    return 0;
}

static void ssh_close(struct backend *b);

static int ssh_open(const char *location, struct backend **out, struct ferry_error *err)
{
    int rc = backend_check_allowed(location, err);
    if (rc != 0)
        return rc;
    struct ssh_backend *sb = xcalloc(1, sizeof *sb);
    sb->remote.base.ops = &backend_ssh;
    rc = parse_location(location, &sb->where, &sb->root, err);
    if (rc != 0) {
        ssh_close(&sb->remote.base);
        return rc;
    }
    sb->label = sshconn_label(&sb->where);
    *out = &sb->remote.base;
    return 0;
}

/* path under the root, as SFTP takes it. */
static char *remote_path(const struct ssh_backend *sb, const char *path)
{
    if (!*path)
        return xstrdup(sb->root);
    if (strcmp(sb->root, ".") == 0)
        return xstrdup(path);
    return xasprintf("%s%s%s", sb->root, sb->root[strlen(sb->root) - 1] == '/' ? "" : "/", path);
}

static char *part_path(const struct ssh_backend *sb, const char *path)
{
    char *full = remote_path(sb, path), *part = xasprintf("%s%s", full, BACKEND_PART_SUFFIX);
    free(full);
    return part;
}

static int connection(struct ssh_backend *sb, struct ferry_error *err)
{
    if (sb->conn && !sshconn_alive(sb->conn)) {
        sshconn_close(sb->conn);
        sb->conn = NULL;
    }
    return sb->conn ? 0 : sshconn_open(&sb->where, &sb->conn, err);
}

/* Run op on this rank's connection; when the connection turns out to have
 * dropped (a request is the first to notice), once more on a new one. */
static int on_connection(struct ssh_backend *sb,
                         int (*op)(struct ssh_backend *sb, void *ud, struct ferry_error *err),
                         void *ud, struct ferry_error *err)
{
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = connection(sb, err);
        if (rc != 0)
            return rc;
        rc = op(sb, ud, err);
        if (rc == 0 || sshconn_alive(sb->conn))
            return rc;
        FLOG(LOG_WARN, "%s; connecting again", err->msg);
        sshconn_close(sb->conn);
        sb->conn = NULL;
    }
    return rc;
}

static struct sftp_pool *pool(struct ssh_backend *sb)
{
    if (!sb->pool)
        sb->pool = sftp_pool_new(&sb->where, SSH_MAX_CONNECTIONS);
    return sb->pool;
}

/* The last request's failure, naming the remote path. */
static int request_failed(struct ssh_backend *sb, const char *path, const char *what,
                          struct ferry_error *err)
{
    int status = sshconn_status(sb->conn);
    int code = status == SSH_FX_PERMISSION_DENIED ? FERRY_EAUTH
             : status == SSH_FX_NO_SUCH_FILE ? FERRY_ENOTFOUND : FERRY_EFAIL;
    return err_set(err, code, "%s:%s: %s: %s", sb->label, path, what, sshconn_why(sb->conn));
}

/* ---- listing ---------------------------------------------------------------- */

static int list_folder(struct ssh_backend *sb, struct remote_backend *rb, const char *sub,
                       char ***folders, size_t *n_folders, struct ferry_error *err)
{
    int rc = connection(sb, err);
    if (rc != 0)
        return rc;
    char *full = remote_path(sb, sub);
    sftp_dir dir = sftp_opendir(sshconn_sftp(sb->conn), full);
    if (!dir) {
        rc = request_failed(sb, full, "cannot list", err);
        free(full);
        return rc;
    }
    size_t cap = 0;
    sftp_attributes a;
    while (rc == 0 && (a = sftp_readdir(sshconn_sftp(sb->conn), dir)) != NULL) {
        const char *name = a->name;
        char *rel = *sub ? xasprintf("%s/%s", sub, name) : xstrdup(name);
        size_t len = strlen(name);
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
            /* itself and its parent */
        } else if (a->type == SSH_FILEXFER_TYPE_DIRECTORY) {
            if (name[0] == '.') {
                /* hidden folders (.git, .ferry) are never walked */
            } else if (folders) {
                xgrow((void **)folders, &cap, *n_folders + 1, sizeof **folders);
                (*folders)[(*n_folders)++] = xstrdup(rel);
            } else {
                rc = list_folder(sb, rb, rel, NULL, NULL, err);
            }
        } else if (a->type == SSH_FILEXFER_TYPE_REGULAR) {
            bool part = len > strlen(BACKEND_PART_SUFFIX) &&
                        strcmp(name + len - strlen(BACKEND_PART_SUFFIX), BACKEND_PART_SUFFIX) == 0;
            struct remote_entry *e = part ? NULL : remote_add(rb, rel, (long long)a->size,
                                                              (long long)a->mtime, NULL, NULL, 0);
            if (e)
                e->mode = a->permissions & 07777;
        } else {
            /* Links are not followed: one could point anywhere on the host. */
            FLOG(LOG_INFO, "%s:%s: not a regular file or folder (a link?): left out", sb->label,
                 rel);
        }
        free(rel);
        sftp_attributes_free(a);
    }
    if (rc == 0 && !sftp_dir_eof(dir))
        rc = request_failed(sb, full, "listing stopped", err);
    sftp_closedir(dir);
    free(full);
    return rc;
}

static int ssh_lister(void *ud, struct remote_backend *rb, const char *sub, char ***folders,
                      size_t *n_folders, struct ferry_error *err)
{
    struct ssh_backend *sb = ud;
    /* A missing root lists as empty (check_root). */
    return sb->missing ? 0 : list_folder(sb, rb, sub, folders, n_folders, err);
}

/* Rank 0: is the root a folder?  A missing one is fine for a destination
 * (it is made) and an error for a source (list_scenes says so). */
static int check_root(struct ssh_backend *sb, struct ferry_error *err)
{
    int rc = connection(sb, err);
    if (rc != 0)
        return rc;
    sftp_attributes a = sftp_stat(sshconn_sftp(sb->conn), sb->root);
    if (!a) {
        if (sshconn_status(sb->conn) == SSH_FX_NO_SUCH_FILE) {
            sb->missing = 1;
            return 0;
        }
        return request_failed(sb, sb->root, "cannot look at it", err);
    }
    bool folder = a->type == SSH_FILEXFER_TYPE_DIRECTORY;
    sftp_attributes_free(a);
    if (!folder)
        return err_set(err, FERRY_EUSAGE, "%s:%s: not a folder (name the folder that holds it)",
                       sb->label, sb->root);
    return 0;
}

static int ssh_prepare(struct backend *b, MPI_Comm comm, struct ferry_error *err)
{
    struct ssh_backend *sb = ssh_of(b);
    int rank;
    MPI_Comm_rank(comm, &rank);
    int rc = rank == 0 ? check_root(sb, err) : 0;
    MPI_Bcast(&sb->missing, 1, MPI_INT, 0, comm);
    return remote_list_spread(&sb->remote, comm, rc, SSH_SPLIT_MIN_FOLDERS, ssh_lister, sb, err);
}

static int ssh_list_scenes(struct backend *b, char ***names, size_t *count, bool *root_files,
                           struct ferry_error *err)
{
    struct ssh_backend *sb = ssh_of(b);
    if (sb->missing)
        return err_set(err, FERRY_ENOTFOUND, "%s:%s: no such folder", sb->label, sb->root);
    return remote_list_scenes(b, names, count, root_files, err);
}

/* ---- reads ------------------------------------------------------------------ */

struct backend_read {
    struct sftp_job *job;
};

static int ssh_read_start(struct backend *b, const struct read_spec *spec,
                          struct backend_read **out, struct ferry_error *err)
{
    (void)err;
    struct ssh_backend *sb = ssh_of(b);
    char *full = remote_path(sb, spec->path);
    struct backend_read *r = xcalloc(1, sizeof *r);
    r->job = sftp_pool_read(pool(sb), full, spec->fd, spec->offset, spec->length);
    free(full);
    *out = r;
    return 0;
}

static int ssh_read_poll(struct backend_read *r, long long *moved, struct ferry_error *err)
{
    return sftp_job_poll(r->job, moved, err);
}

static void ssh_read_end(struct backend_read *r)
{
    sftp_job_free(r->job);
    free(r);
}

static void ssh_wait(struct backend *b, int ms)
{
    struct ssh_backend *sb = ssh_of(b);
    if (sb->pool)
        sftp_pool_wait(sb->pool, ms);
}

/* ---- writes: ranges into NAME.ferry-part, on any rank ----------------------- */

struct ssh_write {
    struct backend_write head;
    struct sftp_job *job;
};

static int ssh_write_open(struct backend *b, const struct write_spec *spec,
                          struct backend_write **out, struct ferry_error *err)
{
    struct ssh_backend *sb = ssh_of(b);
    if (spec->src_fd < 0)
        return err_set(err, FERRY_EFAIL, "%s: nothing to read it from", spec->meta.path);
    char *part = part_path(sb, spec->meta.path);
    struct ssh_write *w = xcalloc(1, sizeof *w);
    w->head.fd = -1;
    if (spec->offset == 0 && spec->length == spec->meta.size) {
        /* The whole file in one part: the thread that sends it puts it in
         * place too, so that small files' round trips are not all rank 0's. */
        char *full = remote_path(sb, spec->meta.path);
        w->job = sftp_pool_put(pool(sb), part, full, spec->src_fd, spec->meta.size,
                               spec->meta.mode, spec->meta.mtime);
        free(full);
    } else {
        w->job = sftp_pool_write(pool(sb), part, spec->src_fd, spec->offset, spec->length);
    }
    free(part);
    *out = &w->head;
    return 0;
}

static int ssh_write_poll(struct backend_write *bw, long long *moved, struct ferry_error *err)
{
    return sftp_job_poll(((struct ssh_write *)bw)->job, moved, err);
}

static int ssh_write_close(struct backend_write *bw, char **receipt, struct ferry_error *err)
{
    (void)err;
    struct ssh_write *w = (struct ssh_write *)bw;
    *receipt = NULL;
    sftp_job_free(w->job);
    free(w);
    return 0;
}

static void ssh_write_abort(struct backend_write *bw)
{
    char *receipt;
    ssh_write_close(bw, &receipt, NULL);
}

/* ---- the upload plan and its finish, rank 0 --------------------------------- */

struct ssh_plan {
    struct file_meta *files;         /* path (own copy), size, mtime, mode */
    size_t n_files;
};

/* mkdir -p of dir (a path under the root) over SFTP: up from the deepest
 * folder that is missing. */
static int make_folder(struct ssh_backend *sb, const char *dir, struct ferry_error *err)
{
    char *full = remote_path(sb, dir);
    sftp_session sftp = sshconn_sftp(sb->conn);
    int rc = 0;
    if (sftp_mkdir(sftp, full, 0755) != 0) {
        int status = sshconn_status(sb->conn);
        const char *slash = strrchr(dir, '/');
        if (status == SSH_FX_NO_SUCH_FILE && *dir) {
            char *parent = slash ? xstrndup(dir, (size_t)(slash - dir)) : xstrdup("");
            rc = make_folder(sb, parent, err);
            free(parent);
            if (rc == 0 && sftp_mkdir(sftp, full, 0755) != 0)
                rc = request_failed(sb, full, "cannot make the folder", err);
        } else {
            /* It may be there already (SFTP v3 says only "failure"). */
            sftp_attributes a = sftp_stat(sftp, full);
            if (!a || a->type != SSH_FILEXFER_TYPE_DIRECTORY)
                rc = a ? err_set(err, FERRY_EFAIL, "%s:%s: a file is in the way of a folder",
                                 sb->label, full)
                       : request_failed(sb, full, "cannot make the folder", err);
            sftp_attributes_free(a);
        }
    }
    free(full);
    return rc;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The folders of paths, sorted, each once ("" for the root). */
static char **folders_of(const char *(*path_at)(const void *, size_t), const void *list, size_t n,
                         size_t *count)
{
    char **dirs = xcalloc(n + 1, sizeof *dirs);
    for (size_t i = 0; i < n; i++) {
        const char *path = path_at(list, i), *slash = strrchr(path, '/');
        dirs[i] = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
    }
    qsort(dirs, n, sizeof *dirs, compare_names);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept && strcmp(dirs[kept - 1], dirs[i]) == 0)
            free(dirs[i]);
        else
            dirs[kept++] = dirs[i];
    }
    *count = kept;
    return dirs;
}

static const char *request_path(const void *list, size_t i)
{
    return ((const struct file_meta *)list)[i].path;
}

static const char *entry_path(const void *list, size_t i)
{
    return ((const struct remote_entry *)list)[i].path;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Make the folders the files need that the listing does not show (each
 * once, from rank 0); a file whose folder cannot be made fails with the
 * reason, the rest go. */
static void make_folders(struct ssh_backend *sb, const struct upload_request *req,
                         struct upload_plan *out)
{
    size_t n_need, n_have;
    char **need = folders_of(request_path, req->files, req->n_files, &n_need);
    char **have = folders_of(entry_path, sb->remote.entries, sb->remote.count, &n_have);
    char **why = xcalloc(n_need + 1, sizeof *why);
    for (size_t i = 0; i < n_need; i++) {
        bool there = (!*need[i] && !sb->missing) ||
                     bsearch(&need[i], have, n_have, sizeof *have, compare_names);
        struct ferry_error ferr = {0};
        if (!there && make_folder(sb, need[i], &ferr) != 0)
            why[i] = xstrdup(ferr.msg);
    }
    for (size_t i = 0; i < req->n_files; i++) {
        const char *path = req->files[i].path, *slash = strrchr(path, '/');
        char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
        char **at = bsearch(&dir, need, n_need, sizeof *need, compare_names);
        if (at && why[at - need]) {
            out->files[i].way = WRITE_FAILED;
            out->files[i].reason = xstrdup(why[at - need]);
        }
        free(dir);
    }
    free_names(why, n_need);
    free_names(need, n_need);
    free_names(have, n_have);
}

/* Parts of --chunk-size, any size SFTP takes. */
static long long chunk_or_all(long long size, long long chunk)
{
    return chunk > 0 ? chunk : size;
}

static int ssh_upload_plan(struct backend *b, struct backend *src, const struct upload_request *req,
                           const struct upload_options *opts, struct upload_plan *out,
                           struct ferry_error *err)
{
    (void)src;
    struct ssh_backend *sb = ssh_of(b);
    struct ssh_plan *plan = xcalloc(1, sizeof *plan);
    plan->files = xcalloc(req->n_files + 1, sizeof *plan->files);
    plan->n_files = req->n_files;
    /* Each file is its own batch: it is put in place as soon as its parts
     * are in, whatever else is still going. */
    remote_plan_by_file(req, opts->chunk_size, chunk_or_all, out);
    out->state = plan;
    for (size_t i = 0; i < req->n_files; i++) {
        plan->files[i] = req->files[i];
        plan->files[i].path = xstrdup(req->files[i].path);
        plan->files[i].etag = NULL;
    }
    int rc = req->n_files ? connection(sb, err) : 0;
    if (rc == 0)
        make_folders(sb, req, out);
    return rc;
}

struct placing {
    const struct file_meta *f;
    bool failed;
};

/* A file sent in parts: put it in place (sshconn_place); or, for a file
 * that could not be sent, drop the part. */
static int place_file(struct ssh_backend *sb, void *ud, struct ferry_error *err)
{
    const struct placing *pl = ud;
    char *part = part_path(sb, pl->f->path), *full = remote_path(sb, pl->f->path);
    int rc = 0;
    if (pl->failed) {
        sftp_unlink(sshconn_sftp(sb->conn), part);
    } else {
        const char *failed = sshconn_place(sb->conn, part, full, pl->f->size, pl->f->mode,
                                           pl->f->mtime);
        if (failed)
            rc = request_failed(sb, full, failed, err);
    }
    free(part);
    free(full);
    return rc;
}

/* Rank 0, once the batch's one file has all its parts. */
static int ssh_finish_batch(struct backend *b, struct upload_plan *up, int batch,
                            struct ferry_error *err)
{
    struct ssh_plan *plan = up->state;
    const struct upload_file *u = &up->files[batch];
    /* A file in one part was put in place by the thread that sent it. */
    if (u->n_parts == 1 && u->way != WRITE_FAILED)
        return 0;
    struct placing pl = {&plan->files[batch], u->way == WRITE_FAILED};
    return on_connection(ssh_of(b), place_file, &pl, err);
}

static void ssh_upload_free(struct backend *b, struct upload_plan *up)
{
    (void)b;
    struct ssh_plan *plan = up->state;
    for (size_t i = 0; plan && i < plan->n_files; i++)
        free((char *)plan->files[i].path);
    if (plan)
        free(plan->files);
    free(plan);
    remote_plan_free(up);
}

/* Delete a file, then the folders it leaves empty up to its scene. */
static int remove_file(struct ssh_backend *sb, void *ud, struct ferry_error *err)
{
    const char *path = ud;
    sftp_session sftp = sshconn_sftp(sb->conn);
    char *full = remote_path(sb, path);
    int rc = 0;
    if (sftp_unlink(sftp, full) != 0 && sshconn_status(sb->conn) != SSH_FX_NO_SUCH_FILE)
        rc = request_failed(sb, full, "cannot delete", err);
    free(full);
    char *dir = xstrdup(path), *slash;
    while (rc == 0 && (slash = strrchr(dir, '/')) != NULL && strchr(dir, '/') != slash) {
        *slash = '\0';
        char *folder = remote_path(sb, dir);
        bool gone = sftp_rmdir(sftp, folder) == 0;
        free(folder);
        if (!gone)
            break;
    }
    free(dir);
    return rc;
}

static int ssh_remove(struct backend *b, const char *path, struct ferry_error *err)
{
    return on_connection(ssh_of(b), remove_file, (void *)path, err);
}

/* statvfs@openssh.com, where the server has it. */
static long long ssh_free_bytes(struct backend *b)
{
    struct ssh_backend *sb = ssh_of(b);
    struct ferry_error err = {0};
    if (connection(sb, &err) != 0 ||
        !sftp_extension_supported(sshconn_sftp(sb->conn), "statvfs@openssh.com", "2"))
        return -1;
    /* A root still to be made: the home's file system stands for it. */
    sftp_statvfs_t st = sftp_statvfs(sshconn_sftp(sb->conn), sb->missing ? "." : sb->root);
    if (!st)
        return -1;
    long long bytes = (long long)(st->f_bavail * st->f_frsize);
    sftp_statvfs_free(st);
    return bytes;
}

static void ssh_close(struct backend *b)
{
    struct ssh_backend *sb = ssh_of(b);
    sftp_pool_free(sb->pool);
    sshconn_close(sb->conn);
    remote_free(&sb->remote);
    free(sb->where.user);
    free(sb->where.host);
    free(sb->label);
    free(sb->root);
    free(sb);
}

const struct backend_ops backend_ssh = {
    .name = "ssh",
    .claims = ssh_claims,
    .open = ssh_open,
    .prepare = ssh_prepare,
    .list_scenes = ssh_list_scenes,
    .walk = remote_walk,
    .read_start = ssh_read_start,
    .read_poll = ssh_read_poll,
    .read_end = ssh_read_end,
    .wait = ssh_wait,
    .write_open = ssh_write_open,
    .write_poll = ssh_write_poll,
    .write_close = ssh_write_close,
    .write_abort = ssh_write_abort,
    .upload_plan = ssh_upload_plan,
    .finish_batch = ssh_finish_batch,
    .upload_free = ssh_upload_free,
    .remove = ssh_remove,
    .free_bytes = ssh_free_bytes,
    .keeps_mtime = true,
    .close = ssh_close,
};

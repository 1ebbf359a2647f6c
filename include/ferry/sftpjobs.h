/* SFTP reads and writes of byte ranges, run by a pool of threads that each
 * own one SSH connection (sshconn.h), so that the engine's single-threaded
 * loop can keep several in flight.  Threads because libssh 0.10's SFTP
 * writes block until the server answers (its asynchronous writes arrive in
 * 0.11); reads are pipelined inside a job (many requests in flight per
 * connection).
 *
 * A connection that drops mid-job is opened again and the job goes on from
 * the last byte it moved, a few times with a growing pause; a refusal by the
 * server (permission, no such file, full disk) fails the job at once.  The
 * pool's threads make no MPI calls and leave signals to the main thread. */
#ifndef FERRY_SFTPJOBS_H
#define FERRY_SFTPJOBS_H

#include "ferry/err.h"
#include "ferry/sshconn.h"

/* sftp_job_poll's answers besides 0 (done) and a negative ferry_err. */
#define SFTP_JOB_MOVED 1
#define SFTP_JOB_WAITING 2

struct sftp_pool;
struct sftp_job;

/* A pool connecting to where (copied), with at most max_threads connections,
 * opened as jobs come. */
struct sftp_pool *sftp_pool_new(const struct ssh_where *where, int max_threads);
/* Stop and join the threads; jobs still queued or running are dropped. */
void sftp_pool_free(struct sftp_pool *p);

/* Copy [offset, offset + length) of the remote file into fd at the same
 * offsets. */
struct sftp_job *sftp_pool_read(struct sftp_pool *p, const char *remote, int fd,
                                long long offset, long long length);
/* Write [offset, offset + length) of fd into the remote file at the same
 * offsets; the file is made (mode 0600) when missing, never truncated. */
struct sftp_job *sftp_pool_write(struct sftp_pool *p, const char *remote, int fd,
                                 long long offset, long long length);

/* A whole file, [0, size) of fd, into the remote part file (made afresh),
 * then put in place over final with mode and mtime (sshconn_place).  After
 * a dropped connection it goes on where the part ends; if the part is gone
 * and final has its size and mtime, it was placed before the drop. */
struct sftp_job *sftp_pool_put(struct sftp_pool *p, const char *part, const char *final, int fd,
                               long long size, unsigned mode, long long mtime);

/* SFTP_JOB_MOVED with *moved the bytes moved since the last poll,
 * SFTP_JOB_WAITING, 0 once done (after every byte was reported), or the
 * job's error (the message names the remote path). */
int sftp_job_poll(struct sftp_job *j, long long *moved, struct ferry_error *err);
/* Forget a job, done or not (a running one is dropped by its thread). */
void sftp_job_free(struct sftp_job *j);

/* Block until some job of p ends, at most ms milliseconds. */
void sftp_pool_wait(struct sftp_pool *p, int ms);

#endif

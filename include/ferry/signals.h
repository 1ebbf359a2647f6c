/* SIGINT, SIGTERM and SIGUSR1 ask for a clean stop: no new work is handed out, the
 * journal is flushed, and the run exits 75 so the same command resumes it.
 * SIGUSR1 is also the one Open MPI's mpirun forwards to the ranks and then
 * exits with their 75; a SIGTERM or SIGINT to mpirun itself aborts the job
 * with mpirun's own exit 1, which nothing in the ranks can change (the
 * jobs/ scripts pass TERM on as USR1). */
#ifndef FERRY_SIGNALS_H
#define FERRY_SIGNALS_H

void signals_install(void);
/* The signal received, or 0. */
int signals_pending(void);

#endif

/* SIGINT, SIGTERM and SIGUSR1 ask for a clean stop: no new work is handed out, the
 * journal is flushed, and the run exits 75 so the same command resumes it. */
#ifndef FERRY_SIGNALS_H
#define FERRY_SIGNALS_H

void signals_install(void);
/* The signal received, or 0. */
int signals_pending(void);

#endif

/* A small thread pool: a task gets its index and the thread count and splits work by rows.
 * Workers sleep on a condition variable between tasks (after a short bounded spin), so a
 * 2-core machine is never starved by idle spinning. The calling thread is worker 0. */
#ifndef FR_CORE_POOL_H
#define FR_CORE_POOL_H

#include "frugal.h"

typedef struct fr_pool fr_pool;
typedef void (*fr_task_fn)(void *arg, int ith, int nth);

/* n_threads >= 1 total threads including the caller; n_threads - 1 are created. */
fr_status fr_pool_create(int n_threads, fr_pool **out, fr_error *err);
void fr_pool_free(fr_pool *pool);
/* Number of threads (1 for a NULL pool). */
int fr_pool_size(const fr_pool *pool);
/* Runs fn(arg, i, n) for i in [0, n) across the pool and returns when all are done.
 * pool may be NULL: then fn(arg, 0, 1) runs on the caller. Not re-entrant. */
void fr_pool_run(fr_pool *pool, fr_task_fn fn, void *arg);
/* Number of online CPUs (>= 1). */
int fr_cpu_count(void);

#endif

/* Thread pool: workers spin for a few microseconds after a task, then sleep on a condition
 * variable. A task is published by bumping a generation counter; the last worker to finish
 * wakes the caller. The caller is worker 0 and runs its share before waiting. */
#include "core/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax(void) { _mm_pause(); }
#else
static inline void cpu_relax(void) { atomic_signal_fence(memory_order_seq_cst); }
#endif

/* How long an idle thread polls before it sleeps. Short enough that two threads on a
 * busy 2-core machine do not starve each other, long enough to catch the next task of
 * a decode step (the gap between two matmuls of a layer is a few microseconds). */
#ifndef FR_POOL_SPIN_NS
#define FR_POOL_SPIN_NS 20000
#endif

typedef struct fr_worker {
    struct fr_pool *pool;
    int ith;
    pthread_t thread;
} fr_worker;

struct fr_pool {
    int n;
    fr_worker *workers; /* n - 1 entries */
    int n_started;

    pthread_mutex_t mu;
    pthread_cond_t cv_work; /* workers wait here for a new generation */
    pthread_cond_t cv_done; /* the caller waits here for pending == 0 */

    fr_task_fn fn;
    void *arg;
    atomic_uint gen;      /* bumped once per task; workers compare with what they last ran */
    atomic_int pending;   /* workers still running the current task */
    atomic_int sleepers;  /* workers blocked (or about to block) on cv_work */
    atomic_int waiting;   /* 1 while the caller is blocked on cv_done */
    atomic_int stop;
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Polls for a new generation (or stop) for up to FR_POOL_SPIN_NS; 1 if one came. */
static int spin_gen(fr_pool *p, unsigned seen) {
    uint64_t t0 = 0;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&p->gen, memory_order_acquire) != seen ||
            atomic_load_explicit(&p->stop, memory_order_relaxed))
            return 1;
        cpu_relax();
        if ((i & 63) == 0) {
            uint64_t t = now_ns();
            if (t0 == 0) t0 = t;
            else if (t - t0 > FR_POOL_SPIN_NS) return 0;
        }
    }
}

static int spin_done(fr_pool *p) {
    uint64_t t0 = 0;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) return 1;
        cpu_relax();
        if ((i & 63) == 0) {
            uint64_t t = now_ns();
            if (t0 == 0) t0 = t;
            else if (t - t0 > FR_POOL_SPIN_NS) return 0;
        }
    }
}

static void *worker_main(void *vp) {
    fr_worker *w = vp;
    fr_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        if (!spin_gen(p, seen)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv_work, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) break;
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        p->fn(p->arg, w->ith, p->n);
        if (atomic_fetch_sub(&p->pending, 1) == 1) { /* seq_cst: pairs with waiting */
            if (atomic_load(&p->waiting)) {
                pthread_mutex_lock(&p->mu);
                pthread_cond_signal(&p->cv_done);
                pthread_mutex_unlock(&p->mu);
            }
        }
    }
    return NULL;
}

static void pool_stop(fr_pool *p) {
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->workers[i].thread, NULL);
}

fr_status fr_pool_create(int n_threads, fr_pool **out, fr_error *err) {
    if (!out) return fr_fail(err, FR_E_ARG, "fr_pool_create: out is NULL");
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return fr_fail(err, FR_E_ARG, "fr_pool_create: thread count %d out of range 1..1024", n_threads);
    fr_pool *p = calloc(1, sizeof *p);
    if (!p) return fr_fail(err, FR_E_NOMEM, "fr_pool_create: out of memory");
    p->n = n_threads;
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            free(p);
            return fr_fail(err, FR_E_NOMEM, "fr_pool_create: out of memory");
        }
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->waiting, 0);
    atomic_init(&p->stop, 0);
    for (int i = 0; i < n_threads - 1; i++) {
        p->workers[i].pool = p;
        p->workers[i].ith = i + 1;
        if (pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]) != 0) {
            pool_stop(p);
            fr_pool_free(p);
            return fr_fail(err, FR_E_NOMEM, "fr_pool_create: cannot start thread %d of %d", i + 1,
                           n_threads);
        }
        p->n_started++;
    }
    *out = p;
    return FR_OK;
}

void fr_pool_free(fr_pool *pool) {
    if (!pool) return;
    if (!atomic_load(&pool->stop)) pool_stop(pool);
    pthread_cond_destroy(&pool->cv_done);
    pthread_cond_destroy(&pool->cv_work);
    pthread_mutex_destroy(&pool->mu);
    free(pool->workers);
    free(pool);
}

int fr_pool_size(const fr_pool *pool) { return pool ? pool->n : 1; }

void fr_pool_run(fr_pool *pool, fr_task_fn fn, void *arg) {
    if (!pool || pool->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->pending, pool->n - 1, memory_order_relaxed);
    atomic_fetch_add(&pool->gen, 1); /* seq_cst: pairs with the sleepers check */
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_broadcast(&pool->cv_work);
        pthread_mutex_unlock(&pool->mu);
    }
    fn(arg, 0, pool->n);
    if (spin_done(pool)) return;
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->waiting, 1);
    while (atomic_load(&pool->pending) != 0) pthread_cond_wait(&pool->cv_done, &pool->mu);
    atomic_store(&pool->waiting, 0);
    pthread_mutex_unlock(&pool->mu);
}

int fr_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)(n > 1024 ? 1024 : n);
}

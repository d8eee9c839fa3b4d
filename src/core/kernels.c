/* Matmul driver: picks the ISA's kernels and splits the work over the pool in two phases
 * (prepare the activations by rows of X, then compute by rows of W). */
#include <stdatomic.h>
#include <stdint.h>

#include "core/kernels.h"
#include "core/kernels_internal.h"

#if FR_X86
#define FR_PREP_AVX2 fr_mm_prep_avx2
#define FR_ROWS_AVX2 fr_mm_rows_avx2
#define FR_PREP_AVX512 fr_mm_prep_avx512
#define FR_ROWS_AVX512 fr_mm_rows_avx512
#else
#define FR_PREP_AVX2 fr_mm_prep_scalar
#define FR_ROWS_AVX2 fr_mm_rows_scalar
#define FR_PREP_AVX512 fr_mm_prep_scalar
#define FR_ROWS_AVX512 fr_mm_rows_scalar
#endif

/* Output rows are split over threads in multiples of this (a multiple of every row tile and
 * of the 16-row groups of the Q8_0 x16 form). */
#define FR_MM_ROW_UNIT 16

static int is_quantised(fr_type t) { return t == FR_TYPE_Q8_0 || t == FR_TYPE_Q4_0; }

size_t fr_matmul_scratch_bytes(fr_type wtype, int K, int N) {
    if (!is_quantised(wtype) || K <= 0 || N <= 0) return 0;
    size_t groups = ((size_t)N + FR_MM_NGROUP - 1) / FR_MM_NGROUP;
    size_t rows = groups * FR_MM_NGROUP;
    return 64 + rows * ((size_t)K / 32 * FR_MM_XQ_BLOCK_BYTES + FR_MM_XQ_ROW_PAD);
}

/* Row units are shared out as one contiguous range per thread (threads beyond
 * FR_MM_MAX_RANGES share ranges); fb packs the range's next unit from the front (low 32 bits)
 * and its end (high 32 bits), so the owner and a thief take units with one compare-exchange. */
#define FR_MM_MAX_RANGES 32
typedef struct mm_range {
    _Alignas(64) atomic_ullong fb;
} mm_range;

typedef struct mm_task {
    fr_mm_args a[FR_MATMUL_MAX_JOBS]; /* one per job; they share X and xq */
    int n_jobs;
    int first_unit[FR_MATMUL_MAX_JOBS + 1]; /* job i owns row units [first_unit[i], first_unit[i+1]) */
    fr_mm_prep_fn prep;
    fr_mm_rows_fn rows;
    int n_ranges;
    mm_range range[FR_MM_MAX_RANGES]; /* the row units not yet taken, one range per thread */
} mm_task;

static void prep_task(void *arg, int ith, int nth) {
    const mm_task *t = arg;
    int groups = (t->a[0].N + FR_MM_NGROUP - 1) / FR_MM_NGROUP;
    int per = (groups + nth - 1) / nth;
    int g0 = ith * per, g1 = g0 + per;
    if (g1 > groups) g1 = groups;
    if (g0 < g1) t->prep(&t->a[0], g0 * FR_MM_NGROUP, g1 * FR_MM_NGROUP);
}

/* Runs row units [u0, u1) of the jobs laid end to end. */
static void run_units(const mm_task *t, int u0, int u1) {
    for (int j = 0; j < t->n_jobs && u0 < u1; j++) {
        int lo = u0 > t->first_unit[j] ? u0 : t->first_unit[j];
        int hi = u1 < t->first_unit[j + 1] ? u1 : t->first_unit[j + 1];
        if (lo >= hi) continue;
        int m0 = (lo - t->first_unit[j]) * FR_MM_ROW_UNIT, m1 = (hi - t->first_unit[j]) * FR_MM_ROW_UNIT;
        if (m1 > t->a[j].M) m1 = t->a[j].M;
        if (m0 < m1) t->rows(&t->a[j], m0, m1);
    }
}

/* Takes units [*u0, *u1) of range r: from its front (the owner, in order) or from its back (a
 * thief), half of what is left (at least one unit; everything when `all`). 0 if it is empty. */
static int take_units(mm_range *r, int from_back, int all, int *u0, int *u1) {
    unsigned long long v = atomic_load_explicit(&r->fb, memory_order_relaxed);
    for (;;) {
        unsigned f = (unsigned)v, b = (unsigned)(v >> 32);
        if (f >= b) return 0;
        unsigned c = all ? b - f : (b - f + 1) / 2;
        unsigned long long nv = from_back ? f | (unsigned long long)(b - c) << 32 : (f + c) | (unsigned long long)b << 32;
        if (atomic_compare_exchange_weak_explicit(&r->fb, &v, nv, memory_order_relaxed, memory_order_relaxed)) {
            *u0 = (int)(from_back ? b - c : f);
            *u1 = (int)(from_back ? b : f + c);
            return 1;
        }
    }
}

/* Batches of more activation rows than this are compute-bound and their tiles set up per call
 * (the f32 GEMM packs the activations): a range is taken in one piece (by its owner, or by a
 * thread that finds it untouched after finishing its own). */
#define FR_MM_SHARE_MAX_N 16

/* Each thread works through its own range from the front (contiguous weight rows, the same
 * rows every call, so a model that stays in cache stays in the same core's cache), then helps
 * the others from the backs of their ranges: a thread that starts late or runs on a slower
 * (shared) core takes less instead of the others waiting for its fixed share. Which thread
 * computes a row does not change its value. */
static void rows_task(void *arg, int ith, int nth) {
    mm_task *t = arg;
    const int R = t->n_ranges, own = ith % R;
    int u0, u1;
    const int whole = nth == 1 || t->a[0].N > FR_MM_SHARE_MAX_N;
    while (take_units(&t->range[own], 0, whole, &u0, &u1)) run_units(t, u0, u1);
    for (int k = 1; k < R; k++)
        while (take_units(&t->range[(own + k) % R], 1, whole, &u0, &u1)) run_units(t, u0, u1);
}

void fr_matmul_multi(fr_isa isa, fr_type wtype, const fr_matmul_job *jobs, int n_jobs, int K,
                     const float *X, int N, void *scratch, fr_pool *pool) {
    if (N <= 0 || n_jobs <= 0 || n_jobs > FR_MATMUL_MAX_JOBS) return;
    mm_task t;
    t.n_jobs = n_jobs;
    t.first_unit[0] = 0;
    uint8_t *xq = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    if (!fr_isa_supported(isa)) isa = FR_ISA_SCALAR;
    /* the packed Q8_0 x16 form when the AVX-512 kernels run and every job has it */
    int x16 = wtype == FR_TYPE_Q8_0 && isa == FR_ISA_AVX512;
    for (int j = 0; j < n_jobs; j++) x16 = x16 && jobs[j].W_x16 != NULL;
    for (int j = 0; j < n_jobs; j++) {
        int M = jobs[j].M > 0 ? jobs[j].M : 0;
        t.a[j] = (fr_mm_args){
            .wtype = wtype,
            .W = x16 ? jobs[j].W_x16 : jobs[j].W,
            .w_row_bytes = x16 ? 0 : fr_type_row_bytes(wtype, (size_t)K),
            .M = M,
            .K = K,
            .N = N,
            .X = X,
            .Y = jobs[j].Y,
            .xq = xq,
            .x16 = x16,
        };
        t.first_unit[j + 1] = t.first_unit[j] + (M + FR_MM_ROW_UNIT - 1) / FR_MM_ROW_UNIT;
    }
    if (t.first_unit[n_jobs] == 0) return;
    switch (isa) {
    case FR_ISA_AVX512:
        t.prep = FR_PREP_AVX512;
        t.rows = FR_ROWS_AVX512;
        break;
    case FR_ISA_AVX2:
        t.prep = FR_PREP_AVX2;
        t.rows = FR_ROWS_AVX2;
        break;
    default:
        t.prep = fr_mm_prep_scalar;
        t.rows = fr_mm_rows_scalar;
        break;
    }
    if (is_quantised(wtype)) {
        /* Few activation rows: quantising them costs less than waking the pool. */
        if ((size_t)N * (size_t)K <= 8192 || fr_pool_size(pool) == 1)
            t.prep(&t.a[0], 0, N);
        else
            fr_pool_run(pool, prep_task, &t);
    }
    const int units = t.first_unit[n_jobs], nth = fr_pool_size(pool);
    t.n_ranges = nth < FR_MM_MAX_RANGES ? nth : FR_MM_MAX_RANGES;
    for (int i = 0; i < t.n_ranges; i++) {
        unsigned long long f = (unsigned long long)units * (unsigned)i / (unsigned)t.n_ranges;
        unsigned long long b = (unsigned long long)units * (unsigned)(i + 1) / (unsigned)t.n_ranges;
        atomic_init(&t.range[i].fb, f | b << 32);
    }
    fr_pool_run(pool, rows_task, &t);
}

void fr_matmul(fr_isa isa, fr_type wtype, const void *W, int M, int K, const float *X, int N,
               float *Y, void *scratch, fr_pool *pool) {
    fr_matmul_job job = {W, M, Y, NULL};
    fr_matmul_multi(isa, wtype, &job, 1, K, X, N, scratch, pool);
}

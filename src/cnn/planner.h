/* Lifetime-based arena planner for activations and operator scratch.
 *
 * Each buffer has a size, an alignment and a lifetime [first, last] in operator steps
 * (inclusive). Two buffers may share bytes only when their lifetimes are disjoint. The
 * plan is greedy by size, like TFLite Micro's GreedyMemoryPlanner: buffers are placed in
 * decreasing size order (ties: earlier first, then lower index), each at the lowest offset
 * (aligned) that does not overlap any already placed buffer whose lifetime intersects its
 * own — first fit in the gaps. O(n^2) time, no allocation: the caller passes work space. */
#ifndef FR_CNN_PLANNER_H
#define FR_CNN_PLANNER_H

#include <stddef.h>
#include <stdint.h>

#include "frugal.h"

typedef struct fr_plan_buf {
    size_t size;      /* bytes (0: not placed, offset 0) */
    size_t align;     /* power of two >= 1 */
    int32_t first;    /* first step alive */
    int32_t last;     /* last step alive (>= first) */
    size_t offset;    /* out: placed offset */
} fr_plan_buf;

/* Work space (in uint32_t elements) fr_plan needs for n buffers. */
#define FR_PLAN_WORK_ELEMS(n) (2 * (size_t)(n))

/* Places the n buffers; *total receives the planned bytes (end of the highest buffer) and
 * *naive the plain sum of the aligned sizes. Fails with FR_E_ARG on a bad alignment or
 * lifetime, FR_E_RANGE if sizes overflow. */
fr_status fr_plan(fr_plan_buf *bufs, size_t n, uint32_t *work, size_t *total, size_t *naive,
                  fr_error *err);

/* Checks a plan by brute force: every pair of buffers with intersecting lifetimes is
 * disjoint in memory, every offset aligned, every buffer ends within total. Returns 1 when
 * valid (used by the tests and by debug builds). */
int fr_plan_verify(const fr_plan_buf *bufs, size_t n, size_t total);

#endif

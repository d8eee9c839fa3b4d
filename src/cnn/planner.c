/* Greedy-by-size, first-fit lifetime planner: see planner.h. */
#include "cnn/planner.h"

#include "core/error.h"

static int overlaps(const fr_plan_buf *a, const fr_plan_buf *b) {
    return a->first <= b->last && b->first <= a->last;
}

/* Does buffer a come before b in placement order? Larger first, then earlier, then index. */
static int before(const fr_plan_buf *bufs, uint32_t a, uint32_t b) {
    if (bufs[a].size != bufs[b].size)
        return bufs[a].size > bufs[b].size;
    if (bufs[a].first != bufs[b].first)
        return bufs[a].first < bufs[b].first;
    return a < b;
}

static size_t align_up(size_t x, size_t a) {
    return (x + a - 1) & ~(a - 1);
}

fr_status fr_plan(fr_plan_buf *bufs, size_t n, uint32_t *work, size_t *total, size_t *naive,
                  fr_error *err) {
    *total = 0;
    *naive = 0;
    if (n > UINT32_MAX / 2)
        return fr_fail(err, FR_E_RANGE, "planner: too many buffers (%s)", FR_NUM(n));
    const size_t max_size = SIZE_MAX / 4;
    uint32_t *order = work;      /* buffers by placement order */
    uint32_t *placed = work + n; /* placed buffers sorted by offset */
    size_t n_order = 0, n_placed = 0;
    for (size_t i = 0; i < n; i++) {
        fr_plan_buf *b = &bufs[i];
        b->offset = 0;
        if (b->align == 0 || (b->align & (b->align - 1)) || b->align > 4096)
            return fr_fail(err, FR_E_ARG, "planner: buffer %s: bad alignment %s", FR_NUM(i),
                           FR_NUM(b->align));
        if (b->size == 0)
            continue;
        if (b->first > b->last)
            return fr_fail(err, FR_E_ARG, "planner: buffer %s: lifetime [%d, %d] is empty", FR_NUM(i),
                           (int)b->first, (int)b->last);
        if (b->size > max_size || *naive > max_size)
            return fr_fail(err, FR_E_RANGE, "planner: buffer %s: size overflows", FR_NUM(i));
        *naive += align_up(b->size, b->align);
        /* insertion into order */
        size_t j = n_order++;
        while (j > 0 && before(bufs, (uint32_t)i, order[j - 1])) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = (uint32_t)i;
    }
    size_t end = 0;
    for (size_t k = 0; k < n_order; k++) {
        fr_plan_buf *b = &bufs[order[k]];
        size_t cand = 0;
        /* placed[] is sorted by offset: walk it, skipping buffers not alive with b */
        for (size_t j = 0; j < n_placed; j++) {
            const fr_plan_buf *p = &bufs[placed[j]];
            if (!overlaps(b, p))
                continue;
            size_t c = align_up(cand, b->align);
            if (c + b->size <= p->offset)
                break; /* fits in the gap before p */
            if (p->offset + p->size > cand)
                cand = p->offset + p->size;
        }
        b->offset = align_up(cand, b->align);
        if (b->offset + b->size > end)
            end = b->offset + b->size;
        /* insert into placed by offset */
        size_t j = n_placed++;
        while (j > 0 && bufs[placed[j - 1]].offset > b->offset) {
            placed[j] = placed[j - 1];
            j--;
        }
        placed[j] = order[k];
    }
    *total = end;
    return FR_OK;
}

int fr_plan_verify(const fr_plan_buf *bufs, size_t n, size_t total) {
    for (size_t i = 0; i < n; i++) {
        const fr_plan_buf *a = &bufs[i];
        if (a->size == 0)
            continue;
        if (a->offset % a->align || a->offset + a->size > total)
            return 0;
        for (size_t j = i + 1; j < n; j++) {
            const fr_plan_buf *b = &bufs[j];
            if (b->size == 0 || !overlaps(a, b))
                continue;
            if (a->offset < b->offset + b->size && b->offset < a->offset + a->size)
                return 0;
        }
    }
    return 1;
}

/* The candidate-pair heap shared by the SentencePiece and BPE merge loops. */
#include <stdlib.h>

#include "llm/vocab_impl.h"

/* a comes before b: higher priority, then the smaller left index (leftmost pair). */
static int pair_before(const fr_merge_pair *a, const fr_merge_pair *b) {
    if (a->priority != b->priority) return a->priority > b->priority;
    return a->left < b->left;
}

int fr_merge_heap_push(fr_merge_heap *h, fr_merge_pair p) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        fr_merge_pair *q = realloc(h->v, cap * sizeof *q);
        if (!q) return -1;
        h->v = q;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(&p, &h->v[parent])) break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = p;
    return 0;
}

fr_merge_pair fr_merge_heap_pop(fr_merge_heap *h) {
    fr_merge_pair top = h->v[0];
    fr_merge_pair last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && pair_before(&h->v[c + 1], &h->v[c])) c++;
        if (!pair_before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

#include "spec/lookup.h"

#include <string.h>

static int copy_continuation(const int32_t *tokens, int n_tokens, int from, int32_t *out, int max_out) {
    int k = 0;
    while (k < max_out && from + k < n_tokens) {
        out[k] = tokens[from + k];
        k++;
    }
    return k;
}

/* Scans backwards for the suffix n-gram, comparing the last token first (cheap rejection). */
int fr_lookup_propose(const int32_t *tokens, int n_tokens, int ngram_min, int ngram_max,
                      int32_t *out, int max_out) {
    if (ngram_min < 1) ngram_min = 1;
    if (max_out <= 0 || n_tokens <= ngram_min) return 0;
    for (int ng = ngram_max; ng >= ngram_min; ng--) {
        if (ng >= n_tokens) continue;
        const int32_t *suffix = tokens + n_tokens - ng;
        int32_t last = suffix[ng - 1];
        /* candidate occurrence ends at index e (inclusive), strictly before the suffix */
        for (int e = n_tokens - 2; e >= ng - 1; e--) {
            if (tokens[e] != last) continue;
            if (memcmp(tokens + e - ng + 1, suffix, (size_t)ng * sizeof *tokens) != 0) continue;
            return copy_continuation(tokens, n_tokens, e + 1, out, max_out);
        }
    }
    return 0;
}

int fr_lookup_propose_ref(const int32_t *tokens, int n_tokens, int ngram_min, int ngram_max,
                          int32_t *out, int max_out) {
    if (ngram_min < 1) ngram_min = 1;
    if (max_out <= 0 || n_tokens <= ngram_min) return 0;
    for (int ng = ngram_max; ng >= ngram_min; ng--) {
        if (ng >= n_tokens) continue;
        for (int start = n_tokens - ng - 1; start >= 0; start--) {
            int match = 1;
            for (int j = 0; j < ng; j++)
                if (tokens[start + j] != tokens[n_tokens - ng + j]) match = 0;
            if (match) return copy_continuation(tokens, n_tokens, start + ng, out, max_out);
        }
    }
    return 0;
}

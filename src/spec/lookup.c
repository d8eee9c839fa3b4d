#include "spec/lookup.h"

#include <string.h>

/* The tokens from index `from` to the end of the text, then again from the start of the
 * proposal: the text is a loop of period n_tokens - from (the match says it repeats), and
 * the guess is that it goes on. max_out tokens. */
static int copy_continuation(const int32_t *tokens, int n_tokens, int from, int32_t *out, int max_out) {
    const int period = n_tokens - from;
    for (int k = 0; k < max_out; k++) out[k] = k < period ? tokens[from + k] : out[k - period];
    return max_out;
}

/* Tokens (at least ng, at most FR_LOOKUP_MATCH_CAP) up to index e (inclusive) that equal
 * the last ones of the text: the n-gram match extended backwards. */
static int match_length(const int32_t *tokens, int n_tokens, int e, int ng) {
    int m = ng;
    while (m < FR_LOOKUP_MATCH_CAP && e - m >= 0 && tokens[e - m] == tokens[n_tokens - 1 - m]) m++;
    return m;
}

/* Scans backwards for the suffix n-gram, comparing the last token first (cheap rejection). */
int fr_lookup_propose(const int32_t *tokens, int n_tokens, int ngram_min, int ngram_max,
                      int32_t *out, int max_out, int *match_len) {
    if (match_len) *match_len = 0;
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
            if (match_len) *match_len = match_length(tokens, n_tokens, e, ng);
            return copy_continuation(tokens, n_tokens, e + 1, out, max_out);
        }
    }
    return 0;
}

int fr_lookup_propose_ref(const int32_t *tokens, int n_tokens, int ngram_min, int ngram_max,
                          int32_t *out, int max_out, int *match_len) {
    if (match_len) *match_len = 0;
    if (ngram_min < 1) ngram_min = 1;
    if (max_out <= 0 || n_tokens <= ngram_min) return 0;
    for (int ng = ngram_max; ng >= ngram_min; ng--) {
        if (ng >= n_tokens) continue;
        for (int start = n_tokens - ng - 1; start >= 0; start--) {
            int match = 1;
            for (int j = 0; j < ng; j++)
                if (tokens[start + j] != tokens[n_tokens - ng + j]) match = 0;
            if (!match) continue;
            if (match_len) { /* count agreeing tokens backwards from the occurrence's end */
                int m = 0;
                while (m < FR_LOOKUP_MATCH_CAP && start + ng - 1 - m >= 0 &&
                       tokens[start + ng - 1 - m] == tokens[n_tokens - 1 - m])
                    m++;
                *match_len = m;
            }
            return copy_continuation(tokens, n_tokens, start + ng, out, max_out);
        }
    }
    return 0;
}

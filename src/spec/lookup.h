/* Prompt-lookup drafting: a draft source with no model. It proposes the tokens that
 * followed the most recent earlier occurrence of the longest suffix n-gram of the text so
 * far (prompt + generated), trying n-gram lengths from ngram_max down to ngram_min. */
#ifndef FR_SPEC_LOOKUP_H
#define FR_SPEC_LOOKUP_H

#include <stdint.h>

/* Writes up to max_out proposed tokens to out and returns how many (0: no match). */
int fr_lookup_propose(const int32_t *tokens, int n_tokens, int ngram_min, int ngram_max,
                      int32_t *out, int max_out);

/* The plain scalar definition of the same (tests compare the two). */
int fr_lookup_propose_ref(const int32_t *tokens, int n_tokens, int ngram_min, int ngram_max,
                          int32_t *out, int max_out);

#endif

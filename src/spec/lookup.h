/* Prompt-lookup drafting: a draft source with no model. It proposes the tokens that
 * followed the most recent earlier occurrence of the longest suffix n-gram of the text so
 * far (prompt + generated), trying n-gram lengths from ngram_max down to ngram_min; where
 * those run out at the end of the text, it repeats them (the text from the occurrence on
 * is taken as a loop, as a model stuck in one writes it). */
#ifndef FR_SPEC_LOOKUP_H
#define FR_SPEC_LOOKUP_H

#include <stdint.h>

#define FR_LOOKUP_MATCH_CAP 64 /* match lengths are counted up to this */

/* Writes max_out proposed tokens to out and returns how many (0: no match). With
 * match_len non-NULL, writes there how far the text before the proposal agrees with the end
 * of the text, in tokens (at least the n-gram length, at most FR_LOOKUP_MATCH_CAP; 0 when
 * there is no match): a long match (the text repeats itself) makes a proposal likely to
 * hold, a one-token match much less so. */
int fr_lookup_propose(const int32_t *tokens, int n_tokens, int ngram_min, int ngram_max,
                      int32_t *out, int max_out, int *match_len);

/* The plain scalar definition of the same (tests compare the two). */
int fr_lookup_propose_ref(const int32_t *tokens, int n_tokens, int ngram_min, int ngram_max,
                          int32_t *out, int max_out, int *match_len);

#endif

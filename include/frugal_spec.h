/*
 * frugal speculative decoding API. See frugal.h for conventions, frugal_llm.h for models.
 *
 * A speculative decoder wraps a target context and any number of draft sources: draft
 * models (their own contexts, sharing the target's vocabulary) and prompt lookup (no model:
 * the continuation of the longest earlier match of the recent tokens). Each step a
 * controller picks a draft source and a draft length gamma from what it has measured
 * (acceptance and the time of drafting and of verification on this machine); the draft
 * proposes gamma tokens, the target checks them all in one batched pass, and the longest
 * acceptable prefix plus one token of the target's own is kept. Caches are rolled back
 * with fr_kv_truncate.
 *
 * The output is exactly the target's: with temperature 0 the tokens are identical to plain
 * greedy decoding; with sampling, drafted tokens are accepted with probability
 * min(1, p/q) and otherwise replaced by a draw from normalise(max(0, p - q)), where p and q
 * are the target's and the draft's distributions after the same temperature, top-k, top-p.
 *
 *   fr_spec *s; fr_spec_params sp = fr_spec_default_params();
 *   fr_spec_create(target_model, target_ctx, &sp, &s, &e);
 *   fr_spec_add_draft(s, draft_model, draft_ctx, "draft.gguf", &e);
 *   fr_spec_add_lookup(s, &e);
 *   fr_spec_start(s, prompt, n_prompt, &e);          // prefill target and drafts
 *   while (...) { fr_spec_step(s, out, cap, &n_out, &e); ...print out[0..n_out)... }
 *   fr_spec_get_stats(s, &stats); fr_spec_free(s);
 */
#ifndef FRUGAL_SPEC_H
#define FRUGAL_SPEC_H

#include "frugal.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_SPEC_MAX_DRAFTS 8
#define FR_SPEC_HIST_MAX 17 /* gamma 0..16 */

typedef struct fr_spec fr_spec;

typedef struct fr_spec_params {
    const char *controller;   /* "auto" (default: "cost" plus a per-token stop rule from
                                 the draft's confidence), "fixed:N", "heuristic", "fsm",
                                 "cache-fsm", "rl", "cost" */
    int32_t gamma_max;        /* largest draft length, 1..16 (default 8) */
    fr_sampler_params sampling; /* temperature 0 = greedy */
    int32_t lookup_ngram_min; /* prompt lookup n-gram lengths (default 1..3) */
    int32_t lookup_ngram_max;
    float draft_p_min;        /* a draft model stops proposing at the first position where its
                                 most likely token has probability below this (its confidence):
                                 fewer tokens than the controller's gamma, down to 0 (a plain
                                 step); the controller counts the declined position as a
                                 rejection. 0 = never (default). Exactness is unaffected. */
} fr_spec_params;

fr_spec_params fr_spec_default_params(void);

/* Creates a decoder over the target context (not owned; its cache is used from position 0).
 * Returns FR_OK, FR_E_ARG (unknown controller, gamma_max out of range, bad sampling
 * parameters), FR_E_NOMEM. */
fr_status fr_spec_create(const fr_model *target_model, fr_context *target,
                         const fr_spec_params *params, fr_spec **out, fr_error *err);
void fr_spec_free(fr_spec *s);

/* Adds a draft model's context (not owned). Its vocabulary must equal the target's:
 * otherwise FR_E_ARG naming `name` and the first token ids that differ. At most
 * FR_SPEC_MAX_DRAFTS sources in all. */
fr_status fr_spec_add_draft(fr_spec *s, const fr_model *draft_model, fr_context *draft,
                            const char *name, fr_error *err);
/* Adds prompt lookup as a draft source: it proposes the continuation of the most recent
 * earlier occurrence of the latest n-gram (repeated as a loop past the end of the text),
 * and learns online how often a proposal holds as a function of how far back its match
 * goes (docs/speculative.md, "Prompt lookup"). */
fr_status fr_spec_add_lookup(fr_spec *s, fr_error *err);

/* Starts a sequence: clears the caches and runs the prompt (n >= 1 tokens) through the
 * target (drafts catch up lazily). FR_E_RANGE if the prompt does not fit the context. */
fr_status fr_spec_start(fr_spec *s, const int32_t *prompt, int32_t n, fr_error *err);

/* One speculative step: writes 1..gamma+1 new tokens (at most cap; cap must be >= 17) to
 * out and their count to *n_out. FR_E_RANGE when the context is full. */
fr_status fr_spec_step(fr_spec *s, int32_t *out, int32_t cap, int32_t *n_out, fr_error *err);

typedef struct fr_spec_stats {
    int64_t steps;              /* speculative steps (= target passes) */
    int64_t tokens;             /* tokens produced */
    int64_t drafted;            /* tokens proposed by drafts and sent to the target */
    int64_t withheld;           /* tokens a draft model produced but "auto" did not send
                                   (its per-token stop rule judged them not worth verifying) */
    int64_t accepted;           /* of them, accepted */
    int64_t gamma_hist[FR_SPEC_HIST_MAX]; /* steps per chosen gamma */
    int32_t n_sources;
    char source_name[FR_SPEC_MAX_DRAFTS][64];
    int64_t source_steps[FR_SPEC_MAX_DRAFTS];    /* steps each source drafted */
    int64_t source_drafted[FR_SPEC_MAX_DRAFTS];
    int64_t source_accepted[FR_SPEC_MAX_DRAFTS];
    double t_draft;             /* seconds drafting (incl. catching drafts up) */
    double t_verify;            /* seconds in target passes */
} fr_spec_stats;

void fr_spec_get_stats(const fr_spec *s, fr_spec_stats *out);

/* Optional per-step trace (gamma, accepted and source of each step) for plots: the first
 * `cap` steps after the next fr_spec_start are kept. */
fr_status fr_spec_trace(fr_spec *s, int32_t cap, fr_error *err);
/* Copies up to cap (gamma, accepted, source) triples of the trace, oldest first; returns
 * how many. Source is the index in the order sources were added. */
int32_t fr_spec_get_trace(const fr_spec *s, int32_t *gamma, int32_t *accepted, int32_t *source,
                          int32_t cap);

#ifdef __cplusplus
}
#endif

#endif /* FRUGAL_SPEC_H */

/* Speculative generation for `frugal generate --draft ... --lookup --spec ...`. */
#ifndef FR_CLI_GENERATE_SPEC_H
#define FR_CLI_GENERATE_SPEC_H

#include <stdbool.h>

#include "frugal.h"

#define SPEC_CLI_MAX_DRAFTS 7

typedef struct spec_cli_opts {
    const char *draft_paths[SPEC_CLI_MAX_DRAFTS];
    int n_drafts;
    bool lookup;
    const char *controller; /* --spec (default "auto") */
    int gamma_max;          /* --gamma-max (default 8) */
    bool compare_plain;     /* measure the plain target rate afterwards (default on) */
    const char *trace_path; /* --trace FILE: per-step gamma/accepted/source */
    int trace_steps;
} spec_cli_opts;

/* Generates up to n_predict tokens after the prompt (already tokenized; the prompt text has
 * been printed), streaming them to stdout, and prints the statistics on stderr. Returns the
 * exit code. */
int cli_generate_spec(const char *cmd, const fr_model *target, fr_context *tctx,
                      const spec_cli_opts *so, const fr_sampler_params *sp, const int32_t *prompt,
                      int32_t n_prompt, long long n_predict, bool ignore_eos, int32_t n_threads);

#endif

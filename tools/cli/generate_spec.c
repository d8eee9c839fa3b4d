/* frugal generate with draft sources: speculative decoding, its statistics, and the plain
 * target's rate measured in the same process for the speedup. */
#include "generate_spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

#define PLAIN_TOKENS_MAX 128
#define STEP_CAP (16 + 1)

static void free_drafts(fr_model **m, fr_context **c, int n) {
    for (int i = 0; i < n; i++) {
        fr_context_free(c[i]);
        fr_model_free(m[i]);
    }
}

/* Plain decoding of n tokens after the prompt with the target alone; returns tokens/s. */
static double plain_rate(const char *cmd, const fr_model *model, fr_context *ctx,
                         const fr_sampler_params *sp, const int32_t *prompt, int32_t n_prompt, int n) {
    fr_error err = {0};
    int32_t V = fr_model_n_vocab(model);
    float *logits = malloc(sizeof *logits * (size_t)V);
    fr_sampler *smp = NULL;
    double rate = 0;
    if (!logits || fr_sampler_create(sp, V, &smp, &err) != FR_OK) goto done;
    fr_kv_truncate(ctx, 0);
    if (fr_decode(ctx, prompt, n_prompt, 0, logits, false, &err) != FR_OK) goto done;
    double t0 = cli_now();
    int done_n = 0;
    for (int i = 0; i < n && n_prompt + i < fr_context_n_ctx(ctx); i++, done_n++) {
        int32_t t = fr_sampler_sample(smp, logits, V);
        if (fr_decode(ctx, &t, 1, n_prompt + i, logits, false, &err) != FR_OK) goto done;
    }
    double dt = cli_now() - t0;
    rate = dt > 0 ? done_n / dt : 0;
done:
    if (err.status != FR_OK) cli_error(cmd, "plain-rate measurement: %s", err.msg);
    fr_sampler_free(smp);
    free(logits);
    return rate;
}

static void print_stats(const fr_spec_stats *st, const spec_cli_opts *so, double seconds, double plain) {
    fprintf(stderr, "speculative: controller %s, %d source%s:", so->controller, st->n_sources,
            st->n_sources == 1 ? "" : "s");
    for (int i = 0; i < st->n_sources; i++) fprintf(stderr, " %s", st->source_name[i]);
    fprintf(stderr, "\n");
    double acc = st->drafted ? 100.0 * (double)st->accepted / (double)st->drafted : 0.0;
    fprintf(stderr, "  target passes %lld, tokens %lld, %.2f tokens per pass; drafted %lld, accepted %lld (%.1f%%)\n",
            (long long)st->steps, (long long)st->tokens, st->steps ? (double)st->tokens / (double)st->steps : 0.0,
            (long long)st->drafted, (long long)st->accepted, acc);
    if (st->withheld)
        fprintf(stderr, "  drafted but not verified (auto's per-token stop): %lld\n", (long long)st->withheld);
    fprintf(stderr, "  gamma histogram:");
    for (int g = 0; g < FR_SPEC_HIST_MAX; g++)
        if (st->gamma_hist[g]) fprintf(stderr, " %d:%lld", g, (long long)st->gamma_hist[g]);
    fprintf(stderr, "\n  steps per source:");
    for (int i = 0; i < st->n_sources; i++)
        fprintf(stderr, " %s %lld (acceptance %.1f%%)", st->source_name[i], (long long)st->source_steps[i],
                st->source_drafted[i] ? 100.0 * (double)st->source_accepted[i] / (double)st->source_drafted[i] : 0.0);
    fprintf(stderr, "\n  time: drafting %.3f s, verifying %.3f s\n", st->t_draft, st->t_verify);
    double rate = seconds > 0 ? (double)st->tokens / seconds : 0;
    fprintf(stderr, "generated: %6lld tokens in %7.3f s = %10.2f tokens/s\n", (long long)st->tokens, seconds, rate);
    if (plain > 0)
        fprintf(stderr, "plain target (same process): %10.2f tokens/s; speedup %.2fx\n", plain, rate / plain);
}

int cli_generate_spec(const char *cmd, const fr_model *target, fr_context *tctx,
                      const spec_cli_opts *so, const fr_sampler_params *sp, const int32_t *prompt,
                      int32_t n_prompt, long long n_predict, bool ignore_eos, int32_t n_threads) {
    fr_error err = {0};
    fr_model *dm[SPEC_CLI_MAX_DRAFTS] = {0};
    fr_context *dc[SPEC_CLI_MAX_DRAFTS] = {0};
    fr_spec *spec = NULL;
    int n_loaded = 0, rc = 1;
    fr_model_info info;
    fr_model_get_info(target, &info);

    fr_spec_params p = fr_spec_default_params();
    p.controller = so->controller;
    p.gamma_max = so->gamma_max;
    p.sampling = *sp;
    if (fr_spec_create(target, tctx, &p, &spec, &err) != FR_OK) {
        cli_error(cmd, "%s", err.msg);
        return 2;
    }
    for (int i = 0; i < so->n_drafts; i++, n_loaded++) {
        fr_model_params mp = fr_model_default_params();
        mp.require_vocab = true;
        if (fr_model_load(so->draft_paths[i], &mp, &dm[i], &err) != FR_OK) goto fail;
        fr_context_params cp = fr_context_default_params();
        cp.n_ctx = fr_context_n_ctx(tctx);
        cp.n_threads = n_threads;
        if (fr_context_create(dm[i], &cp, &dc[i], &err) != FR_OK) {
            fr_model_free(dm[i]);
            dm[i] = NULL;
            goto fail;
        }
        if (fr_spec_add_draft(spec, dm[i], dc[i], cli_basename(so->draft_paths[i]), &err) != FR_OK) {
            n_loaded++;
            goto fail;
        }
    }
    if (so->lookup && fr_spec_add_lookup(spec, &err) != FR_OK) goto fail;
    if (so->trace_steps > 0 && fr_spec_trace(spec, so->trace_steps, &err) != FR_OK) goto fail;

    /* The plain rate first, then the speculative run, timed alike: the generation after the
     * prompt pass, without the writing of the text (a flush per step to a pipe or terminal).
     * Each run is the first of its kind, so each pays its own first touches of the caches. */
    double plain = 0;
    if (so->compare_plain) {
        long long n = n_predict < PLAIN_TOKENS_MAX ? n_predict : PLAIN_TOKENS_MAX;
        if (n > 0) plain = plain_rate(cmd, target, tctx, sp, prompt, n_prompt, (int)n);
    }
    if (fr_spec_start(spec, prompt, n_prompt, &err) != FR_OK) goto fail;
    double t0 = cli_now(), t_io = 0;
    long long produced = 0;
    int32_t out[STEP_CAP];
    char piece[256];
    while (produced < n_predict) {
        int32_t k = 0;
        fr_status st = fr_spec_step(spec, out, STEP_CAP, &k, &err);
        if (st == FR_E_RANGE) break; /* the context is full */
        if (st != FR_OK) goto fail;
        bool stop = false;
        double io0 = cli_now();
        for (int i = 0; i < k && produced < n_predict; i++) {
            if (!ignore_eos && out[i] == info.eos) {
                stop = true;
                break;
            }
            size_t n = fr_token_to_piece(target, out[i], piece, sizeof piece);
            fwrite(piece, 1, n < sizeof piece ? n : sizeof piece, stdout);
            produced++;
        }
        fflush(stdout);
        t_io += cli_now() - io0;
        if (stop) break;
    }
    double seconds = cli_now() - t0 - t_io;
    fputc('\n', stdout);
    fflush(stdout);

    fr_spec_stats stats;
    fr_spec_get_stats(spec, &stats);
    if (so->trace_path) {
        FILE *f = fopen(so->trace_path, "w");
        if (!f) {
            cli_error(cmd, "--trace: %s: cannot open for writing", so->trace_path);
        } else {
            int32_t cap = so->trace_steps;
            int32_t *g = malloc(sizeof *g * (size_t)cap * 3);
            if (g) {
                int32_t n = fr_spec_get_trace(spec, g, g + cap, g + 2 * cap, cap);
                fprintf(f, "step gamma accepted source\n");
                for (int32_t i = 0; i < n; i++)
                    fprintf(f, "%d %d %d %s\n", i, g[i], g[cap + i],
                            g[2 * cap + i] >= 0 ? stats.source_name[g[2 * cap + i]] : "-");
                free(g);
            }
            fclose(f);
        }
    }
    print_stats(&stats, so, seconds, plain);
    rc = 0;
    goto done;
fail:
    cli_error(cmd, "%s", err.msg);
    rc = 1;
done:
    fr_spec_free(spec);
    free_drafts(dm, dc, n_loaded);
    return rc;
}

/* Speculative decoding: draft sources, online choice of source and draft length, exact
 * verification (greedy identity; speculative sampling), KV-cache rollback. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "frugal.h"
#include "spec/controller.h"
#include "spec/lookup.h"

#define CONTEXT_KEY_TOKENS 3
#define PROBE_AFTER_STEPS 64 /* a source unused this long is tried once, to refresh its estimate */

typedef enum source_kind { SOURCE_MODEL, SOURCE_LOOKUP } source_kind;

typedef struct source {
    source_kind kind;
    const fr_model *model; /* SOURCE_MODEL */
    fr_context *ctx;
    fr_sampler *sampler;   /* draws drafted tokens (sampling mode) */
    char name[64];
    fr_spec_costs costs;
    fr_spec_accept acc;
    fr_spec_calib calib;   /* acceptance from the draft's logit margin (SOURCE_MODEL) or
                              from the length of the match (SOURCE_LOOKUP) */
    int64_t last_step;     /* step index it last drafted */
} source;

typedef struct trace_entry {
    int32_t gamma, accepted, source;
} trace_entry;

struct fr_spec {
    const fr_model *model;
    fr_context *target;
    fr_spec_params p;
    fr_spec_ctl ctl;
    fr_sampler *sampler; /* target draws and acceptance tests */
    int32_t n_vocab, n_ctx, gamma_max;
    bool greedy;
    source src[FR_SPEC_MAX_DRAFTS];
    int n_src;
    int32_t *hist; /* prompt + generated; the last one is pending (not yet in the target cache) */
    int32_t n_hist;
    float *logits_t;  /* (gamma_max + 1) x n_vocab target rows */
    float *logits_d;  /* n_vocab: draft's current row */
    float *q;         /* gamma_max x n_vocab: draft distributions (sampling) */
    float *p_row;     /* n_vocab: target distribution (sampling) */
    int32_t *draft;   /* gamma_max proposed tokens */
    double idle_catchup; /* seconds of this step's draft catch-up beyond the steady 2 tokens */
    float margin[FR_SPEC_GAMMA_MAX];   /* logit margin of each drafted token (auto only) */
    double p_acc[FR_SPEC_GAMMA_MAX];   /* its predicted acceptance (auto's stop rule) */
    double rate_tok[FR_SPEC_RATE_WINDOW], rate_sec[FR_SPEC_RATE_WINDOW]; /* recent steps (ring) */
    int rate_head, rate_count;
    fr_spec_stats stats;
    trace_entry *trace;
    int32_t trace_cap, trace_len;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

fr_spec_params fr_spec_default_params(void) {
    fr_spec_params p;
    memset(&p, 0, sizeof p);
    p.controller = "auto";
    p.gamma_max = 8;
    p.sampling = fr_sampler_default_params();
    p.lookup_ngram_min = 1;
    p.lookup_ngram_max = 3;
    return p;
}

void fr_spec_free(fr_spec *s) {
    if (!s) return;
    for (int i = 0; i < s->n_src; i++) fr_sampler_free(s->src[i].sampler);
    fr_sampler_free(s->sampler);
    free(s->hist);
    free(s->logits_t);
    free(s->logits_d);
    free(s->q);
    free(s->p_row);
    free(s->draft);
    free(s->trace);
    free(s);
}

fr_status fr_spec_create(const fr_model *target_model, fr_context *target,
                         const fr_spec_params *params, fr_spec **out, fr_error *err) {
    if (!target_model || !target || !out) return fr_fail(err, FR_E_ARG, "speculative decoding: NULL argument");
    *out = NULL;
    fr_spec_params p = params ? *params : fr_spec_default_params();
    fr_spec_ctl_params cp;
    if (!p.controller || fr_spec_parse(p.controller, &cp) != 0)
        return fr_fail(err, FR_E_ARG,
                       "--spec: unknown controller '%s' (use auto, fixed:N with 1 <= N <= %d, heuristic, fsm, cache-fsm, rl, cost)",
                       p.controller ? p.controller : "(null)", FR_SPEC_GAMMA_MAX);
    if (p.gamma_max < 1 || p.gamma_max > FR_SPEC_GAMMA_MAX)
        return fr_fail(err, FR_E_ARG, "--gamma-max: %d is outside 1..%d", p.gamma_max, FR_SPEC_GAMMA_MAX);
    if (cp.kind == FR_SPEC_FIXED && cp.fixed_gamma > p.gamma_max) p.gamma_max = cp.fixed_gamma;
    cp.gamma_max = p.gamma_max;
    cp.seed = p.sampling.seed ^ 0x5bd1e995u;
    if (!(p.draft_p_min >= 0.0f && p.draft_p_min <= 1.0f))
        return fr_fail(err, FR_E_ARG, "--draft-p-min: %g is outside 0..1", (double)p.draft_p_min);
    if (p.lookup_ngram_min < 1 || p.lookup_ngram_max < p.lookup_ngram_min || p.lookup_ngram_max > 64)
        return fr_fail(err, FR_E_ARG, "lookup n-gram range %d..%d is invalid (need 1 <= min <= max <= 64)",
                       p.lookup_ngram_min, p.lookup_ngram_max);

    fr_spec *s = calloc(1, sizeof *s);
    if (!s) return fr_fail(err, FR_E_NOMEM, "speculative decoding: out of memory");
    s->model = target_model;
    s->target = target;
    s->p = p;
    s->n_vocab = fr_model_n_vocab(target_model);
    s->n_ctx = fr_context_n_ctx(target);
    s->gamma_max = p.gamma_max;
    s->greedy = p.sampling.temperature == 0.0f;
    fr_spec_ctl_init(&s->ctl, &cp);
    fr_status st = fr_sampler_create(&p.sampling, s->n_vocab, &s->sampler, err);
    if (st != FR_OK) {
        fr_spec_free(s);
        return st;
    }
    size_t V = (size_t)s->n_vocab, G = (size_t)s->gamma_max;
    s->hist = malloc(sizeof *s->hist * (size_t)(s->n_ctx + 1));
    s->logits_t = malloc(sizeof *s->logits_t * (G + 1) * V);
    s->logits_d = malloc(sizeof *s->logits_d * V);
    s->q = malloc(sizeof *s->q * G * V);
    s->p_row = malloc(sizeof *s->p_row * V);
    s->draft = malloc(sizeof *s->draft * G);
    if (!s->hist || !s->logits_t || !s->logits_d || !s->q || !s->p_row || !s->draft) {
        int rows = s->gamma_max + 1, cols = s->n_vocab;
        fr_spec_free(s);
        return fr_fail(err, FR_E_NOMEM, "speculative decoding: out of memory for %d x %d logits", rows, cols);
    }
    *out = s;
    return FR_OK;
}

static source *new_source(fr_spec *s, const char *name, fr_error *err) {
    if (s->n_src >= FR_SPEC_MAX_DRAFTS) {
        fr_fail(err, FR_E_ARG, "%s: at most %d draft sources", name, FR_SPEC_MAX_DRAFTS);
        return NULL;
    }
    source *d = &s->src[s->n_src];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    fr_spec_costs_init(&d->costs);
    fr_spec_accept_init(&d->acc);
    fr_spec_calib_init(&d->calib);
    return d;
}

/* Reports the first token ids whose printed bytes differ between the two vocabularies. */
static fr_status check_vocab(const fr_model *t, const fr_model *d, const char *name, fr_error *err) {
    int32_t nt = fr_model_n_vocab(t), nd = fr_model_n_vocab(d);
    if (nt != nd)
        return fr_fail(err, FR_E_ARG, "%s: the draft's vocabulary has %d tokens, the target's %d: they must share one",
                       name, nd, nt);
    int32_t diff[3];
    int n_diff = 0;
    for (int32_t id = 0; id < nt; id++) {
        char a[256], b[256];
        size_t la = fr_token_to_piece(t, id, a, sizeof a), lb = fr_token_to_piece(d, id, b, sizeof b);
        if (la != lb || memcmp(a, b, la < sizeof a ? la : sizeof a) != 0) {
            if (n_diff < 3) diff[n_diff] = id;
            n_diff++;
        }
    }
    if (n_diff == 0) return FR_OK;
    char list[96] = "";
    for (int i = 0; i < n_diff && i < 3; i++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%d", i ? ", " : "", diff[i]);
    }
    return fr_fail(err, FR_E_ARG, "%s: the draft's vocabulary differs from the target's in %d token%s (ids %s%s)",
                   name, n_diff, n_diff == 1 ? "" : "s", list, n_diff > 3 ? ", ..." : "");
}

fr_status fr_spec_add_draft(fr_spec *s, const fr_model *draft_model, fr_context *draft,
                            const char *name, fr_error *err) {
    if (!s || !draft_model || !draft) return fr_fail(err, FR_E_ARG, "speculative decoding: NULL draft");
    if (!name) name = "draft";
    fr_status st = check_vocab(s->model, draft_model, name, err);
    if (st != FR_OK) return st;
    source *d = new_source(s, name, err);
    if (!d) return err ? err->status : FR_E_ARG;
    fr_sampler_params sp = s->p.sampling;
    sp.seed = s->p.sampling.seed + 0x9E3779B9u * (uint64_t)(s->n_src + 1);
    st = fr_sampler_create(&sp, s->n_vocab, &d->sampler, err);
    if (st != FR_OK) return st;
    d->kind = SOURCE_MODEL;
    d->model = draft_model;
    d->ctx = draft;
    s->n_src++;
    return FR_OK;
}

fr_status fr_spec_add_lookup(fr_spec *s, fr_error *err) {
    if (!s) return fr_fail(err, FR_E_ARG, "speculative decoding: NULL decoder");
    source *d = new_source(s, "lookup", err);
    if (!d) return err ? err->status : FR_E_ARG;
    d->kind = SOURCE_LOOKUP;
    /* Its acceptance model starts from Laplace's rule of succession: a continuation whose
     * context agreed over m tokens holds with probability m / (m + 1), i.e. a logit of
     * ln(m) = ln 2 * log2(m) (the feature); the data corrects it from the first steps. */
    fr_spec_calib_init_prior(&d->calib, 0.0, log(2.0), 0.0);
    s->n_src++;
    return FR_OK;
}

fr_status fr_spec_trace(fr_spec *s, int32_t cap, fr_error *err) {
    if (!s || cap < 0) return fr_fail(err, FR_E_ARG, "speculative trace: invalid capacity");
    trace_entry *t = realloc(s->trace, sizeof *t * (size_t)(cap ? cap : 1));
    if (!t) return fr_fail(err, FR_E_NOMEM, "speculative trace: out of memory");
    s->trace = t;
    s->trace_cap = cap;
    s->trace_len = 0;
    return FR_OK;
}

int32_t fr_spec_get_trace(const fr_spec *s, int32_t *gamma, int32_t *accepted, int32_t *source_idx,
                          int32_t cap) {
    int32_t n = s->trace_len < cap ? s->trace_len : cap;
    for (int32_t i = 0; i < n; i++) {
        if (gamma) gamma[i] = s->trace[i].gamma;
        if (accepted) accepted[i] = s->trace[i].accepted;
        if (source_idx) source_idx[i] = s->trace[i].source;
    }
    return n;
}

void fr_spec_get_stats(const fr_spec *s, fr_spec_stats *out) {
    *out = s->stats;
    out->n_sources = s->n_src;
    for (int i = 0; i < s->n_src; i++) snprintf(out->source_name[i], sizeof out->source_name[i], "%s", s->src[i].name);
}

fr_status fr_spec_start(fr_spec *s, const int32_t *prompt, int32_t n, fr_error *err) {
    if (!s || !prompt || n < 1) return fr_fail(err, FR_E_ARG, "speculative decoding: empty prompt");
    if (n > s->n_ctx)
        return fr_fail(err, FR_E_RANGE, "the prompt has %d tokens but the context holds %d", n, s->n_ctx);
    fr_kv_truncate(s->target, 0);
    for (int i = 0; i < s->n_src; i++)
        if (s->src[i].ctx) fr_kv_truncate(s->src[i].ctx, 0);
    memcpy(s->hist, prompt, sizeof *prompt * (size_t)n);
    s->n_hist = n;
    s->trace_len = 0;
    memset(&s->stats, 0, sizeof s->stats);
    if (n > 1) { /* the prompt but its last token; the last one is decoded by the first step */
        fr_status st = fr_decode(s->target, prompt, n - 1, 0, NULL, false, err);
        if (st != FR_OK) return st;
    }
    return FR_OK;
}

/* ---- choosing the source and gamma ---- */

/* Writes the lookup proposal (up to max_out tokens) into s->draft and returns its length
 * (0: no match), and the feature its acceptance model sees into *feature: log2 of the
 * length of the match (a loop matches far back and holds; a single token rarely does).
 * fr_spec_step drafts from it when the lookup source is picked. */
static int lookup_propose(fr_spec *s, int max_out, float *feature) {
    int match = 0;
    int n = fr_lookup_propose(s->hist, s->n_hist, s->p.lookup_ngram_min, s->p.lookup_ngram_max, s->draft,
                              max_out, &match);
    *feature = match > 0 ? (float)log2((double)match) : 0.0f;
    return n;
}

/* The best rate the lookup source's proposal of k tokens promises: its model's acceptance
 * of each position for this feature (left in s->p_acc, where lookup_length reads them if
 * the source is picked), against the measured costs. */
static double lookup_rate(fr_spec *s, const source *d, float feature, int k) {
    for (int i = 0; i < k; i++) s->p_acc[i] = fr_spec_calib_prob(&d->calib, feature, i);
    return fr_spec_best_rate_p(s->p_acc, k, &d->costs);
}

static int pick_source(fr_spec *s, int room, int *lookup_len, float *lookup_feature) {
    int best = -1;
    double best_rate = -1;
    *lookup_len = 0;
    for (int i = 0; i < s->n_src; i++) {
        source *d = &s->src[i];
        int limit = room;
        double rate;
        if (d->kind == SOURCE_LOOKUP) {
            int k = lookup_propose(s, room, lookup_feature);
            if (k == 0) continue;
            *lookup_len = k;
            limit = k;
            rate = lookup_rate(s, d, *lookup_feature, k);
        } else {
            int droom = fr_context_n_ctx(d->ctx) - s->n_hist; /* draft decodes up to position n_hist-2+gamma */
            if (droom < limit) limit = droom;
            if (limit < 1) continue;
            double a = fr_spec_accept_rate(&d->acc);
            rate = fr_spec_expected_rate(a, &d->costs, fr_spec_best_gamma(a, &d->costs, limit));
        }
        if (s->stats.steps - d->last_step >= PROBE_AFTER_STEPS) return i; /* refresh a stale estimate */
        if (rate > best_rate) {
            best_rate = rate;
            best = i;
        }
    }
    return best;
}

/* ---- drafting ---- */

/* Probability of the most likely token of a row of logits. */
static double top_prob(const float *logits, int n) {
    float mx = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)(logits[i] - mx));
    return 1.0 / sum;
}

/* Margin between the logit of token `top` and the largest other logit (0 if not finite). */
static float logit_margin(const float *logits, int n, int32_t top) {
    float second = -INFINITY;
    for (int i = 0; i < n; i++)
        if (i != top && logits[i] > second) second = logits[i];
    float m = logits[top] - second;
    return isfinite(m) ? m : 0.0f;
}

/* The rate (tokens per second) this decoder achieved over its recent steps; before there
 * are enough of them, the cost model's estimate for the source. */
static double achieved_rate(const fr_spec *s, const source *d) {
    if (s->rate_count >= FR_SPEC_RATE_WINDOW / 4) {
        double tok = 0, sec = 0;
        for (int i = 0; i < s->rate_count; i++) {
            tok += s->rate_tok[i];
            sec += s->rate_sec[i];
        }
        if (sec > 0) return tok / sec;
    }
    double a = fr_spec_accept_rate(&d->acc);
    return fr_spec_expected_rate(a, &d->costs, fr_spec_best_gamma(a, &d->costs, s->gamma_max));
}

/* How a draft model's proposal ended. */
typedef struct draft_result {
    int verify;   /* drafted tokens to send to the target */
    int drafted;  /* tokens the draft produced (>= verify) */
    int declined; /* the confidence floor draft_p_min stopped it */
    double t_next; /* seconds spent after the first drafted token */
} draft_result;

/* Brings the draft's cache up to the pending token and drafts into s->draft (their
 * distributions into s->q when sampling, their logit margins into s->margin): `gamma`
 * tokens, or with `free_length` (auto) as many as the stop rule asks for, up to `cap`: after
 * each token it weighs the predicted acceptance of the tokens so far against the measured
 * costs (fr_spec_stop_len), and may also send fewer than it drafted. It stops early at a
 * position where the draft's confidence is below draft_p_min. Every decision depends on the
 * draft alone, so verification stays exact. */
static fr_status draft_model(fr_spec *s, source *d, int gamma, bool free_length, int cap, draft_result *res,
                             fr_error *err) {
    int32_t L = s->n_hist;
    int32_t dp = fr_kv_n_pos(d->ctx);
    if (dp > L - 1) dp = L - 1;
    res->verify = res->drafted = res->declined = 0;
    res->t_next = 0;
    double c0 = now_s();
    fr_status st = fr_decode(d->ctx, s->hist + dp, L - dp, dp, s->logits_d, false, err);
    if (st != FR_OK) return st;
    /* A draft that drafts every step catches up 1 or 2 tokens; one that sat idle while the
     * target decoded alone catches up more, once. That excess is not a cost of drafting
     * (the controller would otherwise see drafting as dear because it had stopped). */
    if (L - dp > 2) s->idle_catchup = (now_s() - c0) * (1.0 - 2.0 / (L - dp));
    size_t V = (size_t)s->n_vocab;
    int limit = free_length ? cap : gamma;
    double rho = 0, a_next = 0, t_next = 0, c1 = 0;
    if (free_length) { /* the estimates the stop rule weighs, once per step */
        rho = achieved_rate(s, d);
        a_next = fr_spec_calib_next(&d->calib);
        t_next = fr_spec_costs_drafting(&d->costs, 2) - fr_spec_costs_drafting(&d->costs, 1);
    }
    for (int i = 0; i < limit; i++) {
        int32_t x;
        if (s->p.draft_p_min > 0 && top_prob(s->logits_d, s->n_vocab) < s->p.draft_p_min) {
            res->declined = 1;
            return FR_OK;
        }
        if (s->greedy) {
            x = fr_sampler_argmax(s->logits_d, s->n_vocab);
        } else {
            float *q = s->q + (size_t)i * V;
            st = fr_sampler_probs(d->sampler, s->logits_d, s->n_vocab, q, err);
            if (st != FR_OK) return st;
            x = fr_sampler_sample_weights(d->sampler, q, s->n_vocab);
            if (x < 0) x = fr_sampler_argmax(s->logits_d, s->n_vocab);
        }
        s->draft[i] = x;
        if (s->ctl.p.confidence_stop) s->margin[i] = logit_margin(s->logits_d, s->n_vocab, x);
        res->drafted = res->verify = i + 1;
        if (free_length) {
            s->p_acc[i] = fr_spec_calib_prob(&d->calib, s->margin[i], i);
            int m = fr_spec_stop_len(s->p_acc, i + 1, a_next, rho, t_next, d->costs.t_verify, cap);
            if (m <= i + 1) {
                res->verify = m;
                break;
            }
        }
        if (i == 0) c1 = now_s();
        if (i + 1 < limit) {
            st = fr_decode(d->ctx, &x, 1, L + i, s->logits_d, false, err);
            if (st != FR_OK) return st;
        }
    }
    if (res->drafted > 1) res->t_next = now_s() - c1;
    return FR_OK;
}

/* How many of the `limit` proposed lookup tokens to send: with "auto" (a step whose length
 * is free), the stop rule weighs the acceptance the lookup's model predicts for this
 * match at each position (s->p_acc[0 .. limit), left by lookup_rate when pick_source
 * chose the source this step) against the measured pass costs (the proposal costs nothing
 * to extend); otherwise the controller's gamma. Records the feature of every position sent
 * for the model. The decision depends on the text alone, so verification stays exact. */
static int lookup_length(fr_spec *s, const source *d, int gamma, int limit, float feature) {
    if (s->ctl.free_length)
        gamma = fr_spec_stop_len(s->p_acc, limit, 0.0, achieved_rate(s, d), 0.0, d->costs.t_verify, limit);
    for (int i = 0; i < gamma; i++) s->margin[i] = feature;
    return gamma;
}

/* ---- verification ---- */

/* Decides acceptance of the drafted tokens against target rows; returns the accepted count
 * and writes the target's own next token to *next. */
static fr_status verify(fr_spec *s, const source *d, int gamma, int *n_acc, int32_t *next, fr_error *err) {
    size_t V = (size_t)s->n_vocab;
    int acc = 0;
    for (; acc < gamma; acc++) {
        const float *row = s->logits_t + (size_t)acc * V;
        int32_t x = s->draft[acc];
        if (s->greedy) {
            int32_t t = fr_sampler_argmax(row, s->n_vocab);
            if (t != x) {
                *next = t;
                *n_acc = acc;
                return FR_OK;
            }
            continue;
        }
        fr_status st = fr_sampler_probs(s->sampler, row, s->n_vocab, s->p_row, err);
        if (st != FR_OK) return st;
        double qx = d->kind == SOURCE_LOOKUP ? 1.0 : s->q[(size_t)acc * V + (size_t)x];
        double px = s->p_row[x];
        if (qx > 0 && fr_sampler_uniform(s->sampler) * qx < px) continue; /* accept with min(1, p/q) */
        /* rejected: draw from normalise(max(0, p - q)) */
        for (size_t j = 0; j < V; j++) {
            double qj = d->kind == SOURCE_LOOKUP ? (j == (size_t)x ? 1.0 : 0.0) : s->q[(size_t)acc * V + j];
            double r = s->p_row[j] - qj;
            s->p_row[j] = r > 0 ? (float)r : 0.0f;
        }
        int32_t t = fr_sampler_sample_weights(s->sampler, s->p_row, s->n_vocab);
        if (t < 0) t = fr_sampler_sample(s->sampler, row, s->n_vocab); /* p == q up to rounding */
        *next = t;
        *n_acc = acc;
        return FR_OK;
    }
    const float *row = s->logits_t + (size_t)gamma * V; /* all accepted: the target's bonus token */
    *next = s->greedy ? fr_sampler_argmax(row, s->n_vocab) : fr_sampler_sample(s->sampler, row, s->n_vocab);
    *n_acc = gamma;
    return FR_OK;
}

static void record(fr_spec *s, int src_idx, const fr_spec_obs *step) {
    for (int i = 0; i < s->n_src; i++) { /* the target's verification time is shared by all */
        fr_spec_obs v = *step;
        if (i != src_idx) v.t_draft = 0; /* drafting time belongs to the source that drafted */
        else v.t_draft -= s->idle_catchup;
        fr_spec_costs_observe(&s->src[i].costs, &v);
    }
    if (src_idx >= 0 && step->gamma > 0) {
        source *d = &s->src[src_idx];
        fr_spec_accept_observe(&d->acc, step);
        d->last_step = s->stats.steps;
        s->stats.source_steps[src_idx]++;
        s->stats.source_drafted[src_idx] += step->gamma;
        s->stats.source_accepted[src_idx] += step->accepted;
    }
    fr_spec_ctl_observe(&s->ctl, step);
    s->rate_tok[s->rate_head] = step->accepted + 1;
    s->rate_sec[s->rate_head] = step->t_draft + step->t_verify;
    s->rate_head = (s->rate_head + 1) % FR_SPEC_RATE_WINDOW;
    if (s->rate_count < FR_SPEC_RATE_WINDOW) s->rate_count++;
    s->stats.steps++;
    s->stats.tokens += step->accepted + 1;
    s->stats.drafted += step->gamma;
    if (step->drafted > step->gamma) s->stats.withheld += step->drafted - step->gamma;
    s->stats.accepted += step->accepted;
    s->stats.gamma_hist[step->gamma < FR_SPEC_HIST_MAX ? step->gamma : FR_SPEC_HIST_MAX - 1]++;
    s->stats.t_draft += step->t_draft;
    s->stats.t_verify += step->t_verify;
    if (s->trace_len < s->trace_cap) {
        trace_entry e = {step->gamma, step->accepted, step->gamma > 0 ? src_idx : -1};
        s->trace[s->trace_len++] = e;
    }
}

fr_status fr_spec_step(fr_spec *s, int32_t *out, int32_t cap, int32_t *n_out, fr_error *err) {
    if (!s || !out || !n_out) return fr_fail(err, FR_E_ARG, "speculative decoding: NULL argument");
    if (s->n_hist < 1) return fr_fail(err, FR_E_ARG, "speculative decoding: call fr_spec_start first");
    if (cap < s->gamma_max + 1)
        return fr_fail(err, FR_E_ARG, "speculative decoding: output capacity %d < gamma_max + 1 = %d", cap, s->gamma_max + 1);
    *n_out = 0;
    int32_t L = s->n_hist;
    int room = s->n_ctx - L; /* the target decodes positions L-1 .. L-1+gamma */
    if (room < 0) return fr_fail(err, FR_E_RANGE, "the context of %d tokens is full", s->n_ctx);
    if (room > s->gamma_max) room = s->gamma_max;

    /* Choosing the source runs the lookup scan, which leaves its proposal in s->draft: that
     * is part of the drafting time. */
    double t0 = now_s();
    int lookup_len = 0;
    float lookup_feature = 0.0f;
    int src_idx = room > 0 ? pick_source(s, room, &lookup_len, &lookup_feature) : -1;
    int gamma = 0, limit = 0; /* limit: the most tokens the source can propose this step */
    if (src_idx >= 0) {
        source *d = &s->src[src_idx];
        limit = room;
        if (d->kind == SOURCE_LOOKUP && limit > lookup_len) limit = lookup_len;
        if (d->kind == SOURCE_MODEL) {
            int droom = fr_context_n_ctx(d->ctx) - L;
            if (limit > droom) limit = droom > 0 ? droom : 0;
        }
        gamma = fr_spec_ctl_choose(&s->ctl, fr_spec_context_key(s->hist, L, CONTEXT_KEY_TOKENS), &d->acc, &d->costs);
        if (gamma > limit) gamma = limit;
    }

    fr_status st;
    s->idle_catchup = 0;
    draft_result dr = {gamma, gamma, 0, 0.0};
    if (gamma > 0 && s->src[src_idx].kind == SOURCE_MODEL) { /* a lookup proposal is in s->draft */
        st = draft_model(s, &s->src[src_idx], gamma, s->ctl.free_length != 0, limit, &dr, err);
        if (st != FR_OK) return st;
        gamma = dr.verify;
    } else if (gamma > 0) {
        gamma = lookup_length(s, &s->src[src_idx], gamma, limit, lookup_feature);
        dr.verify = dr.drafted = gamma;
    }
    double t1 = now_s();

    /* one target pass over the pending token and the drafted ones */
    int32_t batch[FR_SPEC_GAMMA_MAX + 1];
    batch[0] = s->hist[L - 1];
    memcpy(batch + 1, s->draft, sizeof *batch * (size_t)gamma);
    st = fr_decode(s->target, batch, gamma + 1, L - 1, s->logits_t, true, err);
    if (st != FR_OK) return st;
    double t2 = now_s();

    int acc = 0;
    int32_t next = 0;
    st = verify(s, src_idx >= 0 ? &s->src[src_idx] : NULL, gamma, &acc, &next, err);
    if (st != FR_OK) return st;

    /* roll the caches back to what was accepted: positions 0 .. L-1+acc stay valid */
    fr_kv_truncate(s->target, L + acc);
    if (src_idx >= 0 && s->src[src_idx].ctx) fr_kv_truncate(s->src[src_idx].ctx, L + acc);

    for (int i = 0; i < acc; i++) out[i] = s->draft[i];
    out[acc] = next;
    *n_out = acc + 1;
    memcpy(s->hist + L, out, sizeof *out * (size_t)(acc + 1));
    s->n_hist = L + acc + 1; /* at most n_ctx + 1: the next step then reports a full context */

    fr_spec_obs step = {gamma, acc, t1 - t0, t2 - t1, dr.drafted, dr.t_next};
    record(s, src_idx, &step);
    if (src_idx >= 0 && dr.drafted > 0 &&
        (s->ctl.p.confidence_stop || s->src[src_idx].kind == SOURCE_LOOKUP))
        fr_spec_calib_observe(&s->src[src_idx].calib, s->margin, dr.drafted, gamma, acc);
    if (dr.declined && acc == gamma) {
        /* The draft declined a position: for the source's estimates that is a rejected token
         * (acceptance becomes the yield per position asked for), and a draft that declined
         * at once still cost its pass. */
        source *d = &s->src[src_idx];
        fr_spec_obs declined = {1, 0, gamma == 0 ? t1 - t0 - s->idle_catchup : 0.0, 0.0, 0, 0};
        fr_spec_accept_observe(&d->acc, &declined);
        if (gamma == 0) fr_spec_costs_observe(&d->costs, &declined);
    }
    return FR_OK;
}

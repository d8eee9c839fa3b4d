#include "spec/controller.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ACCEPT_PRIOR 0.6
#define ACCEPT_PRIOR_WEIGHT 2.0
#define VERIFY_SLOPE_PRIOR 0.08 /* extra cost per extra batch token, relative to t_verify(1) */
#define DRAFT_PRIOR 0.1         /* draft token cost relative to t_verify(1), before measured */
#define FSM_MISS_LIMIT 3
#define FSM_COOLDOWN 8
#define RL_DISCOUNT 0.99
#define RL_EXPLORE 0.3
#define CALIB_PRIOR_WEIGHT 2.0 /* L2 pull of the confidence model towards the prior */
#define CALIB_NEWTON_STEPS 3
#define CALIB_MARGIN_MAX 30.0  /* logit margins are clipped to this */
#define CALIB_PMEAN_DECAY 0.05

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

const char *fr_spec_kind_name(fr_spec_kind k) {
    static const char *const names[FR_SPEC_KIND_COUNT] = {"fixed", "heuristic", "fsm",
                                                          "cache-fsm", "rl", "cost"};
    return (unsigned)k < FR_SPEC_KIND_COUNT ? names[k] : "unknown";
}

/* ---- robust timing estimates ---- */

void fr_spec_window_init(fr_spec_window *w) { memset(w, 0, sizeof *w); }

static double window_trimmed_mean(const fr_spec_window *w) {
    int n = w->count;
    if (n == 0) return 0.0;
    double v[FR_SPEC_COST_WINDOW];
    for (int i = 0; i < n; i++) { /* insertion sort: at most FR_SPEC_COST_WINDOW values */
        double x = w->x[i];
        int j = i;
        for (; j > 0 && v[j - 1] > x; j--) v[j] = v[j - 1];
        v[j] = x;
    }
    int drop = n >= 2 ? 1 : 0;
    double sum = 0;
    for (int i = 0; i < n - drop; i++) sum += v[i];
    return sum / (n - drop);
}

void fr_spec_window_push(fr_spec_window *w, double x) {
    w->x[w->head] = x;
    w->head = (w->head + 1) % FR_SPEC_COST_WINDOW;
    if (w->count < FR_SPEC_COST_WINDOW) w->count++;
    w->est = window_trimmed_mean(w);
}

double fr_spec_window_estimate(const fr_spec_window *w) { return w->est; }

static void costs_refresh(fr_spec_costs *c);

void fr_spec_costs_init(fr_spec_costs *c) {
    memset(c, 0, sizeof *c);
    costs_refresh(c);
}

void fr_spec_costs_observe(fr_spec_costs *c, const fr_spec_obs *s) {
    int drafted = s->drafted > s->gamma ? s->drafted : s->gamma;
    if (drafted > 0 && s->t_draft > 0) {
        bool split = drafted > 1 && s->t_draft_next > 0 && s->t_draft_next < s->t_draft;
        double next = split ? s->t_draft_next / (drafted - 1) : s->t_draft / drafted;
        fr_spec_window_push(&c->draft_first, split ? s->t_draft - s->t_draft_next : next);
        if (drafted > 1) fr_spec_window_push(&c->draft_next, next);
    }
    int n = s->gamma + 1;
    if (n >= 1 && n <= FR_SPEC_GAMMA_MAX + 1 && s->t_verify > 0) {
        fr_spec_window_push(&c->verify[n], s->t_verify);
        c->stamp[n] = ++c->n_obs;
    }
    costs_refresh(c);
}

/* Measured, and not too long ago? */
static bool live(const fr_spec_costs *c, int n) {
    return c->verify[n].count > 0 && c->n_obs - c->stamp[n] < FR_SPEC_COST_MAX_AGE;
}

/* The estimate from measurements of size n and the sizes around it, before the cap. */
static double verify_raw(const fr_spec_costs *c, int n) {
    const fr_spec_window *w = c->verify;
    if (live(c, n)) return fr_spec_window_estimate(&w[n]);
    int lo = 0, hi = 0;
    for (int i = n - 1; i >= 1; i--)
        if (live(c, i)) { lo = i; break; }
    for (int i = n + 1; i <= FR_SPEC_GAMMA_MAX + 1; i++)
        if (live(c, i)) { hi = i; break; }
    if (lo && hi) { /* interpolate between measured sizes */
        double tl = fr_spec_window_estimate(&w[lo]), th = fr_spec_window_estimate(&w[hi]);
        return tl + (th - tl) * (n - lo) / (double)(hi - lo);
    }
    if (lo) { /* extrapolate upwards with the prior slope, anchored at the smallest measurement */
        double tl = fr_spec_window_estimate(&w[lo]);
        double base = live(c, 1) ? fr_spec_window_estimate(&w[1]) : tl / (1 + VERIFY_SLOPE_PRIOR * (lo - 1));
        double slope = base * VERIFY_SLOPE_PRIOR;
        if (lo > 1 && live(c, 1)) slope = fmax(slope, (tl - base) / (lo - 1));
        return tl + slope * (n - lo);
    }
    if (hi) /* only larger batches seen: assume the prior slope downwards */
        return fr_spec_window_estimate(&w[hi]) / (1 + VERIFY_SLOPE_PRIOR * (hi - 1)) * (1 + VERIFY_SLOPE_PRIOR * (n - 1));
    return 1.0 + VERIFY_SLOPE_PRIOR * (n - 1); /* nothing measured: relative units */
}

static double verify_capped(const fr_spec_costs *c, int n) {
    double v = verify_raw(c, n);
    /* a pass over more tokens never costs less: a size whose estimate is too high (it is no
     * longer chosen, so not re-measured) is capped by every measured larger size */
    for (int m = n + 1; m <= FR_SPEC_GAMMA_MAX + 1; m++)
        if (live(c, m)) {
            double t = fr_spec_window_estimate(&c->verify[m]);
            if (t < v) v = t;
        }
    return v;
}

static void costs_refresh(fr_spec_costs *c) {
    for (int n = 1; n <= FR_SPEC_GAMMA_MAX + 1; n++) c->t_verify[n] = verify_capped(c, n);
    c->t_first = c->draft_first.count ? fr_spec_window_estimate(&c->draft_first) : DRAFT_PRIOR * c->t_verify[1];
    c->t_next = c->draft_next.count ? fr_spec_window_estimate(&c->draft_next) : c->t_first;
}

double fr_spec_costs_verify(const fr_spec_costs *c, int n) {
    return c->t_verify[clampi(n, 1, FR_SPEC_GAMMA_MAX + 1)];
}

double fr_spec_costs_drafting(const fr_spec_costs *c, int g) {
    return g > 0 ? c->t_first + (g - 1) * c->t_next : 0.0;
}

void fr_spec_accept_init(fr_spec_accept *a) { memset(a, 0, sizeof *a); }

static void accept_push(fr_spec_accept *a, uint8_t v) {
    a->hist[a->head] = v;
    a->head = (a->head + 1) % FR_SPEC_WINDOW;
    if (a->count < FR_SPEC_WINDOW) a->count++;
}

void fr_spec_accept_observe(fr_spec_accept *a, const fr_spec_obs *s) {
    for (int i = 0; i < s->accepted; i++) accept_push(a, 1);
    if (s->accepted < s->gamma) accept_push(a, 0);
}

double fr_spec_accept_rate(const fr_spec_accept *a) {
    int acc = 0;
    for (int i = 0; i < a->count; i++) acc += a->hist[i];
    double r = (acc + ACCEPT_PRIOR * ACCEPT_PRIOR_WEIGHT) / (a->count + ACCEPT_PRIOR_WEIGHT);
    return r < 0.01 ? 0.01 : r > 0.99 ? 0.99 : r;
}

/* ---- confidence model: acceptance of a drafted token from the draft's logit margin ---- */

static double calib_w0(void) { return log(ACCEPT_PRIOR / (1.0 - ACCEPT_PRIOR)); }

void fr_spec_calib_init_prior(fr_spec_calib *c, double w0, double w1, double w2) {
    memset(c, 0, sizeof *c);
    c->w[0] = c->prior[0] = w0;
    c->w[1] = c->prior[1] = w1;
    c->w[2] = c->prior[2] = w2;
    c->p_mean = ACCEPT_PRIOR;
}

void fr_spec_calib_init(fr_spec_calib *c) { fr_spec_calib_init_prior(c, calib_w0(), 0.0, 0.0); }

static double clip_margin(double m) {
    return m > 0 ? (m < CALIB_MARGIN_MAX ? m : CALIB_MARGIN_MAX) : 0.0; /* NaN -> 0 */
}

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

double fr_spec_calib_prob(const fr_spec_calib *c, double margin, int position) {
    return sigmoid(c->w[0] + c->w[1] * clip_margin(margin) + c->w[2] * position);
}

/* Newton's method on the penalised log-likelihood, starting from the current weights:
 * three unknowns, so each step solves a 3x3 system (Cramer's rule). */
static void calib_fit(fr_spec_calib *c) {
    const double *prior = c->prior;
    for (int it = 0; it < CALIB_NEWTON_STEPS; it++) {
        double g[3], h[3][3];
        for (int i = 0; i < 3; i++) {
            g[i] = CALIB_PRIOR_WEIGHT * (c->w[i] - prior[i]);
            for (int j = 0; j < 3; j++) h[i][j] = i == j ? CALIB_PRIOR_WEIGHT : 0.0;
        }
        for (int n = 0; n < c->count; n++) {
            double x[3] = {1.0, c->x[n][0], c->x[n][1]};
            double pr = sigmoid(c->w[0] + c->w[1] * x[1] + c->w[2] * x[2]);
            double r = pr - c->y[n], v = pr * (1.0 - pr);
            for (int i = 0; i < 3; i++) {
                g[i] += r * x[i];
                for (int j = 0; j < 3; j++) h[i][j] += v * x[i] * x[j];
            }
        }
        double det = h[0][0] * (h[1][1] * h[2][2] - h[1][2] * h[2][1]) -
                     h[0][1] * (h[1][0] * h[2][2] - h[1][2] * h[2][0]) +
                     h[0][2] * (h[1][0] * h[2][1] - h[1][1] * h[2][0]);
        if (!(fabs(det) > 1e-12)) return; /* cannot happen with the penalty; stay put */
        double d[3];
        for (int k = 0; k < 3; k++) { /* column k of h replaced by g */
            double m[3][3];
            memcpy(m, h, sizeof m);
            for (int i = 0; i < 3; i++) m[i][k] = g[i];
            d[k] = (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                    m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                    m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])) / det;
        }
        for (int i = 0; i < 3; i++) c->w[i] -= d[i];
    }
}

void fr_spec_calib_observe(fr_spec_calib *c, const float *margin, int drafted, int verified, int accepted) {
    for (int i = 0; i < drafted; i++)
        c->p_mean += CALIB_PMEAN_DECAY * (fr_spec_calib_prob(c, margin[i], i) - c->p_mean);
    int tested = accepted < verified ? accepted + 1 : verified; /* up to the first rejection */
    for (int i = 0; i < tested; i++) {
        c->x[c->head][0] = (float)clip_margin(margin[i]);
        c->x[c->head][1] = (float)i;
        c->y[c->head] = i < accepted;
        c->head = (c->head + 1) % FR_SPEC_CALIB_WINDOW;
        if (c->count < FR_SPEC_CALIB_WINDOW) c->count++;
        c->fresh++;
    }
    if (c->fresh >= FR_SPEC_CALIB_REFIT) {
        calib_fit(c);
        c->fresh = 0;
    }
}

double fr_spec_calib_next(const fr_spec_calib *c) { return c->p_mean; }

int fr_spec_stop_len(const double *p, int k, double a_next, double rho, double t_next,
                     const double *t_verify, int cap) {
    int best = 0;
    double best_v = 1.0 - rho * t_verify[1];
    double surv = 1.0, tokens = 1.0;
    for (int m = 1; m <= cap; m++) {
        surv *= m <= k ? p[m - 1] : a_next;
        tokens += surv;
        double v = tokens - rho * ((m > k ? m - k : 0) * t_next + t_verify[m + 1]);
        if (v > best_v) {
            best_v = v;
            best = m;
        }
    }
    return best;
}

double fr_spec_expected_rate(double a, const fr_spec_costs *c, int gamma) {
    double tokens = gamma == 0 ? 1.0 : (1.0 - pow(a, gamma + 1)) / (1.0 - a);
    double cost = fr_spec_costs_drafting(c, gamma) + fr_spec_costs_verify(c, gamma + 1);
    return tokens / cost;
}

int fr_spec_best_gamma(double a, const fr_spec_costs *c, int gamma_max) {
    int best = 0;
    double best_rate = 1.0 / fr_spec_costs_verify(c, 1);
    double tokens = 1.0, pw = 1.0; /* 1 + a + ... + a^g, a^g: no pow() per candidate */
    for (int g = 1; g <= gamma_max; g++) {
        pw *= a;
        tokens += pw;
        double r = tokens / (fr_spec_costs_drafting(c, g) + fr_spec_costs_verify(c, g + 1));
        if (r > best_rate) {
            best_rate = r;
            best = g;
        }
    }
    return best;
}

double fr_spec_best_rate_p(const double *p, int k, const fr_spec_costs *c) {
    double best = 1.0 / fr_spec_costs_verify(c, 1);
    double tokens = 1.0, surv = 1.0; /* surv: probability that tokens 0 .. g-1 all hold */
    for (int g = 1; g <= k; g++) {
        surv *= p[g - 1];
        tokens += surv;
        double r = tokens / (fr_spec_costs_drafting(c, g) + fr_spec_costs_verify(c, g + 1));
        if (r > best) best = r;
    }
    return best;
}

int fr_spec_parse(const char *text, fr_spec_ctl_params *out) {
    memset(out, 0, sizeof *out);
    out->fixed_gamma = 4;
    out->gamma_max = 8;
    out->seed = 1234;
    if (!strcmp(text, "auto")) {
        out->kind = FR_SPEC_COST;
        out->confidence_stop = 1;
    } else if (!strcmp(text, "cost")) out->kind = FR_SPEC_COST;
    else if (!strcmp(text, "heuristic")) out->kind = FR_SPEC_HEURISTIC;
    else if (!strcmp(text, "fsm")) out->kind = FR_SPEC_FSM;
    else if (!strcmp(text, "cache-fsm")) out->kind = FR_SPEC_CACHE_FSM;
    else if (!strcmp(text, "rl")) out->kind = FR_SPEC_RL;
    else if (!strncmp(text, "fixed:", 6)) {
        char *end = NULL;
        long g = strtol(text + 6, &end, 10);
        if (end == text + 6 || *end || g < 1 || g > FR_SPEC_GAMMA_MAX) return -1;
        out->kind = FR_SPEC_FIXED;
        out->fixed_gamma = (int)g;
        if (out->gamma_max < g) out->gamma_max = (int)g;
    } else
        return -1;
    return 0;
}

void fr_spec_ctl_init(fr_spec_ctl *c, const fr_spec_ctl_params *p) {
    memset(c, 0, sizeof *c);
    c->p = *p;
    c->p.gamma_max = clampi(p->gamma_max ? p->gamma_max : 8, 1, FR_SPEC_GAMMA_MAX);
    c->gamma = clampi(p->fixed_gamma ? p->fixed_gamma : 4, 1, c->p.gamma_max);
    c->rng = p->seed ? p->seed : 0x9E3779B97F4A7C15ull;
}

/* ---- FSM over the recent accept/reject history ---- */

static void fsm_observe(fr_spec_ctl *c, const fr_spec_obs *s) {
    int gmax = c->p.gamma_max;
    if (s->gamma == 0) { /* a cool-down step: count it down, then probe with gamma 1 */
        if (c->cooldown > 0) c->cooldown--;
        if (c->cooldown == 0) c->gamma = 1;
        return;
    }
    if (s->accepted == s->gamma) { /* whole draft survived: grow, faster on a streak */
        c->full_streak++;
        c->miss_streak = 0;
        c->gamma = clampi(c->gamma + (c->full_streak >= 2 ? c->gamma : 1), 1, gmax);
    } else if (s->accepted == 0) { /* nothing survived: halve, and stop after repeated misses */
        c->full_streak = 0;
        c->miss_streak++;
        if (c->miss_streak >= FSM_MISS_LIMIT) {
            c->gamma = 0;
            c->cooldown = FSM_COOLDOWN;
            c->miss_streak = 0;
        } else {
            c->gamma = clampi(c->gamma / 2, 1, gmax);
        }
    } else { /* partial: aim just past what survived */
        c->full_streak = 0;
        c->miss_streak = 0;
        c->gamma = clampi(s->accepted + 1, 1, gmax);
    }
}

/* ---- cache: how long drafts survived after this context ---- */

static fr_spec_cache_slot *cache_slot(fr_spec_ctl *c, uint64_t key) {
    return &c->cache[key % FR_SPEC_CACHE_SLOTS];
}

static int cache_choose(fr_spec_ctl *c, uint64_t key) {
    c->last_key = key;
    fr_spec_cache_slot *slot = cache_slot(c, key);
    if (slot->key == key && slot->n >= 2) {
        if (slot->mean_accepted < 0.25f) return c->gamma ? 1 : 0; /* here drafts die at once */
        return clampi((int)lrintf(slot->mean_accepted) + 1, 1, c->p.gamma_max);
    }
    return c->gamma;
}

static void cache_observe(fr_spec_ctl *c, const fr_spec_obs *s) {
    if (s->gamma > 0) {
        fr_spec_cache_slot *slot = cache_slot(c, c->last_key);
        /* a fully accepted draft is censored: it might have survived longer */
        float x = (float)s->accepted + (s->accepted == s->gamma ? 1.0f : 0.0f);
        if (slot->key != c->last_key || slot->n == 0) {
            slot->key = c->last_key;
            slot->mean_accepted = x;
            slot->n = 1;
        } else {
            slot->mean_accepted += 0.5f * (x - slot->mean_accepted);
            if (slot->n < UINT16_MAX) slot->n++;
        }
    }
    fsm_observe(c, s);
}

/* ---- RL: discounted UCB over gamma, rewarded by tokens per second ---- */

static int rl_choose(fr_spec_ctl *c) {
    int gmax = c->p.gamma_max;
    double total = 0, best_mean = 0;
    for (int g = 0; g <= gmax; g++) {
        if (c->arm_count[g] <= 0) return g; /* try every arm once */
        total += c->arm_count[g];
        double m = c->arm_reward[g] / c->arm_count[g];
        if (m > best_mean) best_mean = m;
    }
    int best = 0;
    double best_score = -1;
    for (int g = 0; g <= gmax; g++) {
        double n = c->arm_count[g] > 1e-3 ? c->arm_count[g] : 1e-3;
        double mean = c->arm_reward[g] / n;
        double bonus = RL_EXPLORE * best_mean * sqrt(2.0 * log(total + 1.0) / n);
        if (mean + bonus > best_score) {
            best_score = mean + bonus;
            best = g;
        }
    }
    return best;
}

static void rl_observe(fr_spec_ctl *c, const fr_spec_obs *s) {
    double t = s->t_draft + s->t_verify;
    if (t <= 0) return;
    int g = clampi(s->gamma, 0, c->p.gamma_max);
    for (int i = 0; i <= c->p.gamma_max; i++) {
        c->arm_reward[i] *= RL_DISCOUNT;
        c->arm_count[i] *= RL_DISCOUNT;
    }
    c->arm_reward[g] += (s->accepted + 1) / t;
    c->arm_count[g] += 1.0;
}

/* ---- cost model ---- */

/* The acceptance estimate plus one standard error, used only to decide whether to stop
 * drafting: acceptance is only learned while drafting, so an estimate from a few early
 * rejections (a hard start of a text) would otherwise keep the controller at gamma 0,
 * learning nothing, until the next probe. While drafting, the plain estimate decides (the
 * bonus would bias gamma upwards). The bonus shrinks as the window fills. */
static double optimistic_rate(const fr_spec_accept *a) {
    double r = fr_spec_accept_rate(a);
    r += sqrt(r * (1.0 - r) / (a->count + 1.0));
    return r > 0.99 ? 0.99 : r;
}

/* Chosen within the last FR_SPEC_PROBE_EVERY steps? */
static bool recently_chosen(const fr_spec_ctl *c, int g) {
    return c->last_chosen[g] && c->step - c->last_chosen[g] <= FR_SPEC_PROBE_EVERY;
}

static int cost_choose(fr_spec_ctl *c, const fr_spec_accept *a, const fr_spec_costs *costs) {
    int gmax = c->p.gamma_max;
    /* Bootstrap: measure passes over 1 .. FR_SPEC_BOOT_SIZES tokens and over gamma_max + 1,
     * in turn, twice each, before choosing (gamma 0, 1, 2, 3, 8, 0, 1, 2, 3, 8): the sizes
     * between are interpolated. A prior slope alone made the first steps draft long on a
     * target whose extra tokens are dear; measuring only 1 and 2 tokens once let one slow
     * first pass (cold caches) or a few early rejections keep the controller at gamma 0 for
     * most of a short text, and missed a staircase (3 tokens as dear as 4). Without the
     * largest size, the sizes above 4 were extrapolated from the slope of the small ones,
     * which on a memory-bound target (a pass over 9 tokens costs 1.3 passes over one, over 4
     * tokens 1.2) made long drafts look dear and kept gamma near 4 where 8 was faster. */
    c->free_length = 0;
    for (int round = 1; round <= FR_SPEC_BOOT_ROUNDS; round++) {
        for (int n = 1; n <= FR_SPEC_BOOT_SIZES && n <= gmax + 1; n++)
            if (costs->verify[n].count < round) return n - 1;
        if (gmax + 1 > FR_SPEC_BOOT_SIZES && costs->verify[gmax + 1].count < round) return gmax;
    }
    int best = fr_spec_best_gamma(fr_spec_accept_rate(a), costs, gmax);
    if (best == 0) best = fr_spec_best_gamma(optimistic_rate(a), costs, gmax);
    if (c->step - c->last_probe < FR_SPEC_PROBE_EVERY) {
        c->free_length = c->p.confidence_stop;
        return best;
    }
    /* Re-probe, in turn, the gamma above the best, the one below, 0 and the one two above:
     * an estimate is only refreshed when its gamma is chosen (and acceptance only learned
     * while drafting). Pass costs can be a staircase (a pass over 3 tokens as dear as one
     * over 4, from the kernels' row tiles), where the next gamma up is worse than the best but
     * the one after is better: the step of two finds it. A candidate out of range or chosen
     * recently waits for the next turn (the next step). */
    int phase = c->probe_phase;
    c->probe_phase = (phase + 1) % 4;
    int cand = phase == 0 ? best + 1 : phase == 1 ? best - 1 : phase == 2 ? 0 : best + 2;
    if (cand < 0 || cand > gmax || cand == best || recently_chosen(c, cand)) {
        c->free_length = c->p.confidence_stop;
        return best;
    }
    c->last_probe = c->step;
    return cand;
}

int fr_spec_ctl_choose(fr_spec_ctl *c, uint64_t context_key, const fr_spec_accept *a,
                       const fr_spec_costs *costs) {
    int g;
    c->step++;
    switch (c->p.kind) {
    case FR_SPEC_FIXED: g = c->p.fixed_gamma; break;
    case FR_SPEC_HEURISTIC:
    case FR_SPEC_FSM: g = c->gamma; break;
    case FR_SPEC_CACHE_FSM: g = cache_choose(c, context_key); break;
    case FR_SPEC_RL: g = rl_choose(c); break;
    case FR_SPEC_COST: g = cost_choose(c, a, costs); break;
    default: g = 0; break;
    }
    return clampi(g, 0, c->p.gamma_max);
}

void fr_spec_ctl_observe(fr_spec_ctl *c, const fr_spec_obs *s) {
    c->last_chosen[clampi(s->gamma, 0, c->p.gamma_max)] = c->step;
    switch (c->p.kind) {
    case FR_SPEC_HEURISTIC:
        if (s->gamma > 0)
            c->gamma = clampi(s->accepted == s->gamma ? c->gamma + 2 : c->gamma - 1, 1, c->p.gamma_max);
        break;
    case FR_SPEC_FSM: fsm_observe(c, s); break;
    case FR_SPEC_CACHE_FSM: cache_observe(c, s); break;
    case FR_SPEC_RL: rl_observe(c, s); break;
    default: break;
    }
}

uint64_t fr_spec_context_key(const int32_t *tokens, int n_tokens, int n) {
    uint64_t h = 1469598103934665603ull;
    int start = n_tokens > n ? n_tokens - n : 0;
    for (int i = start; i < n_tokens; i++) {
        uint32_t t = (uint32_t)tokens[i];
        for (int b = 0; b < 4; b++) {
            h ^= (t >> (8 * b)) & 0xff;
            h *= 1099511628211ull;
        }
    }
    return h;
}

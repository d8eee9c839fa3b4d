/* Draft-length controllers: parsing, the expected-throughput model against a brute-force
 * geometric sum, timing interpolation, and each controller's behaviour in a simulated
 * environment with known acceptance and costs (where the optimal gamma is known), and the
 * robustness of the cost controller's timing estimates to spikes and to real changes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "spec/controller.h"

static void test_parse(void **state) {
    (void)state;
    fr_spec_ctl_params p;
    assert_int_equal(fr_spec_parse("auto", &p), 0);
    assert_int_equal(p.kind, FR_SPEC_COST);
    assert_int_equal(p.confidence_stop, 1); /* auto = cost + the per-token stop */
    assert_int_equal(fr_spec_parse("cost", &p), 0);
    assert_int_equal(p.kind, FR_SPEC_COST);
    assert_int_equal(p.confidence_stop, 0);
    assert_int_equal(fr_spec_parse("heuristic", &p), 0);
    assert_int_equal(p.kind, FR_SPEC_HEURISTIC);
    assert_int_equal(fr_spec_parse("fsm", &p), 0);
    assert_int_equal(p.kind, FR_SPEC_FSM);
    assert_int_equal(fr_spec_parse("cache-fsm", &p), 0);
    assert_int_equal(p.kind, FR_SPEC_CACHE_FSM);
    assert_int_equal(fr_spec_parse("rl", &p), 0);
    assert_int_equal(p.kind, FR_SPEC_RL);
    assert_int_equal(fr_spec_parse("fixed:5", &p), 0);
    assert_int_equal(p.kind, FR_SPEC_FIXED);
    assert_int_equal(p.fixed_gamma, 5);
    assert_int_equal(fr_spec_parse("fixed:0", &p), -1);
    assert_int_equal(fr_spec_parse("fixed:17", &p), -1);
    assert_int_equal(fr_spec_parse("fixed:", &p), -1);
    assert_int_equal(fr_spec_parse("fixed:3x", &p), -1);
    assert_int_equal(fr_spec_parse("bogus", &p), -1);
}

/* Costs fully measured: t_verify(n) = v0 + v1 * n, t_draft = d. */
static void set_costs(fr_spec_costs *c, double d, double v0, double v1) {
    fr_spec_costs_init(c);
    for (int g = 0; g <= FR_SPEC_GAMMA_MAX; g++) {
        fr_spec_obs s = {g, 0, d * g, v0 + v1 * (g + 1), 0, 0};
        fr_spec_costs_observe(c, &s);
    }
}

static int brute_best(double a, double d, double v0, double v1, int gmax) {
    int best = 0;
    double best_rate = -1;
    for (int g = 0; g <= gmax; g++) {
        double e = 0, p = 1;
        for (int i = 0; i <= g; i++) { e += p; p *= a; } /* 1 + a + ... + a^g */
        double rate = e / (g * d + v0 + v1 * (g + 1));
        if (rate > best_rate + 1e-12) { best_rate = rate; best = g; }
    }
    return best;
}

static void test_expected_rate_model(void **state) {
    (void)state;
    fr_spec_costs c;
    const double as[] = {0.05, 0.3, 0.5, 0.7, 0.8, 0.9, 0.97};
    const double ds[] = {0.001, 0.01, 0.05, 0.2, 0.6};
    for (size_t i = 0; i < sizeof as / sizeof as[0]; i++)
        for (size_t j = 0; j < sizeof ds / sizeof ds[0]; j++) {
            set_costs(&c, ds[j], 1.0, 0.02);
            assert_int_equal(fr_spec_best_gamma(as[i], &c, 12), brute_best(as[i], ds[j], 1.0, 0.02, 12));
        }
    /* cheap draft, high acceptance: draft long; useless draft: do not draft at all */
    set_costs(&c, 0.001, 1.0, 0.0);
    assert_int_equal(fr_spec_best_gamma(0.97, &c, 8), 8);
    set_costs(&c, 0.5, 1.0, 0.1);
    assert_int_equal(fr_spec_best_gamma(0.05, &c, 8), 0);
}

/* The best rate under per-position acceptances: equal to the constant-acceptance model
 * when every position is alike, and to a brute-force sum over the outcomes otherwise. */
static void test_best_rate_positional(void **state) {
    (void)state;
    fr_spec_costs c;
    const double as[] = {0.05, 0.5, 0.8, 0.97};
    for (size_t i = 0; i < sizeof as / sizeof as[0]; i++) {
        set_costs(&c, 0.05, 1.0, 0.1);
        double p[12];
        for (int j = 0; j < 12; j++) p[j] = as[i];
        int g = fr_spec_best_gamma(as[i], &c, 12);
        double want = fr_spec_expected_rate(as[i], &c, g);
        assert_true(fabs(fr_spec_best_rate_p(p, 12, &c) - want) < 1e-9 * want);
    }
    uint64_t r = 99;
    for (int trial = 0; trial < 500; trial++) {
        double p[8];
        int k = 1 + (int)((r = r * 6364136223846793005ull + 1442695040888963407ull) >> 61);
        for (int j = 0; j < k; j++)
            p[j] = (double)((r = r * 6364136223846793005ull + 1442695040888963407ull) >> 11) / 9007199254740992.0;
        set_costs(&c, 0.01 * (trial % 7), 1.0, 0.05 * (trial % 5));
        double best = 1.0 / fr_spec_costs_verify(&c, 1);
        for (int g = 1; g <= k; g++) { /* E = sum over "exactly j accepted" of (j + 1) P(j) */
            double tokens = 0, all = 1;
            for (int j = 0; j < g; j++) {
                tokens += (j + 1) * all * (1 - p[j]);
                all *= p[j];
            }
            tokens += (g + 1) * all;
            double rate = tokens / (fr_spec_costs_drafting(&c, g) + fr_spec_costs_verify(&c, g + 1));
            if (rate > best) best = rate;
        }
        assert_true(fabs(fr_spec_best_rate_p(p, k, &c) - best) < 1e-9 * best);
    }
}

static void test_verify_interpolation(void **state) {
    (void)state;
    fr_spec_costs c;
    fr_spec_costs_init(&c);
    fr_spec_obs s1 = {0, 0, 0, 1.0, 0, 0}, s5 = {4, 2, 0.4, 2.0, 0, 0};
    fr_spec_costs_observe(&c, &s1);
    fr_spec_costs_observe(&c, &s5);
    assert_true(fabs(fr_spec_costs_verify(&c, 1) - 1.0) < 1e-12);
    assert_true(fabs(fr_spec_costs_verify(&c, 3) - 1.5) < 1e-12);
    assert_true(fabs(fr_spec_costs_verify(&c, 5) - 2.0) < 1e-12);
    assert_true(fr_spec_costs_verify(&c, 7) > 2.0); /* extrapolated upwards */
    assert_true(fabs(fr_spec_costs_drafting(&c, 1) - 0.1) < 1e-12); /* per drafted token */
    assert_true(fabs(fr_spec_costs_drafting(&c, 3) - 0.3) < 1e-12);
}

static void test_window_trimmed_mean(void **state) {
    (void)state;
    fr_spec_window w;
    fr_spec_window_init(&w);
    assert_true(fr_spec_window_estimate(&w) == 0.0);
    fr_spec_window_push(&w, 5.0);
    assert_true(fabs(fr_spec_window_estimate(&w) - 5.0) < 1e-12);
    fr_spec_window_push(&w, 100.0); /* the largest is dropped */
    assert_true(fabs(fr_spec_window_estimate(&w) - 5.0) < 1e-12);
    fr_spec_window_push(&w, 3.0);
    assert_true(fabs(fr_spec_window_estimate(&w) - 4.0) < 1e-12);
    for (int i = 3; i < FR_SPEC_COST_WINDOW; i++) fr_spec_window_push(&w, 1.0); /* full: the largest dropped */
    assert_true(fabs(fr_spec_window_estimate(&w) - (8.0 + (FR_SPEC_COST_WINDOW - 3)) / (FR_SPEC_COST_WINDOW - 1)) < 1e-12);
    for (int i = 0; i < FR_SPEC_COST_WINDOW; i++) fr_spec_window_push(&w, 2.0); /* all replaced */
    assert_true(fabs(fr_spec_window_estimate(&w) - 2.0) < 1e-12);
    /* a pass over more tokens never costs less: an inflated size is capped by a larger one */
    fr_spec_costs c;
    fr_spec_costs_init(&c);
    fr_spec_obs s2 = {1, 0, 0.1, 50.0, 0, 0}, s4 = {3, 0, 0.3, 2.0, 0, 0};
    fr_spec_costs_observe(&c, &s2);
    fr_spec_costs_observe(&c, &s4);
    assert_true(fabs(fr_spec_costs_verify(&c, 2) - 2.0) < 1e-12);
}

static void test_acceptance_window(void **state) {
    (void)state;
    fr_spec_accept a;
    fr_spec_accept_init(&a);
    double prior = fr_spec_accept_rate(&a);
    assert_true(prior > 0.5 && prior < 0.7);
    for (int i = 0; i < 100; i++) {
        fr_spec_obs s = {4, 3, 0, 0, 0, 0}; /* 3 accepted, 1 rejected: a = 0.75 */
        fr_spec_accept_observe(&a, &s);
    }
    assert_true(fabs(fr_spec_accept_rate(&a) - 0.75) < 0.03);
    for (int i = 0; i < 100; i++) {
        fr_spec_obs s = {2, 0, 0, 0, 0, 0};
        fr_spec_accept_observe(&a, &s);
    }
    assert_true(fr_spec_accept_rate(&a) < 0.05); /* the window forgets old behaviour */
}

static void test_heuristic_schedule(void **state) {
    (void)state;
    fr_spec_ctl_params p;
    fr_spec_parse("heuristic", &p);
    fr_spec_ctl c;
    fr_spec_ctl_init(&c, &p);
    fr_spec_accept a;
    fr_spec_costs k;
    fr_spec_accept_init(&a);
    fr_spec_costs_init(&k);
    int g = fr_spec_ctl_choose(&c, 0, &a, &k);
    assert_int_equal(g, 4);
    fr_spec_obs full = {g, g, 0, 1, 0, 0};
    fr_spec_ctl_observe(&c, &full);
    assert_int_equal(fr_spec_ctl_choose(&c, 0, &a, &k), 6);
    fr_spec_obs part = {6, 2, 0, 1, 0, 0};
    fr_spec_ctl_observe(&c, &part);
    assert_int_equal(fr_spec_ctl_choose(&c, 0, &a, &k), 5);
    for (int i = 0; i < 20; i++) {
        fr_spec_obs miss = {5, 0, 0, 1, 0, 0};
        fr_spec_ctl_observe(&c, &miss);
    }
    assert_int_equal(fr_spec_ctl_choose(&c, 0, &a, &k), 1); /* never below 1 */
}

static void test_fsm_backs_off_and_probes(void **state) {
    (void)state;
    fr_spec_ctl_params p;
    fr_spec_parse("fsm", &p);
    fr_spec_ctl c;
    fr_spec_ctl_init(&c, &p);
    fr_spec_accept a;
    fr_spec_costs k;
    fr_spec_accept_init(&a);
    fr_spec_costs_init(&k);
    int g = 0;
    for (int i = 0; i < 3; i++) { /* three drafts with nothing accepted */
        g = fr_spec_ctl_choose(&c, 0, &a, &k);
        assert_true(g > 0);
        fr_spec_obs miss = {g, 0, 0, 1, 0, 0};
        fr_spec_ctl_observe(&c, &miss);
    }
    int zeros = 0;
    for (int i = 0; i < 50; i++) {
        g = fr_spec_ctl_choose(&c, 0, &a, &k);
        if (g > 0) break;
        zeros++;
        fr_spec_obs plain = {0, 0, 0, 1, 0, 0};
        fr_spec_ctl_observe(&c, &plain);
    }
    assert_true(zeros >= 1);
    assert_int_equal(g, 1); /* probes again after the cool-down */
    /* full acceptance grows gamma, faster on a streak */
    int prev = g;
    for (int i = 0; i < 4; i++) {
        fr_spec_obs full = {g, g, 0, 1, 0, 0};
        fr_spec_ctl_observe(&c, &full);
        g = fr_spec_ctl_choose(&c, 0, &a, &k);
        assert_true(g > prev || g == p.gamma_max);
        prev = g;
    }
    /* partial acceptance aims just past what survived */
    fr_spec_obs part = {g, 2, 0, 1, 0, 0};
    fr_spec_ctl_observe(&c, &part);
    assert_int_equal(fr_spec_ctl_choose(&c, 0, &a, &k), 3);
}

static void test_cache_fsm_remembers_context(void **state) {
    (void)state;
    fr_spec_ctl_params p;
    fr_spec_parse("cache-fsm", &p);
    fr_spec_ctl c;
    fr_spec_ctl_init(&c, &p);
    fr_spec_accept a;
    fr_spec_costs k;
    fr_spec_accept_init(&a);
    fr_spec_costs_init(&k);
    const int32_t ctx_easy[] = {5, 6, 7}, ctx_hard[] = {9, 9, 1};
    uint64_t easy = fr_spec_context_key(ctx_easy, 3, 3), hard = fr_spec_context_key(ctx_hard, 3, 3);
    assert_true(easy != hard);
    for (int i = 0; i < 6; i++) {
        int g = fr_spec_ctl_choose(&c, easy, &a, &k);
        fr_spec_obs s = {g, g >= 7 ? 7 : g, 0, 1, 0, 0}; /* drafts survive 7 tokens after "easy" */
        fr_spec_ctl_observe(&c, &s);
        g = fr_spec_ctl_choose(&c, hard, &a, &k);
        fr_spec_obs h = {g, 0, 0, 1, 0, 0}; /* and die at once after "hard" */
        fr_spec_ctl_observe(&c, &h);
    }
    assert_true(fr_spec_ctl_choose(&c, easy, &a, &k) >= 7);
    assert_true(fr_spec_ctl_choose(&c, hard, &a, &k) <= 1);
}

/* Simulated environment: i.i.d. acceptance a, draft cost d per token, verify v0 + v1*n. */
typedef struct sim {
    double a, d, v0, v1;
    uint64_t rng;
} sim;

static double sim_uniform(sim *s) {
    s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(s->rng >> 11) / 9007199254740992.0;
}

static fr_spec_obs sim_step(sim *s, int g) {
    int acc = 0;
    while (acc < g && sim_uniform(s) < s->a) acc++;
    fr_spec_obs st = {g, acc, s->d * g, s->v0 + s->v1 * (g + 1), 0, 0};
    return st;
}

/* Runs a controller for n steps; returns tokens per unit time over the last half. */
static double run_sim(const char *name, sim *env, int n, int *hist) {
    fr_spec_ctl_params p;
    assert_int_equal(fr_spec_parse(name, &p), 0);
    fr_spec_ctl c;
    fr_spec_ctl_init(&c, &p);
    fr_spec_accept a;
    fr_spec_costs k;
    fr_spec_accept_init(&a);
    fr_spec_costs_init(&k);
    double tok = 0, time = 0;
    for (int i = 0; i < n; i++) {
        int g = fr_spec_ctl_choose(&c, 0, &a, &k);
        fr_spec_obs s = sim_step(env, g);
        fr_spec_costs_observe(&k, &s);
        fr_spec_accept_observe(&a, &s);
        fr_spec_ctl_observe(&c, &s);
        if (i >= n / 2) {
            tok += s.accepted + 1;
            time += s.t_draft + s.t_verify;
            if (hist) hist[g]++;
        }
    }
    return tok / time;
}

static double optimal_rate(const sim *env, int gmax) {
    fr_spec_costs c;
    set_costs(&c, env->d, env->v0, env->v1);
    int g = brute_best(env->a, env->d, env->v0, env->v1, gmax);
    return fr_spec_expected_rate(env->a, &c, g);
}

static void test_cost_and_rl_near_optimal(void **state) {
    (void)state;
    const sim envs[] = {
        {0.85, 0.05, 1.0, 0.03, 1}, /* good draft: long drafts pay */
        {0.5, 0.1, 1.0, 0.05, 2},   /* mediocre draft: short drafts */
        {0.05, 0.3, 1.0, 0.1, 3},   /* useless draft: plain decoding */
    };
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        double opt = optimal_rate(&envs[i], 8);
        sim e = envs[i];
        double cost = run_sim("cost", &e, 4000, NULL);
        e = envs[i];
        double rl = run_sim("rl", &e, 4000, NULL);
        e = envs[i];
        double fixed4 = run_sim("fixed:4", &e, 4000, NULL);
        print_message("env %zu: optimal %.3f cost %.3f rl %.3f fixed:4 %.3f\n", i, opt, cost, rl, fixed4);
        assert_true(cost >= 0.9 * opt);
        assert_true(rl >= 0.75 * opt);
    }
    /* the useless draft: the cost controller decodes plainly most of the time */
    int hist[FR_SPEC_GAMMA_MAX + 1] = {0};
    sim e = envs[2];
    run_sim("cost", &e, 2000, hist);
    assert_true(hist[0] > 800);
}

/* Deterministic fake timings for the robustness tests: verification of n tokens costs
 * v0 + v1 * n, except on the steps listed in spike (x spike_factor); acceptance is drawn
 * from the sim's own generator. Returns the gamma chosen at each step in hist_out. */
typedef struct timing_env {
    sim s;
    int spike_every;     /* every k-th pass of size spike_size is slow (0: none) */
    int spike_size;
    int spike_first;     /* only the first pass of spike_size is slow */
    double spike_factor;
    int n_size_passes[FR_SPEC_GAMMA_MAX + 2];
} timing_env;

static fr_spec_obs timing_step(timing_env *e, int g) {
    fr_spec_obs o = sim_step(&e->s, g);
    int n = g + 1, k = ++e->n_size_passes[n];
    if (n == e->spike_size && ((e->spike_every && k % e->spike_every == 0) || (e->spike_first && k == 1)))
        o.t_verify *= e->spike_factor;
    return o;
}

typedef struct cost_run {
    fr_spec_ctl c;
    fr_spec_accept a;
    fr_spec_costs k;
} cost_run;

static void cost_run_init(cost_run *r) {
    fr_spec_ctl_params p;
    assert_int_equal(fr_spec_parse("auto", &p), 0);
    fr_spec_ctl_init(&r->c, &p);
    fr_spec_accept_init(&r->a);
    fr_spec_costs_init(&r->k);
}

static int cost_run_step(cost_run *r, timing_env *e) {
    int g = fr_spec_ctl_choose(&r->c, 0, &r->a, &r->k);
    fr_spec_obs o = timing_step(e, g);
    fr_spec_costs_observe(&r->k, &o);
    fr_spec_accept_observe(&r->a, &o);
    fr_spec_ctl_observe(&r->c, &o);
    return g;
}

/* One preempted pass (x30) of the size the controller is using, or a slow pass every 8th
 * time, does not move it off the best gamma (the old moving average switched to drafting
 * and, never re-measuring plain passes, stayed there). */
static void test_cost_spike_does_not_lock(void **state) {
    (void)state;
    /* plain decoding is best: a pass over n tokens costs 1 + 0.9 (n - 1), acceptance 0.5 */
    const sim plain_best = {0.5, 0.1, 0.1, 0.9, 11};
    assert_int_equal(brute_best(0.5, 0.1, 0.1, 0.9, 8), 0);
    for (int mode = 0; mode < 2; mode++) {
        timing_env e = {plain_best, mode ? 8 : 0, 1, mode ? 0 : 1, 30.0, {0}};
        cost_run r;
        cost_run_init(&r);
        int at_best = 0;
        for (int i = 0; i < 400; i++) {
            if (mode == 0 && i == 100) e.n_size_passes[1] = 0; /* the spike hits at step ~100 */
            int g = cost_run_step(&r, &e);
            if (i >= 100) at_best += g == 0;
        }
        print_message("spike mode %d: %d of 300 steps at gamma 0\n", mode, at_best);
        assert_true(at_best >= 300 - 300 / FR_SPEC_PROBE_EVERY - 4);
    }
    /* drafting 4 tokens is best, and the first pass over 5 tokens is slow (x30): the
     * re-probes find the true cost within a few probes */
    const sim draft_best = {0.8, 0.02, 1.0, 0.2, 12};
    int opt = brute_best(0.8, 0.02, 1.0, 0.2, 8);
    assert_int_equal(opt, 4);
    timing_env e = {draft_best, 0, 5, 1, 30.0, {0}};
    cost_run r;
    cost_run_init(&r);
    int near = 0;
    for (int i = 0; i < 600; i++) {
        int g = cost_run_step(&r, &e);
        if (i >= 300) near += g >= opt - 1 && g <= opt + 1;
    }
    print_message("spike at size 4: %d of 300 late steps within 1 of gamma %d\n", near, opt);
    assert_true(near >= 270);
}

/* Rate (tokens per unit time) of the cost controller over steps [from, to) of a run whose
 * environment switches from env0 to env1 at step `change`. */
static double rate_after_change(const sim *env0, const sim *env1, int change, int from, int to) {
    timing_env e = {*env0, 0, 0, 0, 1.0, {0}};
    cost_run r;
    cost_run_init(&r);
    double tok = 0, time = 0;
    for (int i = 0; i < to; i++) {
        if (i == change) {
            uint64_t rng = e.s.rng;
            e.s = *env1;
            e.s.rng = rng;
        }
        int g = fr_spec_ctl_choose(&r.c, 0, &r.a, &r.k);
        fr_spec_obs o = timing_step(&e, g);
        fr_spec_costs_observe(&r.k, &o);
        fr_spec_accept_observe(&r.a, &o);
        fr_spec_ctl_observe(&r.c, &o);
        if (i >= from) {
            tok += o.accepted + 1;
            time += o.t_draft + o.t_verify;
        }
    }
    return tok / time;
}

/* A real change of the costs (the machine's load, threads waking up) is followed within a
 * bounded number of steps, in both directions. */
static void test_cost_change_followed(void **state) {
    (void)state;
    const sim cheap = {0.8, 0.02, 1.0, 0.03, 21}; /* batches nearly free: draft long */
    const sim dear = {0.8, 0.02, 0.1, 0.9, 21};   /* every extra token costs 0.9: plain */
    double opt_cheap = optimal_rate(&cheap, 8), opt_dear = optimal_rate(&dear, 8);
    /* from cheap to dear: the chosen size itself gets slower; its first slow pass looks like
     * a spike and is ignored, from the second on the estimate moves, and the controller walks
     * down to gamma 0 within a few windows */
    double r1 = rate_after_change(&cheap, &dear, 500, 500 + 6 * FR_SPEC_COST_WINDOW, 800);
    /* from dear to cheap: the neighbours of gamma 0 are re-probed and found cheaper */
    double r2 = rate_after_change(&dear, &cheap, 500, 500 + 200, 1000);
    print_message("cheap->dear %.3f of optimal, dear->cheap %.3f of optimal\n", r1 / opt_dear, r2 / opt_cheap);
    assert_true(r1 >= 0.9 * opt_dear);
    assert_true(r2 >= 0.85 * opt_cheap);
}

/* The bootstrap measures passes over 1, 2, 3, 4 and gamma_max + 1 tokens, twice each, in
 * that order, before the cost model chooses (the largest size is what lets the model
 * interpolate instead of extrapolating the sizes above 4); with gamma_max <= 3 the sizes
 * 1 .. gamma_max + 1 only. */
static void test_cost_bootstrap_sizes(void **state) {
    (void)state;
    const int gmax[] = {8, 16, 3, 1};
    const int want[][10] = {{0, 1, 2, 3, 8, 0, 1, 2, 3, 8},
                            {0, 1, 2, 3, 16, 0, 1, 2, 3, 16},
                            {0, 1, 2, 3, 0, 1, 2, 3, -1},
                            {0, 1, 0, 1, -1}};
    for (int t = 0; t < 4; t++) {
        fr_spec_ctl_params p;
        assert_int_equal(fr_spec_parse("cost", &p), 0);
        p.gamma_max = gmax[t];
        fr_spec_ctl c;
        fr_spec_ctl_init(&c, &p);
        fr_spec_accept a;
        fr_spec_accept_init(&a);
        fr_spec_costs k;
        fr_spec_costs_init(&k);
        for (int i = 0; i < 10 && want[t][i] >= 0; i++) {
            int g = fr_spec_ctl_choose(&c, 0, &a, &k);
            assert_int_equal(g, want[t][i]);
            fr_spec_obs o = {g, g / 2, 0.01 * g, 1.0 + 0.05 * g, g, 0.0};
            fr_spec_costs_observe(&k, &o);
            if (g > 0) fr_spec_accept_observe(&a, &o);
            fr_spec_ctl_observe(&c, &o);
        }
    }
}

/* A staircase of pass costs, as measured on the bundled target with its x16 kernels (a pass
 * over 3 tokens costs as much as one over 4, relative to one token: 1, 1.34, 1.9, 1.9, 2.4,
 * 2.6, 2.9, 3.4, 3.7), acceptance 0.8 and a draft at 0.1: gamma 3 is best, gamma 2 is worse
 * than gamma 1, so a search that only ever looks one step past the best stays at gamma 1.
 * The controller must reach gamma 3 and keep close to the best rate. */
static void test_cost_staircase(void **state) {
    (void)state;
    static const double t[10] = {0, 1.0, 1.34, 1.9, 1.9, 2.4, 2.6, 2.9, 3.4, 3.7};
    const double a = 0.8, d = 0.1;
    double best_rate = 0;
    int opt = 0;
    for (int g = 0; g <= 8; g++) {
        double r = (1 - pow(a, g + 1)) / (1 - a) / (g * d + t[g + 1]);
        if (r > best_rate) { best_rate = r; opt = g; }
    }
    assert_int_equal(opt, 3);
    cost_run r;
    cost_run_init(&r);
    sim s = {a, d, 0, 0, 5};
    double tok = 0, time = 0;
    int at_opt = 0;
    for (int i = 0; i < 1000; i++) {
        int g = fr_spec_ctl_choose(&r.c, 0, &r.a, &r.k);
        fr_spec_obs o = sim_step(&s, g);
        o.t_verify = t[g + 1];
        fr_spec_costs_observe(&r.k, &o);
        fr_spec_accept_observe(&r.a, &o);
        fr_spec_ctl_observe(&r.c, &o);
        if (i >= 500) {
            tok += o.accepted + 1;
            time += o.t_draft + o.t_verify;
            at_opt += g == opt;
        }
    }
    print_message("staircase: %d of 500 late steps at gamma %d, %.3f of the best rate\n", at_opt, opt,
                  tok / time / best_rate);
    assert_true(at_opt >= 400);
    assert_true(tok / time >= 0.93 * best_rate);
}


/* ---- the confidence model and the per-token stop rule of "auto" ---- */

static double logistic(double z) { return 1.0 / (1.0 + exp(-z)); }

/* True acceptance of a drafted token in the synthetic environments below. */
static double true_accept(double margin, int pos) { return logistic(-1.5 + 1.2 * margin + 0.1 * pos); }

/* A margin as a small draft gives them: half the tokens confident, half not. */
static double draw_margin(sim *s) {
    return sim_uniform(s) < 0.5 ? 3.0 + 3.0 * sim_uniform(s) : sim_uniform(s);
}

static void test_calib_learns_acceptance(void **state) {
    (void)state;
    fr_spec_calib c;
    fr_spec_calib_init(&c);
    assert_true(fabs(fr_spec_calib_prob(&c, 5.0, 2) - 0.6) < 1e-9); /* the prior, whatever the features */
    sim env = {0, 0, 0, 0, 99};
    for (int d = 0; d < 3000; d++) { /* drafts of 5 tokens; the target stops at the first rejection */
        float m[5];
        int acc = 0;
        bool alive = true;
        for (int i = 0; i < 5; i++) {
            m[i] = (float)(6.0 * sim_uniform(&env));
            if (alive && sim_uniform(&env) < true_accept(m[i], i)) acc++;
            else alive = false;
        }
        int verified = 1 + (int)(sim_uniform(&env) * 5); /* some drafted tokens withheld */
        fr_spec_calib_observe(&c, m, 5, verified, acc < verified ? acc : verified);
    }
    double worst = 0;
    for (double m = 0.0; m <= 4.0; m += 0.5)
        for (int pos = 0; pos < 5; pos++) {
            double e = fabs(fr_spec_calib_prob(&c, m, pos) - true_accept(m, pos));
            if (e > worst) worst = e;
        }
    print_message("confidence model: largest error %.3f\n", worst);
    assert_true(worst < 0.08);
    /* a margin that is not a number counts as 0, and huge margins are clipped */
    assert_true(fabs(fr_spec_calib_prob(&c, NAN, 0) - fr_spec_calib_prob(&c, 0.0, 0)) < 1e-12);
    assert_true(fr_spec_calib_prob(&c, 1e30, 0) > 0.99);
}

/* Expected tokens of verifying m drafted tokens, as a sum over the outcomes "exactly j
 * accepted" (the stop rule computes it as a running sum of survival probabilities). */
static double outcome_tokens(const double *p, int k, double a_next, int m) {
    double e = 0, reach = 1.0; /* probability that the first j were accepted */
    for (int j = 0; j <= m; j++) {
        double pj = j < m ? (j < k ? p[j] : a_next) : 0.0; /* the j+1-th is accepted */
        e += reach * (1.0 - pj) * (j + 1);
        reach *= pj;
    }
    return e;
}

static void test_stop_len_brute_force(void **state) {
    (void)state;
    sim env = {0, 0, 0, 0, 7};
    for (int trial = 0; trial < 2000; trial++) {
        int cap = 1 + (int)(sim_uniform(&env) * 8), k = 1 + (int)(sim_uniform(&env) * cap);
        double p[FR_SPEC_GAMMA_MAX], tv[FR_SPEC_GAMMA_MAX + 2];
        for (int i = 0; i < k; i++) p[i] = sim_uniform(&env);
        double a_next = sim_uniform(&env), rho = 0.2 + 2.0 * sim_uniform(&env), tn = 0.2 * sim_uniform(&env);
        tv[1] = 1.0;
        for (int n = 2; n <= cap + 1; n++) tv[n] = tv[n - 1] + 0.6 * sim_uniform(&env); /* staircases too */
        int best = 0;
        double best_v = -1e300;
        for (int m = 0; m <= cap; m++) {
            double v = outcome_tokens(p, k, a_next, m) - rho * ((m > k ? m - k : 0) * tn + tv[m + 1]);
            if (v > best_v + 1e-12) { best_v = v; best = m; }
        }
        assert_int_equal(fr_spec_stop_len(p, k, a_next, rho, tn, tv, cap), best);
    }
    /* sure tokens on a flat cost: draft to the cap; hopeless ones on dear passes: verify none */
    double sure[4] = {1, 1, 1, 1}, flat[6] = {0, 1, 1, 1, 1, 1};
    assert_int_equal(fr_spec_stop_len(sure, 1, 0.99, 1.0, 0.01, flat, 4), 4);
    double none[1] = {0.01}, dear[3] = {0, 1, 2};
    assert_int_equal(fr_spec_stop_len(none, 1, 0.01, 1.0, 0.1, dear, 1), 0);
}

/* A draft whose tokens are either confident (accepted ~97%) or not (~30%), with measured
 * costs: t_first for a step's first drafted token, t_next for each further one, and
 * t_verify(n) = 1 + 0.12 (n - 1). Runs a controller the way fr_spec_step does; returns
 * tokens per unit time over the second half of n steps. */
static double run_confidence_env(const char *name, int n) {
    fr_spec_ctl_params p;
    assert_int_equal(fr_spec_parse(name, &p), 0);
    fr_spec_ctl c;
    fr_spec_ctl_init(&c, &p);
    fr_spec_accept a;
    fr_spec_costs k;
    fr_spec_calib cal;
    fr_spec_accept_init(&a);
    fr_spec_costs_init(&k);
    fr_spec_calib_init(&cal);
    sim env = {0, 0, 0, 0, 12345};
    const double t_first = 0.15, t_next = 0.06;
    double tok = 0, time = 0, all_tok = 0, all_time = 0;
    for (int step = 0; step < n; step++) {
        int g = fr_spec_ctl_choose(&c, 0, &a, &k);
        float m[FR_SPEC_GAMMA_MAX];
        double pr[FR_SPEC_GAMMA_MAX];
        int drafted = g, verify = g;
        if (g > 0 && c.free_length) {
            double tv[FR_SPEC_GAMMA_MAX + 2];
            for (int s = 1; s <= p.gamma_max + 1; s++) tv[s] = fr_spec_costs_verify(&k, s);
            double tn = fr_spec_costs_drafting(&k, 2) - fr_spec_costs_drafting(&k, 1);
            double rho = all_time > 0 ? all_tok / all_time : 1.0;
            for (int i = 0; i < p.gamma_max; i++) {
                m[i] = (float)draw_margin(&env);
                pr[i] = fr_spec_calib_prob(&cal, m[i], i);
                drafted = verify = i + 1;
                int len = fr_spec_stop_len(pr, i + 1, fr_spec_calib_next(&cal), rho, tn, tv, p.gamma_max);
                if (len <= i + 1) {
                    verify = len;
                    break;
                }
            }
        } else {
            for (int i = 0; i < g; i++) m[i] = (float)draw_margin(&env);
        }
        int acc = 0;
        while (acc < verify && sim_uniform(&env) < true_accept(m[acc], acc)) acc++;
        double td = drafted ? t_first + (drafted - 1) * t_next : 0.0;
        fr_spec_obs o = {verify, acc, td, 1.0 + 0.12 * verify, drafted, drafted > 1 ? (drafted - 1) * t_next : 0.0};
        fr_spec_costs_observe(&k, &o);
        if (verify > 0) fr_spec_accept_observe(&a, &o);
        fr_spec_ctl_observe(&c, &o);
        if (drafted > 0) fr_spec_calib_observe(&cal, m, drafted, verify, acc);
        all_tok += acc + 1;
        all_time += td + o.t_verify;
        if (step >= n / 2) {
            tok += acc + 1;
            time += td + o.t_verify;
        }
    }
    return tok / time;
}

static void test_confidence_stop_beats_fixed(void **state) {
    (void)state;
    double best_fixed = 0;
    int best_g = 0;
    for (int g = 1; g <= 8; g++) {
        char name[16];
        snprintf(name, sizeof name, "fixed:%d", g);
        double r = run_confidence_env(name, 4000);
        if (r > best_fixed) { best_fixed = r; best_g = g; }
    }
    double cost = run_confidence_env("cost", 4000), aut = run_confidence_env("auto", 4000);
    print_message("best fixed:%d %.3f, cost %.3f, auto %.3f (%.2fx the best fixed)\n", best_g, best_fixed, cost,
                  aut, aut / best_fixed);
    /* the per-token stop drafts on where the draft is sure and stops where it is not:
     * no single gamma, nor the per-step cost model, can do that. (1.06x here; the same rule
     * given the true acceptance instead of the learned one reaches 1.10x: what is left is
     * the noise of a model fitted on 256 recent positions.) */
    assert_true(aut >= 1.04 * best_fixed);
    assert_true(aut >= 1.04 * cost);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_expected_rate_model),
        cmocka_unit_test(test_best_rate_positional),
        cmocka_unit_test(test_verify_interpolation),
        cmocka_unit_test(test_cost_bootstrap_sizes),
        cmocka_unit_test(test_cost_staircase),
        cmocka_unit_test(test_window_trimmed_mean),
        cmocka_unit_test(test_acceptance_window),
        cmocka_unit_test(test_heuristic_schedule),
        cmocka_unit_test(test_fsm_backs_off_and_probes),
        cmocka_unit_test(test_cache_fsm_remembers_context),
        cmocka_unit_test(test_cost_and_rl_near_optimal),
        cmocka_unit_test(test_cost_spike_does_not_lock),
        cmocka_unit_test(test_cost_change_followed),
        cmocka_unit_test(test_calib_learns_acceptance),
        cmocka_unit_test(test_stop_len_brute_force),
        cmocka_unit_test(test_confidence_stop_beats_fixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

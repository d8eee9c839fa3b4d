/* Draft-length controllers for speculative decoding.
 *
 * A controller decides, before each speculative step, how many tokens (gamma) a draft
 * source should propose; after the target has verified them it is told how many were
 * accepted and how long drafting and verification took. gamma = 0 means "decode one token
 * with the target alone this step".
 *
 * Timing model shared by every controller (fr_spec_costs): for the draft's time per drafted
 * token and for the target's verification time of each batch size 1..FR_SPEC_GAMMA_MAX+1 (a
 * batch of gamma drafted tokens plus the last accepted one), a window of the last
 * FR_SPEC_COST_WINDOW measurements, summarised by their mean without the largest one
 * (a trimmed mean): timings on a shared machine are heavy-tailed (a
 * preempted pass), and one spike must not decide; a real change of cost replaces the whole
 * window within FR_SPEC_COST_WINDOW measurements. A size not measured for
 * FR_SPEC_COST_MAX_AGE steps is forgotten (interpolated from the sizes measured since), so
 * stale estimates do not outlive a change of load. A pass over more tokens is assumed never
 * to cost less (the estimate of n is capped by those of larger measured sizes).
 * Acceptance model (fr_spec_accept): per-token acceptance a estimated over a recent window
 * as accepted / (accepted + rejections), with a weak prior.
 *
 * Expected tokens produced by a step with gamma drafted tokens (independent acceptance a):
 *     E(gamma) = (1 - a^(gamma+1)) / (1 - a)
 * and its cost is gamma * t_draft + t_verify(gamma + 1); the cost controller maximises
 * E(gamma) / cost(gamma), including gamma = 0 (cost t_verify(1), E = 1). It starts by
 * measuring passes over 1, 2, 3, 4 and gamma_max + 1 tokens, twice each, so that t_verify is
 * measured across the range before it is interpolated. Sizes it does not
 * choose are measured only when chosen, so every FR_SPEC_PROBE_EVERY steps it re-probes a
 * gamma not chosen for that long: in turn the one above the best, the one below, 0 (a
 * plain pass, which anchors the interpolation of the sizes between) and the one two above (pass
 * costs can be a staircase where the next size up is dear and the one after is not): exploration costs at
 * most one step in FR_SPEC_PROBE_EVERY, and an estimate that a spike or a change of load
 * left wrong is corrected.
 *
 * All state is in the structs (no globals, no allocation); everything is deterministic
 * given the same observations (the RL controller uses its own seeded generator).
 */
#ifndef FR_SPEC_CONTROLLER_H
#define FR_SPEC_CONTROLLER_H

#include <stdint.h>

#define FR_SPEC_GAMMA_MAX 16
#define FR_SPEC_WINDOW 64      /* acceptance window (verified positions) */
#define FR_SPEC_CACHE_SLOTS 1024
#define FR_SPEC_COST_WINDOW 4  /* timing measurements kept per batch size */
#define FR_SPEC_PROBE_EVERY 16 /* steps between re-probes of the cost controller */
#define FR_SPEC_BOOT_SIZES 4   /* the cost controller first measures passes over 1..4 tokens */
                               /* and over gamma_max + 1 */
#define FR_SPEC_BOOT_ROUNDS 2  /* ... twice each */
#define FR_SPEC_COST_MAX_AGE 128 /* a batch size not measured for this many steps is forgotten */
#define FR_SPEC_CALIB_WINDOW 256 /* verified drafted positions the confidence model is fitted on */
#define FR_SPEC_CALIB_REFIT 16   /* the confidence model is refitted after this many new positions */
#define FR_SPEC_RATE_WINDOW 32   /* steps over which the realised rate is measured */

typedef enum fr_spec_kind {
    FR_SPEC_FIXED = 0,     /* always gamma = fixed_gamma */
    FR_SPEC_HEURISTIC = 1, /* +2 after a fully accepted draft, -1 otherwise (Hugging Face) */
    FR_SPEC_FSM = 2,       /* state machine over recent accept/reject history */
    FR_SPEC_CACHE_FSM = 3, /* FSM + cache of draft survival keyed on the recent context */
    FR_SPEC_RL = 4,        /* discounted UCB bandit over gamma, rewarded by tokens/second */
    FR_SPEC_COST = 5,      /* maximise expected tokens per unit time (the default, "auto") */
    FR_SPEC_KIND_COUNT
} fr_spec_kind;

/* The last FR_SPEC_COST_WINDOW measurements of one quantity (a ring). */
typedef struct fr_spec_window {
    double x[FR_SPEC_COST_WINDOW];
    int head, count;
    double est; /* fr_spec_window_estimate, kept up to date by fr_spec_window_push */
} fr_spec_window;

/* Online timing estimates for one draft source and the target. Times in seconds. */
typedef struct fr_spec_costs {
    fr_spec_window draft_first;                 /* seconds to draft a step's first token (with
                                                   the draft's catch-up and the step's overhead) */
    fr_spec_window draft_next;                  /* seconds per further drafted token */
    fr_spec_window verify[FR_SPEC_GAMMA_MAX + 2]; /* index = batch size (1..GAMMA_MAX+1) */
    int64_t stamp[FR_SPEC_GAMMA_MAX + 2];       /* n_obs at the size's last measurement */
    int64_t n_obs;                              /* verification measurements so far */
    /* The estimates, recomputed after each observation (the controllers read them several
     * times per step: computing them on demand cost microseconds per step, a sizeable
     * part of a small draft's pass). */
    double t_verify[FR_SPEC_GAMMA_MAX + 2];     /* fr_spec_costs_verify(c, n) */
    double t_first, t_next;                     /* fr_spec_costs_drafting(c, g) = t_first + (g - 1) t_next */
} fr_spec_costs;

/* Online acceptance estimate for one draft source over a window of verified positions. */
typedef struct fr_spec_accept {
    uint8_t hist[FR_SPEC_WINDOW]; /* 1 = accepted, 0 = rejected (ring) */
    int head, count;
} fr_spec_accept;

/* Online model of the probability that a drafted token is accepted, given that the ones
 * before it in the draft were, from what the draft knows when it proposes the token: the
 * margin between its two largest logits and the token's position in the draft. Logistic
 * regression, P = 1 / (1 + exp(-(w0 + w1 * margin + w2 * position))), fitted by a few
 * Newton steps on the last FR_SPEC_CALIB_WINDOW verified positions (an accepted token is a
 * 1, the first rejected one a 0; positions after it were not tested), with a weak pull
 * towards the prior (constant acceptance 0.6), refitted every FR_SPEC_CALIB_REFIT new
 * positions. Positions the draft proposed but the target was not asked about carry no
 * label: the model is conditional on the features, so choosing by them does not bias it. */
typedef struct fr_spec_calib {
    float x[FR_SPEC_CALIB_WINDOW][2]; /* margin, position */
    uint8_t y[FR_SPEC_CALIB_WINDOW];  /* 1 accepted, 0 rejected */
    int head, count, fresh;           /* ring; positions since the last fit */
    double w[3];
    double prior[3]; /* the weights it starts from and is pulled towards */
    double p_mean; /* moving average of the predicted probability over drafted positions */
} fr_spec_calib;

typedef struct fr_spec_ctl_params {
    fr_spec_kind kind;
    int confidence_stop; /* COST: per-token draft length from the confidence model ("auto") */
    int fixed_gamma; /* FIXED: the gamma; others: the initial gamma (default 4) */
    int gamma_max;   /* upper bound, 1..FR_SPEC_GAMMA_MAX (default 8) */
    uint64_t seed;   /* RL exploration */
} fr_spec_ctl_params;

typedef struct fr_spec_cache_slot {
    uint64_t key;
    float mean_accepted; /* EMA of accepted tokens when drafting here */
    uint16_t n;
} fr_spec_cache_slot;

typedef struct fr_spec_ctl {
    fr_spec_ctl_params p;
    int gamma;          /* last chosen gamma */
    /* FSM state */
    int full_streak;    /* consecutive fully accepted drafts */
    int miss_streak;    /* consecutive drafts with nothing accepted */
    int cooldown;       /* steps left at gamma 0 before probing again */
    /* cache-FSM */
    uint64_t last_key;
    fr_spec_cache_slot cache[FR_SPEC_CACHE_SLOTS];
    /* RL: discounted UCB over gamma in 0..gamma_max */
    double arm_reward[FR_SPEC_GAMMA_MAX + 1];
    double arm_count[FR_SPEC_GAMMA_MAX + 1];
    uint64_t rng;
    /* cost: re-probing of gammas not chosen recently */
    int64_t step;                              /* fr_spec_ctl_choose calls so far */
    int64_t last_chosen[FR_SPEC_GAMMA_MAX + 1]; /* step + 1 of the last choice (0: never) */
    int64_t last_probe;
    int probe_phase; /* next probe: 0 above, 1 below the best, 2 zero, 3 two above */
    int free_length; /* the last choice may be lengthened or shortened per token (not a
                        bootstrap step or a probe, which need their exact batch size) */
} fr_spec_ctl;

/* Observation of one finished step. */
typedef struct fr_spec_obs {
    int gamma;        /* drafted tokens sent to the target */
    int accepted;     /* of them, accepted (0..gamma) */
    double t_draft;   /* seconds spent drafting (all drafted tokens) */
    double t_verify;  /* seconds of the target pass over gamma + 1 tokens */
    int drafted;      /* tokens the draft produced, >= gamma (0: the same as gamma) */
    double t_draft_next; /* of t_draft, the seconds after the first drafted token (0: unknown,
                            every drafted token then counts alike) */
} fr_spec_obs;

const char *fr_spec_kind_name(fr_spec_kind k);

void fr_spec_window_init(fr_spec_window *w);
void fr_spec_window_push(fr_spec_window *w, double x);
/* Trimmed mean of the window: the mean without the largest value (when count >= 2).
 * 0 when empty. */
double fr_spec_window_estimate(const fr_spec_window *w);

void fr_spec_costs_init(fr_spec_costs *c);
void fr_spec_costs_observe(fr_spec_costs *c, const fr_spec_obs *s);
/* Estimated verification time of a batch of n tokens (interpolates unseen sizes). */
double fr_spec_costs_verify(const fr_spec_costs *c, int n);
/* Estimated time to draft g tokens: the first costs more than the others (the draft first
 * catches up with the tokens the target added, and a step has fixed overheads). Before
 * anything is measured a drafted token is assumed to cost a tenth of t_verify(1). */
double fr_spec_costs_drafting(const fr_spec_costs *c, int g);

void fr_spec_accept_init(fr_spec_accept *a);
void fr_spec_accept_observe(fr_spec_accept *a, const fr_spec_obs *s);
/* Per-token acceptance estimate in (0, 1), with a weak prior of 0.6. */
double fr_spec_accept_rate(const fr_spec_accept *a);

/* Expected tokens per second for gamma under acceptance a and costs c. */
double fr_spec_expected_rate(double a, const fr_spec_costs *c, int gamma);
/* The gamma in [0, gamma_max] maximising fr_spec_expected_rate. */
int fr_spec_best_gamma(double a, const fr_spec_costs *c, int gamma_max);

/* The best expected tokens per second over gamma = 0 .. k when the drafted token at
 * position i holds with probability p[i] given that those before it did:
 * max_g (1 + sum_{j<=g} prod_{i<j} p[i]) / (t_draft(g) + t_verify(g + 1)). With every p[i]
 * equal to a it is the rate of fr_spec_best_gamma(a, c, k). */
double fr_spec_best_rate_p(const double *p, int k, const fr_spec_costs *c);

/* Starts from a constant acceptance of 0.6 (w = logit(0.6), 0, 0): a draft model's margin. */
void fr_spec_calib_init(fr_spec_calib *c);
/* Starts from (and is pulled towards) the weights w0, w1, w2. */
void fr_spec_calib_init_prior(fr_spec_calib *c, double w0, double w1, double w2);
/* Probability that a token drafted with this logit margin at this position in the draft
 * is accepted, given that the ones before it were. */
double fr_spec_calib_prob(const fr_spec_calib *c, double margin, int position);
/* Records a verified draft: margin[0 .. drafted) of its tokens, `verified` of them sent to
 * the target, `accepted` of those accepted. Refits when enough new positions arrived. */
void fr_spec_calib_observe(fr_spec_calib *c, const float *margin, int drafted, int verified, int accepted);
/* The acceptance to expect of a token not drafted yet (its features unknown). */
double fr_spec_calib_next(const fr_spec_calib *c);

/* The per-token stop rule of "auto". k tokens are drafted, p[0..k) the probabilities of
 * their acceptance (fr_spec_calib_prob), a_next that of each further one, rho the rate
 * (tokens per second) the decoder achieves, t_next the time to draft one more token and
 * t_verify[n] that of a target pass over n = 1 .. cap + 1 tokens. Returns the number m in 0..cap of drafted
 * tokens to verify that maximises the expected tokens of the step minus rho times its
 * remaining cost, (1 + sum_{j<=m} prod_{i<j} p_i) - rho * (max(0, m - k) * t_next +
 * t_verify(m + 1)); the drafting done is sunk. m > k means "draft another token". Taking
 * rho as the achieved rate makes this the choice that maximises tokens per second over
 * many steps (a renewal-reward argument, as in Dinkelbach's method). */
int fr_spec_stop_len(const double *p, int k, double a_next, double rho, double t_next,
                     const double *t_verify, int cap);

/* Parses "auto", "fixed:N", "heuristic", "fsm", "cache-fsm", "rl", "cost" into params.
 * Returns 0 on success, -1 if the text is not a controller name. */
int fr_spec_parse(const char *text, fr_spec_ctl_params *out);

void fr_spec_ctl_init(fr_spec_ctl *c, const fr_spec_ctl_params *p);
/* Chooses gamma for the next step. context_key hashes the last few tokens (cache-FSM);
 * a and costs describe the draft source that will be used. */
int fr_spec_ctl_choose(fr_spec_ctl *c, uint64_t context_key, const fr_spec_accept *a,
                       const fr_spec_costs *costs);
/* Reports the outcome of the step just chosen. */
void fr_spec_ctl_observe(fr_spec_ctl *c, const fr_spec_obs *s);

/* FNV-1a hash of the last n tokens (cache key). */
uint64_t fr_spec_context_key(const int32_t *tokens, int n_tokens, int n);

#endif

/* bench_spec: speculative-decoding benchmark over the public API (frugal_spec.h).
 *
 * Loads one target and any number of draft models, tokenizes a suite of prompt files, and
 * for every pass, prompt and configuration generates exactly -n tokens greedily
 * (temperature 0, end-of-sequence ignored), timing the generation after the prompt has been
 * processed. Configurations are run in a rotated order on each pass (A B C, B C A, ...), so
 * that the machine's drift spreads over all of them.
 *
 * A configuration is "plain" (the target alone: one fr_decode per token) or
 * "CONTROLLER@SOURCES" with CONTROLLER any fr_spec controller (auto, fixed:N, heuristic,
 * fsm, cache-fsm, rl, cost) and SOURCES a '+'-joined list of d0, d1, ... (the drafts in
 * the order given) and lookup, e.g. "auto@d0+d1+lookup".
 *
 * Exactness: every speculative run's tokens must equal the plain greedy tokens of the same
 * prompt; otherwise the driver prints the first difference and exits with status 3.
 *
 * Output: one JSON object per line and run (pass, prompt, config, tokens, seconds, rate,
 * speculative statistics; on the first pass also the per-step trace of gamma, accepted
 * and source). With --profile-verify it also times single target passes over batches of
 * 1..17 tokens and draft single-token steps ("profile" lines). With --check-batch it only
 * checks that each model's logits are bit-identical whether a text is decoded one token at a
 * time or in chunks of 2..gamma_max+1 (what greedy identity rests on), and exits 3 if not.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frugal.h"

#define MAX_DRAFTS 7
#define MAX_PROMPTS 64
#define MAX_CONFIGS 128
#define MAX_SRC 8
#define STEP_CAP 17
#define TRACE_CAP 1024
#define PROMPT_BYTES 8192
#define PROMPT_TOKENS 1024

typedef struct prompt {
    char name[128]; /* file name without directory and extension */
    char kind[128]; /* name up to the first '_' */
    int32_t tok[PROMPT_TOKENS];
    int32_t n;
    int32_t *ref; /* plain greedy continuation (n_gen tokens) */
} prompt;

typedef struct config {
    char text[96];
    bool plain;
    char controller[32];
    int drafts[MAX_SRC]; /* draft indices */
    int n_drafts;
    bool lookup;
    float p_min; /* draft confidence stop (fr_spec_params.draft_p_min), "/pP" suffix */
} config;

typedef struct opts {
    const char *target;
    const char *drafts[MAX_DRAFTS];
    int n_drafts;
    const char *prompt_files[MAX_PROMPTS];
    int n_prompts;
    const char *configs[MAX_CONFIGS];
    int n_configs;
    int n_gen, threads, draft_threads, passes, pass_offset, gamma_max, n_ctx, isa;
    bool profile, check_batch, session;
    const char *out;
} opts;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the process (all threads): with one thread, the run's time without the
 * preemptions a shared machine inflicts. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench_spec -m TARGET.gguf [-d DRAFT.gguf]... -P PROMPT.txt... -c CONFIG... [options]\n"
            "  -m FILE            target model\n"
            "  -d FILE            draft model (repeatable; referred to as d0, d1, ... in configs)\n"
            "  -P FILE...         prompt files (kind = file name up to the first '_')\n"
            "  -c CONFIG...       plain | CONTROLLER@SOURCES[/pP], e.g. auto@d0+lookup, fixed:4@d0,\n"
            "                     auto@d0/p0.8 (drafts stop below confidence 0.8: draft_p_min)\n"
            "  -n N               tokens to generate per run (default 128)\n"
            "  -t N               threads of the target context (default 2)\n"
            "  --draft-threads N  threads of each draft context (default: -t)\n"
            "  --passes N         passes over the suite (default 3)\n"
            "  --pass-offset N    number of the first pass in the output (default 0; the trace is\n"
            "                     recorded on pass 0)\n"
            "  --gamma-max N      largest draft length for the adaptive controllers (default 8)\n"
            "  --ctx N            context size of every model (default 512)\n"
            "  --profile-verify   also time target passes over 1..17 tokens and draft steps\n"
            "  --session          one speculative session per configuration and pass serves the prompts\n"
            "                     in turn (fr_spec_start per prompt), as a server would: the controller\n"
            "                     keeps what it measured; default: a new session for every run\n"
            "  --isa N            kernels: -1 the best the CPU has (default), 0 scalar, 1 AVX2, 2 AVX-512\n"
            "  --check-batch      only check that every model gives bit-identical logits when the\n"
            "                     greedy continuation of each prompt is decoded in chunks of 1..gamma-max+1\n"
            "                     tokens (what exact speculative verification relies on); exit 3 if not\n"
            "  -o FILE            JSON lines output (default stdout)\n");
}

static int parse_int(const char *opt, const char *v, int lo, int hi, int *out) {
    char *end = NULL;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "bench_spec: %s: expected an integer in %d..%d, got '%s'\n", opt, lo, hi, v ? v : "");
        return -1;
    }
    *out = (int)x;
    return 0;
}

/* Returns 0 to go on, 1 after --help, 2 after a usage error. */
static int parse_args(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->n_gen = 128;
    o->threads = 2;
    o->draft_threads = 0;
    o->passes = 3;
    o->gamma_max = 8;
    o->n_ctx = 512;
    o->isa = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--profile-verify")) {
            o->profile = true;
        } else if (!strcmp(a, "--check-batch")) {
            o->check_batch = true;
        } else if (!strcmp(a, "--session")) {
            o->session = true;
        } else if (!strcmp(a, "--isa") && v) {
            if (parse_int(a, argv[++i], -1, 2, &o->isa) != 0) return 2;
        } else if (!strcmp(a, "-m") && v) {
            o->target = argv[++i];
        } else if (!strcmp(a, "-o") && v) {
            o->out = argv[++i];
        } else if (!strcmp(a, "-d") && v) {
            if (o->n_drafts >= MAX_DRAFTS) {
                fprintf(stderr, "bench_spec: -d: at most %d drafts\n", MAX_DRAFTS);
                return 2;
            }
            o->drafts[o->n_drafts++] = argv[++i];
        } else if ((!strcmp(a, "-P") || !strcmp(a, "-c")) && v) {
            bool is_p = a[1] == 'P';
            while (i + 1 < argc && argv[i + 1][0] != '-') {
                if ((is_p ? o->n_prompts : o->n_configs) >= (is_p ? MAX_PROMPTS : MAX_CONFIGS)) {
                    fprintf(stderr, "bench_spec: %s: too many values\n", a);
                    return 2;
                }
                if (is_p)
                    o->prompt_files[o->n_prompts++] = argv[++i];
                else
                    o->configs[o->n_configs++] = argv[++i];
            }
        } else if (v && (!strcmp(a, "-n") || !strcmp(a, "-t") || !strcmp(a, "--draft-threads") ||
                         !strcmp(a, "--passes") || !strcmp(a, "--pass-offset") ||
                         !strcmp(a, "--gamma-max") || !strcmp(a, "--ctx"))) {
            int *dst = !strcmp(a, "-n") ? &o->n_gen : !strcmp(a, "-t") ? &o->threads
                     : !strcmp(a, "--draft-threads") ? &o->draft_threads : !strcmp(a, "--passes") ? &o->passes
                     : !strcmp(a, "--pass-offset") ? &o->pass_offset : !strcmp(a, "--gamma-max") ? &o->gamma_max
                     : &o->n_ctx;
            int hi = !strcmp(a, "-t") || !strcmp(a, "--draft-threads") ? 256 : !strcmp(a, "--gamma-max") ? 16 : 1 << 20;
            int lo = !strcmp(a, "--pass-offset") || !strcmp(a, "--passes") ? 0 : 1;
            if (parse_int(a, argv[++i], lo, hi, dst) != 0) return 2;
        } else {
            fprintf(stderr, "bench_spec: %s: unknown option or missing value (see --help)\n", a);
            return 2;
        }
    }
    if (!o->target || o->n_prompts == 0 || (o->n_configs == 0 && !o->profile && !o->check_batch)) {
        fprintf(stderr, "bench_spec: need -m, -P and -c (see --help)\n");
        return 2;
    }
    if (o->n_gen > 4096) {
        fprintf(stderr, "bench_spec: -n: at most 4096 tokens\n");
        return 2;
    }
    if (o->draft_threads == 0) o->draft_threads = o->threads;
    return 0;
}

static int parse_config(const char *text, int n_drafts, config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->text, sizeof c->text, "%s", text);
    if (!strcmp(text, "plain")) {
        c->plain = true;
        return 0;
    }
    const char *at = strchr(text, '@');
    if (!at || at == text || (size_t)(at - text) >= sizeof c->controller) goto bad;
    memcpy(c->controller, text, (size_t)(at - text));
    const char *p = at + 1;
    const char *slash = strchr(p, '/');
    char srcs[96];
    if (slash) {
        char *end = NULL;
        double pm = slash[1] == 'p' ? strtod(slash + 2, &end) : -1.0;
        if (!end || end == slash + 2 || *end || pm < 0.0 || pm > 1.0) goto bad;
        c->p_min = (float)pm;
        snprintf(srcs, sizeof srcs, "%.*s", (int)(slash - p), p);
        p = srcs;
    }
    while (*p) {
        const char *e = strchr(p, '+');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 6 && !strncmp(p, "lookup", 6)) {
            c->lookup = true;
        } else if (len >= 2 && p[0] == 'd') {
            char *end = NULL;
            long k = strtol(p + 1, &end, 10);
            if (end != p + len || k < 0 || k >= n_drafts || c->n_drafts >= MAX_SRC) goto bad;
            c->drafts[c->n_drafts++] = (int)k;
        } else {
            goto bad;
        }
        p += len;
        if (*p == '+') p++;
    }
    if (c->n_drafts == 0 && !c->lookup) goto bad;
    return 0;
bad:
    if (n_drafts > 0)
        fprintf(stderr, "bench_spec: -c %s: expected plain or CONTROLLER@SOURCES[/pP] with sources d0..d%d and lookup\n",
                text, n_drafts - 1);
    else
        fprintf(stderr, "bench_spec: -c %s: expected plain or CONTROLLER@lookup (no draft models given with -d)\n",
                text);
    return -1;
}

static int load_prompt(const fr_model *m, const char *path, prompt *p) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_spec: %s: cannot open\n", path);
        return -1;
    }
    char buf[PROMPT_BYTES];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    bool too_long = !feof(f);
    fclose(f);
    if (too_long) {
        fprintf(stderr, "bench_spec: %s: longer than %d bytes\n", path, PROMPT_BYTES - 1);
        return -1;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) len--;
    if (len == 0) {
        fprintf(stderr, "bench_spec: %s: empty prompt\n", path);
        return -1;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(p->name, sizeof p->name, "%s", base);
    char *dot = strrchr(p->name, '.');
    if (dot) *dot = '\0';
    memcpy(p->kind, p->name, sizeof p->kind);
    char *us = strchr(p->kind, '_');
    if (us) *us = '\0';
    fr_error e = {0};
    size_t n = 0;
    if (fr_tokenize(m, buf, len, true, p->tok, PROMPT_TOKENS, &n, &e) != FR_OK) {
        fprintf(stderr, "bench_spec: %s: %s\n", path, e.msg);
        return -1;
    }
    p->n = (int32_t)n;
    return 0;
}

/* Plain greedy decoding of n tokens; writes them to out (may be NULL) and returns seconds
 * (the prompt pass excluded), or -1 on error. */
static double run_plain(const fr_model *m, fr_context *c, float *logits, const prompt *p, int n, int32_t *out,
                        double *cpu) {
    fr_error e = {0};
    int32_t V = fr_model_n_vocab(m);
    fr_kv_truncate(c, 0);
    if (fr_decode(c, p->tok, p->n, 0, logits, false, &e) != FR_OK) goto fail;
    double c0 = cpu_s(), t0 = now_s();
    for (int i = 0; i < n; i++) {
        int32_t t = fr_sampler_argmax(logits, V);
        if (out) out[i] = t;
        if (fr_decode(c, &t, 1, p->n + i, logits, false, &e) != FR_OK) goto fail;
    }
    double t1 = now_s();
    if (cpu) *cpu = cpu_s() - c0;
    return t1 - t0;
fail:
    fprintf(stderr, "bench_spec: %s: plain decoding: %s\n", p->name, e.msg);
    return -1;
}

typedef struct run_result {
    double seconds, cpu_seconds;
    fr_spec_stats st;
    int32_t n_trace;
    int32_t tg[TRACE_CAP], ta[TRACE_CAP], ts[TRACE_CAP];
} run_result;

/* A speculative session for configuration cf (NULL after printing the error). */
static fr_spec *spec_open(const fr_model *tm, fr_context *tc, fr_model **dm, fr_context **dc, const config *cf,
                          const opts *o) {
    fr_error e = {0};
    fr_spec *s = NULL;
    fr_spec_params sp = fr_spec_default_params();
    sp.controller = cf->controller;
    sp.draft_p_min = cf->p_min;
    sp.gamma_max = o->gamma_max;
    sp.sampling.temperature = 0.0f;
    if (fr_spec_create(tm, tc, &sp, &s, &e) != FR_OK) goto fail;
    for (int i = 0; i < cf->n_drafts; i++) {
        int k = cf->drafts[i];
        char name[16];
        snprintf(name, sizeof name, "d%d", k);
        if (fr_spec_add_draft(s, dm[k], dc[k], name, &e) != FR_OK) goto fail;
    }
    if (cf->lookup && fr_spec_add_lookup(s, &e) != FR_OK) goto fail;
    return s;
fail:
    fprintf(stderr, "bench_spec: %s: %s\n", cf->text, e.msg);
    fr_spec_free(s);
    return NULL;
}

/* One speculative run in session s; checks the tokens against p->ref. Returns 0, -1 on error,
 * -2 on a mismatch (after printing it). */
static int run_spec(fr_spec *s, const config *cf, const opts *o, const prompt *p, bool trace, run_result *r) {
    fr_error e = {0};
    int32_t *got = malloc(sizeof *got * (size_t)(o->n_gen + STEP_CAP));
    int rc = -1;
    if (!got) {
        fprintf(stderr, "bench_spec: out of memory\n");
        return -1;
    }
    if (trace && fr_spec_trace(s, TRACE_CAP, &e) != FR_OK) goto done;
    if (fr_spec_start(s, p->tok, p->n, &e) != FR_OK) goto done;
    int n = 0;
    double c0 = cpu_s(), t0 = now_s();
    while (n < o->n_gen) {
        int32_t k = 0;
        if (fr_spec_step(s, got + n, STEP_CAP, &k, &e) != FR_OK) goto done;
        n += k;
    }
    r->seconds = now_s() - t0;
    r->cpu_seconds = cpu_s() - c0;
    fr_spec_get_stats(s, &r->st);
    r->n_trace = trace ? fr_spec_get_trace(s, r->tg, r->ta, r->ts, TRACE_CAP) : 0;
    rc = 0;
    for (int i = 0; i < o->n_gen; i++)
        if (got[i] != p->ref[i]) {
            fprintf(stderr,
                    "bench_spec: MISMATCH: %s on %s: token %d is %d, plain greedy decoding gives %d\n"
                    "bench_spec: speculative output differs from the target's greedy output: aborting\n",
                    cf->text, p->name, i, got[i], p->ref[i]);
            rc = -2;
            break;
        }
done:
    if (rc == -1) fprintf(stderr, "bench_spec: %s on %s: %s\n", cf->text, p->name, e.msg);
    free(got);
    return rc;
}

static void json_run(FILE *f, int pass, const prompt *p, const config *cf, int n, double sec, double cpu,
                     const run_result *r) {
    fprintf(f, "{\"type\":\"run\",\"pass\":%d,\"prompt\":\"%s\",\"kind\":\"%s\",\"n_prompt\":%d,\"config\":\"%s\","
               "\"tokens\":%d,\"seconds\":%.6f,\"cpu_seconds\":%.6f,\"rate\":%.3f",
            pass, p->name, p->kind, p->n, cf->text, n, sec, cpu, sec > 0 ? n / sec : 0.0);
    if (r) {
        const fr_spec_stats *st = &r->st;
        fprintf(f, ",\"steps\":%lld,\"produced\":%lld,\"drafted\":%lld,\"withheld\":%lld,\"accepted\":%lld,\"t_draft\":%.6f,\"t_verify\":%.6f",
                (long long)st->steps, (long long)st->tokens, (long long)st->drafted, (long long)st->withheld,
                (long long)st->accepted,
                st->t_draft, st->t_verify);
        fprintf(f, ",\"gamma_hist\":[");
        for (int g = 0; g < FR_SPEC_HIST_MAX; g++) fprintf(f, "%s%lld", g ? "," : "", (long long)st->gamma_hist[g]);
        fprintf(f, "],\"sources\":[");
        for (int i = 0; i < st->n_sources; i++)
            fprintf(f, "%s{\"name\":\"%s\",\"steps\":%lld,\"drafted\":%lld,\"accepted\":%lld}", i ? "," : "",
                    st->source_name[i], (long long)st->source_steps[i], (long long)st->source_drafted[i],
                    (long long)st->source_accepted[i]);
        fprintf(f, "]");
        if (r->n_trace > 0) {
            fprintf(f, ",\"trace\":[");
            for (int i = 0; i < r->n_trace; i++)
                fprintf(f, "%s[%d,%d,%d]", i ? "," : "", r->tg[i], r->ta[i], r->ts[i]);
            fprintf(f, "]");
        }
    }
    fprintf(f, "}\n");
    fflush(f);
}

/* Median time of a target pass over b tokens at position pos (b = 1..17), and of a draft's
 * single-token step, over `reps` repetitions. */
static int profile(FILE *f, const fr_model *tm, fr_context *tc, fr_model **dm, fr_context **dc, int n_drafts,
                   const prompt *p, float *logits_all) {
    enum { REPS = 15 };
    fr_error e = {0};
    for (int mi = -1; mi < n_drafts; mi++) {
        fr_context *c = mi < 0 ? tc : dc[mi];
        fr_kv_truncate(c, 0);
        if (fr_decode(c, p->tok, p->n, 0, NULL, false, &e) != FR_OK) goto fail;
        for (int b = 1; b <= STEP_CAP; b++) {
            double ts[REPS];
            for (int r = 0; r < REPS; r++) {
                double t0 = now_s();
                if (fr_decode(c, p->tok, b, p->n, logits_all, true, &e) != FR_OK) goto fail;
                ts[r] = now_s() - t0;
                fr_kv_truncate(c, p->n);
            }
            for (int i = 1; i < REPS; i++) /* insertion sort for the median */
                for (int j = i; j > 0 && ts[j] < ts[j - 1]; j--) {
                    double x = ts[j];
                    ts[j] = ts[j - 1];
                    ts[j - 1] = x;
                }
            char name[16] = "target";
            if (mi >= 0) snprintf(name, sizeof name, "d%d", mi);
            fprintf(f, "{\"type\":\"profile\",\"model\":\"%s\",\"batch\":%d,\"seconds\":%.7f}\n", name, b,
                    ts[REPS / 2]);
        }
    }
    return 0;
fail:
    fprintf(stderr, "bench_spec: profile: %s\n", e.msg);
    return -1;
}

/* Decodes each prompt's greedy continuation (p->ref) with every model, once token by token
 * and then in chunks of b = 2..max_chunk tokens, and compares the logits bit for bit. Returns the
 * number of (model, prompt, b) combinations that differ, or -1 on error. */
static int check_batch(FILE *f, fr_model **models, fr_context **ctxs, const char **names, int n_models,
                       const prompt *prompts, int n_prompts, int n_gen, int max_chunk) {
    fr_error e = {0};
    int bad = 0;
    for (int mi = 0; mi < n_models; mi++) {
        size_t V = (size_t)fr_model_n_vocab(models[mi]);
        float *one = malloc(sizeof *one * V * (size_t)n_gen), *many = malloc(sizeof *many * V * (size_t)n_gen);
        if (!one || !many) {
            free(one);
            free(many);
            fprintf(stderr, "bench_spec: out of memory\n");
            return -1;
        }
        for (int pi = 0; pi < n_prompts; pi++) {
            const prompt *p = &prompts[pi];
            int32_t seq[PROMPT_TOKENS + 4096];
            memcpy(seq, p->tok, sizeof *seq * (size_t)p->n);
            memcpy(seq + p->n, p->ref, sizeof *seq * (size_t)n_gen);
            for (int b = 1; b <= max_chunk; b++) {
                float *dst = b == 1 ? one : many;
                fr_kv_truncate(ctxs[mi], 0);
                if (fr_decode(ctxs[mi], seq, p->n - 1, 0, NULL, false, &e) != FR_OK) goto fail;
                for (int pos = p->n - 1; pos < p->n - 1 + n_gen;) {
                    int k = p->n - 1 + n_gen - pos < b ? p->n - 1 + n_gen - pos : b;
                    if (fr_decode(ctxs[mi], seq + pos, k, pos, dst + (size_t)(pos - p->n + 1) * V, true, &e) != FR_OK)
                        goto fail;
                    pos += k;
                }
                if (b == 1) continue;
                int first = -1, flips = 0;
                float maxd = 0;
                for (int i = 0; i < n_gen; i++) {
                    const float *x = one + (size_t)i * V, *y = many + (size_t)i * V;
                    if (memcmp(x, y, sizeof *x * V) != 0 && first < 0) first = i;
                    for (size_t j = 0; j < V; j++) {
                        float d = x[j] > y[j] ? x[j] - y[j] : y[j] - x[j];
                        if (d > maxd) maxd = d;
                    }
                    if (fr_sampler_argmax(x, (int32_t)V) != fr_sampler_argmax(y, (int32_t)V)) flips++;
                }
                fprintf(f, "{\"type\":\"check-batch\",\"model\":\"%s\",\"prompt\":\"%s\",\"chunk\":%d,\"identical\":%s,"
                           "\"first_diff\":%d,\"max_abs_diff\":%g,\"argmax_flips\":%d}\n",
                        names[mi], p->name, b, first < 0 ? "true" : "false", first, (double)maxd, flips);
                if (first >= 0) {
                    bad++;
                    fprintf(stderr, "bench_spec: %s on %s: decoding in chunks of %d differs from token-by-token decoding "
                                    "from generated token %d (max |logit diff| %g, %d argmax flips)\n",
                            names[mi], p->name, b, first, (double)maxd, flips);
                }
            }
        }
        free(one);
        free(many);
        continue;
    fail:
        free(one);
        free(many);
        fprintf(stderr, "bench_spec: check-batch: %s\n", e.msg);
        return -1;
    }
    return bad;
}

int main(int argc, char **argv) {
    opts o;
    int prc = parse_args(argc, argv, &o);
    if (prc) return prc == 1 ? 0 : 2;
    static prompt prompts[MAX_PROMPTS];
    static config configs[MAX_CONFIGS];
    fr_model *tm = NULL, *dm[MAX_DRAFTS] = {0};
    fr_context *tc = NULL, *dc[MAX_DRAFTS] = {0};
    float *logits = NULL;
    run_result *rr = NULL;
    static fr_spec *sessions[MAX_CONFIGS]; /* --session: the open session of each configuration */
    FILE *out = stdout;
    int rc = 1;
    fr_error e = {0};

    for (int i = 0; i < o.n_configs; i++)
        if (parse_config(o.configs[i], o.n_drafts, &configs[i]) != 0) return 2;

    fr_model_params mp = fr_model_default_params();
    mp.require_vocab = true;
    fr_context_params cp = fr_context_default_params();
    cp.n_ctx = o.n_ctx;
    cp.n_threads = o.threads;
    cp.kernel_isa = o.isa;
    if (fr_model_load(o.target, &mp, &tm, &e) != FR_OK || fr_context_create(tm, &cp, &tc, &e) != FR_OK) {
        fprintf(stderr, "bench_spec: %s\n", e.msg);
        goto done;
    }
    cp.n_threads = o.draft_threads;
    for (int i = 0; i < o.n_drafts; i++)
        if (fr_model_load(o.drafts[i], &mp, &dm[i], &e) != FR_OK || fr_context_create(dm[i], &cp, &dc[i], &e) != FR_OK) {
            fprintf(stderr, "bench_spec: %s\n", e.msg);
            goto done;
        }
    for (int i = 0; i < o.n_configs; i++) { /* reject unknown controllers before any output */
        if (configs[i].plain) continue;
        fr_spec *probe = NULL;
        fr_spec_params sp = fr_spec_default_params();
        sp.controller = configs[i].controller;
        sp.gamma_max = o.gamma_max;
        sp.sampling.temperature = 0.0f;
        if (fr_spec_create(tm, tc, &sp, &probe, &e) != FR_OK) {
            fprintf(stderr, "bench_spec: -c %s: %s\n", configs[i].text, e.msg);
            rc = 2;
            goto done;
        }
        fr_spec_free(probe);
    }
    int32_t V = fr_model_n_vocab(tm);
    logits = malloc(sizeof *logits * (size_t)V * STEP_CAP);
    rr = malloc(sizeof *rr);
    if (!logits || !rr) {
        fprintf(stderr, "bench_spec: out of memory\n");
        goto done;
    }
    if (o.out && !(out = fopen(o.out, "w"))) {
        fprintf(stderr, "bench_spec: %s: cannot open for writing\n", o.out);
        out = stdout;
        goto done;
    }
    for (int i = 0; i < o.n_prompts; i++) {
        prompt *p = &prompts[i];
        if (load_prompt(tm, o.prompt_files[i], p) != 0) goto done;
        if (p->n + o.n_gen + STEP_CAP > o.n_ctx) {
            fprintf(stderr, "bench_spec: %s: %d prompt tokens + %d generated + %d do not fit the context of %d\n",
                    o.prompt_files[i], p->n, o.n_gen, STEP_CAP, o.n_ctx);
            goto done;
        }
        p->ref = malloc(sizeof *p->ref * (size_t)o.n_gen);
        if (!p->ref || run_plain(tm, tc, logits, p, o.n_gen, p->ref, NULL) < 0) goto done;
    }
    fprintf(out, "{\"type\":\"meta\",\"target\":\"%s\",\"n_drafts\":%d,\"n_gen\":%d,\"threads\":%d,\"draft_threads\":%d,"
                 "\"gamma_max\":%d,\"n_ctx\":%d,\"isa\":%d}\n",
            o.target, o.n_drafts, o.n_gen, o.threads, o.draft_threads, o.gamma_max, o.n_ctx, o.isa);
    for (int i = 0; i < o.n_drafts; i++) fprintf(out, "{\"type\":\"draft\",\"name\":\"d%d\",\"path\":\"%s\"}\n", i, o.drafts[i]);
    if (o.check_batch) {
        fr_model *ms[MAX_DRAFTS + 1] = {tm};
        fr_context *cs[MAX_DRAFTS + 1] = {tc};
        const char *names[MAX_DRAFTS + 1] = {"target"};
        static const char *const dn[MAX_DRAFTS] = {"d0", "d1", "d2", "d3", "d4", "d5", "d6"};
        for (int i = 0; i < o.n_drafts; i++) {
            ms[i + 1] = dm[i];
            cs[i + 1] = dc[i];
            names[i + 1] = dn[i];
        }
        int bad = check_batch(out, ms, cs, names, o.n_drafts + 1, prompts, o.n_prompts, o.n_gen, o.gamma_max + 1);
        if (bad == 0)
            fprintf(stderr, "bench_spec: every model gives identical logits for chunks of 1..%d tokens\n", o.gamma_max + 1);
        rc = bad == 0 ? 0 : bad > 0 ? 3 : 1;
        goto done;
    }
    if (o.profile && profile(out, tm, tc, dm, dc, o.n_drafts, &prompts[0], logits) != 0) goto done;

    for (int pass = 0; pass < o.passes; pass++) {
        int pn = o.pass_offset + pass;
        for (int k = 0; k < o.n_configs; k++) { /* --session: one per configuration and pass */
            fr_spec_free(sessions[k]);
            sessions[k] = NULL;
        }
        for (int pi = 0; pi < o.n_prompts; pi++) {
            const prompt *p = &prompts[pi];
            for (int k = 0; k < o.n_configs; k++) {
                const config *cf = &configs[(k + pn + pi) % o.n_configs]; /* rotated order */
                if (cf->plain) {
                    double cpu = 0, sec = run_plain(tm, tc, logits, p, o.n_gen, NULL, &cpu);
                    if (sec < 0) goto done;
                    json_run(out, pn, p, cf, o.n_gen, sec, cpu, NULL);
                    continue;
                }
                const int ci = (int)(cf - configs);
                fr_spec *sp = o.session ? sessions[ci] : NULL;
                if (!sp && !(sp = spec_open(tm, tc, dm, dc, cf, &o))) goto done;
                if (o.session) sessions[ci] = sp;
                int r = run_spec(sp, cf, &o, p, pn == 0, rr);
                if (!o.session) fr_spec_free(sp);
                if (r == -2) {
                    rc = 3;
                    goto done;
                }
                if (r != 0) goto done;
                json_run(out, pn, p, cf, o.n_gen, rr->seconds, rr->cpu_seconds, rr);
            }
        }
        fprintf(stderr, "bench_spec: pass %d done\n", pn);
    }
    rc = 0;
done:
    for (int k = 0; k < MAX_CONFIGS; k++) fr_spec_free(sessions[k]);
    if (out != stdout) fclose(out);
    for (int i = 0; i < o.n_prompts; i++) free(prompts[i].ref);
    free(logits);
    free(rr);
    for (int i = 0; i < o.n_drafts; i++) {
        fr_context_free(dc[i]);
        fr_model_free(dm[i]);
    }
    fr_context_free(tc);
    fr_model_free(tm);
    return rc;
}

/* frugal generate: text generation from a GGUF Llama model.
 * The prompt is processed in one batched decode, then tokens are sampled and decoded one at a
 * time and printed as they are produced. A summary goes to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "frugal.h"
#include "generate_spec.h"

#define CMD "generate"

static void usage(FILE *f) {
    fprintf(f,
            "usage: frugal generate -m MODEL.gguf -p PROMPT [options]\n"
            "  -m FILE        GGUF Llama model\n"
            "  -p TEXT        prompt (printed, then continued)\n"
            "  -n N           new tokens to generate (default 128)\n"
            "  --temp T       temperature, 0 = greedy (default 0.8)\n"
            "  --top-k K      keep the K most likely tokens, 0 = all (default 40)\n"
            "  --top-p P      nucleus mass in (0, 1] (default 0.95)\n"
            "  --seed S       sampler seed (default 42)\n"
            "  -t N           threads (default: the number of CPUs)\n"
            "  -c N           context size (default: the model's context length)\n"
            "  --ignore-eos   keep generating after the end-of-sequence token\n"
            "speculative decoding (output unchanged; see docs/speculative.md):\n"
            "  --draft FILE   a draft model sharing the target's vocabulary (repeatable, up to 7)\n"
            "  --lookup       prompt lookup as a draft source (no model)\n"
            "  --spec CTL     auto (default) | fixed:N | heuristic | fsm | cache-fsm | rl | cost\n"
            "  --gamma-max N  longest draft, 1..16 (default 8)\n"
            "  --trace FILE   write each step's gamma, accepted count and source\n"
            "  --no-compare   skip measuring the plain target rate for the speedup\n");
}

typedef struct gen_opts {
    const char *model, *prompt;
    long long n_predict, top_k, threads, ctx;
    double temp, top_p;
    uint64_t seed;
    bool ignore_eos;
    spec_cli_opts spec;
} gen_opts;

/* Returns 0 to go on, 2 after a usage error, -1 after --help. */
static int parse(int argc, char **argv, gen_opts *o) {
    o->model = o->prompt = NULL;
    o->n_predict = 128;
    o->top_k = 40;
    o->threads = 0;
    o->ctx = 0;
    o->temp = 0.8;
    o->top_p = 0.95;
    o->seed = 42;
    o->ignore_eos = false;
    memset(&o->spec, 0, sizeof o->spec);
    o->spec.controller = "auto";
    o->spec.gamma_max = 8;
    o->spec.compare_plain = true;
    bool spec_opt = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--ignore-eos")) {
            o->ignore_eos = true;
        } else if (!strcmp(a, "--lookup")) {
            o->spec.lookup = true;
        } else if (!strcmp(a, "--no-compare")) {
            o->spec.compare_plain = false;
        } else if (!strcmp(a, "--draft") || !strcmp(a, "--spec") || !strcmp(a, "--gamma-max") ||
                   !strcmp(a, "--trace")) {
            if (!(v = cli_value(CMD, argc, argv, &i)))
                return 2;
            long long g;
            if (!strcmp(a, "--draft")) {
                if (o->spec.n_drafts >= SPEC_CLI_MAX_DRAFTS) {
                    cli_error(CMD, "--draft: at most %d draft models", SPEC_CLI_MAX_DRAFTS);
                    return 2;
                }
                o->spec.draft_paths[o->spec.n_drafts++] = v;
            } else if (!strcmp(a, "--spec")) {
                o->spec.controller = v;
                spec_opt = true;
            } else if (!strcmp(a, "--gamma-max")) {
                if (!cli_parse_int(CMD, a, v, 1, 16, &g))
                    return 2;
                o->spec.gamma_max = (int)g;
                spec_opt = true;
            } else {
                o->spec.trace_path = v;
                o->spec.trace_steps = 1 << 16;
                spec_opt = true;
            }
        } else if (!strcmp(a, "-m") || !strcmp(a, "-p") || !strcmp(a, "-n") ||
                   !strcmp(a, "--temp") || !strcmp(a, "--top-k") || !strcmp(a, "--top-p") ||
                   !strcmp(a, "--seed") || !strcmp(a, "-t") || !strcmp(a, "-c")) {
            if (!(v = cli_value(CMD, argc, argv, &i)))
                return 2;
            bool ok = true;
            if (!strcmp(a, "-m"))
                o->model = v;
            else if (!strcmp(a, "-p"))
                o->prompt = v;
            else if (!strcmp(a, "-n"))
                ok = cli_parse_int(CMD, a, v, 0, 1 << 24, &o->n_predict);
            else if (!strcmp(a, "--temp"))
                ok = cli_parse_float(CMD, a, v, 0.0, 1e6, &o->temp);
            else if (!strcmp(a, "--top-k"))
                ok = cli_parse_int(CMD, a, v, 0, 1 << 24, &o->top_k);
            else if (!strcmp(a, "--top-p")) {
                ok = cli_parse_float(CMD, a, v, 0.0, 1.0, &o->top_p);
                if (ok && o->top_p <= 0.0) {
                    cli_error(CMD, "--top-p: %g must be in (0, 1]", o->top_p);
                    ok = false;
                }
            } else if (!strcmp(a, "--seed"))
                ok = cli_parse_u64(CMD, a, v, &o->seed);
            else if (!strcmp(a, "-t"))
                ok = cli_parse_int(CMD, a, v, 1, 256, &o->threads);
            else if (!strcmp(a, "-c"))
                ok = cli_parse_int(CMD, a, v, 1, 1 << 24, &o->ctx);
            if (!ok)
                return 2;
        } else {
            cli_error(CMD, "%s: unknown option (see 'frugal generate --help')", a);
            return 2;
        }
    }
    if (!o->model) {
        cli_error(CMD, "-m: a model file is required (see 'frugal generate --help')");
        return 2;
    }
    if (!o->prompt) {
        cli_error(CMD, "-p: a prompt is required (see 'frugal generate --help')");
        return 2;
    }
    if (spec_opt && o->spec.n_drafts == 0 && !o->spec.lookup) {
        cli_error(CMD, "--spec/--gamma-max/--trace: need a draft source (--draft FILE or --lookup)");
        return 2;
    }
    return 0;
}

static int run(const gen_opts *o) {
    fr_error err = {0};
    fr_model *model = NULL;
    fr_context *ctx = NULL;
    fr_sampler *smp = NULL;
    int32_t *toks = NULL;
    float *logits = NULL;
    int rc = 1;
    fr_model_params mp = fr_model_default_params();
    mp.require_vocab = true;
    if (fr_model_load(o->model, &mp, &model, &err) != FR_OK) {
        cli_error(CMD, "%s", err.msg);
        return 1;
    }
    fr_model_info info;
    fr_model_get_info(model, &info);
    int32_t n_ctx = o->ctx > 0 ? (int32_t)o->ctx : info.n_ctx_train;

    size_t len = strlen(o->prompt), n_prompt = 0;
    size_t cap = len + 16;
    toks = malloc(sizeof *toks * cap);
    logits = malloc(sizeof *logits * (size_t)info.n_vocab);
    if (!toks || !logits) {
        cli_error(CMD, "out of memory");
        goto done;
    }
    bool add_bos = info.add_bos && info.bos >= 0;
    fr_status st = fr_tokenize(model, o->prompt, len, add_bos, toks, cap, &n_prompt, &err);
    if (st == FR_E_RANGE) {
        int32_t *t2 = realloc(toks, sizeof *toks * (n_prompt + 1));
        if (!t2) {
            cli_error(CMD, "out of memory");
            goto done;
        }
        toks = t2;
        cap = n_prompt + 1;
        st = fr_tokenize(model, o->prompt, len, add_bos, toks, cap, &n_prompt, &err);
    }
    if (st != FR_OK) {
        cli_error(CMD, "-p: %s", err.msg);
        goto done;
    }
    if (n_prompt == 0) {
        cli_error(CMD, "-p: the prompt is empty and the model adds no BOS token");
        rc = 2;
        goto done;
    }
    if (n_prompt > (size_t)n_ctx) {
        cli_error(CMD, "-c: the prompt has %zu tokens, more than the context size %d", n_prompt,
                  n_ctx);
        rc = 2;
        goto done;
    }
    fr_context_params cp = fr_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = (int32_t)o->threads;
    if (fr_context_create(model, &cp, &ctx, &err) != FR_OK) {
        cli_error(CMD, "%s", err.msg);
        goto done;
    }
    fr_sampler_params sp = fr_sampler_default_params();
    sp.temperature = (float)o->temp;
    sp.top_k = (int32_t)o->top_k;
    sp.top_p = (float)o->top_p;
    sp.seed = o->seed;
    if (fr_sampler_create(&sp, info.n_vocab, &smp, &err) != FR_OK) {
        cli_error(CMD, "%s", err.msg);
        goto done;
    }

    fputs(o->prompt, stdout);
    fflush(stdout);
    if (o->spec.n_drafts > 0 || o->spec.lookup) {
        rc = cli_generate_spec(CMD, model, ctx, &o->spec, &sp, toks, (int32_t)n_prompt, o->n_predict,
                               o->ignore_eos, fr_context_n_threads(ctx));
        goto done;
    }
    double t0 = cli_now();
    if (fr_decode(ctx, toks, (int32_t)n_prompt, 0, logits, false, &err) != FR_OK) {
        cli_error(CMD, "%s", err.msg);
        goto done;
    }
    double t1 = cli_now();
    int32_t pos = (int32_t)n_prompt;
    long long n_gen = 0;
    bool ctx_full = false;
    char piece[256];
    while (n_gen < o->n_predict) {
        int32_t tok = fr_sampler_sample(smp, logits, info.n_vocab);
        if (tok < 0) {
            cli_error(CMD, "sampling failed");
            goto done;
        }
        if (tok == info.eos && !o->ignore_eos)
            break;
        size_t np = fr_token_to_piece(model, tok, piece, sizeof piece);
        fwrite(piece, 1, np < sizeof piece ? np : sizeof piece, stdout);
        fflush(stdout);
        n_gen++;
        if (n_gen == o->n_predict)
            break;
        if (pos >= n_ctx) {
            ctx_full = true;
            break;
        }
        if (fr_decode(ctx, &tok, 1, pos, logits, false, &err) != FR_OK) {
            cli_error(CMD, "%s", err.msg);
            goto done;
        }
        pos++;
    }
    double t2 = cli_now();
    fputc('\n', stdout);
    fflush(stdout);
    if (ctx_full)
        fprintf(stderr, "frugal generate: stopped: the context of %d positions is full\n", n_ctx);
    double tp = t1 - t0, tg = t2 - t1;
    fprintf(stderr, "prompt:    %6zu tokens in %8.3f s = %10.2f tokens/s\n", n_prompt, tp,
            tp > 0 ? (double)n_prompt / tp : 0.0);
    fprintf(stderr, "generated: %6lld tokens in %8.3f s = %10.2f tokens/s\n", n_gen, tg,
            tg > 0 ? (double)n_gen / tg : 0.0);
    rc = 0;
done:
    fr_sampler_free(smp);
    fr_context_free(ctx);
    fr_model_free(model);
    free(toks);
    free(logits);
    return rc;
}

int cmd_generate(int argc, char **argv) {
    gen_opts o;
    int rc = parse(argc, argv, &o);
    if (rc == -1)
        return 0;
    if (rc != 0)
        return rc;
    return run(&o);
}

/* `frugal generate` and `frugal bench` as a user runs them: bad options and bad files give
 * exit code 2 (usage) or 1 (runtime) and one stderr line naming the option or file; a tiny
 * random model with a small SentencePiece vocabulary (written here with the GGUF writer)
 * generates text that starts with the prompt, reproducibly for a given seed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "frugal.h"
#include "gguf/gguf.h"

#define FRUGAL FR_BINARY_DIR "/bin/frugal"
#define DIR FR_BINARY_DIR "/tests"
#define TINY DIR "/cli_tiny.gguf"
#define TRUNC DIR "/cli_truncated.gguf"
#define ERRF DIR "/cli_stderr.txt"

enum { D = 32, L = 2, H = 4, KV = 2, F = 64, NV = 300 };

static uint64_t rng = 99;
static float frand(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static void add_matrix(fr_gguf_writer *w, const char *name, int cols, int rows, float *store) {
    for (int i = 0; i < cols * rows; i++)
        store[i] = 0.3f * frand();
    uint64_t ne[2] = {(uint64_t)cols, (uint64_t)rows};
    fr_error e = {0};
    assert_int_equal(fr_gguf_writer_add_tensor(w, name, 0, 2, ne, store, false, &e), FR_OK);
}

static void add_norm(fr_gguf_writer *w, const char *name) {
    float v[D];
    for (int i = 0; i < D; i++)
        v[i] = 1.0f + 0.1f * frand();
    uint64_t ne[1] = {D};
    fr_error e = {0};
    assert_int_equal(fr_gguf_writer_add_tensor(w, name, 0, 1, ne, v, false, &e), FR_OK);
}

/* Vocabulary: <unk> <s> </s>, the 256 byte tokens, then "▁", "a".."z", "▁a".."▁n". */
static void write_tiny(void) {
    fr_gguf_writer *w = NULL;
    fr_error e = {0};
    assert_int_equal(fr_gguf_writer_create(&w, &e), FR_OK);
    fr_gguf_writer_set_str(w, "general.architecture", "llama", &e);
    fr_gguf_writer_set_u32(w, "llama.context_length", 64, &e);
    fr_gguf_writer_set_u32(w, "llama.embedding_length", D, &e);
    fr_gguf_writer_set_u32(w, "llama.block_count", L, &e);
    fr_gguf_writer_set_u32(w, "llama.feed_forward_length", F, &e);
    fr_gguf_writer_set_u32(w, "llama.attention.head_count", H, &e);
    fr_gguf_writer_set_u32(w, "llama.attention.head_count_kv", KV, &e);
    static char names[NV][16];
    const char *ptrs[NV];
    float scores[NV];
    int32_t types[NV];
    strcpy(names[0], "<unk>");
    strcpy(names[1], "<s>");
    strcpy(names[2], "</s>");
    types[0] = 2;
    types[1] = types[2] = 3;
    for (int b = 0; b < 256; b++) {
        snprintf(names[3 + b], 16, "<0x%02X>", b);
        types[3 + b] = 6;
    }
    int k = 259;
    strcpy(names[k++], "\xe2\x96\x81");
    for (char ch = 'a'; ch <= 'z'; ch++)
        snprintf(names[k++], 16, "%c", ch);
    for (char ch = 'a'; ch <= 'n'; ch++)
        snprintf(names[k++], 16, "\xe2\x96\x81%c", ch);
    assert_int_equal(k, NV);
    for (int i = 0; i < NV; i++) {
        ptrs[i] = names[i];
        scores[i] = i < 259 ? 0.0f : -(float)i;
        if (i >= 259)
            types[i] = 1;
    }
    fr_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", &e);
    assert_int_equal(fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", ptrs, NV, &e), FR_OK);
    fr_gguf_writer_set_arr(w, "tokenizer.ggml.scores", FR_GGUF_F32, scores, NV, &e);
    fr_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", FR_GGUF_I32, types, NV, &e);
    fr_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1, &e);
    fr_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2, &e);
    fr_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0, &e);
    float *store = malloc(sizeof(float) * NV * D);
    assert_non_null(store);
    char name[64];
    add_matrix(w, "token_embd.weight", D, NV, store);
    for (int l = 0; l < L; l++) {
#define M(s, c, r)                                                \
    snprintf(name, sizeof name, "blk.%d." s ".weight", l);        \
    add_matrix(w, name, c, r, store);
        M("attn_q", D, D)
        M("attn_k", D, D / H * KV)
        M("attn_v", D, D / H * KV)
        M("attn_output", D, D)
        M("ffn_gate", D, F)
        M("ffn_up", D, F)
        M("ffn_down", F, D)
#undef M
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        add_norm(w, name);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        add_norm(w, name);
    }
    add_norm(w, "output_norm.weight");
    if (fr_gguf_writer_write(w, TINY, 0, &e) != FR_OK) {
        print_error("%s\n", e.msg);
        fail();
    }
    fr_gguf_writer_free(w);
    free(store);
    /* a copy cut in the middle of the tensor data */
    FILE *in = fopen(TINY, "rb"), *out = fopen(TRUNC, "wb");
    assert_non_null(in);
    assert_non_null(out);
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    char *buf = malloc((size_t)size);
    assert_int_equal(fread(buf, 1, (size_t)size, in), (size_t)size);
    fwrite(buf, 1, (size_t)size * 2 / 3, out);
    free(buf);
    fclose(in);
    fclose(out);
}

static int setup(void **state) {
    (void)state;
    mkdir(DIR, 0777);
    write_tiny();
    return 0;
}

/* Runs `frugal ARGS`; returns the exit code, stdout in out (if non-NULL), stderr in err. */
static int run(const char *args, char *out, size_t out_cap, char *err, size_t err_cap) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s 2>%s", FRUGAL, args, ERRF);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    if (out) {
        size_t n = fread(out, 1, out_cap - 1, p);
        out[n] = '\0';
    }
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0) {
    }
    int st = pclose(p);
    FILE *f = fopen(ERRF, "r");
    assert_non_null(f);
    size_t m = fread(err, 1, err_cap - 1, f);
    err[m] = '\0';
    fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

typedef struct bad_case {
    const char *args;
    int code;
    const char *needle;
} bad_case;

static void test_bad_options(void **state) {
    (void)state;
    const bad_case cases[] = {
        {"generate", 2, "-m"},
        {"generate -m " TINY, 2, "-p"},
        {"generate -m " TINY " -p hi -n abc", 2, "-n"},
        {"generate -m " TINY " -p hi -n -5", 2, "-n"},
        {"generate -m " TINY " -p hi -n 5x", 2, "-n"},
        {"generate -m " TINY " -p hi -n", 2, "-n"},
        {"generate -m " TINY " -p hi --temp -1", 2, "--temp"},
        {"generate -m " TINY " -p hi --temp nan", 2, "--temp"},
        {"generate -m " TINY " -p hi --top-k x", 2, "--top-k"},
        {"generate -m " TINY " -p hi --top-k -1", 2, "--top-k"},
        {"generate -m " TINY " -p hi --top-p 0", 2, "--top-p"},
        {"generate -m " TINY " -p hi --top-p 1.5", 2, "--top-p"},
        {"generate -m " TINY " -p hi --seed -3", 2, "--seed"},
        {"generate -m " TINY " -p hi -t 0", 2, "-t"},
        {"generate -m " TINY " -p hi -t 300", 2, "-t"},
        {"generate -m " TINY " -p hi -c 0", 2, "-c"},
        {"generate -m " TINY " -p hi -c -4", 2, "-c"},
        {"generate -m " TINY " -p hi --bogus", 2, "--bogus"},
        {"generate -m " TINY " -p 'a rather long prompt for a tiny context' -c 4", 2, "-c"},
        {"generate -m " DIR "/no_such_model.gguf -p hi", 1, "no_such_model.gguf"},
        {"generate -m " TRUNC " -p hi", 1, "cli_truncated.gguf"},
        {"bench", 2, "-m"},
        {"bench -m " TINY " -r 0", 2, "-r"},
        {"bench -m " TINY " -p x", 2, "-p"},
        {"bench -m " TINY " -t 999", 2, "-t"},
        {"bench -m " TINY " --what", 2, "--what"},
        {"bench -m " TINY " -p 0 -n 0", 2, "-n"},
        {"bench -m " TRUNC, 1, "cli_truncated.gguf"},
    };
    char err[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int code = run(cases[i].args, NULL, 0, err, sizeof err);
        const char *nl = strchr(err, '\n');
        bool one_line = nl && nl[1] == '\0';
        const char *cmd = strncmp(cases[i].args, "bench", 5) ? "frugal generate: "
                                                             : "frugal bench: ";
        if (code != cases[i].code || !strstr(err, cases[i].needle) || !one_line ||
            strncmp(err, cmd, strlen(cmd))) {
            print_error("'%s': exit %d (want %d), stderr '%s' (want one line with '%s')\n",
                        cases[i].args, code, cases[i].code, err, cases[i].needle);
            fail();
        }
    }
}

static void test_generate_happy(void **state) {
    (void)state;
    char out[8192], err[4096], out2[8192];
    int code = run("generate -m " TINY " -p 'hello world' -n 12 --temp 0 --ignore-eos", out,
                   sizeof out, err, sizeof err);
    if (code != 0) {
        print_error("exit %d: %s\n", code, err);
        fail();
    }
    assert_true(strncmp(out, "hello world", 11) == 0);
    assert_true(strlen(out) > 12);
    assert_non_null(strstr(err, "prompt:"));
    assert_non_null(strstr(err, "generated:"));
    assert_non_null(strstr(err, "12 tokens"));
    assert_non_null(strstr(err, "tokens/s"));
    /* sampling is reproducible for a seed and changes with it */
    const char *a = "generate -m " TINY " -p 'abc' -n 40 --temp 1.5 --top-k 0 --top-p 1 "
                    "--seed 5 -t 2 --ignore-eos";
    assert_int_equal(run(a, out, sizeof out, err, sizeof err), 0);
    assert_int_equal(run(a, out2, sizeof out2, err, sizeof err), 0);
    assert_string_equal(out, out2);
    assert_int_equal(run("generate -m " TINY " -p 'abc' -n 40 --temp 1.5 --top-k 0 --top-p 1 "
                         "--seed 6 -t 1 --ignore-eos",
                         out2, sizeof out2, err, sizeof err),
                     0);
    assert_true(strncmp(out2, "abc", 3) == 0);
    assert_string_not_equal(out, out2);
    /* generation stops at the end of the context */
    code = run("generate -m " TINY " -p 'hi' -n 100 -c 8 --temp 0 --ignore-eos", out, sizeof out,
               err, sizeof err);
    assert_int_equal(code, 0);
    assert_non_null(strstr(err, "context"));
    /* --help */
    assert_int_equal(run("generate --help", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "--top-p"));
}

static void test_bench_happy(void **state) {
    (void)state;
    char out[8192], err[4096];
    int code = run("bench -m " TINY " -p 16 -n 8 -r 2 -t 1", out, sizeof out, err, sizeof err);
    if (code != 0) {
        print_error("exit %d: %s\n", code, err);
        fail();
    }
    assert_non_null(strstr(out, "pp16"));
    assert_non_null(strstr(out, "tg8"));
    assert_non_null(strstr(out, "t/s"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_generate_happy),
        cmocka_unit_test(test_bench_happy),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

/* `frugal info` and `frugal convert-llama2c` as a user runs them: output, exit codes, and
 * one-line errors naming the file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FRUGAL FR_BINARY_DIR "/bin/frugal"
#define MODEL FR_ASSETS "/llm/stories260K.bin"
#define TOK FR_ASSETS "/llm/tok512.bin"

static char out_file[512], err_file[512];

/* Runs `frugal ARGS`, capturing stdout and stderr; returns the exit code. */
static int run(const char *args, char **out, char **errs) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s", FRUGAL, args, out_file, err_file);
    int st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    const char *files[2] = {out_file, err_file};
    char **dst[2] = {out, errs};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = malloc((size_t)n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
        buf[n] = '\0';
        fclose(f);
        *dst[i] = buf;
    }
    return WEXITSTATUS(st);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static int setup(void **state) {
    (void)state;
    snprintf(out_file, sizeof out_file, "%s/test_gguf_cli_%ld.out", FR_BINARY_DIR, (long)getpid());
    snprintf(err_file, sizeof err_file, "%s/test_gguf_cli_%ld.err", FR_BINARY_DIR, (long)getpid());
    return 0;
}

static int teardown(void **state) {
    (void)state;
    unlink(out_file);
    unlink(err_file);
    return 0;
}

static void test_convert_and_info(void **state) {
    (void)state;
    if (access(MODEL, R_OK) != 0) {
        printf("SKIPPED: %s not found\n", MODEL);
        skip();
    }
    char gguf[512], args[2048];
    snprintf(gguf, sizeof gguf, "%s/test_gguf_cli_%ld.gguf", FR_BINARY_DIR, (long)getpid());
    char *o, *e;
    snprintf(args, sizeof args, "convert-llama2c %s %s %s --type q8_0", MODEL, TOK, gguf);
    int rc = run(args, &o, &e);
    if (rc) print_error("%s", e);
    assert_int_equal(rc, 0);
    free(o);
    free(e);

    snprintf(args, sizeof args, "info %s", gguf);
    assert_int_equal(run(args, &o, &e), 0);
    assert_string_equal(e, "");
    const char *want[] = {
        "version:   3\n",
        "alignment: 32\n",
        "general.architecture (string) = \"llama\"\n",
        "llama.block_count (u32) = 5\n",
        "llama.attention.head_count_kv (u32) = 4\n",
        "tokenizer.ggml.tokens (array) = [string x 512] \"<unk>\", \"<s>\", \"</s>\", \"<0x00>\"",
        "tokenizer.ggml.token_type (array) = [i32 x 512] 2, 3, 3, 6, 6,",
        "token_embd.weight",
        "blk.4.ffn_down.weight                    f16   [172 x 64] 22016 bytes @",
        "blk.0.attn_k.weight                      q8_0  [64 x 32] 2176 bytes @",
        "output_norm.weight                       f32   [64] 256 bytes @",
        "tensors:   47\n",
        "total:     47 tensors",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(o, want[i])) print_error("missing '%s' in:\n%s", want[i], o);
        assert_non_null(strstr(o, want[i]));
    }
    free(o);
    free(e);
    unlink(gguf);
}

static void test_errors(void **state) {
    (void)state;
    char *o, *e;
    /* Not a GGUF file: one line on stderr naming it, exit 1. */
    char bad[512], args[2048];
    snprintf(bad, sizeof bad, "%s/test_gguf_cli_%ld.bad", FR_BINARY_DIR, (long)getpid());
    FILE *f = fopen(bad, "wb");
    assert_non_null(f);
    fputs("GGUF\x03", f);
    fclose(f);
    snprintf(args, sizeof args, "info %s", bad);
    assert_int_equal(run(args, &o, &e), 1);
    assert_string_equal(o, "");
    assert_int_equal(count_lines(e), 1);
    char prefix[600];
    snprintf(prefix, sizeof prefix, "frugal info: %s: ", bad);
    assert_true(strncmp(e, prefix, strlen(prefix)) == 0);
    free(o);
    free(e);

    assert_int_equal(run("info /nonexistent.gguf", &o, &e), 1);
    assert_non_null(strstr(e, "frugal info: /nonexistent.gguf: cannot open"));
    assert_int_equal(count_lines(e), 1);
    free(o);
    free(e);

    assert_int_equal(run("info", &o, &e), 2);
    free(o);
    free(e);
    assert_int_equal(run("info a.gguf b.gguf", &o, &e), 2);
    free(o);
    free(e);
    assert_int_equal(run("info --help", &o, &e), 0);
    assert_non_null(strstr(o, "usage: frugal info"));
    free(o);
    free(e);

    /* convert-llama2c: usage errors exit 2, bad files exit 1 with one line naming the file. */
    assert_int_equal(run("convert-llama2c --help", &o, &e), 0);
    assert_non_null(strstr(o, "--type"));
    free(o);
    free(e);
    assert_int_equal(run("convert-llama2c a b", &o, &e), 2);
    free(o);
    free(e);
    assert_int_equal(run("convert-llama2c a b c --type q5_1", &o, &e), 2);
    assert_non_null(strstr(e, "q5_1"));
    free(o);
    free(e);
    char out[512];
    snprintf(out, sizeof out, "%s/test_gguf_cli_%ld.gguf", FR_BINARY_DIR, (long)getpid());
    snprintf(args, sizeof args, "convert-llama2c %s %s %s", bad, TOK, out);
    assert_int_equal(run(args, &o, &e), 1);
    assert_int_equal(count_lines(e), 1);
    snprintf(prefix, sizeof prefix, "frugal convert-llama2c: %s: ", bad);
    assert_true(strncmp(e, prefix, strlen(prefix)) == 0);
    assert_int_not_equal(access(out, F_OK), 0);
    free(o);
    free(e);
    unlink(bad);
}

int main(void) {
    if (access(FRUGAL, X_OK) != 0) {
        fprintf(stderr, "test_gguf_cli: %s not built\n", FRUGAL);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_and_info),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

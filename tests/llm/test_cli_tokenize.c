/* `frugal tokenize`: runs the built CLI on the SentencePiece vocab-only GGUF with llama.cpp
 * vector strings and checks the printed ids; checks usage and error exits. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FRUGAL FR_BINARY_DIR "/bin/frugal"
#define SPM_GGUF FR_ASSETS "/llm/vocab/ggml-vocab-llama-spm.gguf"
#define BPE_GGUF FR_ASSETS "/llm/vocab/ggml-vocab-gpt-2.gguf"

/* Runs a shell command; returns its exit code and its output (stdout, plus stderr when
 * the command redirects it) in buf. */
static int run(const char *cmd, char *buf, size_t cap) {
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(buf, 1, cap - 1, p);
    buf[n] = 0;
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* False (after printing SKIPPED) only when the whole assets folder is absent. */
static bool have(const char *path) {
    if (access(FR_ASSETS, F_OK) != 0) {
        printf("SKIPPED: %s not found\n", FR_ASSETS);
        return false;
    }
    if (access(path, R_OK) != 0) {
        printf("%s not found in the assets folder\n", path);
        fail();
    }
    return true;
}

static void test_vectors(void **state) {
    (void)state;
    if (!have(SPM_GGUF) || !have(BPE_GGUF)) {
        skip();
        return;
    }
    char out[4096];
    assert_int_equal(run(FRUGAL " tokenize -m '" SPM_GGUF "' 'Hello world'", out, sizeof out), 0);
    assert_string_equal(out, "15043 3186\n");
    assert_int_equal(run(FRUGAL " tokenize -m '" SPM_GGUF "' ' Hello World!'", out, sizeof out), 0);
    assert_string_equal(out, "29871 15043 2787 29991\n");
    assert_int_equal(run(FRUGAL " tokenize -m '" SPM_GGUF "' --bos 'Hello world'", out, sizeof out), 0);
    assert_string_equal(out, "1 15043 3186\n");
    assert_int_equal(run(FRUGAL " tokenize -m '" SPM_GGUF "' ''", out, sizeof out), 0);
    assert_string_equal(out, "\n");
    assert_int_equal(run(FRUGAL " tokenize -m '" BPE_GGUF "' \"Hello, y'all!\"", out, sizeof out), 0);
    assert_string_equal(out, "15496 11 331 6 439 0\n");
    assert_int_equal(run("printf '    Hello\\n    Hello' | " FRUGAL " tokenize -m '" BPE_GGUF "' -f -",
                         out, sizeof out), 0);
    assert_string_equal(out, "220 220 220 18435 198 220 220 220 18435\n");
}

static void test_errors(void **state) {
    (void)state;
    char out[4096];
    assert_int_equal(run(FRUGAL " tokenize --help", out, sizeof out), 0);
    assert_non_null(strstr(out, "usage: frugal tokenize"));
    assert_int_equal(run(FRUGAL " tokenize 'x' 2>&1", out, sizeof out), 2);
    assert_non_null(strstr(out, "frugal tokenize: missing -m"));
    assert_int_equal(run(FRUGAL " tokenize -m 2>&1", out, sizeof out), 2);
    assert_int_equal(run(FRUGAL " tokenize -m a.gguf --what x 2>&1", out, sizeof out), 2);
    assert_non_null(strstr(out, "--what"));
    /* a missing file: one line naming it, exit 1 */
    assert_int_equal(run(FRUGAL " tokenize -m /nonexistent/v.gguf 'x' 2>&1", out, sizeof out), 1);
    assert_non_null(strstr(out, "frugal tokenize: "));
    assert_non_null(strstr(out, "/nonexistent/v.gguf"));
    size_t lines = 0;
    for (const char *c = out; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 1);
    /* not a GGUF at all */
    char path[512];
    snprintf(path, sizeof path, "%s/test_cli_tokenize_%ld.txt", FR_BINARY_DIR, (long)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not a gguf file\n", f);
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, FRUGAL " tokenize -m '%s' 'x' 2>&1", path);
    assert_int_equal(run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, path));
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

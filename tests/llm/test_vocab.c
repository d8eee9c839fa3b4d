/* Tokenizers: llama.cpp's own test vectors (SentencePiece and GPT-2 BPE vocab-only GGUFs),
 * round trips through fr_vocab_piece, BOS handling, synthetic vocabularies for the merge
 * order and special tokens, and hostile vocabulary GGUFs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "llm/vocab.h"

#define VOCAB_DIR FR_ASSETS "/llm/vocab"
#define SPM_GGUF VOCAB_DIR "/ggml-vocab-llama-spm.gguf"
#define BPE_GGUF VOCAB_DIR "/ggml-vocab-gpt-2.gguf"

/* ---- helpers ------------------------------------------------------------------------ */

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    p[n] = 0;
    *len = (size_t)n;
    return p;
}

/* False (after printing SKIPPED) only when the whole assets folder is absent; a file
 * missing from a present folder is a failure. */
static bool have_file(const char *path) {
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

typedef struct vectors {
    char *inp, *out;       /* file contents (strings point into inp, ids parsed from out) */
    const char *text[128];
    size_t len[128];
    int32_t *ids[128];
    size_t n_ids[128];
    size_t n;
} vectors;

/* .inp: strings each followed by "\n__ggml_vocab_test__\n"; .out: one line of ids each. */
static void load_vectors(const char *gguf, vectors *t) {
    char path[512];
    size_t ilen, olen;
    memset(t, 0, sizeof *t);
    snprintf(path, sizeof path, "%s.inp", gguf);
    t->inp = slurp(path, &ilen);
    assert_non_null(t->inp);
    snprintf(path, sizeof path, "%s.out", gguf);
    t->out = slurp(path, &olen);
    assert_non_null(t->out);
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t seplen = strlen(sep);
    char *p = t->inp;
    for (;;) {
        char *q = strstr(p, sep);
        if (!q) break;
        assert_true(t->n < 128);
        t->text[t->n] = p;
        t->len[t->n] = (size_t)(q - p);
        t->n++;
        p = q + seplen;
    }
    size_t line = 0;
    char *o = t->out;
    while (*o) {
        char *nl = strchr(o, '\n');
        if (nl) *nl = 0;
        assert_true(line < t->n);
        t->ids[line] = malloc((strlen(o) / 2 + 1) * sizeof(int32_t));
        assert_non_null(t->ids[line]);
        char *e = o;
        for (;;) {
            char *end;
            long x = strtol(e, &end, 10);
            if (end == e) break;
            t->ids[line][t->n_ids[line]++] = (int32_t)x;
            e = end;
        }
        line++;
        if (!nl) break;
        o = nl + 1;
    }
    assert_int_equal(line, t->n);
}

static void free_vectors(vectors *t) {
    for (size_t i = 0; i < t->n; i++) free(t->ids[i]);
    free(t->inp);
    free(t->out);
}

static void print_escaped(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            printf("\\n");
        else if (c == '\t')
            printf("\\t");
        else if (c < 0x20 || c == '"' || c == '\\')
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    printf("  %s (%zu):", label, n);
    for (size_t i = 0; i < n; i++) printf(" %d", (int)ids[i]);
    printf("\n");
}

static fr_vocab *open_vocab(const char *path, fr_gguf **g) {
    fr_error err = {0};
    fr_vocab *v = NULL;
    if (fr_gguf_open(path, g, &err) != FR_OK || fr_vocab_load(*g, &v, &err) != FR_OK) {
        printf("%s\n", err.msg);
        fail();
    }
    return v;
}

/* Encodes into a fresh array (caller frees). */
static int32_t *encode(const fr_vocab *v, const char *s, size_t n, bool bos, size_t *n_out) {
    size_t cap = 3 * n + 8;
    int32_t *ids = malloc(cap * sizeof *ids);
    assert_non_null(ids);
    fr_error err = {0};
    fr_status st = fr_vocab_encode(v, s, n, bos, ids, cap, n_out, &err);
    if (st) printf("encode failed: %s\n", err.msg);
    assert_int_equal(st, FR_OK);
    return ids;
}

/* Concatenated pieces (caller frees). */
static char *decode(const fr_vocab *v, const int32_t *ids, size_t n, size_t *len) {
    size_t cap = 64, used = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        size_t k = fr_vocab_piece(v, ids[i], NULL, 0);
        while (used + k + 1 > cap) {
            cap *= 2;
            s = realloc(s, cap);
            assert_non_null(s);
        }
        assert_int_equal(fr_vocab_piece(v, ids[i], s + used, k), k);
        used += k;
    }
    s[used] = 0;
    *len = used;
    return s;
}

/* ---- llama.cpp vectors -------------------------------------------------------------- */

static void run_vectors(const char *gguf) {
    if (!have_file(gguf)) {
        skip();
        return;
    }
    vectors t;
    load_vectors(gguf, &t);
    fr_gguf *g = NULL;
    fr_vocab *v = open_vocab(gguf, &g);
    size_t failed = 0;
    for (size_t i = 0; i < t.n; i++) {
        size_t n = 0;
        int32_t *ids = encode(v, t.text[i], t.len[i], false, &n);
        bool ok = n == t.n_ids[i] && memcmp(ids, t.ids[i], n * sizeof *ids) == 0;
        if (!ok) {
            failed++;
            printf("%s: string %zu ", gguf, i);
            print_escaped(t.text[i], t.len[i]);
            printf(" encodes wrongly\n");
            print_ids("expected", t.ids[i], t.n_ids[i]);
            print_ids("got     ", ids, n);
            size_t k = 0;
            while (k < n && k < t.n_ids[i] && ids[k] == t.ids[i][k]) k++;
            printf("  first difference at position %zu\n", k);
        }
        free(ids);
    }
    printf("%s: %zu/%zu strings match\n", gguf, t.n - failed, t.n);
    fr_vocab_free(v);
    fr_gguf_close(g);
    free_vectors(&t);
    assert_int_equal(failed, 0);
}

static void test_spm_vectors(void **state) {
    (void)state;
    run_vectors(SPM_GGUF);
}

static void test_bpe_vectors(void **state) {
    (void)state;
    run_vectors(BPE_GGUF);
}

/* decode(encode(s)) == s; SentencePiece adds one leading space to non-empty text. */
static void run_round_trip(const char *gguf) {
    if (!have_file(gguf)) {
        skip();
        return;
    }
    vectors t;
    load_vectors(gguf, &t);
    fr_gguf *g = NULL;
    fr_vocab *v = open_vocab(gguf, &g);
    bool spm = fr_vocab_get_kind(v) == FR_VOCAB_SPM;
    for (size_t i = 0; i < t.n; i++) {
        size_t n, len;
        int32_t *ids = encode(v, t.text[i], t.len[i], true, &n);
        char *s = decode(v, ids, n, &len);
        const char *d = s;
        if (spm && t.len[i] > 0) {
            assert_true(len > 0 && s[0] == ' ');
            d++;
            len--;
        }
        if (len != t.len[i] || memcmp(d, t.text[i], len) != 0) {
            printf("%s: string %zu does not round-trip: ", gguf, i);
            print_escaped(t.text[i], t.len[i]);
            printf(" -> ");
            print_escaped(d, len);
            printf("\n");
            fail();
        }
        free(s);
        free(ids);
    }
    fr_vocab_free(v);
    fr_gguf_close(g);
    free_vectors(&t);
}

static void test_spm_round_trip(void **state) {
    (void)state;
    run_round_trip(SPM_GGUF);
}

static void test_bpe_round_trip(void **state) {
    (void)state;
    run_round_trip(BPE_GGUF);
}

/* Random valid UTF-8 from a mix of scripts round-trips; random bytes never crash. */
static void test_random_text(void **state) {
    (void)state;
    if (!have_file(SPM_GGUF) || !have_file(BPE_GGUF)) {
        skip();
        return;
    }
    static const uint32_t cps[] = {' ', ' ', 'a', 'e', 'z', 'Q', '0', '7', '\'', '!', '\n', '\t',
                                   0xE9, 0xDF, 0x3B1, 0x416, 0x5D0, 0x627, 0x915, 0x4E2D,
                                   0x6587, 0x3042, 0xAC00, 0x1F600, 0x1F44D, 0x2028, 0xA0, 0x3000};
    const char *paths[2] = {SPM_GGUF, BPE_GGUF};
    unsigned seed = 12345;
    for (int p = 0; p < 2; p++) {
        fr_gguf *g = NULL;
        fr_vocab *v = open_vocab(paths[p], &g);
        bool spm = fr_vocab_get_kind(v) == FR_VOCAB_SPM;
        for (int it = 0; it < 200; it++) {
            char text[512];
            size_t len = 0;
            int n_cp = (int)(rand_r(&seed) % 40);
            for (int k = 0; k < n_cp; k++) {
                uint32_t c = cps[rand_r(&seed) % (sizeof cps / sizeof cps[0])];
                if (c < 0x80) {
                    text[len++] = (char)c;
                } else if (c < 0x800) {
                    text[len++] = (char)(0xC0 | (c >> 6));
                    text[len++] = (char)(0x80 | (c & 0x3F));
                } else if (c < 0x10000) {
                    text[len++] = (char)(0xE0 | (c >> 12));
                    text[len++] = (char)(0x80 | ((c >> 6) & 0x3F));
                    text[len++] = (char)(0x80 | (c & 0x3F));
                } else {
                    text[len++] = (char)(0xF0 | (c >> 18));
                    text[len++] = (char)(0x80 | ((c >> 12) & 0x3F));
                    text[len++] = (char)(0x80 | ((c >> 6) & 0x3F));
                    text[len++] = (char)(0x80 | (c & 0x3F));
                }
            }
            size_t n, dlen;
            int32_t *ids = encode(v, text, len, false, &n);
            char *d = decode(v, ids, n, &dlen);
            size_t skip_sp = (spm && len > 0) ? 1 : 0;
            assert_int_equal(dlen, len + skip_sp);
            assert_memory_equal(d + skip_sp, text, len);
            free(d);
            free(ids);

            /* Raw random bytes, invalid UTF-8 included. */
            len = rand_r(&seed) % 48;
            for (size_t k = 0; k < len; k++) text[k] = (char)(rand_r(&seed) & 0xFF);
            ids = encode(v, text, len, false, &n);
            for (size_t k = 0; k < n; k++) assert_true(ids[k] >= 0 && ids[k] < fr_vocab_n_tokens(v));
            /* SPM keeps every byte, except that a space (escaped to 3 bytes before the
             * split into characters) may be swallowed by a stray lead byte, as in llama.cpp. */
            if (spm && !memchr(text, 0xE2, len) && !memchr(text, ' ', len)) {
                d = decode(v, ids, n, &dlen);
                assert_int_equal(dlen, len + (len > 0));
                assert_memory_equal(d + (len > 0), text, len);
                free(d);
            }
            free(ids);
        }
        fr_vocab_free(v);
        fr_gguf_close(g);
    }
}

static void test_bos_and_metadata(void **state) {
    (void)state;
    if (!have_file(SPM_GGUF) || !have_file(BPE_GGUF)) {
        skip();
        return;
    }
    fr_gguf *g = NULL;
    fr_vocab *v = open_vocab(SPM_GGUF, &g);
    assert_int_equal(fr_vocab_get_kind(v), FR_VOCAB_SPM);
    assert_int_equal(fr_vocab_n_tokens(v), 32000);
    assert_int_equal(fr_vocab_bos(v), 1);
    assert_int_equal(fr_vocab_eos(v), 2);
    assert_int_equal(fr_vocab_unk(v), 0);
    assert_true(fr_vocab_add_bos(v));
    assert_true(fr_vocab_add_space_prefix(v));
    assert_string_equal(fr_vocab_token_text(v, 1), "<s>");
    assert_string_equal(fr_vocab_token_text(v, -1), "");
    assert_string_equal(fr_vocab_token_text(v, 32000), "");
    assert_int_equal(fr_vocab_token_type_of(v, 1), FR_TOKEN_CONTROL);
    assert_int_equal(fr_vocab_token_type_of(v, 3), FR_TOKEN_BYTE);
    assert_int_equal(fr_vocab_find(v, "<0x0A>", 6), 13);

    size_t n;
    int32_t *ids = encode(v, "Hello world", 11, true, &n);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 15043);
    assert_int_equal(ids[2], 3186);
    free(ids);
    ids = encode(v, "", 0, true, &n); /* empty text: only BOS, no space */
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 1);
    free(ids);
    ids = encode(v, "", 0, false, &n);
    assert_int_equal(n, 0);
    free(ids);

    /* Output buffer too small: FR_E_RANGE with the count needed. */
    int32_t small[2];
    fr_error err = {0};
    assert_int_equal(fr_vocab_encode(v, "Hello world", 11, true, small, 2, &n, &err), FR_E_RANGE);
    assert_int_equal(n, 3);
    assert_int_equal(small[0], 1);
    assert_int_equal(fr_vocab_encode(v, "Hello", 5, false, NULL, 0, &n, &err), FR_E_RANGE);
    assert_int_equal(n, 1);

    /* Pieces: control -> nothing, byte -> the byte, U+2581 -> space. */
    char buf[16];
    assert_int_equal(fr_vocab_piece(v, 1, buf, sizeof buf), 0);
    assert_int_equal(fr_vocab_piece(v, 13, buf, sizeof buf), 1);
    assert_int_equal(buf[0], '\n');
    assert_int_equal(fr_vocab_piece(v, 15043, buf, sizeof buf), 6);
    assert_memory_equal(buf, " Hello", 6);
    assert_int_equal(fr_vocab_piece(v, 15043, buf, 2), 6); /* truncated: reports full size */
    assert_int_equal(fr_vocab_piece(v, 99999, buf, sizeof buf), 0);

    /* parse_special: "<s>" in the text becomes BOS; a space is prefixed after it. */
    int32_t out[16];
    assert_int_equal(fr_vocab_encode_special(v, "<s>Hello", 8, false, true, out, 16, &n, &err),
                     FR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 15043); /* "▁Hello" */
    fr_vocab_free(v);
    fr_gguf_close(g);

    v = open_vocab(BPE_GGUF, &g);
    assert_int_equal(fr_vocab_get_kind(v), FR_VOCAB_BPE);
    assert_int_equal(fr_vocab_n_tokens(v), 50257);
    assert_int_equal(fr_vocab_bos(v), 50256);
    assert_false(fr_vocab_add_bos(v));
    ids = encode(v, "Hello world", 11, true, &n);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 50256);
    assert_int_equal(ids[1], 15496);
    assert_int_equal(ids[2], 995);
    free(ids);
    assert_int_equal(fr_vocab_piece(v, 50256, buf, sizeof buf), 0);
    assert_int_equal(fr_vocab_piece(v, 220, buf, sizeof buf), 1);
    assert_int_equal(buf[0], ' ');
    assert_int_equal(fr_vocab_piece(v, 198, buf, sizeof buf), 1);
    assert_int_equal(buf[0], '\n');
    fr_vocab_free(v);
    fr_gguf_close(g);
}

/* Encoding about 100 KB; prints the time (speed goals live in bench/, not here). */
static void test_large_text(void **state) {
    (void)state;
    if (!have_file(SPM_GGUF) || !have_file(BPE_GGUF)) {
        skip();
        return;
    }
    char path[512];
    size_t ilen;
    snprintf(path, sizeof path, "%s.inp", SPM_GGUF);
    char *inp = slurp(path, &ilen);
    assert_non_null(inp);
    size_t reps = 100000 / ilen + 1, len = reps * ilen;
    char *text = malloc(len);
    assert_non_null(text);
    for (size_t r = 0; r < reps; r++) memcpy(text + r * ilen, inp, ilen);
    const char *paths[2] = {SPM_GGUF, BPE_GGUF};
    for (int p = 0; p < 2; p++) {
        fr_gguf *g = NULL;
        fr_vocab *v = open_vocab(paths[p], &g);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        size_t n;
        int32_t *ids = encode(v, text, len, false, &n);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        printf("%s: %zu bytes -> %zu tokens in %.1f ms\n", paths[p], len, n, ms);
        /* The ids must still decode to the text. */
        size_t dlen;
        char *d = decode(v, ids, n, &dlen);
        size_t sp = fr_vocab_get_kind(v) == FR_VOCAB_SPM ? 1 : 0;
        assert_int_equal(dlen, len + sp);
        assert_memory_equal(d + sp, text, len);
        free(d);
        free(ids);
        fr_vocab_free(v);
        fr_gguf_close(g);
    }
    free(text);
    free(inp);
}

/* ---- against an independent reference ----------------------------------------------- */

static size_t put_utf8(char *o, uint32_t c) {
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Strings for the reference check, NUL-separated: the vector strings, random mixes of
 * code points from many classes, and slices of tiny-shakespeare when the corpus is there. */
static char *reference_strings(const char *inp_path, size_t *len, size_t *count) {
    static const uint32_t pool[] = {
        ' ', ' ', ' ', 'a', 'e', 't', 'Z', 'Q', '0', '4', '9', '\'', 's', 'l', 'r', 'v', 'd',
        'm', '!', '?', '.', ',', '-', '$', '<', '>', '\n', '\n', '\r', '\t', 0x0B, 0x0C, 0x1C,
        0x7F, 0x85, 0xA0, 0xAD, 0xB2, 0xBD, 0xE9, 0xDF, 0x301, 0x3B1, 0x416, 0x5D0, 0x627,
        0x663, 0x915, 0x94D, 0x967, 0x1680, 0x2003, 0x200B, 0x2028, 0x2029, 0x202F, 0x2014,
        0x201C, 0x2160, 0x2581, 0x3000, 0x3042, 0x4E2D, 0x6587, 0xAC00, 0xFEFF, 0xFFFD,
        0x1D7D8, 0x1F600, 0x1F44D, 0x1F3FD};
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    *count = 0;
    size_t ilen;
    char *inp = slurp(inp_path, &ilen);
    assert_non_null(inp);
    const char *sep = "\n__ggml_vocab_test__\n";
    for (char *p = inp, *q; (q = strstr(p, sep)); p = q + strlen(sep)) {
        memcpy(buf + n, p, (size_t)(q - p));
        n += (size_t)(q - p);
        buf[n++] = 0;
        ++*count;
    }
    free(inp);
    unsigned seed = 4242;
    for (int k = 0; k < 250; k++) {
        int m = (int)(rand_r(&seed) % 24);
        for (int j = 0; j < m; j++) n += put_utf8(buf + n, pool[rand_r(&seed) % (sizeof pool / sizeof pool[0])]);
        buf[n++] = 0;
        ++*count;
    }
    size_t clen;
    char *corpus = slurp(FR_ASSETS "/../corpus/char-rnn/data/tinyshakespeare/input.txt", &clen);
    if (corpus && clen > 1000) {
        for (int k = 0; k < 60; k++) {
            size_t at = rand_r(&seed) % (clen - 400), l = 1 + rand_r(&seed) % 300;
            for (size_t j = 0; j < l; j++)
                if (corpus[at + j]) buf[n++] = corpus[at + j];
            buf[n++] = 0;
            ++*count;
        }
    }
    free(corpus);
    n--; /* no separator after the last string */
    *len = n;
    return buf;
}

static void run_reference(const char *gguf, const char *kind) {
    if (!have_file(gguf) || access(FR_PYTHON, X_OK) != 0) {
        if (access(FR_PYTHON, X_OK) != 0) printf("SKIPPED: %s not found\n", FR_PYTHON);
        skip();
        return;
    }
    char path[512], cmd[2048];
    snprintf(path, sizeof path, "%s.inp", gguf);
    size_t len, count;
    char *strs = reference_strings(path, &len, &count);
    snprintf(path, sizeof path, "%s/test_vocab_%ld_%s.strings", FR_BINARY_DIR, (long)getpid(), kind);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(strs, 1, len, f), len);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' '%s/tools/py/vocab_ref.py' %s '%s' '%s'", FR_PYTHON,
             FR_SOURCE_DIR, kind, gguf, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    fr_gguf *g = NULL;
    fr_vocab *v = open_vocab(gguf, &g);
    size_t lcap = 1 << 16, failed = 0, seen = 0;
    char *line = malloc(lcap);
    int32_t *want = malloc(lcap * sizeof *want);
    assert_non_null(line);
    assert_non_null(want);
    const char *s = strs;
    while (fgets(line, (int)lcap, p)) {
        assert_true(seen < count);
        size_t sl = strlen(s), nw = 0, n;
        for (char *e = line, *end;; e = end) {
            long x = strtol(e, &end, 10);
            if (end == e) break;
            want[nw++] = (int32_t)x;
        }
        int32_t *ids = encode(v, s, sl, false, &n);
        if (n != nw || memcmp(ids, want, n * sizeof *ids) != 0) {
            if (failed++ < 5) {
                printf("%s: string %zu ", kind, seen);
                print_escaped(s, sl);
                printf(" differs from the reference\n");
                print_ids("reference", want, nw);
                print_ids("frugal   ", ids, n);
            }
        }
        free(ids);
        s += sl + 1;
        seen++;
    }
    assert_int_equal(pclose(p), 0);
    unlink(path);
    printf("%s: %zu/%zu strings agree with tools/py/vocab_ref.py\n", kind, seen - failed, count);
    assert_int_equal(seen, count);
    assert_int_equal(failed, 0);
    free(line);
    free(want);
    free(strs);
    fr_vocab_free(v);
    fr_gguf_close(g);
}

static void test_spm_reference(void **state) {
    (void)state;
    run_reference(SPM_GGUF, "spm");
}

static void test_bpe_reference(void **state) {
    (void)state;
    run_reference(BPE_GGUF, "bpe");
}

/* ---- synthetic vocabularies ---------------------------------------------------------- */

/* Writes w to a temporary file, opens it and loads the vocabulary. */
static fr_status load_written(fr_gguf_writer *w, const char *tag, fr_vocab **out, fr_gguf **gout,
                              fr_error *err) {
    char path[512];
    snprintf(path, sizeof path, "%s/test_vocab_%ld_%s.gguf", FR_BINARY_DIR, (long)getpid(), tag);
    fr_error werr = {0};
    if (fr_gguf_writer_write(w, path, 0, &werr) != FR_OK) {
        printf("writer: %s\n", werr.msg);
        fail();
    }
    fr_gguf_writer_free(w);
    fr_gguf *g = NULL;
    fr_status st = fr_gguf_open(path, &g, err);
    unlink(path);
    if (st) return st;
    fr_vocab *v = NULL;
    st = fr_vocab_load(g, &v, err);
    if (st || !out) {
        fr_vocab_free(v);
        fr_gguf_close(g);
        return st;
    }
    *out = v;
    *gout = g;
    return FR_OK;
}

#define N_SYN (3 + 256 + 8)

/* A small SentencePiece vocabulary: <unk> <s> </s>, 256 byte tokens, then a few pieces. */
typedef struct syn {
    const char *tok[N_SYN];
    char bytes[256][7];
    float score[N_SYN];
    int32_t type[N_SYN];
    int n;
} syn;

static void syn_init(syn *s) {
    memset(s, 0, sizeof *s);
    s->tok[0] = "<unk>";
    s->type[0] = 2;
    s->tok[1] = "<s>";
    s->type[1] = 3;
    s->tok[2] = "</s>";
    s->type[2] = 3;
    for (int b = 0; b < 256; b++) {
        snprintf(s->bytes[b], 7, "<0x%02X>", b);
        s->tok[3 + b] = s->bytes[b];
        s->type[3 + b] = 6;
    }
    static const char *pieces[8] = {"\xE2\x96\x81", "a", "aa", "b", "ab", "ba", "<|u|>", "c"};
    static const float scores[8] = {-1, -1, -2, -1, -5, -1, 0, -1};
    for (int i = 0; i < 8; i++) {
        s->tok[259 + i] = pieces[i];
        s->score[259 + i] = scores[i];
        s->type[259 + i] = 1;
    }
    s->type[259 + 6] = 4; /* "<|u|>" is user-defined */
    s->n = N_SYN;
}
enum { T_SP = 259, T_A, T_AA, T_B, T_AB, T_BA, T_U, T_C };

static fr_gguf_writer *syn_writer(const syn *s, const char *model) {
    fr_gguf_writer *w = NULL;
    fr_error err = {0};
    assert_int_equal(fr_gguf_writer_create(&w, &err), FR_OK);
    if (model) assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.model", model, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", s->tok, (uint64_t)s->n, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "tokenizer.ggml.scores", FR_GGUF_F32, s->score, (uint64_t)s->n, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", FR_GGUF_I32, s->type, (uint64_t)s->n, &err), FR_OK);
    return w;
}

static void expect_ids(const fr_vocab *v, const char *text, bool special, const int32_t *want,
                       size_t n_want) {
    int32_t out[64];
    size_t n = 0;
    fr_error err = {0};
    assert_int_equal(fr_vocab_encode_special(v, text, strlen(text), false, special, out, 64, &n, &err),
                     FR_OK);
    if (n != n_want || memcmp(out, want, n * sizeof *out) != 0) {
        printf("text ");
        print_escaped(text, strlen(text));
        printf("\n");
        print_ids("expected", want, n_want);
        print_ids("got     ", out, n);
        fail();
    }
}

static void test_spm_synthetic(void **state) {
    (void)state;
    syn s;
    syn_init(&s);
    fr_vocab *v = NULL;
    fr_gguf *g = NULL;
    fr_error err = {0};
    assert_int_equal(load_written(syn_writer(&s, "llama"), "syn", &v, &g, &err), FR_OK);
    {   /* equal scores: the leftmost pair merges first */
        const int32_t want[] = {T_SP, T_AA, T_A};
        expect_ids(v, "aaa", false, want, 3);
    }
    {   /* higher score wins: "ba" (-1) before "ab" (-5) */
        const int32_t want[] = {T_SP, T_A, T_BA};
        expect_ids(v, "aba", false, want, 3);
    }
    {   /* byte fallback for characters without a token */
        const int32_t want[] = {T_SP, T_A, 3 + 0xC3, 3 + 0xA9, T_SP, 3 + 'z'};
        expect_ids(v, "a\xC3\xA9 z", false, want, 6);
    }
    {   /* a user-defined token is split out first; the text after it gets the space prefix */
        const int32_t want[] = {T_SP, T_A, T_U, T_SP, T_B};
        expect_ids(v, "a<|u|>b", false, want, 5);
    }
    {   /* control tokens only with parse_special */
        const int32_t want[] = {1, T_SP, T_C};
        expect_ids(v, "<s>c", true, want, 3);
        const int32_t want2[] = {T_SP, 3 + '<', 3 + 's', 3 + '>', T_C};
        expect_ids(v, "<s>c", false, want2, 5);
    }
    char buf[8];
    assert_int_equal(fr_vocab_piece(v, T_U, buf, sizeof buf), 5); /* user-defined: its text */
    assert_int_equal(fr_vocab_piece(v, 0, buf, sizeof buf), 0);   /* unknown: nothing */
    fr_vocab_free(v);
    fr_gguf_close(g);

    /* No space prefix when the file says so. */
    fr_gguf_writer *w = syn_writer(&s, "llama");
    assert_int_equal(fr_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", false, &err), FR_OK);
    assert_int_equal(load_written(w, "nopfx", &v, &g, &err), FR_OK);
    assert_false(fr_vocab_add_bos(v));
    {
        const int32_t want[] = {T_AA, T_A};
        expect_ids(v, "aaa", false, want, 2);
    }
    fr_vocab_free(v);
    fr_gguf_close(g);
}

/* A hostile file must fail with `status` and a message naming `needle`. */
static void expect_fail(fr_gguf_writer *w, const char *tag, fr_status status, const char *needle) {
    fr_error err = {0};
    fr_status st = load_written(w, tag, NULL, NULL, &err);
    if (st != status || !strstr(err.msg, needle) || !strstr(err.msg, "test_vocab_")) {
        printf("case %s: status %d (want %d), message: %s\n", tag, (int)st, (int)status, err.msg);
        fail();
    }
}

static void test_hostile(void **state) {
    (void)state;
    syn s;
    syn_init(&s);
    fr_error err = {0};
    fr_gguf_writer *w;

    expect_fail(syn_writer(&s, NULL), "nomodel", FR_E_FORMAT, "tokenizer.ggml.model");
    expect_fail(syn_writer(&s, "bert"), "bert", FR_E_UNSUPPORTED, "bert");

    w = NULL;
    assert_int_equal(fr_gguf_writer_create(&w, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_u32(w, "tokenizer.ggml.model", 7, &err), FR_OK);
    expect_fail(w, "modeltype", FR_E_FORMAT, "tokenizer.ggml.model");

    /* tokens missing / not an array / not strings / empty */
    assert_int_equal(fr_gguf_writer_create(&w, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", &err), FR_OK);
    expect_fail(w, "notokens", FR_E_FORMAT, "tokenizer.ggml.tokens");
    assert_int_equal(fr_gguf_writer_create(&w, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.tokens", "a", &err), FR_OK);
    expect_fail(w, "tokstr", FR_E_FORMAT, "tokenizer.ggml.tokens");
    assert_int_equal(fr_gguf_writer_create(&w, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "tokenizer.ggml.tokens", FR_GGUF_I32, s.type, 5, &err), FR_OK);
    expect_fail(w, "tokint", FR_E_FORMAT, "tokenizer.ggml.tokens");
    assert_int_equal(fr_gguf_writer_create(&w, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", s.tok, 0, &err), FR_OK);
    expect_fail(w, "tokempty", FR_E_FORMAT, "tokenizer.ggml.tokens");

    /* scores: missing (SPM), wrong length, wrong type */
    assert_int_equal(fr_gguf_writer_create(&w, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", s.tok, (uint64_t)s.n, &err), FR_OK);
    expect_fail(w, "noscores", FR_E_FORMAT, "tokenizer.ggml.scores");
    assert_int_equal(fr_gguf_writer_create(&w, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", s.tok, (uint64_t)s.n, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "tokenizer.ggml.scores", FR_GGUF_F32, s.score, (uint64_t)s.n - 1, &err), FR_OK);
    expect_fail(w, "scoreslen", FR_E_FORMAT, "tokenizer.ggml.scores");
    assert_int_equal(fr_gguf_writer_create(&w, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", s.tok, (uint64_t)s.n, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "tokenizer.ggml.scores", FR_GGUF_I32, s.type, (uint64_t)s.n, &err), FR_OK);
    expect_fail(w, "scorestype", FR_E_FORMAT, "tokenizer.ggml.scores");
    assert_int_equal(fr_gguf_writer_create(&w, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", s.tok, (uint64_t)s.n, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_f32(w, "tokenizer.ggml.scores", 1.0f, &err), FR_OK);
    expect_fail(w, "scoresscalar", FR_E_FORMAT, "tokenizer.ggml.scores");

    /* token types: wrong length, bad value, wrong type */
    s.type[5] = 9;
    expect_fail(syn_writer(&s, "llama"), "typeval", FR_E_FORMAT, "tokenizer.ggml.token_type");
    s.type[5] = 6;
    assert_int_equal(fr_gguf_writer_create(&w, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", s.tok, (uint64_t)s.n, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "tokenizer.ggml.scores", FR_GGUF_F32, s.score, (uint64_t)s.n, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", FR_GGUF_I32, s.type, 3, &err), FR_OK);
    expect_fail(w, "typelen", FR_E_FORMAT, "tokenizer.ggml.token_type");
    assert_int_equal(fr_gguf_writer_create(&w, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", s.tok, (uint64_t)s.n, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "tokenizer.ggml.scores", FR_GGUF_F32, s.score, (uint64_t)s.n, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", FR_GGUF_F32, s.score, (uint64_t)s.n, &err), FR_OK);
    expect_fail(w, "typefloat", FR_E_FORMAT, "tokenizer.ggml.token_type");

    /* a byte-typed token whose text is not <0xNN> */
    s.type[T_A] = 6;
    expect_fail(syn_writer(&s, "llama"), "bytetext", FR_E_FORMAT, "byte");
    s.type[T_A] = 1;

    /* special ids out of range or of the wrong type, flags of the wrong type */
    w = syn_writer(&s, "llama");
    assert_int_equal(fr_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)s.n, &err), FR_OK);
    expect_fail(w, "bos", FR_E_FORMAT, "tokenizer.ggml.bos_token_id");
    w = syn_writer(&s, "llama");
    assert_int_equal(fr_gguf_writer_set_i32(w, "tokenizer.ggml.eos_token_id", -1, &err), FR_OK);
    expect_fail(w, "eos", FR_E_FORMAT, "tokenizer.ggml.eos_token_id");
    w = syn_writer(&s, "llama");
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.unknown_token_id", "0", &err), FR_OK);
    expect_fail(w, "unk", FR_E_FORMAT, "tokenizer.ggml.unknown_token_id");
    w = syn_writer(&s, "llama");
    assert_int_equal(fr_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 1u << 31, &err), FR_OK);
    expect_fail(w, "pad", FR_E_FORMAT, "tokenizer.ggml.padding_token_id");
    w = syn_writer(&s, "llama");
    assert_int_equal(fr_gguf_writer_set_u32(w, "tokenizer.ggml.add_bos_token", 1, &err), FR_OK);
    expect_fail(w, "addbos", FR_E_FORMAT, "tokenizer.ggml.add_bos_token");

    /* BPE: merges missing, of the wrong type, malformed; unsupported pre-tokenizer */
    w = syn_writer(&s, "gpt2");
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2", &err), FR_OK);
    expect_fail(w, "nomerges", FR_E_FORMAT, "tokenizer.ggml.merges");
    w = syn_writer(&s, "gpt2");
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2", &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr(w, "tokenizer.ggml.merges", FR_GGUF_I32, s.type, 4, &err), FR_OK);
    expect_fail(w, "mergesint", FR_E_FORMAT, "tokenizer.ggml.merges");
    static const char *bad_merges[][2] = {{"a b", "ab"}, {"a b", " ab"}, {"a b", "ab "}};
    for (int i = 0; i < 3; i++) {
        w = syn_writer(&s, "gpt2");
        assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2", &err), FR_OK);
        assert_int_equal(fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", bad_merges[i], 2, &err), FR_OK);
        expect_fail(w, "badmerge", FR_E_FORMAT, "tokenizer.ggml.merges[1]");
    }
    w = syn_writer(&s, "gpt2");
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.pre", "llama3", &err), FR_OK);
    expect_fail(w, "pre", FR_E_UNSUPPORTED, "llama3");

    /* A good tiny BPE vocabulary loads and merges by rank. */
    static const char *btok[] = {"a", "b", "c", "ab", "bc", "abc", "\xC4\xA0", "\xC4\xA0" "a"};
    static const char *bmrg[] = {"b c", "a b", "ab c", "\xC4\xA0 a"};
    assert_int_equal(fr_gguf_writer_create(&w, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2", &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", btok, 8, &err), FR_OK);
    assert_int_equal(fr_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", bmrg, 4, &err), FR_OK);
    fr_vocab *v = NULL;
    fr_gguf *g = NULL;
    assert_int_equal(load_written(w, "bpe", &v, &g, &err), FR_OK);
    assert_int_equal(fr_vocab_bos(v), -1);
    {   /* "b c" has the better rank: a + bc, no "a bc" merge -> [a, bc] */
        const int32_t want[] = {0, 4, 6, 3}; /* and " ab" -> [Ġ, ab] ("Ġ a" ranks after "a b") */
        expect_ids(v, "abc ab", false, want, 4);
    }
    size_t n;
    int32_t out[4];
    assert_int_equal(fr_vocab_encode(v, "a", 1, true, out, 4, &n, &err), FR_E_ARG); /* no BOS */
    fr_vocab_free(v);
    fr_gguf_close(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spm_vectors),
        cmocka_unit_test(test_bpe_vectors),
        cmocka_unit_test(test_spm_round_trip),
        cmocka_unit_test(test_bpe_round_trip),
        cmocka_unit_test(test_random_text),
        cmocka_unit_test(test_bos_and_metadata),
        cmocka_unit_test(test_large_text),
        cmocka_unit_test(test_spm_reference),
        cmocka_unit_test(test_bpe_reference),
        cmocka_unit_test(test_spm_synthetic),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

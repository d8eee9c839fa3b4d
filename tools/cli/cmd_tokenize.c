/* frugal tokenize -m MODEL.gguf "TEXT": prints the token ids of TEXT on one line.
 * Needs only the GGUF's tokenizer.ggml.* keys (vocab-only files work). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "gguf/gguf.h"
#include "llm/vocab.h"

static void tokenize_usage(FILE *f) {
    fprintf(f,
            "usage: frugal tokenize -m MODEL.gguf [options] \"TEXT\"\n"
            "       frugal tokenize -m MODEL.gguf [options] -f FILE\n"
            "\n"
            "Prints the token ids of the text, space-separated, on one line (no BOS unless\n"
            "--bos). Reads only the tokenizer.ggml.* metadata: vocab-only GGUFs work.\n"
            "\n"
            "options:\n"
            "  -m, --model FILE    GGUF file with the vocabulary (required)\n"
            "  -f, --file FILE     read the text from FILE ('-' for stdin) instead of TEXT\n"
            "      --bos           prepend the BOS token\n"
            "      --parse-special turn texts of control tokens (e.g. \"<s>\") into those tokens\n"
            "      --pieces        print id:'piece' pairs instead of bare ids\n"
            "  -h, --help          show this help\n"
            "  --                  the next argument is the TEXT, even if it starts with '-'\n");
}

/* Reads a whole file (or stdin for "-"). */
static char *read_all(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (f != stdin) fclose(f);
    *len = n;
    return buf;
}

static void print_piece(const fr_vocab *v, int32_t id) {
    char buf[256];
    size_t n = fr_vocab_piece(v, id, buf, sizeof buf);
    if (n > sizeof buf) n = sizeof buf;
    printf("%d:'", (int)id);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\\' || c == '\'')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7F)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('\'');
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *text = NULL;
    bool bos = false, special = false, pieces = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            tokenize_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-f") ||
                   !strcmp(a, "--file")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "frugal tokenize: option %s needs a file name\n", a);
                return 2;
            }
            if (a[1] == 'm' || a[2] == 'm')
                model = argv[++i];
            else
                file = argv[++i];
        } else if (!strcmp(a, "--bos")) {
            bos = true;
        } else if (!strcmp(a, "--parse-special")) {
            special = true;
        } else if (!strcmp(a, "--pieces")) {
            pieces = true;
        } else if (!strcmp(a, "--")) {
            if (i + 1 < argc && !text) text = argv[++i];
            if (i + 1 < argc) {
                fprintf(stderr, "frugal tokenize: unexpected argument '%s'\n", argv[i + 1]);
                return 2;
            }
        } else if (a[0] == '-' && a[1] != 0) {
            fprintf(stderr, "frugal tokenize: unknown option '%s' (see --help)\n", a);
            return 2;
        } else if (!text) {
            text = a;
        } else {
            fprintf(stderr, "frugal tokenize: unexpected argument '%s' (quote the text)\n", a);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "frugal tokenize: missing -m MODEL.gguf (see --help)\n");
        return 2;
    }
    if (!text == !file) {
        fprintf(stderr, "frugal tokenize: give either TEXT or -f FILE (see --help)\n");
        return 2;
    }

    char *owned = NULL;
    size_t len = 0;
    if (file) {
        owned = read_all(file, &len);
        if (!owned) {
            fprintf(stderr, "frugal tokenize: %s: cannot read the file\n", file);
            return 1;
        }
    } else {
        len = strlen(text);
    }

    fr_error err = {0};
    fr_gguf *g = NULL;
    fr_vocab *v = NULL;
    int32_t *ids = NULL;
    int rc = 1;
    if (fr_gguf_open(model, &g, &err) || fr_vocab_load(g, &v, &err)) goto fail;
    size_t n = 0, cap = len + 16;
    ids = malloc(cap * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "frugal tokenize: out of memory\n");
        goto out;
    }
    fr_status st = fr_vocab_encode_special(v, owned ? owned : text, len, bos, special, ids, cap,
                                           &n, &err);
    if (st == FR_E_RANGE) { /* escaped spaces may need more ids than bytes */
        int32_t *p = realloc(ids, n * sizeof *ids);
        if (!p) {
            fprintf(stderr, "frugal tokenize: out of memory\n");
            goto out;
        }
        ids = p;
        cap = n;
        st = fr_vocab_encode_special(v, owned ? owned : text, len, bos, special, ids, cap, &n, &err);
    }
    if (st) goto fail;
    for (size_t i = 0; i < n; i++) {
        if (i) putchar(' ');
        if (pieces)
            print_piece(v, ids[i]);
        else
            printf("%d", (int)ids[i]);
    }
    putchar('\n');
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "frugal tokenize: %s\n", err.msg);
out:
    free(ids);
    free(owned);
    fr_vocab_free(v);
    fr_gguf_close(g);
    return rc;
}

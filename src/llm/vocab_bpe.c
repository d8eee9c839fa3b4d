/* Byte-level BPE tokenizer ("gpt2" vocabularies), as llama.cpp's llm_tokenizer_bpe with
 * the GPT-2 pre-tokenizer:
 *   1. the text is decoded to code points (invalid UTF-8 -> U+FFFD) and split by the GPT-2
 *      regex  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *      implemented by hand, step for step like llama.cpp's unicode_regex_split_custom_gpt2;
 *   2. each word's UTF-8 bytes are mapped to the GPT-2 byte alphabet;
 *   3. within a word, repeatedly the adjacent pair with the lowest merge rank is merged
 *      (ties: leftmost), with a min-heap and lazy deletion of stale pairs;
 *   4. each final symbol is emitted as its token; a symbol that is not a token is emitted
 *      as the tokens of its single bytes, where those exist (llama.cpp does the same). */
#include <stdlib.h>
#include <string.h>

#include "llm/unicode.h"
#include "llm/vocab_impl.h"

/* ---------------------------------------------------------------- pre-tokenizer */

enum { IN_RANGE = 0x80 };

/* Class flags of cps[pos], with IN_RANGE set; 0 past the end. */
static unsigned flags_at(const uint32_t *cps, size_t n, size_t pos) {
    return pos < n ? (IN_RANGE | fr_ucp_flags(cps[pos])) : 0;
}

typedef struct word_vec {
    size_t *end; /* end code point index of each word */
    size_t n, cap;
} word_vec;

static int word_push(word_vec *w, size_t end) {
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        size_t *p = realloc(w->end, cap * sizeof *p);
        if (!p) return -1;
        w->end = p;
        w->cap = cap;
    }
    w->end[w->n++] = end;
    return 0;
}

/* Splits cps[0..n) into words; appends each word's end index. */
static int gpt2_split(const uint32_t *cps, size_t n, word_vec *w) {
    size_t pos = 0;
    while (pos < n) {
        uint32_t c = cps[pos];
        /* 's 't 're 've 'm 'll 'd */
        if (c == '\'' && pos + 1 < n) {
            uint32_t c1 = cps[pos + 1];
            if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
                pos += 2;
                if (word_push(w, pos)) return -1;
                continue;
            }
            if (pos + 2 < n) {
                uint32_t c2 = cps[pos + 2];
                if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
                    pos += 3;
                    if (word_push(w, pos)) return -1;
                    continue;
                }
            }
        }
        unsigned f2 = c == ' ' ? flags_at(cps, n, pos + 1) : flags_at(cps, n, pos);
        /* ' ?\p{L}+' */
        if (f2 & FR_UCP_LETTER) {
            pos += c == ' ';
            while (f2 & FR_UCP_LETTER) f2 = flags_at(cps, n, ++pos);
            if (word_push(w, pos)) return -1;
            continue;
        }
        /* ' ?\p{N}+' */
        if (f2 & FR_UCP_NUMBER) {
            pos += c == ' ';
            while (f2 & FR_UCP_NUMBER) f2 = flags_at(cps, n, ++pos);
            if (word_push(w, pos)) return -1;
            continue;
        }
        /* ' ?[^\s\p{L}\p{N}]+' */
        if (!(f2 & (FR_UCP_WHITESPACE | FR_UCP_LETTER | FR_UCP_NUMBER)) && f2) {
            pos += c == ' ';
            while (!(f2 & (FR_UCP_WHITESPACE | FR_UCP_LETTER | FR_UCP_NUMBER)) && f2)
                f2 = flags_at(cps, n, ++pos);
            if (word_push(w, pos)) return -1;
            continue;
        }
        size_t nws = 0;
        while (flags_at(cps, n, pos + nws) & FR_UCP_WHITESPACE) nws++;
        if (nws > 1 && pos + nws < n) { /* '\s+(?!\S)': leave the last space to the next word */
            pos += nws - 1;
            if (word_push(w, pos)) return -1;
            continue;
        }
        if (nws > 0) { /* '\s+' */
            pos += nws;
            if (word_push(w, pos)) return -1;
            continue;
        }
        pos++; /* no match (not reached: every code point falls in one class above) */
        if (word_push(w, pos)) return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- merges */

typedef struct bpe_sym {
    int32_t prev, next;
    size_t off, n;
} bpe_sym;

static int try_pair(const fr_vocab *v, const char *s, const bpe_sym *sym, fr_merge_heap *h, int32_t l,
                    int32_t r) {
    if (l < 0 || r < 0) return 0;
    int32_t rank = fr_vocab_merge_rank(v, s + sym[l].off, sym[l].n, s + sym[r].off, sym[r].n);
    if (rank < 0) return 0;
    return fr_merge_heap_push(h, (fr_merge_pair){l, r, -(float)rank, sym[l].n + sym[r].n});
}

typedef struct bpe_work {
    char *buf; /* the current word in the byte alphabet */
    size_t cap;
    bpe_sym *sym;
    size_t sym_cap;
    fr_merge_heap heap;
} bpe_work;

static int reserve(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* Merges and emits one word given as code points. */
static fr_status encode_word(const fr_vocab *v, const uint32_t *cps, size_t n, bpe_work *w,
                             fr_ivec *out, fr_error *err) {
    /* UTF-8 bytes -> byte alphabet: at most 4 bytes per cp, each at most 2 bytes. */
    if (reserve((void **)&w->buf, &w->cap, n * 8, 1)) goto nomem;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char u[4];
        size_t k = fr_utf8_encode(cps[i], u);
        for (size_t j = 0; j < k; j++)
            len += fr_utf8_encode(fr_gpt2_byte_to_cp((uint8_t)u[j]), w->buf + len);
    }
    const char *s = w->buf;
    if (reserve((void **)&w->sym, &w->sym_cap, len, sizeof *w->sym)) goto nomem;
    int32_t n_sym = 0;
    for (size_t off = 0; off < len;) {
        size_t k = fr_utf8_len((uint8_t)s[off]);
        if (k > len - off) k = len - off;
        w->sym[n_sym] = (bpe_sym){n_sym - 1, off + k == len ? -1 : n_sym + 1, off, k};
        n_sym++;
        off += k;
    }
    bpe_sym *sym = w->sym;
    w->heap.n = 0;
    for (int32_t i = 1; i < n_sym; i++)
        if (try_pair(v, s, sym, &w->heap, i - 1, i)) goto nomem;
    while (w->heap.n) {
        fr_merge_pair p = fr_merge_heap_pop(&w->heap);
        bpe_sym *l = &sym[p.left], *r = &sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = p.left;
        if (try_pair(v, s, sym, &w->heap, l->prev, p.left)) goto nomem;
        if (try_pair(v, s, sym, &w->heap, p.left, l->next)) goto nomem;
    }
    fr_status st;
    for (int32_t i = 0; i != -1 && n_sym > 0; i = sym[i].next) {
        int32_t id = fr_vocab_lookup(v, s + sym[i].off, sym[i].n);
        if (id >= 0) {
            if ((st = fr_ivec_push(out, id, err))) return st;
            continue;
        }
        for (size_t j = 0; j < sym[i].n; j++) {
            int32_t b = fr_vocab_lookup(v, s + sym[i].off + j, 1);
            if (b >= 0 && (st = fr_ivec_push(out, b, err))) return st;
        }
    }
    return FR_OK;
nomem:
    return fr_fail(err, FR_E_NOMEM, "%s: out of memory tokenizing a word of %zu code points",
                   v->name, n);
}

fr_status fr_vocab_bpe_encode(const fr_vocab *v, const char *text, size_t len, fr_ivec *out,
                              fr_error *err) {
    if (len == 0) return FR_OK;
    if (len > SIZE_MAX / 64)
        return fr_fail(err, FR_E_RANGE, "%s: text of %zu bytes is too long", v->name, len);
    uint32_t *cps = malloc(len * sizeof *cps);
    word_vec words = {0};
    bpe_work w = {0};
    fr_status st = FR_OK;
    if (!cps) goto nomem;
    size_t n = 0;
    for (size_t pos = 0; pos < len;) cps[n++] = fr_utf8_decode(text, len, &pos);
    if (gpt2_split(cps, n, &words)) goto nomem;
    size_t start = 0;
    for (size_t i = 0; i < words.n; i++) {
        if ((st = encode_word(v, cps + start, words.end[i] - start, &w, out, err))) goto done;
        start = words.end[i];
    }
    goto done;
nomem:
    st = fr_fail(err, FR_E_NOMEM, "%s: out of memory tokenizing %zu bytes", v->name, len);
done:
    free(cps);
    free(words.end);
    free(w.buf);
    free(w.sym);
    free(w.heap.v);
    return st;
}

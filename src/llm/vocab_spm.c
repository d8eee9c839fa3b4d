/* SentencePiece-style tokenizer ("llama" vocabularies), as llama.cpp's llm_tokenizer_spm:
 *   1. spaces become U+2581 ("▁"), and one is prefixed when asked;
 *   2. the text is split into UTF-8 characters (lead-byte lengths, no validation);
 *   3. repeatedly the adjacent pair whose concatenation is a vocabulary token with the
 *      highest score is merged (ties: leftmost pair), using a max-heap of candidate pairs
 *      and lazy deletion of stale ones;
 *   4. each final symbol is emitted as its token or, when it is not a token, byte by byte
 *      as <0xNN> tokens (byte fallback), or unk when the vocabulary has no byte token.
 * (llama.cpp's "resegment" step only recurses for symbols that are merges of two
 * symbols and yet not tokens; every merge here produces a token, so a symbol that is not a
 * token is always a single character and goes to byte fallback directly.) */
#include <stdlib.h>
#include <string.h>

#include "llm/unicode.h"
#include "llm/vocab_impl.h"

typedef struct spm_sym {
    int32_t prev, next;
    size_t off, n; /* bytes in the escaped text; n == 0 once merged away */
} spm_sym;

static int try_pair(const fr_vocab *v, const char *s, const spm_sym *sym, fr_merge_heap *h, int32_t l,
                    int32_t r) {
    if (l < 0 || r < 0) return 0;
    size_t size = sym[l].n + sym[r].n;
    int32_t id = fr_vocab_lookup(v, s + sym[l].off, size);
    if (id < 0) return 0;
    return fr_merge_heap_push(h, (fr_merge_pair){l, r, v->scores[id], size});
}

fr_status fr_vocab_spm_encode(const fr_vocab *v, const char *text, size_t len, bool add_prefix,
                              fr_ivec *out, fr_error *err) {
    if (len > SIZE_MAX / 64)
        return fr_fail(err, FR_E_RANGE, "%s: text of %zu bytes is too long", v->name, len);
    size_t n_spaces = 0;
    for (size_t i = 0; i < len; i++) n_spaces += text[i] == ' ';
    size_t elen = len + 2 * n_spaces + (add_prefix ? 3 : 0);
    if (elen == 0) return FR_OK;
    char *s = malloc(elen);
    spm_sym *sym = malloc(elen * sizeof *sym);
    fr_merge_heap heap = {0};
    fr_status st = FR_OK;
    if (!s || !sym) goto nomem;

    size_t e = 0;
    if (add_prefix) {
        memcpy(s, "\xE2\x96\x81", 3);
        e = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(s + e, "\xE2\x96\x81", 3);
            e += 3;
        } else {
            s[e++] = text[i];
        }
    }

    int32_t n_sym = 0;
    for (size_t off = 0; off < elen;) {
        size_t n = fr_utf8_len((uint8_t)s[off]);
        if (n > elen - off) n = elen - off;
        sym[n_sym] = (spm_sym){n_sym - 1, off + n == elen ? -1 : n_sym + 1, off, n};
        n_sym++;
        off += n;
    }

    for (int32_t i = 1; i < n_sym; i++)
        if (try_pair(v, s, sym, &heap, i - 1, i)) goto nomem;

    while (heap.n) {
        fr_merge_pair p = fr_merge_heap_pop(&heap);
        spm_sym *l = &sym[p.left], *r = &sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = p.left;
        if (try_pair(v, s, sym, &heap, l->prev, p.left)) goto nomem;
        if (try_pair(v, s, sym, &heap, p.left, l->next)) goto nomem;
    }

    for (int32_t i = 0; i != -1; i = sym[i].next) {
        int32_t id = fr_vocab_lookup(v, s + sym[i].off, sym[i].n);
        if (id >= 0) {
            if ((st = fr_ivec_push(out, id, err))) goto done;
            continue;
        }
        for (size_t j = 0; j < sym[i].n; j++) {
            uint8_t b = (uint8_t)s[sym[i].off + j];
            int32_t bt = v->byte_tok[b] >= 0 ? v->byte_tok[b] : v->unk;
            if (bt < 0) {
                st = fr_fail(err, FR_E_UNSUPPORTED,
                             "%s: byte 0x%02X has no token and the vocabulary has no unknown token",
                             v->name, b);
                goto done;
            }
            if ((st = fr_ivec_push(out, bt, err))) goto done;
        }
    }
    goto done;
nomem:
    st = fr_fail(err, FR_E_NOMEM, "%s: out of memory tokenizing %zu bytes", v->name, len);
done:
    free(s);
    free(sym);
    free(heap.v);
    return st;
}

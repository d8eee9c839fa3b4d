/* Vocabulary loading from GGUF (tokenizer.ggml.*), text -> id and merge hash tables,
 * the special-token split that runs before either tokenizer, and token pieces.
 * The tokenizers themselves are in vocab_spm.c and vocab_bpe.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/unicode.h"
#include "llm/vocab_impl.h"

/* ---------------------------------------------------------------- hashing */

static uint64_t hash_bytes(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001B3ull;
    }
    return h;
}

#define HASH_SEED 0xCBF29CE484222325ull

static size_t table_size(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    return cap;
}

int32_t fr_vocab_lookup(const fr_vocab *v, const char *s, size_t len) {
    size_t i = (size_t)hash_bytes(HASH_SEED, s, len) & v->tok_mask;
    for (;;) {
        uint32_t slot = v->tok_slots[i];
        if (!slot) return -1;
        int32_t id = (int32_t)(slot - 1);
        if (v->tok_len[id] == len && memcmp(v->pool + v->tok_off[id], s, len) == 0) return id;
        i = (i + 1) & v->tok_mask;
    }
}

int32_t fr_vocab_merge_rank(const fr_vocab *v, const char *l, size_t ll, const char *r, size_t rl) {
    if (!v->mrg_slots) return -1;
    uint64_t h = hash_bytes(HASH_SEED, l, ll);
    h = hash_bytes(h, " ", 1);
    h = hash_bytes(h, r, rl);
    size_t i = (size_t)h & v->mrg_mask;
    for (;;) {
        uint32_t slot = v->mrg_slots[i];
        if (!slot) return -1;
        uint32_t m = slot - 1;
        const char *k = v->mpool + v->mrg_off[m];
        if (v->mrg_split[m] == ll && v->mrg_len[m] == ll + 1 + rl && memcmp(k, l, ll) == 0 &&
            memcmp(k + ll + 1, r, rl) == 0)
            return (int32_t)m;
        i = (i + 1) & v->mrg_mask;
    }
}

fr_status fr_ivec_push(fr_ivec *o, int32_t id, fr_error *err) {
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        int32_t *p = realloc(o->v, cap * sizeof *p);
        if (!p) return fr_fail(err, FR_E_NOMEM, "vocab: out of memory for %zu token ids", cap);
        o->v = p;
        o->cap = cap;
    }
    o->v[o->n++] = id;
    return FR_OK;
}

/* ---------------------------------------------------------------- loading */

void fr_vocab_free(fr_vocab *v) {
    if (!v) return;
    free(v->pool);
    free(v->tok_off);
    free(v->tok_len);
    free(v->scores);
    free(v->types);
    free(v->tok_slots);
    free(v->mpool);
    free(v->mrg_off);
    free(v->mrg_len);
    free(v->mrg_split);
    free(v->mrg_slots);
    free(v->special);
    free(v);
}

static bool is_int_type(fr_gguf_vtype t) {
    return t == FR_GGUF_U8 || t == FR_GGUF_I8 || t == FR_GGUF_U16 || t == FR_GGUF_I16 ||
           t == FR_GGUF_U32 || t == FR_GGUF_I32 || t == FR_GGUF_U64 || t == FR_GGUF_I64;
}

/* Optional array key: *present says whether it exists; an existing key of the wrong
 * type is an error. */
static fr_status opt_arr(const fr_gguf *g, const char *name, const char *key, fr_gguf_arr *arr,
                         bool *present, fr_error *err) {
    *present = false;
    int64_t k = fr_gguf_find_key(g, key);
    if (k < 0) return FR_OK;
    if (fr_gguf_kv_type(g, k) != FR_GGUF_ARRAY)
        return fr_fail(err, FR_E_FORMAT, "%s: key %s must be an array", name, key);
    fr_status st = fr_gguf_get_arr(g, key, arr, err);
    if (st) return st;
    *present = true;
    return FR_OK;
}

static fr_status opt_id(const fr_gguf *g, const char *name, const char *key, int32_t n_tokens,
                        int32_t *id, fr_error *err) {
    if (fr_gguf_find_key(g, key) < 0) return FR_OK;
    int64_t x;
    fr_status st = fr_gguf_get_i64(g, key, &x, err);
    if (st) return fr_fail(err, FR_E_FORMAT, "%s: key %s must be an integer token id", name, key);
    if (x < 0 || x >= n_tokens)
        return fr_fail(err, FR_E_FORMAT, "%s: %s = %lld is out of range (%d tokens)", name, key,
                       (long long)x, (int)n_tokens);
    *id = (int32_t)x;
    return FR_OK;
}

static fr_status opt_bool(const fr_gguf *g, const char *name, const char *key, bool *b,
                          fr_error *err) {
    if (fr_gguf_find_key(g, key) < 0) return FR_OK;
    fr_status st = fr_gguf_get_bool(g, key, b, err);
    if (st) return fr_fail(err, FR_E_FORMAT, "%s: key %s must be a bool", name, key);
    return FR_OK;
}

static fr_status load_tokens(fr_vocab *v, const fr_gguf *g, fr_error *err) {
    const char *name = v->name;
    fr_gguf_arr toks;
    bool present;
    fr_status st = opt_arr(g, name, "tokenizer.ggml.tokens", &toks, &present, err);
    if (st) return st;
    if (!present) return fr_fail(err, FR_E_FORMAT, "%s: missing key tokenizer.ggml.tokens", name);
    if (toks.type != FR_GGUF_STRING)
        return fr_fail(err, FR_E_FORMAT, "%s: tokenizer.ggml.tokens must be an array of strings",
                       name);
    if (toks.n == 0 || toks.n > 0x7FFFFFF0ull)
        return fr_fail(err, FR_E_FORMAT, "%s: tokenizer.ggml.tokens has %llu entries", name,
                       (unsigned long long)toks.n);
    int32_t n = (int32_t)toks.n;
    v->n_tokens = n;

    size_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        fr_gguf_str s;
        st = fr_gguf_arr_str(&toks, (uint64_t)i, &s, err);
        if (st) return st;
        if (s.len > 0xFFFFFFull)
            return fr_fail(err, FR_E_FORMAT, "%s: token %d is %llu bytes long", name, (int)i,
                           (unsigned long long)s.len);
        total += (size_t)s.len + 1;
    }
    v->pool = malloc(total);
    v->tok_off = malloc((size_t)n * sizeof *v->tok_off);
    v->tok_len = malloc((size_t)n * sizeof *v->tok_len);
    v->scores = calloc((size_t)n, sizeof *v->scores);
    v->types = malloc((size_t)n);
    size_t nslots = table_size((size_t)n);
    v->tok_slots = calloc(nslots, sizeof *v->tok_slots);
    if (!v->pool || !v->tok_off || !v->tok_len || !v->scores || !v->types || !v->tok_slots)
        return fr_fail(err, FR_E_NOMEM, "%s: out of memory for %d tokens", name, (int)n);
    v->tok_mask = nslots - 1;

    size_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        fr_gguf_str s;
        st = fr_gguf_arr_str(&toks, (uint64_t)i, &s, err);
        if (st) return st;
        memcpy(v->pool + off, s.ptr, (size_t)s.len);
        v->pool[off + s.len] = 0;
        v->tok_off[i] = off;
        v->tok_len[i] = (uint32_t)s.len;
        v->types[i] = FR_TOKEN_NORMAL;
        off += (size_t)s.len + 1;
        if (s.len == 0) continue; /* an empty token can never match text */
        /* Insert; a later duplicate replaces the earlier one (as llama.cpp's map does). */
        size_t j = (size_t)hash_bytes(HASH_SEED, v->pool + v->tok_off[i], s.len) & v->tok_mask;
        for (;;) {
            uint32_t slot = v->tok_slots[j];
            if (!slot) {
                v->tok_slots[j] = (uint32_t)i + 1;
                break;
            }
            int32_t o = (int32_t)(slot - 1);
            if (v->tok_len[o] == s.len && memcmp(v->pool + v->tok_off[o], s.ptr, s.len) == 0) {
                v->tok_slots[j] = (uint32_t)i + 1;
                break;
            }
            j = (j + 1) & v->tok_mask;
        }
    }

    /* Scores: required for SentencePiece, optional otherwise. */
    fr_gguf_arr sc;
    st = opt_arr(g, name, "tokenizer.ggml.scores", &sc, &present, err);
    if (st) return st;
    if (!present && v->kind == FR_VOCAB_SPM)
        return fr_fail(err, FR_E_FORMAT, "%s: missing key tokenizer.ggml.scores", name);
    if (present) {
        if (sc.type != FR_GGUF_F32 && sc.type != FR_GGUF_F64)
            return fr_fail(err, FR_E_FORMAT, "%s: tokenizer.ggml.scores must be an f32 array",
                           name);
        if (sc.n != toks.n)
            return fr_fail(err, FR_E_FORMAT,
                           "%s: tokenizer.ggml.scores has %llu entries, tokens has %d", name,
                           (unsigned long long)sc.n, (int)n);
        for (int32_t i = 0; i < n; i++) {
            double x = fr_gguf_arr_f64(&sc, (uint64_t)i);
            if (isnan(x))
                return fr_fail(err, FR_E_FORMAT, "%s: tokenizer.ggml.scores[%d] is NaN", name,
                               (int)i);
            v->scores[i] = (float)x;
        }
    }

    fr_gguf_arr tt;
    st = opt_arr(g, name, "tokenizer.ggml.token_type", &tt, &present, err);
    if (st) return st;
    if (present) {
        if (!is_int_type(tt.type))
            return fr_fail(err, FR_E_FORMAT,
                           "%s: tokenizer.ggml.token_type must be an integer array", name);
        if (tt.n != toks.n)
            return fr_fail(err, FR_E_FORMAT,
                           "%s: tokenizer.ggml.token_type has %llu entries, tokens has %d", name,
                           (unsigned long long)tt.n, (int)n);
        for (int32_t i = 0; i < n; i++) {
            int64_t t = fr_gguf_arr_i64(&tt, (uint64_t)i);
            if (t < 0 || t > FR_TOKEN_BYTE)
                return fr_fail(err, FR_E_FORMAT,
                               "%s: tokenizer.ggml.token_type[%d] = %lld is not a token type (0..6)",
                               name, (int)i, (long long)t);
            v->types[i] = (uint8_t)t;
        }
    }
    return FR_OK;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* The byte of a "<0xNN>" text, or -1. */
static int byte_token_value(const char *s, size_t len) {
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int hi = hexval(s[3]), lo = hexval(s[4]);
    if (hi < 0 || lo < 0) return -1;
    return hi * 16 + lo;
}

static fr_status load_merges(fr_vocab *v, const fr_gguf *g, fr_error *err) {
    const char *name = v->name;
    fr_gguf_arr mg;
    bool present;
    fr_status st = opt_arr(g, name, "tokenizer.ggml.merges", &mg, &present, err);
    if (st) return st;
    if (!present) return fr_fail(err, FR_E_FORMAT, "%s: missing key tokenizer.ggml.merges", name);
    if (mg.type != FR_GGUF_STRING)
        return fr_fail(err, FR_E_FORMAT, "%s: tokenizer.ggml.merges must be an array of strings",
                       name);
    if (mg.n > (1ull << 24)) /* ranks are merge priorities, exact in a float up to 2^24 */
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: tokenizer.ggml.merges has %llu entries (at most 2^24)",
                       name, (unsigned long long)mg.n);
    uint32_t n = (uint32_t)mg.n;
    size_t total = 1;
    for (uint32_t i = 0; i < n; i++) {
        fr_gguf_str s;
        st = fr_gguf_arr_str(&mg, i, &s, err);
        if (st) return st;
        if (s.len > 0xFFFFFFull)
            return fr_fail(err, FR_E_FORMAT, "%s: merge %u is %llu bytes long", name, i,
                           (unsigned long long)s.len);
        total += (size_t)s.len;
    }
    v->n_merges = n;
    v->mpool = malloc(total);
    v->mrg_off = malloc(((size_t)n + 1) * sizeof *v->mrg_off);
    v->mrg_len = malloc(((size_t)n + 1) * sizeof *v->mrg_len);
    v->mrg_split = malloc(((size_t)n + 1) * sizeof *v->mrg_split);
    size_t nslots = table_size(n);
    v->mrg_slots = calloc(nslots, sizeof *v->mrg_slots);
    if (!v->mpool || !v->mrg_off || !v->mrg_len || !v->mrg_split || !v->mrg_slots)
        return fr_fail(err, FR_E_NOMEM, "%s: out of memory for %u merges", name, n);
    v->mrg_mask = nslots - 1;
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        fr_gguf_str s;
        st = fr_gguf_arr_str(&mg, i, &s, err);
        if (st) return st;
        /* "left right": the first space after the first byte separates the two parts. */
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', (size_t)s.len - 1) : NULL;
        if (!sp || (uint64_t)(sp - s.ptr) + 1 >= s.len)
            return fr_fail(err, FR_E_FORMAT,
                           "%s: tokenizer.ggml.merges[%u] '%.*s' is not two tokens separated by a "
                           "space", name, i, (int)(s.len > 40 ? 40 : s.len), s.ptr);
        memcpy(v->mpool + off, s.ptr, (size_t)s.len);
        v->mrg_off[i] = off;
        v->mrg_len[i] = (uint32_t)s.len;
        v->mrg_split[i] = (uint32_t)(sp - s.ptr);
        off += (size_t)s.len;
        /* Insert; the first occurrence keeps its rank (llama.cpp uses emplace). */
        size_t j = (size_t)hash_bytes(HASH_SEED, s.ptr, (size_t)s.len) & v->mrg_mask;
        for (;;) {
            uint32_t slot = v->mrg_slots[j];
            if (!slot) {
                v->mrg_slots[j] = i + 1;
                break;
            }
            uint32_t o = slot - 1;
            if (v->mrg_len[o] == s.len && v->mrg_split[o] == v->mrg_split[i] &&
                memcmp(v->mpool + v->mrg_off[o], s.ptr, (size_t)s.len) == 0)
                break;
            j = (j + 1) & v->mrg_mask;
        }
    }
    return FR_OK;
}

static fr_status build_special(fr_vocab *v, fr_error *err) {
    size_t n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        uint8_t t = v->types[i];
        if ((t == FR_TOKEN_CONTROL || t == FR_TOKEN_UNKNOWN || t == FR_TOKEN_USER_DEFINED) &&
            v->tok_len[i] > 0)
            n++;
        if (t == FR_TOKEN_USER_DEFINED && v->tok_len[i] > 0) v->has_user_defined = true;
    }
    if (!n) return FR_OK;
    v->special = malloc(n * sizeof *v->special);
    if (!v->special) return fr_fail(err, FR_E_NOMEM, "%s: out of memory", v->name);
    for (int32_t i = 0; i < v->n_tokens; i++) {
        uint8_t t = v->types[i];
        if ((t == FR_TOKEN_CONTROL || t == FR_TOKEN_UNKNOWN || t == FR_TOKEN_USER_DEFINED) &&
            v->tok_len[i] > 0)
            v->special[v->n_special++] = i;
    }
    /* Longest text first, then by id: insertion sort (the list is short). */
    for (size_t i = 1; i < n; i++) {
        int32_t id = v->special[i];
        size_t j = i;
        while (j > 0 && v->tok_len[v->special[j - 1]] < v->tok_len[id]) {
            v->special[j] = v->special[j - 1];
            j--;
        }
        v->special[j] = id;
    }
    return FR_OK;
}

static bool pre_is_gpt2(fr_gguf_str pre) {
    static const char *const ok[] = {"gpt-2", "phi-2", "mpt", "olmo", "jais"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (fr_gguf_str_eq(pre, ok[i])) return true;
    return false;
}

fr_status fr_vocab_load(const fr_gguf *g, fr_vocab **out, fr_error *err) {
    if (!out) return fr_fail(err, FR_E_ARG, "fr_vocab_load: out is NULL");
    *out = NULL;
    if (!g) return fr_fail(err, FR_E_ARG, "fr_vocab_load: gguf is NULL");
    fr_vocab *v = calloc(1, sizeof *v);
    if (!v) return fr_fail(err, FR_E_NOMEM, "vocab: out of memory");
    const char *gname = fr_gguf_name(g);
    snprintf(v->name, sizeof v->name, "%s", gname ? gname : "gguf");
    const char *name = v->name;
    fr_status st;

    int64_t k = fr_gguf_find_key(g, "tokenizer.ggml.model");
    if (k < 0) {
        st = fr_fail(err, FR_E_FORMAT, "%s: missing key tokenizer.ggml.model", name);
        goto fail;
    }
    fr_gguf_str model;
    if (fr_gguf_kv_type(g, k) != FR_GGUF_STRING ||
        fr_gguf_get_str(g, "tokenizer.ggml.model", &model, err) != FR_OK) {
        st = fr_fail(err, FR_E_FORMAT, "%s: key tokenizer.ggml.model must be a string", name);
        goto fail;
    }
    if (fr_gguf_str_eq(model, "llama")) {
        v->kind = FR_VOCAB_SPM;
    } else if (fr_gguf_str_eq(model, "gpt2")) {
        v->kind = FR_VOCAB_BPE;
    } else {
        st = fr_fail(err, FR_E_UNSUPPORTED,
                     "%s: tokenizer model '%.*s' is not supported (only 'llama' and 'gpt2')", name,
                     (int)(model.len > 64 ? 64 : model.len), model.ptr);
        goto fail;
    }
    if (v->kind == FR_VOCAB_BPE) {
        fr_gguf_str pre = {"", 0};
        k = fr_gguf_find_key(g, "tokenizer.ggml.pre");
        if (k >= 0 && (fr_gguf_kv_type(g, k) != FR_GGUF_STRING ||
                       fr_gguf_get_str(g, "tokenizer.ggml.pre", &pre, err) != FR_OK)) {
            st = fr_fail(err, FR_E_FORMAT, "%s: key tokenizer.ggml.pre must be a string", name);
            goto fail;
        }
        if (!pre_is_gpt2(pre)) {
            st = fr_fail(err, FR_E_UNSUPPORTED,
                         "%s: gpt2 pre-tokenizer '%.*s' is not supported (only 'gpt-2' and "
                         "its aliases)", name, (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
            goto fail;
        }
    }

    if ((st = load_tokens(v, g, err))) goto fail;
    if (v->kind == FR_VOCAB_BPE && (st = load_merges(v, g, err))) goto fail;

    /* Special ids: llama.cpp's defaults for SentencePiece, none for BPE. */
    if (v->kind == FR_VOCAB_SPM) {
        v->bos = 1 < v->n_tokens ? 1 : -1;
        v->eos = 2 < v->n_tokens ? 2 : -1;
        v->unk = 0;
        v->add_bos = true;
        v->add_space_prefix = true;
    } else {
        v->bos = v->eos = v->unk = -1;
        v->add_bos = false;
        v->add_space_prefix = false;
    }
    v->pad = -1;
    if ((st = opt_id(g, name, "tokenizer.ggml.bos_token_id", v->n_tokens, &v->bos, err))) goto fail;
    if ((st = opt_id(g, name, "tokenizer.ggml.eos_token_id", v->n_tokens, &v->eos, err))) goto fail;
    if ((st = opt_id(g, name, "tokenizer.ggml.unknown_token_id", v->n_tokens, &v->unk, err)))
        goto fail;
    if ((st = opt_id(g, name, "tokenizer.ggml.padding_token_id", v->n_tokens, &v->pad, err)))
        goto fail;
    if ((st = opt_bool(g, name, "tokenizer.ggml.add_bos_token", &v->add_bos, err))) goto fail;
    if ((st = opt_bool(g, name, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix, err)))
        goto fail;
    if (v->kind == FR_VOCAB_BPE) v->add_space_prefix = false; /* not used by the BPE path */

    /* Byte fallback table (SPM): "<0xNN>", else the one-byte token, else none. */
    for (int b = 0; b < 256; b++) {
        char hx[7];
        snprintf(hx, sizeof hx, "<0x%02X>", b);
        int32_t id = fr_vocab_lookup(v, hx, 6);
        if (id < 0) {
            char c = (char)b;
            id = fr_vocab_lookup(v, &c, 1);
        }
        v->byte_tok[b] = id;
    }
    if (v->kind == FR_VOCAB_SPM) {
        for (int32_t i = 0; i < v->n_tokens; i++)
            if (v->types[i] == FR_TOKEN_BYTE &&
                byte_token_value(v->pool + v->tok_off[i], v->tok_len[i]) < 0) {
                st = fr_fail(err, FR_E_FORMAT,
                             "%s: token %d has type byte but its text is not <0xNN>", name, (int)i);
                goto fail;
            }
    }
    if ((st = build_special(v, err))) goto fail;
    *out = v;
    return FR_OK;
fail:
    fr_vocab_free(v);
    return st;
}

/* ---------------------------------------------------------------- accessors */

fr_vocab_kind fr_vocab_get_kind(const fr_vocab *v) { return v->kind; }
int32_t fr_vocab_n_tokens(const fr_vocab *v) { return v->n_tokens; }
int32_t fr_vocab_bos(const fr_vocab *v) { return v->bos; }
int32_t fr_vocab_eos(const fr_vocab *v) { return v->eos; }
int32_t fr_vocab_unk(const fr_vocab *v) { return v->unk; }
int32_t fr_vocab_pad(const fr_vocab *v) { return v->pad; }
bool fr_vocab_add_bos(const fr_vocab *v) { return v->add_bos; }
bool fr_vocab_add_space_prefix(const fr_vocab *v) { return v->add_space_prefix; }

fr_vocab_token_type fr_vocab_token_type_of(const fr_vocab *v, int32_t id) {
    if (!v || id < 0 || id >= v->n_tokens) return FR_TOKEN_UNDEFINED;
    return (fr_vocab_token_type)v->types[id];
}

int32_t fr_vocab_find(const fr_vocab *v, const char *text, size_t len) {
    if (!v || (!text && len)) return -1;
    return len ? fr_vocab_lookup(v, text, len) : -1;
}

const char *fr_vocab_token_text(const fr_vocab *v, int32_t id) {
    if (!v || id < 0 || id >= v->n_tokens) return "";
    return v->pool + v->tok_off[id];
}

/* Appends n bytes at *len, writing only what fits in cap. */
static void put(char *buf, size_t cap, size_t *len, const char *s, size_t n) {
    if (*len < cap) {
        size_t room = cap - *len;
        memcpy(buf + *len, s, n < room ? n : room);
    }
    *len += n;
}

size_t fr_vocab_piece(const fr_vocab *v, int32_t id, char *buf, size_t cap) {
    if (!v || id < 0 || id >= v->n_tokens) return 0;
    if (!buf) cap = 0;
    const char *s = v->pool + v->tok_off[id];
    size_t n = v->tok_len[id], len = 0;
    uint8_t t = v->types[id];
    if (t == FR_TOKEN_CONTROL || t == FR_TOKEN_UNKNOWN) return 0;
    if (t == FR_TOKEN_USER_DEFINED) {
        put(buf, cap, &len, s, n);
        return len;
    }
    if (v->kind == FR_VOCAB_SPM) {
        if (t == FR_TOKEN_BYTE) {
            char c = (char)byte_token_value(s, n);
            put(buf, cap, &len, &c, 1);
            return len;
        }
        if (t != FR_TOKEN_NORMAL) return 0;
        for (size_t i = 0; i < n;) {
            if (i + 3 <= n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
                put(buf, cap, &len, " ", 1);
                i += 3;
            } else {
                put(buf, cap, &len, s + i, 1);
                i++;
            }
        }
        return len;
    }
    /* BPE: every code point of a normal token is one byte of the GPT-2 alphabet. */
    if (t != FR_TOKEN_NORMAL) return 0;
    for (size_t i = 0; i < n;) {
        size_t start = i;
        uint32_t cp = fr_utf8_decode(s, n, &i);
        int b = fr_gpt2_cp_to_byte(cp);
        if (b >= 0) {
            char c = (char)b;
            put(buf, cap, &len, &c, 1);
        } else {
            put(buf, cap, &len, s + start, i - start); /* not in the alphabet: as is */
        }
    }
    return len;
}

/* ---------------------------------------------------------------- encoding */

typedef struct frag {
    size_t off, len;
    int32_t tok; /* -1: raw text */
} frag;

typedef struct frag_vec {
    frag *v;
    size_t n, cap;
} frag_vec;

static int frag_push(frag_vec *f, size_t off, size_t len, int32_t tok) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        frag *p = realloc(f->v, cap * sizeof *p);
        if (!p) return -1;
        f->v = p;
        f->cap = cap;
    }
    f->v[f->n++] = (frag){off, len, tok};
    return 0;
}

static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m) {
    if (m == 0 || m > n) return NULL;
    const char *end = hay + (n - m) + 1;
    for (const char *p = hay; p < end;) {
        const char *q = memchr(p, (unsigned char)needle[0], (size_t)(end - p));
        if (!q) return NULL;
        if (memcmp(q, needle, m) == 0) return q;
        p = q + 1;
    }
    return NULL;
}

/* Splits the text at every occurrence of each special token's text, longest tokens first
 * (llama.cpp's tokenizer_st_partition, without the lstrip/rstrip attributes that GGUF
 * files do not carry). */
static fr_status partition(const fr_vocab *v, const char *text, size_t len, bool parse_special,
                           frag_vec *out, fr_error *err) {
    frag_vec cur = {0}, next = {0};
    if (frag_push(&cur, 0, len, -1)) goto nomem;
    for (size_t s = 0; s < v->n_special; s++) {
        int32_t id = v->special[s];
        uint8_t t = v->types[id];
        if (!parse_special && t != FR_TOKEN_USER_DEFINED) continue;
        const char *tt = v->pool + v->tok_off[id];
        size_t tl = v->tok_len[id];
        next.n = 0;
        for (size_t i = 0; i < cur.n; i++) {
            frag f = cur.v[i];
            if (f.tok >= 0) {
                if (frag_push(&next, f.off, f.len, f.tok)) goto nomem;
                continue;
            }
            size_t pos = f.off, end = f.off + f.len;
            for (;;) {
                const char *m = find_bytes(text + pos, end - pos, tt, tl);
                if (!m) break;
                size_t mp = (size_t)(m - text);
                if (mp > pos && frag_push(&next, pos, mp - pos, -1)) goto nomem;
                if (frag_push(&next, mp, tl, id)) goto nomem;
                pos = mp + tl;
            }
            if (pos < end && frag_push(&next, pos, end - pos, -1)) goto nomem;
        }
        frag_vec tmp = cur;
        cur = next;
        next = tmp;
    }
    free(next.v);
    *out = cur;
    return FR_OK;
nomem:
    free(cur.v);
    free(next.v);
    return fr_fail(err, FR_E_NOMEM, "%s: out of memory splitting special tokens", v->name);
}

fr_status fr_vocab_encode_special(const fr_vocab *v, const char *text, size_t len, bool add_bos,
                                  bool parse_special, int32_t *out, size_t cap, size_t *n_out,
                                  fr_error *err) {
    if (n_out) *n_out = 0;
    if (!v || !n_out || (!text && len) || (!out && cap))
        return fr_fail(err, FR_E_ARG, "fr_vocab_encode: NULL argument");
    fr_ivec ids = {0};
    frag_vec frags = {0};
    fr_status st = FR_OK;
    if (add_bos) {
        if (v->bos < 0) {
            st = fr_fail(err, FR_E_ARG, "%s: BOS requested but the vocabulary has no BOS token",
                         v->name);
            goto done;
        }
        if ((st = fr_ivec_push(&ids, v->bos, err))) goto done;
    }
    if (len > 0) {
        if (v->n_special && (parse_special || v->has_user_defined)) {
            if ((st = partition(v, text, len, parse_special, &frags, err))) goto done;
        } else if (frag_push(&frags, 0, len, -1)) {
            st = fr_fail(err, FR_E_NOMEM, "%s: out of memory", v->name);
            goto done;
        }
    }
    bool prev_special = true; /* SPM: a space is prefixed to text at the start or after a token */
    for (size_t i = 0; i < frags.n; i++) {
        frag f = frags.v[i];
        if (f.tok >= 0) {
            if ((st = fr_ivec_push(&ids, f.tok, err))) goto done;
            prev_special = true;
            continue;
        }
        if (v->kind == FR_VOCAB_SPM)
            st = fr_vocab_spm_encode(v, text + f.off, f.len, v->add_space_prefix && prev_special,
                                     &ids, err);
        else
            st = fr_vocab_bpe_encode(v, text + f.off, f.len, &ids, err);
        if (st) goto done;
        prev_special = false;
    }
    *n_out = ids.n;
    if (ids.n > cap) {
        if (cap) memcpy(out, ids.v, cap * sizeof *out);
        st = fr_fail(err, FR_E_RANGE, "%s: %zu tokens do not fit in a buffer of %zu", v->name,
                     ids.n, cap);
        goto done;
    }
    if (ids.n) memcpy(out, ids.v, ids.n * sizeof *out);
done:
    free(ids.v);
    free(frags.v);
    return st;
}

fr_status fr_vocab_encode(const fr_vocab *v, const char *text, size_t len, bool add_bos,
                          int32_t *out, size_t cap, size_t *n_out, fr_error *err) {
    return fr_vocab_encode_special(v, text, len, add_bos, false, out, cap, n_out, err);
}

/* Internal state shared by vocab.c (loading, lookup, special-token split, pieces),
 * vocab_spm.c (SentencePiece merge) and vocab_bpe.c (GPT-2 pre-tokenizer + BPE). */
#ifndef FR_LLM_VOCAB_IMPL_H
#define FR_LLM_VOCAB_IMPL_H

#include "core/error.h"
#include "llm/vocab.h"

struct fr_vocab {
    fr_vocab_kind kind;
    char name[256]; /* the GGUF's name, for messages */

    int32_t n_tokens;
    char *pool;        /* all token texts, each NUL-terminated */
    size_t *tok_off;   /* [n_tokens] offset of the text in pool */
    uint32_t *tok_len; /* [n_tokens] */
    float *scores;     /* [n_tokens] (0 when the file has none) */
    uint8_t *types;    /* [n_tokens] fr_vocab_token_type */
    uint32_t *tok_slots; /* open-addressing table: id + 1, 0 = empty */
    size_t tok_mask;

    /* BPE merges "left right" -> rank. */
    uint32_t n_merges;
    char *mpool;
    size_t *mrg_off;
    uint32_t *mrg_len;
    uint32_t *mrg_split; /* length of the left part */
    uint32_t *mrg_slots; /* rank + 1, 0 = empty */
    size_t mrg_mask;

    int32_t bos, eos, unk, pad;
    bool add_bos;
    bool add_space_prefix;
    int32_t byte_tok[256]; /* SPM byte fallback: id of <0xNN> (or the 1-byte token), -1 */

    int32_t *special; /* control, unknown and user-defined ids, longest text first */
    size_t n_special;
    bool has_user_defined;
};

/* A growable list of ids. */
typedef struct fr_ivec {
    int32_t *v;
    size_t n, cap;
} fr_ivec;

fr_status fr_ivec_push(fr_ivec *o, int32_t id, fr_error *err);

/* Exact text -> id lookup (-1 if absent). */
int32_t fr_vocab_lookup(const fr_vocab *v, const char *s, size_t len);
/* Rank of the merge (left, right), -1 if absent. */
int32_t fr_vocab_merge_rank(const fr_vocab *v, const char *l, size_t ll, const char *r, size_t rl);

/* A candidate merge of the adjacent symbols left and right; the heap pops the highest
 * priority first (SentencePiece: the merged token's score; BPE: minus the merge rank, exact
 * in a float below 2^24 merges), ties
 * to the leftmost pair. */
typedef struct fr_merge_pair {
    int32_t left, right;
    float priority;
    size_t size; /* bytes of the merged text, to detect stale entries */
} fr_merge_pair;

typedef struct fr_merge_heap {
    fr_merge_pair *v;
    size_t n, cap;
} fr_merge_heap;

/* Returns -1 when out of memory. */
int fr_merge_heap_push(fr_merge_heap *h, fr_merge_pair p);
/* h->n must be > 0. */
fr_merge_pair fr_merge_heap_pop(fr_merge_heap *h);

/* Encode one plain-text fragment (no special tokens inside). */
fr_status fr_vocab_spm_encode(const fr_vocab *v, const char *text, size_t len, bool add_prefix,
                              fr_ivec *out, fr_error *err);
fr_status fr_vocab_bpe_encode(const fr_vocab *v, const char *text, size_t len, fr_ivec *out,
                              fr_error *err);

#endif

/* Public model queries and the tokenizer wrappers of frugal_llm.h. */
#include <string.h>

#include "core/error.h"
#include "llm/model.h"

void fr_model_get_info(const fr_model *m, fr_model_info *info) {
    const fr_llm_hparams *hp = &m->hp;
    memset(info, 0, sizeof *info);
    info->n_vocab = hp->n_vocab;
    info->n_embd = hp->n_embd;
    info->n_layer = hp->n_layer;
    info->n_head = hp->n_head;
    info->n_head_kv = hp->n_head_kv;
    info->n_ff = hp->n_ff;
    info->n_rot = hp->n_rot;
    info->head_dim = hp->head_dim;
    info->n_ctx_train = hp->n_ctx_train;
    info->rope_freq_base = hp->rope_base;
    info->rms_eps = hp->rms_eps;
    info->has_vocab = m->vocab != NULL;
    info->bos = m->vocab ? fr_vocab_bos(m->vocab) : -1;
    info->eos = m->vocab ? fr_vocab_eos(m->vocab) : -1;
    info->add_bos = m->vocab ? fr_vocab_add_bos(m->vocab) : false;
    info->tied_output = m->tied;
    info->weight_type = (uint32_t)m->layers[0].wq.type;
    info->n_params = m->n_params;
    info->n_bytes = m->n_bytes;
}

int32_t fr_model_n_vocab(const fr_model *m) {
    return m->hp.n_vocab;
}

fr_status fr_tokenize(const fr_model *m, const char *text, size_t len, bool add_bos,
                      int32_t *out, size_t cap, size_t *n_tokens, fr_error *err) {
    if (!m || (!text && len > 0) || (!out && cap > 0) || !n_tokens)
        return fr_fail(err, FR_E_ARG, "fr_tokenize: NULL argument");
    *n_tokens = 0;
    if (!m->vocab)
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: the model has no tokenizer", m->path);
    /* as documented: the BOS only when the vocabulary has one (fr_vocab_encode refuses) */
    const bool bos = add_bos && fr_vocab_bos(m->vocab) >= 0;
    return fr_vocab_encode(m->vocab, text ? text : "", len, bos, out, cap, n_tokens, err);
}

size_t fr_token_to_piece(const fr_model *m, int32_t id, char *buf, size_t cap) {
    if (!m || !m->vocab || id < 0 || id >= m->hp.n_vocab)
        return 0;
    return fr_vocab_piece(m->vocab, id, buf, cap);
}

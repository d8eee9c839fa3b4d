/* GGUF writer: collects metadata and tensors in memory, then writes one version-3 file. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/types.h"
#include "gguf/gguf.h"

/* llama.cpp keeps tensor names in a 64-byte buffer (GGML_MAX_NAME) including the NUL. */
#define GGUF_MAX_TENSOR_NAME 63

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
} wbuf;

typedef struct wkv {
    char *key;
    wbuf enc; /* key string + type + value, exactly as written */
} wkv;

typedef struct wtensor {
    char *name;
    uint32_t type, n_dims;
    uint64_t ne[4];
    const void *data;
    void *owned;
    uint64_t size;
} wtensor;

struct fr_gguf_writer {
    wkv *kvs;
    size_t n_kv, cap_kv;
    wtensor *tensors;
    size_t n_tensors, cap_tensors;
};

static void wb_put(wbuf *b, const void *src, size_t n) {
    if (b->oom || n == 0) return;
    if (n > SIZE_MAX - b->len) {
        b->oom = 1;
        return;
    }
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->len + n) {
            if (nc > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            nc *= 2;
        }
        uint8_t *q = realloc(b->p, nc);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void wb_u32(wbuf *b, uint32_t v) { wb_put(b, &v, 4); }
static void wb_u64(wbuf *b, uint64_t v) { wb_put(b, &v, 8); }

static void wb_str(wbuf *b, const char *s) {
    size_t n = strlen(s);
    wb_u64(b, n);
    wb_put(b, s, n);
}

static uint64_t scalar_size(fr_gguf_vtype t) {
    switch (t) {
    case FR_GGUF_U8: case FR_GGUF_I8: case FR_GGUF_BOOL: return 1;
    case FR_GGUF_U16: case FR_GGUF_I16: return 2;
    case FR_GGUF_U32: case FR_GGUF_I32: case FR_GGUF_F32: return 4;
    case FR_GGUF_U64: case FR_GGUF_I64: case FR_GGUF_F64: return 8;
    default: return 0;
    }
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

fr_status fr_gguf_writer_create(fr_gguf_writer **out, fr_error *err) {
    if (!out) return fr_fail(err, FR_E_ARG, "gguf writer: NULL output handle");
    *out = calloc(1, sizeof **out);
    if (!*out) return fr_fail(err, FR_E_NOMEM, "gguf writer: out of memory");
    return FR_OK;
}

void fr_gguf_writer_free(fr_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].enc.p);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].owned);
    }
    free(w->kvs);
    free(w->tensors);
    free(w);
}

/* Starts a new key: checks it, reserves the slot and writes the key and the type. */
static fr_status kv_begin(fr_gguf_writer *w, const char *key, fr_gguf_vtype type, wkv **out,
                          fr_error *err) {
    if (!w || !key) return fr_fail(err, FR_E_ARG, "gguf writer: NULL argument");
    if (!key[0]) return fr_fail(err, FR_E_ARG, "gguf writer: empty metadata key");
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kvs[i].key, key))
            return fr_fail(err, FR_E_ARG, "gguf writer: duplicate metadata key '%s'", key);
    if (w->n_kv == w->cap_kv) {
        size_t nc = w->cap_kv ? w->cap_kv * 2 : 16;
        wkv *p = realloc(w->kvs, nc * sizeof *p);
        if (!p) return fr_fail(err, FR_E_NOMEM, "gguf writer: out of memory for key '%s'", key);
        w->kvs = p;
        w->cap_kv = nc;
    }
    wkv *kv = &w->kvs[w->n_kv];
    memset(kv, 0, sizeof *kv);
    kv->key = dup_str(key);
    if (!kv->key) return fr_fail(err, FR_E_NOMEM, "gguf writer: out of memory for key '%s'", key);
    wb_str(&kv->enc, key);
    wb_u32(&kv->enc, (uint32_t)type);
    *out = kv;
    return FR_OK;
}

/* Keeps the key if its encoding succeeded, else drops it. */
static fr_status kv_end(fr_gguf_writer *w, wkv *kv, fr_error *err) {
    if (kv->enc.oom) {
        fr_status s = fr_fail(err, FR_E_NOMEM, "gguf writer: out of memory for key '%s'", kv->key);
        free(kv->key);
        free(kv->enc.p);
        return s;
    }
    w->n_kv++;
    return FR_OK;
}

fr_status fr_gguf_writer_set_scalar(fr_gguf_writer *w, const char *key, fr_gguf_vtype type,
                                    const void *v, fr_error *err) {
    uint64_t sz = scalar_size(type);
    if (!sz || !v)
        return fr_fail(err, FR_E_ARG, "gguf writer: key '%s': type %s is not a scalar type",
                       key ? key : "", fr_gguf_vtype_name(type));
    wkv *kv;
    fr_status s = kv_begin(w, key, type, &kv, err);
    if (s) return s;
    if (type == FR_GGUF_BOOL) {
        uint8_t b = *(const uint8_t *)v ? 1 : 0;
        wb_put(&kv->enc, &b, 1);
    } else {
        wb_put(&kv->enc, v, (size_t)sz);
    }
    return kv_end(w, kv, err);
}

fr_status fr_gguf_writer_set_u32(fr_gguf_writer *w, const char *key, uint32_t v, fr_error *err) {
    return fr_gguf_writer_set_scalar(w, key, FR_GGUF_U32, &v, err);
}

fr_status fr_gguf_writer_set_i32(fr_gguf_writer *w, const char *key, int32_t v, fr_error *err) {
    return fr_gguf_writer_set_scalar(w, key, FR_GGUF_I32, &v, err);
}

fr_status fr_gguf_writer_set_f32(fr_gguf_writer *w, const char *key, float v, fr_error *err) {
    return fr_gguf_writer_set_scalar(w, key, FR_GGUF_F32, &v, err);
}

fr_status fr_gguf_writer_set_bool(fr_gguf_writer *w, const char *key, bool v, fr_error *err) {
    uint8_t b = v ? 1 : 0;
    return fr_gguf_writer_set_scalar(w, key, FR_GGUF_BOOL, &b, err);
}

fr_status fr_gguf_writer_set_str(fr_gguf_writer *w, const char *key, const char *v, fr_error *err) {
    if (!v) return fr_fail(err, FR_E_ARG, "gguf writer: key '%s': NULL string", key ? key : "");
    wkv *kv;
    fr_status s = kv_begin(w, key, FR_GGUF_STRING, &kv, err);
    if (s) return s;
    wb_str(&kv->enc, v);
    return kv_end(w, kv, err);
}

/* Encodes an array body (element type, count, elements) of scalars or strings. */
static fr_status enc_arr(wbuf *b, const char *key, fr_gguf_vtype type, const void *data, uint64_t n,
                         fr_error *err) {
    if (n && !data) return fr_fail(err, FR_E_ARG, "gguf writer: key '%s': NULL array data", key);
    wb_u32(b, (uint32_t)type);
    wb_u64(b, n);
    if (type == FR_GGUF_STRING) {
        const char *const *strs = data;
        for (uint64_t i = 0; i < n; i++) {
            if (!strs[i])
                return fr_fail(err, FR_E_ARG, "gguf writer: key '%s': string %" PRIu64 " is NULL",
                               key, i);
            wb_str(b, strs[i]);
        }
        return FR_OK;
    }
    uint64_t sz = scalar_size(type);
    if (!sz)
        return fr_fail(err, FR_E_ARG, "gguf writer: key '%s': invalid array element type %s", key,
                       fr_gguf_vtype_name(type));
    if (n > SIZE_MAX / sz)
        return fr_fail(err, FR_E_ARG, "gguf writer: key '%s': array too large", key);
    if (type == FR_GGUF_BOOL) {
        const uint8_t *p = data;
        for (uint64_t i = 0; i < n; i++) {
            uint8_t v = p[i] ? 1 : 0;
            wb_put(b, &v, 1);
        }
    } else {
        wb_put(b, data, (size_t)(n * sz));
    }
    return FR_OK;
}

fr_status fr_gguf_writer_set_arr(fr_gguf_writer *w, const char *key, fr_gguf_vtype type,
                                 const void *data, uint64_t n, fr_error *err) {
    if (!scalar_size(type))
        return fr_fail(err, FR_E_ARG, "gguf writer: key '%s': invalid array element type %s",
                       key ? key : "", fr_gguf_vtype_name(type));
    wkv *kv;
    fr_status s = kv_begin(w, key, FR_GGUF_ARRAY, &kv, err);
    if (s) return s;
    s = enc_arr(&kv->enc, key, type, data, n, err);
    if (s) {
        free(kv->key);
        free(kv->enc.p);
        return s;
    }
    return kv_end(w, kv, err);
}

fr_status fr_gguf_writer_set_arr_str(fr_gguf_writer *w, const char *key, const char *const *strs,
                                     uint64_t n, fr_error *err) {
    wkv *kv;
    fr_status s = kv_begin(w, key, FR_GGUF_ARRAY, &kv, err);
    if (s) return s;
    s = enc_arr(&kv->enc, key, FR_GGUF_STRING, strs, n, err);
    if (s) {
        free(kv->key);
        free(kv->enc.p);
        return s;
    }
    return kv_end(w, kv, err);
}

fr_status fr_gguf_writer_set_arr_arr(fr_gguf_writer *w, const char *key,
                                     const fr_gguf_writer_sub *subs, uint64_t n, fr_error *err) {
    if (n && !subs) return fr_fail(err, FR_E_ARG, "gguf writer: key '%s': NULL sub-arrays", key ? key : "");
    wkv *kv;
    fr_status s = kv_begin(w, key, FR_GGUF_ARRAY, &kv, err);
    if (s) return s;
    wb_u32(&kv->enc, FR_GGUF_ARRAY);
    wb_u64(&kv->enc, n);
    for (uint64_t i = 0; i < n && !s; i++)
        s = enc_arr(&kv->enc, key, subs[i].type, subs[i].data, subs[i].n, err);
    if (s) {
        free(kv->key);
        free(kv->enc.p);
        return s;
    }
    return kv_end(w, kv, err);
}

fr_status fr_gguf_writer_add_tensor(fr_gguf_writer *w, const char *name, uint32_t type,
                                    uint32_t n_dims, const uint64_t *ne, const void *data,
                                    bool borrow, fr_error *err) {
    if (!w || !name || !ne || !data) return fr_fail(err, FR_E_ARG, "gguf writer: NULL argument");
    size_t nl = strlen(name);
    if (nl == 0 || nl > GGUF_MAX_TENSOR_NAME)
        return fr_fail(err, FR_E_ARG, "gguf writer: tensor name '%s' must be 1..%d bytes", name,
                       GGUF_MAX_TENSOR_NAME);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name))
            return fr_fail(err, FR_E_ARG, "gguf writer: duplicate tensor name '%s'", name);
    if (n_dims < 1 || n_dims > 4)
        return fr_fail(err, FR_E_ARG, "gguf writer: tensor '%s' has %" PRIu32 " dimensions (1..4)",
                       name, n_dims);
    if (!fr_type_valid(type))
        return fr_fail(err, FR_E_UNSUPPORTED, "gguf writer: tensor '%s' has unsupported type %" PRIu32,
                       name, type);
    uint64_t be = fr_type_block_elems((fr_type)type), bb = fr_type_block_bytes((fr_type)type);
    uint64_t nelem = 1;
    wtensor t = {0};
    for (uint32_t d = 0; d < 4; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] == 0 || t.ne[d] > (uint64_t)INT64_MAX || nelem > (uint64_t)INT64_MAX / t.ne[d])
            return fr_fail(err, FR_E_ARG, "gguf writer: tensor '%s' has a bad shape", name);
        nelem *= t.ne[d];
    }
    if (!be || !bb || t.ne[0] % be)
        return fr_fail(err, FR_E_ARG,
                       "gguf writer: tensor '%s' row length %" PRIu64 " is not a multiple of %" PRIu64,
                       name, t.ne[0], be);
    if (nelem / be > SIZE_MAX / bb)
        return fr_fail(err, FR_E_ARG, "gguf writer: tensor '%s' is too large", name);
    t.size = nelem / be * bb;
    t.type = type;
    t.n_dims = n_dims;
    if (w->n_tensors == w->cap_tensors) {
        size_t nc = w->cap_tensors ? w->cap_tensors * 2 : 16;
        wtensor *p = realloc(w->tensors, nc * sizeof *p);
        if (!p) return fr_fail(err, FR_E_NOMEM, "gguf writer: out of memory for tensor '%s'", name);
        w->tensors = p;
        w->cap_tensors = nc;
    }
    t.name = dup_str(name);
    if (!t.name) return fr_fail(err, FR_E_NOMEM, "gguf writer: out of memory for tensor '%s'", name);
    if (borrow) {
        t.data = data;
    } else {
        t.owned = malloc((size_t)t.size);
        if (!t.owned) {
            free(t.name);
            return fr_fail(err, FR_E_NOMEM, "gguf writer: out of memory for tensor '%s'", name);
        }
        memcpy(t.owned, data, (size_t)t.size);
        t.data = t.owned;
    }
    w->tensors[w->n_tensors++] = t;
    return FR_OK;
}

static uint64_t pad_to(uint64_t x, uint64_t a) {
    return (a - x % a) % a;
}

static int write_all(FILE *f, const void *p, size_t n) {
    return n == 0 || fwrite(p, 1, n, f) == n;
}

static int write_zeros(FILE *f, uint64_t n) {
    static const uint8_t zeros[64];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (fwrite(zeros, 1, k, f) != k) return 0;
        n -= k;
    }
    return 1;
}

fr_status fr_gguf_writer_write(fr_gguf_writer *w, const char *path, uint32_t alignment,
                               fr_error *err) {
    if (!w || !path) return fr_fail(err, FR_E_ARG, "gguf writer: NULL argument");
    if (alignment == 0) alignment = 32;
    if (alignment & (alignment - 1))
        return fr_fail(err, FR_E_ARG, "%s: alignment %" PRIu32 " is not a power of two", path,
                       alignment);
    /* The alignment must be recorded in the file when it is not the default. */
    int have_key = 0;
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kvs[i].key, "general.alignment")) {
            const wbuf *e = &w->kvs[i].enc;
            uint32_t type, v;
            size_t at = 8 + strlen("general.alignment");
            memcpy(&type, e->p + at, 4);
            if (type != FR_GGUF_U32)
                return fr_fail(err, FR_E_ARG, "%s: general.alignment must be a u32", path);
            memcpy(&v, e->p + at + 4, 4);
            if (v != alignment)
                return fr_fail(err, FR_E_ARG,
                               "%s: general.alignment is %" PRIu32 " but writing with %" PRIu32,
                               path, v, alignment);
            have_key = 1;
        }
    if (!have_key && alignment != 32) {
        fr_status s = fr_gguf_writer_set_u32(w, "general.alignment", alignment, err);
        if (s) return s;
    }

    wbuf h = {0};
    wb_put(&h, "GGUF", 4);
    wb_u32(&h, 3);
    wb_u64(&h, w->n_tensors);
    wb_u64(&h, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) wb_put(&h, w->kvs[i].enc.p, w->kvs[i].enc.len);
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        wb_str(&h, t->name);
        wb_u32(&h, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) wb_u64(&h, t->ne[d]);
        wb_u32(&h, t->type);
        wb_u64(&h, off);
        off += t->size + pad_to(t->size, alignment);
    }
    if (h.oom) {
        free(h.p);
        return fr_fail(err, FR_E_NOMEM, "%s: out of memory building the header", path);
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        int e = errno;
        free(h.p);
        return fr_fail(err, FR_E_IO, "%s: cannot create: %s", path, strerror(e));
    }
    int ok = write_all(f, h.p, h.len);
    if (w->n_tensors) ok = ok && write_zeros(f, pad_to(h.len, alignment));
    free(h.p);
    for (size_t i = 0; ok && i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        ok = write_all(f, t->data, (size_t)t->size) && write_zeros(f, pad_to(t->size, alignment));
    }
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        remove(path);
        return fr_fail(err, FR_E_IO, "%s: write failed: %s", path, strerror(e));
    }
    return FR_OK;
}

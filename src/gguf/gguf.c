/* GGUF reader: validates the whole file once at open, then hands out views into it. */
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/types.h"

/* Arrays may nest; deeper nesting than this is refused (keeps recursion bounded). */
#define GGUF_MAX_DEPTH 8
/* Names printed in messages are cut to this many bytes. */
#define GGUF_MSG_NAME 64

typedef struct gguf_kv {
    fr_gguf_str key;
    fr_gguf_vtype type;
    uint64_t val; /* offset of the value's encoding in the file */
} gguf_kv;

/* An array whose elements have variable size (strings or arrays): where each element starts. */
typedef struct gguf_varr {
    uint64_t data;  /* offset of the first element */
    uint64_t first; /* index of element 0's offset in offs */
} gguf_varr;

struct fr_gguf {
    char *name;
    const uint8_t *base;
    uint64_t size;
    void *map; /* non-NULL when we mapped the file */
    size_t map_size;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;

    int64_t n_kv;
    gguf_kv *kvs;
    int64_t *kv_sorted; /* kv indices sorted by key */

    int64_t n_tensors;
    fr_gguf_tensor *tensors;
    int64_t *tensor_sorted; /* tensor indices sorted by name */

    gguf_varr *varrs; /* sorted by data offset */
    uint64_t n_varrs, cap_varrs;
    uint64_t *offs;
    uint64_t n_offs, cap_offs;
};

/* ---- small helpers ---------------------------------------------------------------- */

static const char *const VTYPE_NAMES[FR_GGUF_VTYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

const char *fr_gguf_vtype_name(uint32_t t) {
    return t < FR_GGUF_VTYPE_COUNT ? VTYPE_NAMES[t] : "invalid";
}

static const char *vtype_name(uint32_t t) {
    return fr_gguf_vtype_name(t);
}

/* Byte size of a fixed-size value type; 0 for string, array and invalid types. */
static uint64_t vtype_size(uint32_t t) {
    switch (t) {
    case FR_GGUF_U8: case FR_GGUF_I8: case FR_GGUF_BOOL: return 1;
    case FR_GGUF_U16: case FR_GGUF_I16: return 2;
    case FR_GGUF_U32: case FR_GGUF_I32: case FR_GGUF_F32: return 4;
    case FR_GGUF_U64: case FR_GGUF_I64: case FR_GGUF_F64: return 8;
    default: return 0;
    }
}

static uint32_t rd_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t rd_u64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static int msg_len(uint64_t len) {
    return len > GGUF_MSG_NAME ? GGUF_MSG_NAME : (int)len;
}

bool fr_gguf_str_eq(fr_gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

static int str_cmp(const char *a, uint64_t alen, const char *b, uint64_t blen) {
    uint64_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, (size_t)n) : 0;
    if (c) return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* Grows *buf (of elem bytes each) so that it holds at least need elements. */
static int grow(void **buf, uint64_t *cap, uint64_t need, size_t elem) {
    if (need <= *cap) return 1;
    uint64_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > UINT64_MAX / 2) return 0;
        nc *= 2;
    }
    if (nc > SIZE_MAX / elem) return 0;
    void *p = realloc(*buf, (size_t)(nc * elem));
    if (!p) return 0;
    *buf = p;
    *cap = nc;
    return 1;
}

/* ---- parsing ------------------------------------------------------------------------ */

typedef struct reader {
    fr_gguf *g;
    uint64_t pos;
    fr_error *err;
} reader;

static uint64_t left(const reader *r) {
    return r->g->size - r->pos;
}

static fr_status need(reader *r, uint64_t n, const char *what) {
    if (n > left(r))
        return fr_fail(r->err, FR_E_FORMAT,
                       "%s: truncated: %s at offset %" PRIu64 " needs %" PRIu64
                       " bytes but only %" PRIu64 " remain",
                       r->g->name, what, r->pos, n, left(r));
    return FR_OK;
}

static fr_status get_u32(reader *r, uint32_t *v, const char *what) {
    fr_status s = need(r, 4, what);
    if (s) return s;
    *v = rd_u32(r->g->base + r->pos);
    r->pos += 4;
    return FR_OK;
}

static fr_status get_u64(reader *r, uint64_t *v, const char *what) {
    fr_status s = need(r, 8, what);
    if (s) return s;
    *v = rd_u64(r->g->base + r->pos);
    r->pos += 8;
    return FR_OK;
}

static fr_status get_str(reader *r, fr_gguf_str *out, const char *what) {
    uint64_t len;
    fr_status s = get_u64(r, &len, what);
    if (s) return s;
    if (len > left(r))
        return fr_fail(r->err, FR_E_FORMAT,
                       "%s: %s at offset %" PRIu64 " has length %" PRIu64
                       " past the end of the file (%" PRIu64 " bytes remain)",
                       r->g->name, what, r->pos - 8, len, left(r));
    out->ptr = (const char *)r->g->base + r->pos;
    out->len = len;
    r->pos += len;
    return FR_OK;
}

static fr_status nomem(reader *r) {
    return fr_fail(r->err, FR_E_NOMEM, "%s: out of memory while reading the header", r->g->name);
}

static fr_status skip_value(reader *r, uint32_t type, int depth, const fr_gguf_str *key);

/* Validates an array's body (after the value type) and records where variable-size
 * elements start so that element i can be found in O(log n) later. */
static fr_status skip_array(reader *r, int depth, const fr_gguf_str *key) {
    fr_gguf *g = r->g;
    if (depth >= GGUF_MAX_DEPTH)
        return fr_fail(r->err, FR_E_FORMAT, "%s: key '%.*s': arrays nested deeper than %d",
                       g->name, msg_len(key->len), key->ptr, GGUF_MAX_DEPTH);
    uint32_t et;
    uint64_t n;
    fr_status s = get_u32(r, &et, "array element type");
    if (s) return s;
    if (et >= FR_GGUF_VTYPE_COUNT)
        return fr_fail(r->err, FR_E_FORMAT, "%s: key '%.*s': invalid array element type %" PRIu32,
                       g->name, msg_len(key->len), key->ptr, et);
    s = get_u64(r, &n, "array length");
    if (s) return s;
    uint64_t esz = vtype_size(et);
    if (esz) {
        if (n > left(r) / esz)
            return fr_fail(r->err, FR_E_FORMAT,
                           "%s: key '%.*s': array of %" PRIu64 " %s runs past the end of the file",
                           g->name, msg_len(key->len), key->ptr, n, vtype_name(et));
        r->pos += n * esz;
        return FR_OK;
    }
    /* Strings take at least 8 bytes, arrays at least 12. */
    uint64_t min = et == FR_GGUF_STRING ? 8 : 12;
    if (n > left(r) / min)
        return fr_fail(r->err, FR_E_FORMAT,
                       "%s: key '%.*s': array of %" PRIu64 " %s runs past the end of the file",
                       g->name, msg_len(key->len), key->ptr, n, vtype_name(et));
    if (n == 0) return FR_OK;
    /* Element offsets are collected locally (children append their own first) and then
     * appended as one contiguous run; memory only grows with elements actually parsed. */
    uint64_t data = r->pos;
    uint64_t *loc = NULL, cap = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!grow((void **)&loc, &cap, i + 1, sizeof *loc)) {
            free(loc);
            return nomem(r);
        }
        loc[i] = r->pos;
        s = skip_value(r, et, depth + 1, key);
        if (s) {
            free(loc);
            return s;
        }
    }
    if (!grow((void **)&g->offs, &g->cap_offs, g->n_offs + n, sizeof *g->offs) ||
        !grow((void **)&g->varrs, &g->cap_varrs, g->n_varrs + 1, sizeof *g->varrs)) {
        free(loc);
        return nomem(r);
    }
    memcpy(g->offs + g->n_offs, loc, (size_t)n * sizeof *loc);
    free(loc);
    g->varrs[g->n_varrs].data = data;
    g->varrs[g->n_varrs].first = g->n_offs;
    g->n_varrs++;
    g->n_offs += n;
    return FR_OK;
}

static fr_status skip_value(reader *r, uint32_t type, int depth, const fr_gguf_str *key) {
    if (type == FR_GGUF_STRING) {
        fr_gguf_str tmp;
        return get_str(r, &tmp, "string value");
    }
    if (type == FR_GGUF_ARRAY) return skip_array(r, depth, key);
    uint64_t sz = vtype_size(type);
    if (!sz)
        return fr_fail(r->err, FR_E_FORMAT, "%s: key '%.*s': invalid value type %" PRIu32,
                       r->g->name, msg_len(key->len), key->ptr, type);
    fr_status s = need(r, sz, "value");
    if (s) return s;
    r->pos += sz;
    return FR_OK;
}

static int cmp_varr(const void *a, const void *b) {
    uint64_t x = ((const gguf_varr *)a)->data, y = ((const gguf_varr *)b)->data;
    return x < y ? -1 : x > y;
}

/* qsort has no context argument: sort (index, key) pairs instead. */
typedef struct name_ix {
    const char *ptr;
    uint64_t len;
    int64_t ix;
    uint64_t off; /* tensor offset, for the overlap check */
} name_ix;

static int cmp_name(const void *a, const void *b) {
    const name_ix *x = a, *y = b;
    int c = str_cmp(x->ptr, x->len, y->ptr, y->len);
    if (c) return c;
    return x->ix < y->ix ? -1 : x->ix > y->ix;
}

static int cmp_off(const void *a, const void *b) {
    const name_ix *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Sorts n names, writes the sorted index, and reports the first duplicate (or -1). */
static int64_t sort_names(name_ix *tmp, int64_t n, int64_t *sorted) {
    if (n > 0) qsort(tmp, (size_t)n, sizeof *tmp, cmp_name);
    int64_t dup = -1;
    for (int64_t i = 0; i < n; i++) {
        sorted[i] = tmp[i].ix;
        if (i > 0 && dup < 0 && !str_cmp(tmp[i - 1].ptr, tmp[i - 1].len, tmp[i].ptr, tmp[i].len))
            dup = tmp[i].ix;
    }
    return dup;
}

static fr_status parse_kvs(reader *r, uint64_t n_kv) {
    fr_gguf *g = r->g;
    /* Each pair takes at least 8 (key length) + 4 (type) + 1 bytes. */
    if (n_kv > left(r) / 13)
        return fr_fail(r->err, FR_E_FORMAT,
                       "%s: header claims %" PRIu64 " metadata keys, more than the file can hold",
                       g->name, n_kv);
    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        if (!grow((void **)&g->kvs, &cap, i + 1, sizeof *g->kvs)) return nomem(r);
        gguf_kv *kv = &g->kvs[i];
        fr_status s = get_str(r, &kv->key, "metadata key");
        if (s) return s;
        g->n_kv = (int64_t)i + 1;
        uint32_t type;
        s = get_u32(r, &type, "metadata value type");
        if (s) return s;
        if (type >= FR_GGUF_VTYPE_COUNT)
            return fr_fail(r->err, FR_E_FORMAT, "%s: key '%.*s' has invalid value type %" PRIu32,
                           g->name, msg_len(kv->key.len), kv->key.ptr, type);
        kv->type = (fr_gguf_vtype)type;
        kv->val = r->pos;
        s = skip_value(r, type, 0, &kv->key);
        if (s) return s;
    }
    if (g->n_varrs > 1) qsort(g->varrs, (size_t)g->n_varrs, sizeof *g->varrs, cmp_varr);

    g->kv_sorted = malloc(((size_t)g->n_kv + 1) * sizeof *g->kv_sorted);
    name_ix *tmp = malloc(((size_t)g->n_kv + 1) * sizeof *tmp);
    if (!g->kv_sorted || !tmp) {
        free(tmp);
        return nomem(r);
    }
    for (int64_t i = 0; i < g->n_kv; i++)
        tmp[i] = (name_ix){g->kvs[i].key.ptr, g->kvs[i].key.len, i, 0};
    int64_t dup = sort_names(tmp, g->n_kv, g->kv_sorted);
    free(tmp);
    if (dup >= 0)
        return fr_fail(r->err, FR_E_FORMAT, "%s: duplicate metadata key '%.*s'", g->name,
                       msg_len(g->kvs[dup].key.len), g->kvs[dup].key.ptr);
    return FR_OK;
}

static fr_status check_alignment(reader *r) {
    fr_gguf *g = r->g;
    g->alignment = 32;
    if (fr_gguf_find_key(g, "general.alignment") < 0) return FR_OK;
    uint32_t a;
    fr_status s = fr_gguf_get_u32(g, "general.alignment", &a, r->err);
    if (s) return s;
    if (a == 0 || (a & (a - 1)))
        return fr_fail(r->err, FR_E_FORMAT,
                       "%s: general.alignment is %" PRIu32 ", must be a non-zero power of two",
                       g->name, a);
    g->alignment = a;
    return FR_OK;
}

static fr_status parse_tensor(reader *r, fr_gguf_tensor *t) {
    fr_gguf *g = r->g;
    fr_status s = get_str(r, &t->name, "tensor name");
    if (s) return s;
    int nl = msg_len(t->name.len);
    s = get_u32(r, &t->n_dims, "tensor dimension count");
    if (s) return s;
    if (t->n_dims < 1 || t->n_dims > 4)
        return fr_fail(r->err, FR_E_FORMAT, "%s: tensor '%.*s' has %" PRIu32 " dimensions (1..4 allowed)",
                       g->name, nl, t->name.ptr, t->n_dims);
    uint64_t nelem = 1;
    for (uint32_t d = 0; d < 4; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims) continue;
        s = get_u64(r, &t->ne[d], "tensor dimension");
        if (s) return s;
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX)
            return fr_fail(r->err, FR_E_FORMAT, "%s: tensor '%.*s' dimension %" PRIu32 " is %" PRIu64
                           " (must be 1..2^63-1)", g->name, nl, t->name.ptr, d, t->ne[d]);
        if (nelem > (uint64_t)INT64_MAX / t->ne[d])
            return fr_fail(r->err, FR_E_FORMAT, "%s: tensor '%.*s' element count overflows",
                           g->name, nl, t->name.ptr);
        nelem *= t->ne[d];
    }
    s = get_u32(r, &t->type, "tensor type");
    if (s) return s;
    s = get_u64(r, &t->offset, "tensor offset");
    if (s) return s;
    if (!fr_type_valid(t->type))
        return fr_fail(r->err, FR_E_UNSUPPORTED, "%s: tensor '%.*s' has unsupported type %" PRIu32,
                       g->name, nl, t->name.ptr, t->type);
    uint64_t be = fr_type_block_elems((fr_type)t->type), bb = fr_type_block_bytes((fr_type)t->type);
    if (be == 0 || bb == 0)
        return fr_fail(r->err, FR_E_UNSUPPORTED, "%s: tensor '%.*s' has unsupported type %" PRIu32,
                       g->name, nl, t->name.ptr, t->type);
    if (t->ne[0] % be)
        return fr_fail(r->err, FR_E_FORMAT, "%s: tensor '%.*s' row length %" PRIu64
                       " is not a multiple of the %s block size %" PRIu64,
                       g->name, nl, t->name.ptr, t->ne[0], fr_type_name(t->type), be);
    uint64_t blocks = nelem / be;
    if (blocks > UINT64_MAX / bb)
        return fr_fail(r->err, FR_E_FORMAT, "%s: tensor '%.*s' byte size overflows", g->name, nl,
                       t->name.ptr);
    t->size = blocks * bb;
    if (t->offset % g->alignment)
        return fr_fail(r->err, FR_E_FORMAT, "%s: tensor '%.*s' offset %" PRIu64
                       " is not a multiple of the alignment %" PRIu32,
                       g->name, nl, t->name.ptr, t->offset, g->alignment);
    return FR_OK;
}

static fr_status parse_tensors(reader *r, uint64_t n_tensors) {
    fr_gguf *g = r->g;
    /* Each tensor info takes at least 8 + 4 + 8 + 4 + 8 bytes. */
    if (n_tensors > left(r) / 32)
        return fr_fail(r->err, FR_E_FORMAT,
                       "%s: header claims %" PRIu64 " tensors, more than the file can hold",
                       g->name, n_tensors);
    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        if (!grow((void **)&g->tensors, &cap, i + 1, sizeof *g->tensors)) return nomem(r);
        memset(&g->tensors[i], 0, sizeof g->tensors[i]);
        fr_status s = parse_tensor(r, &g->tensors[i]);
        if (s) return s;
        g->n_tensors = (int64_t)i + 1;
    }
    if (g->n_tensors == 0) {
        /* No data blob needed (vocabulary-only files may end right after the metadata). */
        g->data_offset = r->pos;
        g->tensor_sorted = malloc(sizeof *g->tensor_sorted);
        return g->tensor_sorted ? FR_OK : nomem(r);
    }
    uint64_t a = g->alignment;
    uint64_t pad = (a - r->pos % a) % a;
    if (pad > left(r))
        return fr_fail(r->err, FR_E_FORMAT, "%s: truncated: file ends before the tensor data",
                       g->name);
    g->data_offset = r->pos + pad;
    uint64_t blob = g->size - g->data_offset;

    size_t n = (size_t)g->n_tensors;
    g->tensor_sorted = malloc(n * sizeof *g->tensor_sorted);
    name_ix *tmp = malloc(n * sizeof *tmp);
    if (!g->tensor_sorted || !tmp) {
        free(tmp);
        return nomem(r);
    }
    for (size_t i = 0; i < n; i++) {
        fr_gguf_tensor *t = &g->tensors[i];
        if (t->offset > blob || t->size > blob - t->offset) {
            free(tmp);
            return fr_fail(r->err, FR_E_FORMAT, "%s: tensor '%.*s' data (offset %" PRIu64 ", %" PRIu64
                           " bytes) runs past the end of the file (%" PRIu64 " data bytes)",
                           g->name, msg_len(t->name.len), t->name.ptr, t->offset, t->size, blob);
        }
        t->data = g->base + g->data_offset + t->offset;
        tmp[i] = (name_ix){t->name.ptr, t->name.len, (int64_t)i, t->offset};
    }
    int64_t dup = sort_names(tmp, g->n_tensors, g->tensor_sorted);
    if (dup >= 0) {
        free(tmp);
        return fr_fail(r->err, FR_E_FORMAT, "%s: duplicate tensor name '%.*s'", g->name,
                       msg_len(g->tensors[dup].name.len), g->tensors[dup].name.ptr);
    }
    qsort(tmp, n, sizeof *tmp, cmp_off);
    for (size_t i = 1; i < n; i++) {
        const fr_gguf_tensor *p = &g->tensors[tmp[i - 1].ix], *t = &g->tensors[tmp[i].ix];
        if (p->offset + p->size > t->offset) {
            free(tmp);
            return fr_fail(r->err, FR_E_FORMAT, "%s: tensors '%.*s' and '%.*s' overlap", g->name,
                           msg_len(p->name.len), p->name.ptr, msg_len(t->name.len), t->name.ptr);
        }
    }
    free(tmp);
    return FR_OK;
}

static fr_status parse(fr_gguf *g, fr_error *err) {
    reader r = {g, 0, err};
    fr_status s = need(&r, 4, "magic");
    if (s) return s;
    if (memcmp(g->base, "GGUF", 4) != 0)
        return fr_fail(err, FR_E_FORMAT, "%s: not a GGUF file (bad magic)", g->name);
    r.pos = 4;
    s = get_u32(&r, &g->version, "version");
    if (s) return s;
    if (g->version == 1)
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: GGUF version 1 is not supported (only 2 and 3)",
                       g->name);
    if (g->version == 0x02000000u || g->version == 0x03000000u)
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: big-endian GGUF files are not supported", g->name);
    if (g->version != 2 && g->version != 3)
        return fr_fail(err, FR_E_UNSUPPORTED,
                       "%s: unsupported GGUF version %" PRIu32 " (only 2 and 3)", g->name, g->version);
    uint64_t n_tensors, n_kv;
    s = get_u64(&r, &n_tensors, "tensor count");
    if (s) return s;
    s = get_u64(&r, &n_kv, "metadata key count");
    if (s) return s;
    s = parse_kvs(&r, n_kv);
    if (s) return s;
    s = check_alignment(&r);
    if (s) return s;
    return parse_tensors(&r, n_tensors);
}

/* ---- open / close --------------------------------------------------------------------- */

static fr_gguf *gguf_new(const char *name) {
    fr_gguf *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    const char *n = name ? name : "<buffer>";
    size_t len = strlen(n);
    g->name = malloc(len + 1);
    if (!g->name) {
        free(g);
        return NULL;
    }
    memcpy(g->name, n, len + 1);
    g->alignment = 32;
    return g;
}

void fr_gguf_close(fr_gguf *g) {
    if (!g) return;
    if (g->map) munmap(g->map, g->map_size);
    free(g->kvs);
    free(g->kv_sorted);
    free(g->tensors);
    free(g->tensor_sorted);
    free(g->varrs);
    free(g->offs);
    free(g->name);
    free(g);
}

fr_status fr_gguf_open_buffer(const void *data, size_t size, const char *name, fr_gguf **out,
                              fr_error *err) {
    if (!out) return fr_fail(err, FR_E_ARG, "%s: no output handle given", name ? name : "<buffer>");
    *out = NULL;
    if (!data && size)
        return fr_fail(err, FR_E_ARG, "%s: NULL buffer", name ? name : "<buffer>");
    fr_gguf *g = gguf_new(name);
    if (!g) return fr_fail(err, FR_E_NOMEM, "%s: out of memory", name ? name : "<buffer>");
    g->base = data;
    g->size = size;
    fr_status s = parse(g, err);
    if (s) {
        fr_gguf_close(g);
        return s;
    }
    *out = g;
    return FR_OK;
}

fr_status fr_gguf_open(const char *path, fr_gguf **out, fr_error *err) {
    if (!out || !path) return fr_fail(err, FR_E_ARG, "fr_gguf_open: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return fr_fail(err, FR_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fr_fail(err, FR_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fr_fail(err, FR_E_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return fr_fail(err, FR_E_FORMAT, "%s: empty file, not a GGUF file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return fr_fail(err, FR_E_IO, "%s: file too large to map", path);
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return fr_fail(err, FR_E_IO, "%s: cannot map: %s", path, strerror(e));
    fr_gguf *g = gguf_new(path);
    if (!g) {
        munmap(map, size);
        return fr_fail(err, FR_E_NOMEM, "%s: out of memory", path);
    }
    g->map = map;
    g->map_size = size;
    g->base = map;
    g->size = size;
    fr_status s = parse(g, err);
    if (s) {
        fr_gguf_close(g);
        return s;
    }
    *out = g;
    return FR_OK;
}

/* ---- accessors ---------------------------------------------------------------------- */

const char *fr_gguf_name(const fr_gguf *g) { return g->name; }
uint32_t fr_gguf_version(const fr_gguf *g) { return g->version; }
uint32_t fr_gguf_alignment(const fr_gguf *g) { return g->alignment; }
const void *fr_gguf_data_base(const fr_gguf *g) { return g->base + g->data_offset; }
int64_t fr_gguf_n_kv(const fr_gguf *g) { return g->n_kv; }
int64_t fr_gguf_n_tensors(const fr_gguf *g) { return g->n_tensors; }

int64_t fr_gguf_find_key(const fr_gguf *g, const char *key) {
    if (!g || !key || !g->kv_sorted) return -1;
    uint64_t klen = strlen(key);
    int64_t lo = 0, hi = g->n_kv;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const gguf_kv *kv = &g->kvs[g->kv_sorted[mid]];
        int c = str_cmp(kv->key.ptr, kv->key.len, key, klen);
        if (c == 0) return g->kv_sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

fr_gguf_str fr_gguf_key(const fr_gguf *g, int64_t i) {
    if (i < 0 || i >= g->n_kv) return (fr_gguf_str){"", 0};
    return g->kvs[i].key;
}

fr_gguf_vtype fr_gguf_kv_type(const fr_gguf *g, int64_t i) {
    if (i < 0 || i >= g->n_kv) return FR_GGUF_VTYPE_COUNT;
    return g->kvs[i].type;
}

const fr_gguf_tensor *fr_gguf_tensor_at(const fr_gguf *g, int64_t i) {
    if (i < 0 || i >= g->n_tensors) return NULL;
    return &g->tensors[i];
}

const fr_gguf_tensor *fr_gguf_find_tensor(const fr_gguf *g, const char *name) {
    if (!g || !name) return NULL;
    uint64_t nlen = strlen(name);
    int64_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const fr_gguf_tensor *t = &g->tensors[g->tensor_sorted[mid]];
        int c = str_cmp(t->name.ptr, t->name.len, name, nlen);
        if (c == 0) return t;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* ---- typed getters ------------------------------------------------------------------- */

/* A scalar read as a signed/unsigned pair so that all integer types compare exactly. */
typedef struct scalar {
    int is_int, is_float, neg;
    uint64_t u; /* magnitude when neg, else the value */
    double f;
} scalar;

static scalar read_scalar(const uint8_t *p, uint32_t type) {
    scalar s = {0, 0, 0, 0, 0.0};
    int64_t iv = 0;
    int sgn = 0;
    switch (type) {
    case FR_GGUF_U8: s.u = p[0]; break;
    case FR_GGUF_I8: iv = (int8_t)p[0]; sgn = 1; break;
    case FR_GGUF_U16: { uint16_t v; memcpy(&v, p, 2); s.u = v; break; }
    case FR_GGUF_I16: { int16_t v; memcpy(&v, p, 2); iv = v; sgn = 1; break; }
    case FR_GGUF_U32: s.u = rd_u32(p); break;
    case FR_GGUF_I32: { int32_t v; memcpy(&v, p, 4); iv = v; sgn = 1; break; }
    case FR_GGUF_U64: s.u = rd_u64(p); break;
    case FR_GGUF_I64: { int64_t v; memcpy(&v, p, 8); iv = v; sgn = 1; break; }
    case FR_GGUF_BOOL: s.u = p[0] != 0; break;
    case FR_GGUF_F32: { float v; memcpy(&v, p, 4); s.f = v; s.is_float = 1; return s; }
    case FR_GGUF_F64: { double v; memcpy(&v, p, 8); s.f = v; s.is_float = 1; return s; }
    default: return s;
    }
    s.is_int = type != FR_GGUF_BOOL;
    if (sgn) {
        s.neg = iv < 0;
        s.u = iv < 0 ? (uint64_t)0 - (uint64_t)iv : (uint64_t)iv;
    }
    s.f = s.neg ? -(double)s.u : (double)s.u;
    return s;
}

static int is_int_type(uint32_t t) {
    return t == FR_GGUF_U8 || t == FR_GGUF_I8 || t == FR_GGUF_U16 || t == FR_GGUF_I16 ||
           t == FR_GGUF_U32 || t == FR_GGUF_I32 || t == FR_GGUF_U64 || t == FR_GGUF_I64;
}

static fr_status lookup(const fr_gguf *g, const char *key, int64_t *ix, fr_error *err) {
    *ix = fr_gguf_find_key(g, key);
    if (*ix < 0) return fr_fail(err, FR_E_FORMAT, "%s: missing key '%s'", g->name, key);
    return FR_OK;
}

static fr_status wrong_type(const fr_gguf *g, const char *key, const char *expected, uint32_t actual,
                            fr_error *err) {
    return fr_fail(err, FR_E_FORMAT, "%s: key '%s' has type %s, expected %s", g->name, key,
                   vtype_name(actual), expected);
}

fr_status fr_gguf_get_u32(const fr_gguf *g, const char *key, uint32_t *out, fr_error *err) {
    int64_t i;
    fr_status s = lookup(g, key, &i, err);
    if (s) return s;
    const gguf_kv *kv = &g->kvs[i];
    if (!is_int_type(kv->type)) return wrong_type(g, key, "u32 (or an integer)", kv->type, err);
    scalar v = read_scalar(g->base + kv->val, kv->type);
    if (v.neg || v.u > UINT32_MAX)
        return fr_fail(err, FR_E_FORMAT, "%s: key '%s' value %s%" PRIu64 " does not fit in u32",
                       g->name, key, v.neg ? "-" : "", v.u);
    *out = (uint32_t)v.u;
    return FR_OK;
}

fr_status fr_gguf_get_i64(const fr_gguf *g, const char *key, int64_t *out, fr_error *err) {
    int64_t i;
    fr_status s = lookup(g, key, &i, err);
    if (s) return s;
    const gguf_kv *kv = &g->kvs[i];
    if (!is_int_type(kv->type)) return wrong_type(g, key, "i64 (or an integer)", kv->type, err);
    scalar v = read_scalar(g->base + kv->val, kv->type);
    if (!v.neg && v.u > (uint64_t)INT64_MAX)
        return fr_fail(err, FR_E_FORMAT, "%s: key '%s' value %" PRIu64 " does not fit in i64",
                       g->name, key, v.u);
    *out = v.neg ? (int64_t)(0 - v.u) : (int64_t)v.u;
    return FR_OK;
}

fr_status fr_gguf_get_f32(const fr_gguf *g, const char *key, float *out, fr_error *err) {
    int64_t i;
    fr_status s = lookup(g, key, &i, err);
    if (s) return s;
    const gguf_kv *kv = &g->kvs[i];
    if (kv->type != FR_GGUF_F32 && kv->type != FR_GGUF_F64)
        return wrong_type(g, key, "f32 (or f64)", kv->type, err);
    *out = (float)read_scalar(g->base + kv->val, kv->type).f;
    return FR_OK;
}

fr_status fr_gguf_get_bool(const fr_gguf *g, const char *key, bool *out, fr_error *err) {
    int64_t i;
    fr_status s = lookup(g, key, &i, err);
    if (s) return s;
    const gguf_kv *kv = &g->kvs[i];
    if (kv->type != FR_GGUF_BOOL) return wrong_type(g, key, "bool", kv->type, err);
    *out = g->base[kv->val] != 0;
    return FR_OK;
}

fr_status fr_gguf_get_str(const fr_gguf *g, const char *key, fr_gguf_str *out, fr_error *err) {
    int64_t i;
    fr_status s = lookup(g, key, &i, err);
    if (s) return s;
    const gguf_kv *kv = &g->kvs[i];
    if (kv->type != FR_GGUF_STRING) return wrong_type(g, key, "string", kv->type, err);
    out->len = rd_u64(g->base + kv->val);
    out->ptr = (const char *)g->base + kv->val + 8;
    return FR_OK;
}

static void arr_at(const fr_gguf *g, uint64_t pos, fr_gguf_arr *out) {
    out->type = (fr_gguf_vtype)rd_u32(g->base + pos);
    out->n = rd_u64(g->base + pos + 4);
    out->data = g->base + pos + 12;
    out->owner = g;
}

fr_status fr_gguf_kv_arr(const fr_gguf *g, int64_t i, fr_gguf_arr *out, fr_error *err) {
    if (i < 0 || i >= g->n_kv)
        return fr_fail(err, FR_E_ARG, "%s: metadata index %" PRId64 " out of range", g->name, i);
    const gguf_kv *kv = &g->kvs[i];
    if (kv->type != FR_GGUF_ARRAY)
        return fr_fail(err, FR_E_FORMAT, "%s: key '%.*s' has type %s, expected array", g->name,
                       msg_len(kv->key.len), kv->key.ptr, vtype_name(kv->type));
    arr_at(g, kv->val, out);
    return FR_OK;
}

fr_status fr_gguf_get_arr(const fr_gguf *g, const char *key, fr_gguf_arr *out, fr_error *err) {
    int64_t i;
    fr_status s = lookup(g, key, &i, err);
    if (s) return s;
    if (g->kvs[i].type != FR_GGUF_ARRAY) return wrong_type(g, key, "array", g->kvs[i].type, err);
    arr_at(g, g->kvs[i].val, out);
    return FR_OK;
}

/* Offset of element i of an array of strings or arrays, or UINT64_MAX if unknown. */
static uint64_t var_elem(const fr_gguf_arr *arr, uint64_t i) {
    const fr_gguf *g = arr->owner;
    if (!g || arr->data < g->base || i >= arr->n) return UINT64_MAX;
    uint64_t data = (uint64_t)(arr->data - g->base);
    uint64_t lo = 0, hi = g->n_varrs;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (g->varrs[mid].data == data) return g->offs[g->varrs[mid].first + i];
        if (g->varrs[mid].data < data) lo = mid + 1;
        else hi = mid;
    }
    return UINT64_MAX;
}

fr_status fr_gguf_arr_str(const fr_gguf_arr *arr, uint64_t i, fr_gguf_str *out, fr_error *err) {
    const char *name = arr && arr->owner ? arr->owner->name : "<gguf>";
    if (!arr || arr->type != FR_GGUF_STRING)
        return fr_fail(err, FR_E_ARG, "%s: array holds %s, not strings", name,
                       arr ? vtype_name(arr->type) : "nothing");
    if (i >= arr->n)
        return fr_fail(err, FR_E_ARG, "%s: string index %" PRIu64 " out of range (%" PRIu64 ")",
                       name, i, arr->n);
    uint64_t pos = var_elem(arr, i);
    if (pos == UINT64_MAX) return fr_fail(err, FR_E_ARG, "%s: array not from this file", name);
    out->len = rd_u64(arr->owner->base + pos);
    out->ptr = (const char *)arr->owner->base + pos + 8;
    return FR_OK;
}

fr_status fr_gguf_arr_sub(const fr_gguf_arr *arr, uint64_t i, fr_gguf_arr *out, fr_error *err) {
    const char *name = arr && arr->owner ? arr->owner->name : "<gguf>";
    if (!arr || arr->type != FR_GGUF_ARRAY)
        return fr_fail(err, FR_E_ARG, "%s: array holds %s, not arrays", name,
                       arr ? vtype_name(arr->type) : "nothing");
    if (i >= arr->n)
        return fr_fail(err, FR_E_ARG, "%s: array index %" PRIu64 " out of range (%" PRIu64 ")",
                       name, i, arr->n);
    uint64_t pos = var_elem(arr, i);
    if (pos == UINT64_MAX) return fr_fail(err, FR_E_ARG, "%s: array not from this file", name);
    arr_at(arr->owner, pos, out);
    return FR_OK;
}

double fr_gguf_arr_f64(const fr_gguf_arr *arr, uint64_t i) {
    uint64_t sz = vtype_size(arr->type);
    if (!sz || i >= arr->n) return 0.0;
    return read_scalar(arr->data + i * sz, arr->type).f;
}

int64_t fr_gguf_arr_i64(const fr_gguf_arr *arr, uint64_t i) {
    uint64_t sz = vtype_size(arr->type);
    if (!sz || i >= arr->n) return 0;
    scalar v = read_scalar(arr->data + i * sz, arr->type);
    if (v.is_float) {
        if (!(v.f >= -9.2e18 && v.f <= 9.2e18)) return 0;
        return (int64_t)v.f;
    }
    if (v.neg) return v.u > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)v.u;
    return v.u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v.u;
}

/* ---- formatting ------------------------------------------------------------------------ */

typedef struct sbuf {
    char *buf;
    size_t cap, len;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (b->len + 1 < b->cap) b->buf[b->len] = s[i];
        b->len++;
    }
    if (b->cap) b->buf[b->len + 1 < b->cap ? b->len : b->cap - 1] = '\0';
}

static void sb_printf(sbuf *b, const char *fmt, ...) FR_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Quoted, with control bytes escaped; long strings are cut. */
static void sb_str(sbuf *b, const char *p, uint64_t len, uint64_t max) {
    sb_put(b, "\"", 1);
    uint64_t n = len < max ? len : max;
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_put(b, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            sb_printf(b, "\\x%02x", c);
        } else {
            sb_put(b, (const char *)&c, 1);
        }
    }
    sb_put(b, "\"", 1);
    if (len > max) sb_printf(b, "...(%" PRIu64 " bytes)", len);
}

static void sb_scalar(sbuf *b, const uint8_t *p, uint32_t type) {
    if (type == FR_GGUF_BOOL) {
        sb_printf(b, "%s", p[0] ? "true" : "false");
        return;
    }
    scalar v = read_scalar(p, type);
    if (v.is_float) sb_printf(b, "%.9g", v.f);
    else sb_printf(b, "%s%" PRIu64, v.neg ? "-" : "", v.u);
}

#define FMT_FIRST 8

static void sb_arr(sbuf *b, const fr_gguf_arr *arr, int depth) {
    sb_printf(b, "[%s x %" PRIu64 "]", vtype_name(arr->type), arr->n);
    uint64_t show = arr->n < FMT_FIRST ? arr->n : FMT_FIRST;
    if (depth > 2) show = 0;
    for (uint64_t i = 0; i < show; i++) {
        sb_put(b, i ? ", " : " ", i ? 2 : 1);
        if (arr->type == FR_GGUF_STRING) {
            fr_gguf_str s;
            if (fr_gguf_arr_str(arr, i, &s, NULL) == FR_OK) sb_str(b, s.ptr, s.len, 32);
        } else if (arr->type == FR_GGUF_ARRAY) {
            fr_gguf_arr sub;
            sb_put(b, "(", 1);
            if (fr_gguf_arr_sub(arr, i, &sub, NULL) == FR_OK) sb_arr(b, &sub, depth + 1);
            sb_put(b, ")", 1);
        } else {
            sb_scalar(b, arr->data + i * vtype_size(arr->type), arr->type);
        }
    }
    if (show < arr->n) sb_put(b, ", ...", 5);
}

void fr_gguf_kv_format(const fr_gguf *g, int64_t i, char *buf, size_t cap) {
    sbuf b = {buf, cap, 0};
    if (cap) buf[0] = '\0';
    if (!g || i < 0 || i >= g->n_kv) return;
    const gguf_kv *kv = &g->kvs[i];
    const uint8_t *p = g->base + kv->val;
    if (kv->type == FR_GGUF_STRING) {
        sb_str(&b, (const char *)p + 8, rd_u64(p), 200);
    } else if (kv->type == FR_GGUF_ARRAY) {
        fr_gguf_arr arr;
        arr_at(g, kv->val, &arr);
        sb_arr(&b, &arr, 0);
    } else {
        sb_scalar(&b, p, kv->type);
    }
}

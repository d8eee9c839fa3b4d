/* The TREC sidecar file (format in trec.h): bounds-checked reader, in place. */
#include <string.h>

#include "core/error.h"
#include "reuse/trec.h"

static uint32_t rd_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd_u16(const unsigned char *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

typedef struct trec_entry {
    uint32_t op_index, K, offset, bytes;
    unsigned sub_len, hash_bits, scope, types;
    unsigned cgroups; /* pixel mode: channel groups (byte 13; 0 reads as 1) */
    unsigned reserved;
} trec_entry;

static void rd_entry(const unsigned char *e, trec_entry *t) {
    t->op_index = rd_u32(e);
    t->K = rd_u32(e + 4);
    t->sub_len = rd_u16(e + 8);
    t->hash_bits = e[10];
    t->scope = e[11];
    t->types = e[12];
    t->cgroups = e[13] ? e[13] : 1;
    t->reserved = (unsigned)e[14] | e[15] | (!(t->types & 8u) && e[13] != 0);
    t->offset = rd_u32(e + 16);
    t->bytes = rd_u32(e + 20);
}

#define TYPE_PIXEL 8u /* types bit 3: pixel mode, one projection for all sub-vectors */

/* Projection values per type: H * K, or H * L * channel groups in pixel mode. */
static uint64_t entry_proj_count(const trec_entry *t) {
    return (uint64_t)t->hash_bits *
           (t->types & TYPE_PIXEL ? (uint64_t)t->sub_len * t->cgroups : t->K);
}

/* Offsets per type: J * H, or H * channel groups in pixel mode. */
static uint64_t entry_offset_count(const trec_entry *t) {
    if (t->types & TYPE_PIXEL) return (uint64_t)t->hash_bits * t->cgroups;
    const uint64_t J = t->sub_len ? ((uint64_t)t->K + t->sub_len - 1) / t->sub_len : 0;
    return J * t->hash_bits;
}

/* Data bytes of an entry (fields already range-checked or not: no overflow in 64 bits). */
static uint64_t entry_bytes(const trec_entry *t) {
    const uint64_t hk = entry_proj_count(t);
    const uint64_t n_types = (t->types & 1) + (t->types >> 1 & 1);
    return (t->types & 1 ? 4 * hk : 0) + (t->types & 2 ? hk : 0) +
           (t->types & 4 ? 4 * entry_offset_count(t) * n_types : 0);
}

/* Checks the header; *n gets the layer count. */
static fr_status check_header(const unsigned char *b, size_t len, const char *name, int *n,
                              fr_error *err) {
    if (len < FR_TREC_FILE_HEADER)
        return fr_fail(err, FR_E_FORMAT, "%s: truncated TREC sidecar (%s bytes)", name, FR_NUM(len));
    if (memcmp(b, "FRTC", 4) != 0)
        return fr_fail(err, FR_E_FORMAT, "%s: not a TREC sidecar (bad magic)", name);
    const unsigned version = rd_u16(b + 4);
    if (version != 1)
        return fr_fail(err, FR_E_UNSUPPORTED, "%s: TREC sidecar version %u (frugal reads 1)",
                       name, version);
    if ((size_t)rd_u32(b + 8) != len)
        return fr_fail(err, FR_E_FORMAT, "%s: header says %u bytes, file has %s", name,
                       (unsigned)rd_u32(b + 8), FR_NUM(len));
    if (rd_u32(b + 12) != 0)
        return fr_fail(err, FR_E_FORMAT, "%s: reserved header field is not 0", name);
    *n = rd_u16(b + 6);
    if ((size_t)*n * FR_TREC_FILE_ENTRY > len - FR_TREC_FILE_HEADER)
        return fr_fail(err, FR_E_FORMAT, "%s: layer table of %d entries past end of file",
                       name, *n);
    return FR_OK;
}

fr_status fr_trec_file_open(const void *buf, size_t len, const char *name, int *n_layers,
                            fr_error *err) {
    if (!name) name = "trec sidecar";
    if (!buf || !n_layers) return fr_fail(err, FR_E_ARG, "%s: NULL argument", name);
    if ((uintptr_t)buf % 4 != 0)
        return fr_fail(err, FR_E_ARG, "%s: buffer is not 4-byte aligned", name);
    const unsigned char *b = buf;
    int n = 0;
    fr_status st = check_header(b, len, name, &n, err);
    if (st != FR_OK) return st;
    const uint64_t data_start = FR_TREC_FILE_HEADER + (uint64_t)n * FR_TREC_FILE_ENTRY;
    uint64_t prev_end = data_start;
    /* blocks must be in file order of the table and not overlap: simplest rule that
     * excludes overlap without sorting (the writer lays them out that way) */
    for (int i = 0; i < n; i++) {
        trec_entry t;
        rd_entry(b + FR_TREC_FILE_HEADER + (size_t)i * FR_TREC_FILE_ENTRY, &t);
        if (i > 0) {
            const uint32_t prev_op =
                rd_u32(b + FR_TREC_FILE_HEADER + (size_t)(i - 1) * FR_TREC_FILE_ENTRY);
            if (t.op_index <= prev_op)
                return fr_fail(err, FR_E_FORMAT,
                               "%s: layer %d: op index %u not above the previous %u", name, i,
                               (unsigned)t.op_index, (unsigned)prev_op);
        }
        if (t.op_index > (uint32_t)INT32_MAX)
            return fr_fail(err, FR_E_FORMAT, "%s: layer %d: op index %u out of range", name, i,
                           (unsigned)t.op_index);
        if (t.K < 1 || t.K > (uint32_t)INT32_MAX / 32)
            return fr_fail(err, FR_E_FORMAT, "%s: layer %d: K %u out of range", name, i,
                           (unsigned)t.K);
        if (t.hash_bits < 1 || t.hash_bits > FR_TREC_MAX_HASH_BITS)
            return fr_fail(err, FR_E_FORMAT, "%s: layer %d: hash_bits %u out of range 1..%d",
                           name, i, t.hash_bits, FR_TREC_MAX_HASH_BITS);
        if (t.sub_len < 1 || t.sub_len > t.K)
            return fr_fail(err, FR_E_FORMAT, "%s: layer %d: sub_len %u out of range 1..%u",
                           name, i, t.sub_len, (unsigned)t.K);
        if (t.scope > 1)
            return fr_fail(err, FR_E_FORMAT, "%s: layer %d: unknown scope %u", name, i, t.scope);
        if ((t.types & 3) == 0 || t.types > 15 || t.reserved != 0)
            return fr_fail(err, FR_E_FORMAT, "%s: layer %d: bad projection types %u", name, i,
                           t.types);
        if ((t.types & TYPE_PIXEL) && t.K % ((uint64_t)t.sub_len * t.cgroups) != 0)
            return fr_fail(err, FR_E_FORMAT,
                           "%s: layer %d: pixel mode with sub_len %u x %u channel groups not "
                           "dividing K %u",
                           name, i, t.sub_len, t.cgroups, (unsigned)t.K);
        const uint64_t want = entry_bytes(&t);
        if (t.bytes != want)
            return fr_fail(err, FR_E_FORMAT, "%s: layer %d: %u data bytes, expected %s",
                           name, i, (unsigned)t.bytes, FR_NUM(want));
        if (t.offset % 4 != 0 || t.offset < prev_end || (uint64_t)t.offset + t.bytes > len)
            return fr_fail(err, FR_E_FORMAT,
                           "%s: layer %d: data at offset %u (+%u bytes) out of range or "
                           "overlapping",
                           name, i, (unsigned)t.offset, (unsigned)t.bytes);
        prev_end = (uint64_t)t.offset + t.bytes;
    }
    *n_layers = n;
    return FR_OK;
}

fr_status fr_trec_file_layer(const void *buf, size_t len, int i, fr_trec_layer *out,
                             fr_error *err) {
    if (!buf || !out) return fr_fail(err, FR_E_ARG, "trec sidecar: NULL argument");
    const unsigned char *b = buf;
    int n = 0;
    fr_status st = check_header(b, len, "trec sidecar", &n, err);
    if (st != FR_OK) return st;
    if (i < 0 || i >= n)
        return fr_fail(err, FR_E_ARG, "trec sidecar: layer %d out of range 0..%d", i, n - 1);
    trec_entry t;
    rd_entry(b + FR_TREC_FILE_HEADER + (size_t)i * FR_TREC_FILE_ENTRY, &t);
    /* re-check what the pointers depend on (cheap; the file may not have been opened) */
    const uint64_t hk = entry_proj_count(&t);
    if ((t.types & 3) == 0 || t.types > 15 || t.sub_len < 1 || t.K < 1 ||
        t.reserved != 0 || t.bytes != entry_bytes(&t) || (uint64_t)t.offset + t.bytes > len ||
        t.offset % 4 != 0 || (uintptr_t)buf % 4 != 0)
        return fr_fail(err, FR_E_FORMAT, "trec sidecar: layer %d is malformed", i);
    const uint64_t jh = entry_offset_count(&t);
    memset(out, 0, sizeof *out);
    out->op_index = (int)t.op_index;
    out->K = (int)t.K;
    out->params.sub_len = (int)t.sub_len;
    out->params.hash_bits = (int)t.hash_bits;
    out->params.scope = (fr_trec_scope)t.scope;
    out->params.pixel = (t.types & TYPE_PIXEL) != 0;
    out->channel_groups = out->params.pixel ? (int)t.cgroups : 1;
    const unsigned char *data = b + t.offset;
    if (t.types & 1) {
        out->params.proj_f32 = (const float *)(const void *)data;
        data += 4 * hk;
        if (t.types & 4) {
            out->params.offset_f32 = (const float *)(const void *)data;
            data += 4 * jh;
        }
    }
    if (t.types & 2) {
        if (t.types & 4) {
            out->params.offset_s32 = (const int32_t *)(const void *)data;
            data += 4 * jh;
        }
        out->params.proj_s8 = (const int8_t *)data;
    }
    return FR_OK;
}

fr_status fr_trec_file_find(const void *buf, size_t len, int op_index, fr_trec_layer *out,
                            int *found, fr_error *err) {
    if (!buf || !out || !found) return fr_fail(err, FR_E_ARG, "trec sidecar: NULL argument");
    *found = 0;
    const unsigned char *b = buf;
    int n = 0;
    fr_status st = check_header(b, len, "trec sidecar", &n, err);
    if (st != FR_OK) return st;
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        const int mid = lo + (hi - lo) / 2;
        const uint32_t op = rd_u32(b + FR_TREC_FILE_HEADER + (size_t)mid * FR_TREC_FILE_ENTRY);
        if (op == (uint32_t)op_index) {
            *found = 1;
            return fr_trec_file_layer(buf, len, mid, out, err);
        }
        if (op < (uint32_t)op_index)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return FR_OK;
}

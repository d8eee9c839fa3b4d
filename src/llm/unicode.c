#include "llm/unicode.h"

unsigned fr_ucp_flags(uint32_t cp) {
    size_t lo = 0, hi = fr_ucp_n_ranges;
    if (cp < 0x80) {
        /* ASCII fast path. */
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return FR_UCP_LETTER;
        if (cp >= '0' && cp <= '9') return FR_UCP_NUMBER;
        if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return FR_UCP_WHITESPACE;
        return 0;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fr_ucp_ranges[mid].last < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < fr_ucp_n_ranges && fr_ucp_ranges[lo].first <= cp) return fr_ucp_ranges[lo].flags;
    return 0;
}

size_t fr_utf8_len(uint8_t lead) {
    static const uint8_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[lead >> 4];
}

static int is_cont(const char *s, size_t len, size_t i) {
    return i < len && ((uint8_t)s[i] & 0xC0) == 0x80;
}

uint32_t fr_utf8_decode(const char *s, size_t len, size_t *pos) {
    size_t i = *pos;
    uint8_t c = (uint8_t)s[i];
    uint32_t cp;
    if (!(c & 0x80)) {
        *pos = i + 1;
        return c;
    }
    if (!(c & 0x40)) goto invalid;
    if (!(c & 0x20)) {
        if (!is_cont(s, len, i + 1)) goto invalid;
        cp = ((uint32_t)(c & 0x1F) << 6) | ((uint8_t)s[i + 1] & 0x3F);
        *pos = i + 2;
        return cp;
    }
    if (!(c & 0x10)) {
        if (!is_cont(s, len, i + 1) || !is_cont(s, len, i + 2)) goto invalid;
        cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)((uint8_t)s[i + 1] & 0x3F) << 6) |
             ((uint8_t)s[i + 2] & 0x3F);
        *pos = i + 3;
        return cp;
    }
    if (!(c & 0x08)) {
        if (!is_cont(s, len, i + 1) || !is_cont(s, len, i + 2) || !is_cont(s, len, i + 3))
            goto invalid;
        cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)((uint8_t)s[i + 1] & 0x3F) << 12) |
             ((uint32_t)((uint8_t)s[i + 2] & 0x3F) << 6) | ((uint8_t)s[i + 3] & 0x3F);
        if (cp > 0x10FFFF) goto invalid;
        *pos = i + 4;
        return cp;
    }
invalid:
    *pos = i + 1;
    return 0xFFFD;
}

size_t fr_utf8_encode(uint32_t cp, char *out) {
    if (cp <= 0x7F) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp <= 0x7FF) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp <= 0xFFFF) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | ((cp >> 18) & 0x07));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The printable bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for themselves; the other
 * 68 bytes (0x00..0x20, 0x7F..0xA0, 0xAD), in byte order, become U+0100, U+0101, ... */
static int gpt2_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t fr_gpt2_byte_to_cp(uint8_t b) {
    if (gpt2_printable(b)) return b;
    if (b <= 0x20) return 0x100u + b;               /* 33 bytes: U+0100..U+0120 */
    if (b >= 0x7F && b <= 0xA0) return 0x121u + (b - 0x7Fu); /* 34 bytes: U+0121..U+0142 */
    return 0x143u;                                  /* 0xAD */
}

int fr_gpt2_cp_to_byte(uint32_t cp) {
    if (cp < 0x100) return gpt2_printable(cp) ? (int)cp : -1;
    if (cp <= 0x120) return (int)(cp - 0x100);
    if (cp <= 0x142) return (int)(cp - 0x121 + 0x7F);
    if (cp == 0x143) return 0xAD;
    return -1;
}

/* Host-only image decoding: PPM/PGM (binary) and PNG (libpng). See image_io.h. */
#include "image_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if FR_HAVE_PNG
#include <png.h>
#endif

#define IMG_MAX_SIDE 16384
#define IMG_MAX_FILE ((size_t)1 << 30) /* larger than any image of IMG_MAX_SIDE squared */

/* A cursor over the file's bytes. */
typedef struct img_buf {
    const uint8_t *p;
    size_t n, pos;
} img_buf;

static int next_byte(img_buf *b) { return b->pos < b->n ? b->p[b->pos++] : EOF; }

static int is_space(int ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }

/* Reads the next header integer of a PNM file, skipping whitespace and # comments. */
static int pnm_int(img_buf *b, int *out) {
    int ch;
    for (;;) {
        ch = next_byte(b);
        if (ch == '#') {
            while (ch != '\n' && ch != EOF)
                ch = next_byte(b);
        } else if (!is_space(ch)) {
            break;
        }
    }
    if (ch < '0' || ch > '9')
        return -1;
    long v = 0;
    while (ch >= '0' && ch <= '9') {
        v = v * 10 + (ch - '0');
        if (v > 1000000)
            return -1;
        ch = next_byte(b);
    }
    /* exactly one whitespace byte ends the header field */
    if (!is_space(ch))
        return -1;
    *out = (int)v;
    return 0;
}

static int decode_pnm(const char *name, img_buf *b, int channels, cli_image *img, char *msg,
                      size_t n) {
    int w, h, maxval;
    if (pnm_int(b, &w) || pnm_int(b, &h) || pnm_int(b, &maxval)) {
        snprintf(msg, n, "%s: bad PNM header", name);
        return -1;
    }
    if (w <= 0 || h <= 0 || w > IMG_MAX_SIDE || h > IMG_MAX_SIDE) {
        snprintf(msg, n, "%s: bad image size %dx%d", name, w, h);
        return -1;
    }
    if (maxval <= 0 || maxval > 255) {
        snprintf(msg, n, "%s: PNM maxval %d not supported (8-bit only)", name, maxval);
        return -1;
    }
    size_t bytes = (size_t)w * (size_t)h * (size_t)channels;
    if (b->n - b->pos < bytes) { /* checked before allocating for the header's size */
        snprintf(msg, n, "%s: truncated PNM pixel data (%zu of %zu bytes)", name, b->n - b->pos,
                 bytes);
        return -1;
    }
    uint8_t *px = malloc(bytes);
    if (!px) {
        snprintf(msg, n, "%s: out of memory", name);
        return -1;
    }
    memcpy(px, b->p + b->pos, bytes);
    if (maxval != 255)
        for (size_t i = 0; i < bytes; i++)
            px[i] = (uint8_t)(px[i] > maxval ? 255 : (px[i] * 255 + maxval / 2) / maxval);
    img->w = w;
    img->h = h;
    img->c = channels;
    img->px = px;
    return 0;
}

#if FR_HAVE_PNG
static int decode_png(const char *name, const void *data, size_t size, cli_image *img, char *msg,
                      size_t n) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&pi, data, size)) {
        snprintf(msg, n, "%s: bad PNG: %s", name, pi.message);
        png_image_free(&pi);
        return -1;
    }
    if (pi.width == 0 || pi.height == 0 || pi.width > IMG_MAX_SIDE ||
        pi.height > IMG_MAX_SIDE) {
        snprintf(msg, n, "%s: bad image size %ux%u", name, pi.width, pi.height);
        png_image_free(&pi);
        return -1;
    }
    int grey = !(pi.format & PNG_FORMAT_FLAG_COLOR);
    pi.format = grey ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    size_t bytes = PNG_IMAGE_SIZE(pi);
    /* deflate packs at most about 1032 bytes into one: a header claiming more pixels than
     * the file could hold is refused before allocating for them */
    if (bytes / 1100 > size) {
        snprintf(msg, n, "%s: bad PNG: %ux%u pixels cannot come from %zu bytes", name, pi.width,
                 pi.height, size);
        png_image_free(&pi);
        return -1;
    }
    uint8_t *px = malloc(bytes);
    if (!px) {
        png_image_free(&pi);
        snprintf(msg, n, "%s: out of memory", name);
        return -1;
    }
    /* background NULL: alpha is composited on black by libpng's simplified API */
    if (!png_image_finish_read(&pi, NULL, px, 0, NULL)) {
        snprintf(msg, n, "%s: bad PNG: %s", name, pi.message);
        free(px);
        png_image_free(&pi);
        return -1;
    }
    img->w = (int)pi.width;
    img->h = (int)pi.height;
    img->c = grey ? 1 : 3;
    img->px = px;
    return 0;
}
#endif

int cli_image_decode(const void *data, size_t size, const char *name, cli_image *img, char *msg,
                     size_t n) {
    memset(img, 0, sizeof *img);
    const uint8_t *p = data;
    if (size >= 2 && p[0] == 'P' && (p[1] == '6' || p[1] == '5')) {
        img_buf b = {p, size, 2};
        return decode_pnm(name, &b, p[1] == '6' ? 3 : 1, img, msg, n);
    }
    if (size >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) {
#if FR_HAVE_PNG
        return decode_png(name, data, size, img, msg, n);
#else
        snprintf(msg, n, "%s: PNG support was not built (libpng missing)", name);
        return -1;
#endif
    }
    snprintf(msg, n, "%s: unknown image format (PPM P6, PGM P5 or PNG expected)", name);
    return -1;
}

int cli_image_load(const char *path, cli_image *img, char *msg, size_t n) {
    memset(img, 0, sizeof *img);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size < 0 || (unsigned long)size > IMG_MAX_FILE || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        snprintf(msg, n, "%s: %s", path, size < 0 ? "cannot read its size" : "larger than 1 GiB");
        return -1;
    }
    uint8_t *data = malloc(size ? (size_t)size : 1);
    if (!data) {
        fclose(f);
        snprintf(msg, n, "%s: out of memory", path);
        return -1;
    }
    size_t got = fread(data, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        free(data);
        snprintf(msg, n, "%s: read failed", path);
        return -1;
    }
    int rc = cli_image_decode(data, got, path, img, msg, n);
    free(data);
    return rc;
}

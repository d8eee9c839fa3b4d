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

/* Reads the next header integer of a PNM file, skipping whitespace and # comments. */
static int pnm_int(FILE *f, int *out) {
    int ch;
    for (;;) {
        ch = fgetc(f);
        if (ch == '#') {
            while (ch != '\n' && ch != EOF)
                ch = fgetc(f);
        } else if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
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
        ch = fgetc(f);
    }
    /* exactly one whitespace byte ends the header field */
    if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
        return -1;
    *out = (int)v;
    return 0;
}

static int load_pnm(const char *path, FILE *f, int channels, cli_image *img, char *msg,
                    size_t n) {
    int w, h, maxval;
    if (pnm_int(f, &w) || pnm_int(f, &h) || pnm_int(f, &maxval)) {
        snprintf(msg, n, "%s: bad PNM header", path);
        return -1;
    }
    if (w <= 0 || h <= 0 || w > IMG_MAX_SIDE || h > IMG_MAX_SIDE) {
        snprintf(msg, n, "%s: bad image size %dx%d", path, w, h);
        return -1;
    }
    if (maxval <= 0 || maxval > 255) {
        snprintf(msg, n, "%s: PNM maxval %d not supported (8-bit only)", path, maxval);
        return -1;
    }
    size_t bytes = (size_t)w * (size_t)h * (size_t)channels;
    uint8_t *px = malloc(bytes);
    if (!px) {
        snprintf(msg, n, "%s: out of memory", path);
        return -1;
    }
    if (fread(px, 1, bytes, f) != bytes) {
        free(px);
        snprintf(msg, n, "%s: truncated PNM pixel data", path);
        return -1;
    }
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
static int load_png(const char *path, cli_image *img, char *msg, size_t n) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&pi, path)) {
        snprintf(msg, n, "%s: bad PNG: %s", path, pi.message);
        png_image_free(&pi);
        return -1;
    }
    if (pi.width == 0 || pi.height == 0 || pi.width > IMG_MAX_SIDE ||
        pi.height > IMG_MAX_SIDE) {
        snprintf(msg, n, "%s: bad image size %ux%u", path, pi.width, pi.height);
        png_image_free(&pi);
        return -1;
    }
    int grey = !(pi.format & PNG_FORMAT_FLAG_COLOR);
    pi.format = grey ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    size_t bytes = PNG_IMAGE_SIZE(pi);
    uint8_t *px = malloc(bytes);
    if (!px) {
        png_image_free(&pi);
        snprintf(msg, n, "%s: out of memory", path);
        return -1;
    }
    /* background NULL: alpha is composited on black by libpng's simplified API */
    if (!png_image_finish_read(&pi, NULL, px, 0, NULL)) {
        snprintf(msg, n, "%s: bad PNG: %s", path, pi.message);
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

int cli_image_load(const char *path, cli_image *img, char *msg, size_t n) {
    memset(img, 0, sizeof *img);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char magic[8] = {0};
    size_t got = fread(magic, 1, 2, f);
    int rc;
    if (got == 2 && magic[0] == 'P' && (magic[1] == '6' || magic[1] == '5')) {
        rc = load_pnm(path, f, magic[1] == '6' ? 3 : 1, img, msg, n);
        fclose(f);
        return rc;
    }
    got += fread(magic + 2, 1, 6, f);
    fclose(f);
    if (got == 8 && !memcmp(magic, "\x89PNG\r\n\x1a\n", 8)) {
#if FR_HAVE_PNG
        return load_png(path, img, msg, n);
#else
        snprintf(msg, n, "%s: PNG support was not built (libpng missing)", path);
        return -1;
#endif
    }
    snprintf(msg, n, "%s: unknown image format (PPM P6, PGM P5 or PNG expected)", path);
    return -1;
}

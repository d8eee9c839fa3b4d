/* Host-only image decoding for `frugal classify`: binary PPM/PGM (P6/P5, maxval <= 255)
 * and PNG (through Debian's libpng; 8-bit, any colour type, converted to RGB or grey). */
#ifndef FR_CLI_IMAGE_IO_H
#define FR_CLI_IMAGE_IO_H

#include <stddef.h>
#include <stdint.h>

typedef struct cli_image {
    int w, h, c;   /* c = 1 (grey) or 3 (RGB) */
    uint8_t *px;   /* w*h*c bytes, row-major, interleaved; free() it */
} cli_image;

/* Loads path (the format is chosen by content). On failure writes a one-line message
 * "PATH: problem" into msg and returns -1. */
int cli_image_load(const char *path, cli_image *img, char *msg, size_t msg_len);

/* The same from the file's bytes in memory (name: for messages); what cli_image_load does
 * after reading the file, and what the fuzz target fuzz_image runs. */
int cli_image_decode(const void *data, size_t size, const char *name, cli_image *img, char *msg,
                     size_t msg_len);

#endif

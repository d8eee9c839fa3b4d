/* libFuzzer target for the image decoder of `frugal classify` (tools/cli/image_io.c):
 * binary PPM / PGM parsed by frugal, PNG through libpng's simplified API. Any bytes either
 * decode to an image whose size matches its pixels or fail with a one-line message naming
 * the file. Seeds: fuzz/seeds/image/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cli_image img;
    char msg[512] = "";
    if (cli_image_decode(data, size, "fuzz.img", &img, msg, sizeof msg) != 0) {
        if (img.px || !strstr(msg, "fuzz.img") || strchr(msg, '\n')) __builtin_trap();
        return 0;
    }
    if (img.w < 1 || img.h < 1 || (img.c != 1 && img.c != 3) || !img.px) __builtin_trap();
    unsigned sum = 0; /* every pixel byte is read (ASan checks each); the asm keeps the sum */
    for (size_t i = 0; i < (size_t)img.w * (size_t)img.h * (size_t)img.c; i++) sum += img.px[i];
    __asm__ volatile("" : : "r"(sum));
    free(img.px);
    return 0;
}

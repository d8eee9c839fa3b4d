/* Host implementation of platform.h: the same driver, run natively for comparison. */
#include "platform.h"

#include <stdio.h>
#include <stdlib.h>

void fw_puts(const char *s) { fputs(s, stdout); }

uint64_t fw_ticks(void) { return 0; }

uint64_t fw_calibrate(uint32_t *instructions) {
    *instructions = 0;
    return 0;
}

size_t fw_stack_used(void) { return 0; }

size_t fw_stack_size(void) { return 0; }

void fw_exit(int code) {
    fflush(stdout);
    exit(code);
}

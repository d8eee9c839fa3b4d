/* Smallest firmware: proves start-up, .data/.bss, the FPU, semihosting and exit codes. */
#include <string.h>

#include "platform.h"

static int initialised = 42; /* .data */
static char zeroed[16];      /* .bss */

int main(void) {
    volatile float x = 1.5f; /* faults (NOCP) if the FPU were left off */
    char line[64];
    x = x * x;
    strcpy(line, "hello from cortex-m\n");
    fw_puts(line);
    if (initialised != 42 || zeroed[3] != 0 || x != 2.25f) {
        fw_puts("hello: start-up did not initialise memory\n");
        return 1;
    }
    uint32_t n;
    uint64_t t = fw_calibrate(&n);
    fw_puts(t ? "ticks ok\n" : "no ticks\n");
    return 0;
}

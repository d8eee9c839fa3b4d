/*
 * Bare-metal Cortex-M implementation of platform.h.
 *
 * Output and exit use ARM semihosting (BKPT 0xAB): SYS_WRITE0 prints a string,
 * SYS_EXIT_EXTENDED ends QEMU with the program's exit status. Run under
 * `qemu-system-arm -semihosting-config enable=on,target=native`; on a board a
 * debugger (OpenOCD `arm semihosting enable`) must be attached, or the BKPT
 * faults.
 *
 * Newlib stubs: there is no heap. _sbrk prints a message and exits with status 90,
 * so an accidental malloc anywhere (library, newlib) fails the run loudly.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "platform.h"

#define SH_SYS_WRITE0 0x04
#define SH_SYS_EXIT_EXTENDED 0x20
#define SH_ADP_STOPPED_APPLICATION_EXIT 0x20026

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)

#define STACK_PAINT 0x5AFE57ACu

extern uint32_t _sstack[], _estack[];

/* Incremented by the SysTick interrupt every 2^24 ticks. */
static volatile uint32_t systick_wraps;

void SysTick_Handler(void);
void fw_fault(uint32_t ipsr);
void *_sbrk(ptrdiff_t incr);
int _write(int fd, const void *buf, size_t n);
int _read(int fd, void *buf, size_t n);
int _close(int fd);
int _lseek(int fd, int off, int whence);
int _fstat(int fd, struct stat *st);
int _isatty(int fd);
int _kill(int pid, int sig);
int _getpid(void);
void _exit(int code);

static int sh_call(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void fw_puts(const char *s) { sh_call(SH_SYS_WRITE0, s); }

void fw_exit(int code) {
    uint32_t block[2] = {SH_ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    sh_call(SH_SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

void SysTick_Handler(void) { systick_wraps++; }

static void systick_start(void) {
    if (SYST_CSR & 1u) return;
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* enable, interrupt on wrap, processor clock */
    while (SYST_CVR == 0) { /* first reload from 0 to RVR */
    }
    systick_wraps = 0;
}

uint64_t fw_ticks(void) {
    systick_start();
    __asm__ volatile("cpsid i" ::: "memory");
    uint32_t wraps = systick_wraps;
    uint32_t v = SYST_CVR;
    if (SCB_ICSR & ICSR_PENDSTSET) { /* wrapped, interrupt not yet taken */
        v = SYST_CVR;
        wraps++;
    }
    __asm__ volatile("cpsie i" ::: "memory");
    return ((uint64_t)wraps << 24) + (0xFFFFFFu - v);
}

uint64_t fw_calibrate(uint32_t *instructions) {
    uint32_t n = 2000000u; /* loop iterations, 2 instructions each */
    *instructions = 2u * n;
    uint64_t t0 = fw_ticks();
    __asm__ volatile("1: subs %0, %0, #1\n\t"
                     "bne 1b"
                     : "+r"(n)
                     :
                     : "cc");
    return fw_ticks() - t0;
}

size_t fw_stack_size(void) { return (size_t)((uintptr_t)_estack - (uintptr_t)_sstack); }

size_t fw_stack_used(void) {
    const uint32_t *p = _sstack;
    while (p < _estack && *p == STACK_PAINT) p++;
    return (size_t)((uintptr_t)_estack - (uintptr_t)p);
}

static void put_hex(uint32_t v) {
    char buf[11] = "0x";
    for (int i = 0; i < 8; i++) buf[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 0xFu];
    buf[10] = '\0';
    fw_puts(buf);
}

/* Called by every unhandled exception (startup.S's Default_Handler). */
void fw_fault(uint32_t ipsr) {
    fw_puts("fw: unhandled exception ");
    put_hex(ipsr & 0x1FFu);
    fw_puts(", CFSR ");
    put_hex(*(volatile uint32_t *)0xE000ED28u);
    fw_puts("\n");
    fw_exit(91);
}

void *_sbrk(ptrdiff_t incr) {
    (void)incr;
    fw_puts("fw: malloc/_sbrk called, but the firmware has no heap\n");
    fw_exit(90);
    errno = ENOMEM;
    return (void *)-1;
}

/* The rest of newlib's system interface: nothing to read or seek; writes to
 * fd 1/2 go to semihosting (only reached if someone uses stdio by mistake). */
int _write(int fd, const void *buf, size_t n) {
    if (fd != 1 && fd != 2) {
        errno = EBADF;
        return -1;
    }
    char chunk[65];
    const char *p = buf;
    size_t left = n;
    while (left) {
        size_t k = left < 64 ? left : 64;
        for (size_t i = 0; i < k; i++) chunk[i] = p[i];
        chunk[k] = '\0';
        fw_puts(chunk);
        p += k;
        left -= k;
    }
    return (int)n;
}

int _read(int fd, void *buf, size_t n) {
    (void)fd, (void)buf, (void)n;
    errno = ENOSYS;
    return -1;
}

int _close(int fd) {
    (void)fd;
    errno = ENOSYS;
    return -1;
}

int _lseek(int fd, int off, int whence) {
    (void)fd, (void)off, (void)whence;
    errno = ENOSYS;
    return -1;
}

int _fstat(int fd, struct stat *st) {
    (void)fd;
    st->st_mode = S_IFCHR;
    return 0;
}

int _isatty(int fd) { return fd <= 2; }

int _kill(int pid, int sig) {
    (void)pid, (void)sig;
    errno = ENOSYS;
    return -1;
}

int _getpid(void) { return 1; }

void _exit(int code) { fw_exit(code); }

/*
 * The few things the firmware driver needs from the platform it runs on.
 * platform_mcu.c implements them on a bare Cortex-M (ARM semihosting for
 * output and exit, SysTick for time, stack painting for the high-water mark);
 * platform_host.c implements them on the host (stdout, no clock, no stack).
 */
#ifndef FW_PLATFORM_H
#define FW_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* Writes a NUL-terminated string (no newline is added). */
void fw_puts(const char *s);

/* A free-running tick count (SysTick on the MCU, 0 on the host). Under QEMU with
 * -icount shift=0 one tick is a fixed number of guest instructions: see
 * fw_calibrate() and docs/mcu.md. */
uint64_t fw_ticks(void);

/* Runs a loop of exactly *instructions guest instructions and returns the ticks
 * it took, so that ticks can be converted to instructions (QEMU) or cycles. */
uint64_t fw_calibrate(uint32_t *instructions);

/* Bytes of stack ever used since reset (stack painting); 0 on the host. */
size_t fw_stack_used(void);

/* Bytes of stack reserved by the linker script; 0 on the host. */
size_t fw_stack_size(void);

/* Ends the program with the exit status code (never returns on the MCU). */
void fw_exit(int code);

#endif

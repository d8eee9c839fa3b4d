/*
 * Cortex-M4/M7 start-up: vector table and reset handler.
 *
 * Reset_Handler enables the FPU (CPACR CP10/CP11 full access) before any C code
 * can touch an FP register, copies .data from flash to SRAM, zeroes .bss, paints
 * the unused stack with a known word (for the high-water mark), calls main() and
 * passes its return value to fw_exit() (semihosting SYS_EXIT_EXTENDED).
 */
    .syntax unified
    .thumb

    .section .isr_vector, "a", %progbits
    .align 2
    .global fw_vectors
fw_vectors:
    .word _estack
    .word Reset_Handler
    .word NMI_Handler
    .word HardFault_Handler
    .word MemManage_Handler
    .word BusFault_Handler
    .word UsageFault_Handler
    .word 0, 0, 0, 0
    .word SVC_Handler
    .word DebugMon_Handler
    .word 0
    .word PendSV_Handler
    .word SysTick_Handler
    .size fw_vectors, . - fw_vectors

    .text
    .thumb_func
    .global Reset_Handler
    .type Reset_Handler, %function
Reset_Handler:
    /* FPU on: CPACR (0xE000ED88) |= 0xF << 20 */
    ldr r0, =0xE000ED88
    ldr r1, [r0]
    orr r1, r1, #(0xF << 20)
    str r1, [r0]
    dsb
    isb

    /* .data: flash -> SRAM */
    ldr r0, =_sidata
    ldr r1, =_sdata
    ldr r2, =_edata
1:  cmp r1, r2
    bhs 2f
    ldr r3, [r0], #4
    str r3, [r1], #4
    b 1b
2:
    /* .bss = 0 */
    ldr r1, =_sbss
    ldr r2, =_ebss
    movs r3, #0
3:  cmp r1, r2
    bhs 4f
    str r3, [r1], #4
    b 3b
4:
    /* paint the stack from its bottom up to 64 bytes below the current sp */
    ldr r1, =_sstack
    mov r2, sp
    subs r2, r2, #64
    ldr r3, =0x5AFE57AC
5:  cmp r1, r2
    bhs 6f
    str r3, [r1], #4
    b 5b
6:
    movs r0, #0 /* argc */
    movs r1, #0 /* argv */
    bl main
    bl fw_exit
7:  b 7b
    .size Reset_Handler, . - Reset_Handler

    .thumb_func
    .weak Default_Handler
    .type Default_Handler, %function
Default_Handler:
    mrs r0, ipsr
    bl fw_fault
8:  b 8b
    .size Default_Handler, . - Default_Handler

    .macro weak_handler name
    .weak \name
    .thumb_set \name, Default_Handler
    .endm
    weak_handler NMI_Handler
    weak_handler HardFault_Handler
    weak_handler MemManage_Handler
    weak_handler BusFault_Handler
    weak_handler UsageFault_Handler
    weak_handler SVC_Handler
    weak_handler DebugMon_Handler
    weak_handler PendSV_Handler
    weak_handler SysTick_Handler

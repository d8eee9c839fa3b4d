/* x86 CPU feature check (the whole file is empty elsewhere). */
#include "core/kernels_internal.h"

#if FR_X86
/* Every x86 CPU with AVX2 and FMA also has F16C (it came earlier: Ivy Bridge, Piledriver),
 * so F16C is not checked separately: clang's __builtin_cpu_supports does not know "f16c",
 * and a raw CPUID costs ~20 us under a hypervisor, too much for a per-call check.
 * __builtin_cpu_supports reads flags that the compiler runtime caches once. */
bool fr_cpu_has_isa(fr_isa isa) {
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    switch (isa) {
    case FR_ISA_SCALAR: return true;
    case FR_ISA_AVX2: return avx2;
    case FR_ISA_AVX512:
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    case FR_ISA_COUNT: break;
    }
    return false;
}
#else
typedef int fr_cpu_x86_unused; /* keeps the translation unit non-empty */
#endif

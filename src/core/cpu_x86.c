/* x86 CPU feature check (the whole file is empty elsewhere). */
#include "core/kernels_internal.h"

#if FR_X86
#include <cpuid.h>

/* F16C is CPUID leaf 1, ECX bit 29 (clang's __builtin_cpu_supports does not know "f16c"). */
static bool has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}

bool fr_cpu_has_isa(fr_isa isa) {
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
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

/* ISA names and the run-time choice. The CPU check itself is in cpu_x86.c on x86. */
#include "core/kernels.h"
#include "core/kernels_internal.h"

#if !FR_X86
bool fr_cpu_has_isa(fr_isa isa) { return isa == FR_ISA_SCALAR; }
#endif

const char *fr_isa_name(fr_isa isa) {
    switch (isa) {
    case FR_ISA_SCALAR: return "scalar";
    case FR_ISA_AVX2: return "avx2";
    case FR_ISA_AVX512: return "avx512";
    case FR_ISA_COUNT: break;
    }
    return "unknown";
}

bool fr_isa_supported(fr_isa isa) {
    if ((unsigned)isa >= (unsigned)FR_ISA_COUNT) return false; /* negative values too */
    return fr_cpu_has_isa(isa);
}

fr_isa fr_isa_best(void) {
    if (fr_isa_supported(FR_ISA_AVX512)) return FR_ISA_AVX512;
    if (fr_isa_supported(FR_ISA_AVX2)) return FR_ISA_AVX2;
    return FR_ISA_SCALAR;
}

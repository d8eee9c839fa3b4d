/* Sampler internals shared with tests: the generator is xoshiro256** seeded by splitmix64. */
#ifndef FR_LLM_SAMPLER_H
#define FR_LLM_SAMPLER_H

#include <stdint.h>

#include "frugal_llm.h"

/* Next raw 64-bit draw of the sampler's generator. */
uint64_t fr_sampler_next_u64(fr_sampler *s);

#endif

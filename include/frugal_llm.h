/* frugal LLM API: see frugal.h for conventions. (Filled in by the LLM engine.) */
#ifndef FRUGAL_LLM_H
#define FRUGAL_LLM_H
#include "frugal.h"
#endif

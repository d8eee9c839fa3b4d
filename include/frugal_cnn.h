/* frugal CNN API: see frugal.h for conventions. (Filled in by the CNN runtime.) */
#ifndef FRUGAL_CNN_H
#define FRUGAL_CNN_H
#include "frugal.h"
#endif

/* Image preprocessing for CNN inputs lives in the public API (frugal_cnn.h:
 * fr_cnn_set_input_image, fr_cnn_input_range); image.c implements it without stdio or
 * allocation. Decoding image files (PPM, PNG) is host-only: tools/cli/image_io.h. */
#ifndef FR_CNN_IMAGE_H
#define FR_CNN_IMAGE_H

#include "frugal.h"

#endif

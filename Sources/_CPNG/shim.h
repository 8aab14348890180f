#pragma once
// Only libpng's simplified png_image_* API is used: the classic API reports errors by longjmp.
#include <png.h>
static inline unsigned headlab_png_image_version(void) { return PNG_IMAGE_VERSION; }
static inline unsigned headlab_png_format_rgb(void) { return PNG_FORMAT_RGB; }
static inline unsigned headlab_png_format_rgba(void) { return PNG_FORMAT_RGBA; }
static inline unsigned headlab_png_format_gray(void) { return PNG_FORMAT_GRAY; }
static inline int headlab_png_image_failed(png_imagep image) { return PNG_IMAGE_FAILED(*image); }

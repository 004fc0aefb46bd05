// lib/image/io.h — reading and writing image files (PNG, JPEG, BMP, WebP, TIFF, PNM).
//
// Errors name the file: a missing file is "<path>: no such file", an undecodable one
// "<path>: cannot decode image (corrupt or unsupported format)", both InputError.
#pragma once
#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "lib/image/convert.h"

namespace mirage {

// The file as decoded, unchanged: 8/16-bit or float depth, gray/BGR/BGRA. EXIF orientation is
// not applied (as with PIL), so a data set reads the same pixels on every machine.
cv::Mat read_image_mat(const std::string& path);

// [C, H, W] float in [0,1], RGB, in the file's own size and channels (alpha dropped).
at::Tensor read_image(const std::string& path);

// The same, fitted to channels/height/width (0 keeps the file's) by `policy`.
at::Tensor read_image(const std::string& path, int64_t channels, int64_t height, int64_t width,
                      ResizePolicy policy = ResizePolicy::kShorterSideCrop);

// Decodes `paths` in parallel into one [N, C, H, W] batch fitted to `shape`, which must be
// complete (no 0 field). When several files fail, the error of the first in `paths` is thrown,
// so the failure does not depend on thread timing.
at::Tensor read_images(const std::vector<std::string>& paths, const ImageShape& shape,
                       ResizePolicy policy = ResizePolicy::kShorterSideCrop);

// Writes [C, H, W] (C = 1 or 3, in [0,1]) atomically, creating the parent folder. The format
// comes from the extension: .png (lossless), .jpg/.jpeg, .bmp, .webp; `quality` (1..100)
// applies to JPEG and WebP; `bits` 16 (PNG only) keeps 65536 levels per channel. Any other
// extension is a UsageError.
void write_image(const std::string& path, const at::Tensor& chw, int quality = 95, int bits = 8);

// The OpenCV version mirage was built with (CV_VERSION), for --version and reports.
std::string opencv_version();

// Whether the extension (case-insensitive) is one mirage reads:
// png jpg jpeg bmp webp tif tiff pgm ppm.
bool is_image_path(const std::string& path);

}  // namespace mirage

// lib/image/grid.h — contact sheets of image batches, as torchvision.utils.make_grid.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace mirage {

// Lays [N, C, H, W] (or one [C, H, W]) out in rows of `nrow` images with `padding` pixels of
// `pad_value` around and between them: the result is
// [C, rows * (H + padding) + padding, min(nrow, N) * (W + padding) + padding],
// rows = ceil(N / nrow); unused cells of the last row stay `pad_value`. Float, CPU.
at::Tensor make_grid(const at::Tensor& nchw, int64_t nrow = 8, int64_t padding = 2,
                     double pad_value = 0.0);

// make_grid written with write_image (atomically; format from the extension). C = 1 or 3.
void write_grid(const std::string& path, const at::Tensor& nchw, int64_t nrow = 8,
                int64_t padding = 2, double pad_value = 0.0);

}  // namespace mirage

// lib/image/grid.cpp
#include "lib/image/grid.h"

#include <torch/torch.h>

#include "lib/error.h"
#include "lib/image/io.h"

namespace mirage {

at::Tensor make_grid(const at::Tensor& nchw, int64_t nrow, int64_t padding, double pad_value) {
  if (nrow < 1) throw UsageError("grid: images per row must be at least 1");
  if (padding < 0) throw UsageError("grid: padding must not be negative");
  at::Tensor x = nchw.detach().to(torch::kCPU, torch::kFloat);
  if (x.dim() == 3) x = x.unsqueeze(0);
  if (x.dim() != 4 || x.size(0) == 0) {
    std::ostringstream shape;
    shape << nchw.sizes();
    throw InputError("grid: expected a non-empty [N, C, H, W] batch, got " + shape.str());
  }
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t cols = std::min(nrow, n);
  const int64_t rows = (n + cols - 1) / cols;
  const int64_t cell_h = h + padding, cell_w = w + padding;
  at::Tensor grid = torch::full({c, rows * cell_h + padding, cols * cell_w + padding}, pad_value,
                                torch::kFloat);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t top = (k / cols) * cell_h + padding;
    const int64_t left = (k % cols) * cell_w + padding;
    grid.narrow(1, top, h).narrow(2, left, w).copy_(x[k]);
  }
  return grid;
}

void write_grid(const std::string& path, const at::Tensor& nchw, int64_t nrow, int64_t padding,
                double pad_value) {
  write_image(path, make_grid(nchw, nrow, padding, pad_value));
}

}  // namespace mirage

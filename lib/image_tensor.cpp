#include "lib/image_tensor.h"

#include <torch/torch.h>

#include "lib/error.h"

namespace mirage {

void check_image_batch(const at::Tensor& x, const std::string& what) {
  if (!x.defined()) throw InputError(what + ": no images");
  if (x.dim() != 4) {
    throw InputError(what + ": expected an image batch [N, C, H, W], got " + std::to_string(x.dim()) + " dimensions");
  }
  if (!x.is_floating_point()) throw InputError(what + ": images must be floating point in [0,1]");
  if (x.numel() == 0) return;
  torch::NoGradGuard no_grad;
  if (!torch::isfinite(x).all().item<bool>()) throw InputError(what + ": images contain NaN or Inf");
  double lo = x.min().item<double>(), hi = x.max().item<double>();
  if (lo < 0.0 || hi > 1.0) {
    throw InputError(what + ": pixel values must be in [0,1], found [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]");
  }
}

std::string shape_text(at::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

std::string image_shape_text(int64_t channels, int64_t height, int64_t width) {
  return std::to_string(channels) + "x" + std::to_string(height) + "x" + std::to_string(width);
}

at::Tensor to_unit_float(const at::Tensor& x) {
  if (x.scalar_type() == torch::kByte) return x.to(torch::kFloat32).div_(255.0);
  if (x.is_floating_point()) return x.to(torch::kFloat32);
  throw InputError("images of type " + std::string(c10::toString(x.scalar_type())) +
                   " cannot be read as [0,1] pixels");
}

at::Tensor fit_batch(const at::Tensor& x, int64_t channels, int64_t height, int64_t width) {
  at::Tensor y = x;
  if (channels > 0 && y.size(1) != channels) {
    if (y.size(1) == 1 && channels == 3) {
      y = y.expand({y.size(0), 3, y.size(2), y.size(3)}).contiguous();
    } else if (y.size(1) == 3 && channels == 1) {
      auto w = torch::tensor({0.299f, 0.587f, 0.114f}, y.options()).view({1, 3, 1, 1});
      y = (y * w).sum(1, /*keepdim=*/true);
    } else {
      throw InputError("cannot convert images with " + std::to_string(y.size(1)) + " channels to " +
                       std::to_string(channels));
    }
  }
  if (height > 0 && width > 0 && (y.size(2) != height || y.size(3) != width)) {
    bool shrink = height < y.size(2) || width < y.size(3);
    y = torch::nn::functional::interpolate(
            y, torch::nn::functional::InterpolateFuncOptions()
                   .size(std::vector<int64_t>{height, width})
                   .mode(torch::kBilinear)
                   .align_corners(false)
                   .antialias(shrink))
            .clamp_(0.0, 1.0);
  }
  return y;
}

at::Tensor select_rows(const at::Tensor& t, const std::vector<int64_t>& idx) {
  return t.index_select(0, torch::tensor(idx, torch::kInt64));
}

}  // namespace mirage

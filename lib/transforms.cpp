#include "lib/transforms.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "lib/error.h"

namespace mirage {

at::Tensor gaussian_blur(const at::Tensor& x, double sigma) {
  if (sigma <= 0) return x;
  const int64_t c = x.size(1);
  const int64_t radius = std::min<int64_t>(static_cast<int64_t>(std::ceil(3 * sigma)), std::min(x.size(2), x.size(3)) - 1);
  if (radius < 1) return x;
  auto k = torch::arange(-radius, radius + 1, x.options());
  k = torch::exp(-(k * k) / (2 * sigma * sigma));
  k = k / k.sum();
  namespace F = torch::nn::functional;
  auto h = F::pad(x, F::PadFuncOptions({radius, radius, radius, radius}).mode(torch::kReflect));
  h = F::conv2d(h, k.view({1, 1, 1, -1}).expand({c, 1, 1, 2 * radius + 1}), F::Conv2dFuncOptions().groups(c));
  return F::conv2d(h, k.view({1, 1, -1, 1}).expand({c, 1, 2 * radius + 1, 1}), F::Conv2dFuncOptions().groups(c));
}

at::Tensor add_gaussian_noise(const at::Tensor& x, double sigma, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  auto noise = torch::randn(x.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32)).to(x.device());
  return (x + sigma * noise).clamp(0, 1);
}

at::Tensor center_crop_resize(const at::Tensor& x, double fraction) {
  if (!(fraction > 0 && fraction <= 1)) throw UsageError("crop fraction " + std::to_string(fraction) + " is outside (0, 1]");
  const int64_t h = x.size(2), w = x.size(3);
  const int64_t ch = std::max<int64_t>(1, std::llround(static_cast<double>(h) * fraction));
  const int64_t cw = std::max<int64_t>(1, std::llround(static_cast<double>(w) * fraction));
  auto crop = x.slice(2, (h - ch) / 2, (h - ch) / 2 + ch).slice(3, (w - cw) / 2, (w - cw) / 2 + cw);
  return torch::upsample_bilinear2d(crop, {h, w}, false);
}

at::Tensor gray_roundtrip(const at::Tensor& x) {
  if (x.size(1) != 3) return x.clone();
  auto luma = 0.299 * x.select(1, 0) + 0.587 * x.select(1, 1) + 0.114 * x.select(1, 2);
  return luma.unsqueeze(1).expand_as(x).contiguous();
}

at::Tensor torch_resize_roundtrip(const at::Tensor& x, double scale) {
  if (!(scale > 0 && std::isfinite(scale))) throw UsageError("resize scale " + std::to_string(scale) + " is not a positive number");
  const int64_t h = x.size(2), w = x.size(3);
  const int64_t sh = std::max<int64_t>(1, std::llround(static_cast<double>(h) * scale));
  const int64_t sw = std::max<int64_t>(1, std::llround(static_cast<double>(w) * scale));
  auto there = scale < 1 ? torch::adaptive_avg_pool2d(x, {sh, sw}) : torch::upsample_bilinear2d(x, {sh, sw}, false);
  return scale > 1 ? torch::adaptive_avg_pool2d(there, {h, w}) : torch::upsample_bilinear2d(there, {h, w}, false);
}

at::Tensor ImageCodec::resize_roundtrip(const at::Tensor& images, double scale) const {
  return resize ? resize(images, scale) : torch_resize_roundtrip(images, scale);
}

}  // namespace mirage

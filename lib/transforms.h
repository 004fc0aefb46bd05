// lib/transforms.h — the torch-only image transforms (blur, noise, crop, gray, resize) that
// detector training, evaluation and the blind-spot search apply, and the one seam through which
// the compute libraries reach an image codec (JPEG, OpenCV's resize) without linking OpenCV.
//
// Every transform takes a batch [N, C, H, W] float in [0,1] on any device and returns a new batch
// of the same shape on the same device.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>

namespace mirage {

// Separable Gaussian blur with reflect padding, radius ceil(3 sigma) (at most the side - 1);
// sigma <= 0 returns `x` itself.
at::Tensor gaussian_blur(const at::Tensor& x, double sigma);

// x + sigma * N(0, 1) noise drawn from a generator seeded by `seed` (on CPU, so the same seed
// gives the same noise on every device), clamped to [0,1].
at::Tensor add_gaussian_noise(const at::Tensor& x, double sigma, uint64_t seed);

// The centre `fraction` (0, 1] of each side, scaled back (bilinear) to the input size.
at::Tensor center_crop_resize(const at::Tensor& x, double fraction);

// RGB -> luma (BT.601) -> RGB; a gray batch comes back as a copy.
at::Tensor gray_roundtrip(const at::Tensor& x);

// Scaled by `scale` (> 0) and back: area when shrinking, bilinear when enlarging (what the
// OpenCV path, lib/image's resize_roundtrip, does).
at::Tensor torch_resize_roundtrip(const at::Tensor& x, double scale);

// What needs an image codec, handed in by the caller that has one (lib/image's
// `opencv_codec()`; tests pass their own). An empty `jpeg` means "no codec": the JPEG slices are
// skipped and JPEG augmentation refused. An empty `resize` falls back to torch_resize_roundtrip.
struct ImageCodec {
  std::function<at::Tensor(const at::Tensor& images, int quality)> jpeg;
  std::function<at::Tensor(const at::Tensor& images, double scale)> resize;

  bool has_jpeg() const { return static_cast<bool>(jpeg); }
  // `resize` when set, else torch_resize_roundtrip.
  at::Tensor resize_roundtrip(const at::Tensor& images, double scale) const;
};

}  // namespace mirage

// lib/image/convert.h — cv::Mat <-> image tensors, and fitting an image to a model's input.
//
// Tensors are [C, H, W] float32 in [0,1] with channels in RGB order (C = 1 or 3); OpenCV keeps
// BGR(A), so every crossing between the two goes through these functions and nowhere else.
#pragma once
#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include <cstdint>
#include <string>

namespace mirage {

// A target shape; a 0 field means "take it from the image" wherever a shape is optional.
struct ImageShape {
  int64_t channels = 0, height = 0, width = 0;
};

enum class ResizePolicy {
  // Scale so the image covers the target, keeping the aspect ratio, then centre-crop:
  // torchvision's Resize(shorter side) + CenterCrop for a square target.
  kShorterSideCrop,
  // Scale each axis to the target, distorting the aspect ratio; keeps all content.
  kStretch,
  // The ImageNet evaluation transform: scale so the image covers target * 256/224 (the shorter
  // side to 256 for a 224 target), then centre-crop the target: torchvision's Resize(256) +
  // CenterCrop(224), at any target size.
  kImageNet,
};

// The central fraction of each side kImageNet keeps after its resize (224/256).
constexpr double kImageNetCropFraction = 224.0 / 256.0;

// "crop", "stretch" or "imagenet"; anything else is a UsageError.
ResizePolicy parse_resize_policy(const std::string& name);
std::string resize_policy_name(ResizePolicy policy);

// 8U (/255), 16U (/65535) or 32F (clamped to [0,1]; NaN is an InputError) with 1 (gray),
// 2 (gray + alpha), 3 (BGR) or 4 (BGRA) channels -> [C, H, W] RGB; alpha is dropped, not
// composited. Any other depth or channel count is an InputError.
at::Tensor mat_to_tensor(const cv::Mat& mat);

// [C, H, W] (or [H, W]) with C = 1 or 3, float in [0,1] or uint8 -> gray or BGR of `bits` (8 or
// 16) per channel. Floats are clamped, then rounded to the nearest of 2^bits levels, exactly as
// quantize() does; NaN is an InputError. uint8 input needs bits = 8.
cv::Mat tensor_to_mat(const at::Tensor& chw, int bits = 8);

// What an image file of `bits` (8 or 16) per channel holds for float pixels `x`: clamped to
// [0,1] and rounded to the nearest of 2^bits levels. Commands that write images evaluate this to
// report what the saved file does.
at::Tensor quantize(const at::Tensor& x, int bits);

// Converts channels (gray -> BGR by replication, BGR -> gray by cv::cvtColor's BT.601 luma;
// alpha dropped) and size by `policy`: INTER_AREA when shrinking both axes, INTER_LINEAR
// otherwise. Keeps the depth. A 0 target field keeps the source's value.
cv::Mat fit_mat(const cv::Mat& mat, int64_t channels, int64_t height, int64_t width,
                ResizePolicy policy = ResizePolicy::kShorterSideCrop);

}  // namespace mirage

// lib/image/convert.cpp
#include "lib/image/convert.h"

#include <cmath>

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "lib/error.h"
#include "lib/image_tensor.h"

namespace mirage {

ResizePolicy parse_resize_policy(const std::string& name) {
  if (name == "crop") return ResizePolicy::kShorterSideCrop;
  if (name == "stretch") return ResizePolicy::kStretch;
  if (name == "imagenet") return ResizePolicy::kImageNet;
  throw UsageError("resize policy '" + name + "': expected 'crop', 'stretch' or 'imagenet'");
}

std::string resize_policy_name(ResizePolicy policy) {
  switch (policy) {
    case ResizePolicy::kStretch: return "stretch";
    case ResizePolicy::kImageNet: return "imagenet";
    case ResizePolicy::kShorterSideCrop: break;
  }
  return "crop";
}

namespace {

// Drops alpha so that only 1 (gray) or 3 (BGR) channels remain.
cv::Mat without_alpha(const cv::Mat& mat) {
  cv::Mat out;
  switch (mat.channels()) {
    case 1:
    case 3:
      return mat;
    case 2:
      cv::extractChannel(mat, out, 0);
      return out;
    case 4:
      cv::cvtColor(mat, out, cv::COLOR_BGRA2BGR);
      return out;
    default:
      throw InputError("image has " + std::to_string(mat.channels()) +
                       " channels (expected 1, 2, 3 or 4)");
  }
}

}  // namespace

at::Tensor mat_to_tensor(const cv::Mat& mat) {
  if (mat.empty()) throw InputError("image is empty");
  double scale = 1.0;
  switch (mat.depth()) {
    case CV_8U: scale = 1.0 / 255.0; break;
    case CV_16U: scale = 1.0 / 65535.0; break;
    case CV_32F: scale = 1.0; break;
    default:
      throw InputError("image has an unsupported pixel depth (expected 8-bit, 16-bit or float)");
  }
  cv::Mat color = without_alpha(mat);
  cv::Mat unit;
  color.convertTo(unit, CV_32F, scale);
  if (unit.channels() == 3) cv::cvtColor(unit, unit, cv::COLOR_BGR2RGB);
  if (!unit.isContinuous()) unit = unit.clone();
  const int64_t channels = unit.channels();
  // clone(): for C = 1 the permute is already contiguous and would alias the Mat's buffer.
  at::Tensor t = torch::from_blob(unit.data, {unit.rows, unit.cols, channels}, torch::kFloat)
                     .permute({2, 0, 1})
                     .clone(at::MemoryFormat::Contiguous);
  if (mat.depth() == CV_32F) {
    if (t.isnan().any().item<bool>()) throw InputError("image has NaN pixel values");
    t.clamp_(0.0, 1.0);
  }
  return t;
}

at::Tensor quantize(const at::Tensor& x, int bits) {
  if (bits != 8 && bits != 16) throw UsageError("bit depth " + std::to_string(bits) + ": expected 8 or 16");
  const double levels = bits == 8 ? 255.0 : 65535.0;
  return x.clamp(0.0, 1.0).mul(levels).round().div(levels);
}

cv::Mat tensor_to_mat(const at::Tensor& chw, int bits) {
  if (bits != 8 && bits != 16) throw UsageError("bit depth " + std::to_string(bits) + ": expected 8 or 16");
  at::Tensor t = chw.detach().to(torch::kCPU);
  if (t.dim() == 2) t = t.unsqueeze(0);
  if (t.dim() != 3 || (t.size(0) != 1 && t.size(0) != 3)) {
    throw InputError("image tensor of shape " + shape_text(chw.sizes()) +
                     ": expected [C, H, W] with C = 1 or 3");
  }
  if (t.scalar_type() == torch::kByte) {
    if (bits != 8) throw UsageError("a uint8 image tensor can only be written with 8 bits per channel");
  } else {
    if (!t.is_floating_point()) {
      throw InputError("image tensor of type " + std::string(c10::toString(t.scalar_type())) +
                       ": expected float in [0,1] or uint8");
    }
    if (t.isnan().any().item<bool>()) throw InputError("image tensor has NaN values");
    const double levels = bits == 8 ? 255.0 : 65535.0;
    // int32 first: 16-bit levels do not fit a signed int16 tensor.
    t = t.to(torch::kFloat).clamp(0.0, 1.0).mul(levels).round().to(torch::kInt);
  }
  t = t.permute({1, 2, 0}).contiguous();
  const int channels = static_cast<int>(t.size(2));
  cv::Mat view;
  if (t.scalar_type() == torch::kByte) {
    view = cv::Mat(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_8UC(channels), t.data_ptr<uint8_t>());
  } else {
    cv::Mat wide(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_32SC(channels), t.data_ptr<int32_t>());
    wide.convertTo(view, bits == 8 ? CV_8U : CV_16U);
  }
  cv::Mat out;
  if (channels == 3) {
    cv::cvtColor(view, out, cv::COLOR_RGB2BGR);
  } else {
    out = view.clone();
  }
  return out;
}

cv::Mat fit_mat(const cv::Mat& mat, int64_t channels, int64_t height, int64_t width,
                ResizePolicy policy) {
  if (mat.empty()) throw InputError("image is empty");
  if (channels < 0 || height < 0 || width < 0) {
    throw UsageError("target image shape must not be negative");
  }
  cv::Mat out = without_alpha(mat);
  const int target_c = channels == 0 ? out.channels() : static_cast<int>(channels);
  if (target_c != 1 && target_c != 3) {
    throw UsageError("target channels " + std::to_string(channels) + ": expected 1 or 3");
  }
  // Gray first when shrinking the channels: the resize then touches a third of the data.
  if (target_c == 1 && out.channels() == 3) cv::cvtColor(out, out, cv::COLOR_BGR2GRAY);

  const int64_t src_h = out.rows, src_w = out.cols;
  const int64_t h = height == 0 ? src_h : height;
  const int64_t w = width == 0 ? src_w : width;
  int64_t scaled_h = h, scaled_w = w;
  if (policy != ResizePolicy::kStretch) {
    // The area to cover: the target, or for kImageNet the target / (224/256), rounded.
    const int64_t cover_h = policy == ResizePolicy::kImageNet ? std::llround(h / kImageNetCropFraction) : h;
    const int64_t cover_w = policy == ResizePolicy::kImageNet ? std::llround(w / kImageNetCropFraction) : w;
    scaled_h = cover_h;
    scaled_w = cover_w;
    // The axis needing the larger scale sets it; the other side is truncated as torchvision's
    // Resize does, but never below the area so that the crop always fits.
    if (cover_w * src_h >= cover_h * src_w) {
      scaled_h = std::max(cover_h, cover_w * src_h / src_w);
    } else {
      scaled_w = std::max(cover_w, cover_h * src_w / src_h);
    }
  }
  if (scaled_h != src_h || scaled_w != src_w) {
    const bool shrinking = scaled_h <= src_h && scaled_w <= src_w;
    cv::Mat resized;
    cv::resize(out, resized, cv::Size(static_cast<int>(scaled_w), static_cast<int>(scaled_h)), 0,
               0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
    out = resized;
  }
  if (scaled_h != h || scaled_w != w) {
    const int top = static_cast<int>((scaled_h - h) / 2);
    const int left = static_cast<int>((scaled_w - w) / 2);
    out = out(cv::Rect(left, top, static_cast<int>(w), static_cast<int>(h))).clone();
  }
  if (target_c == 3 && out.channels() == 1) cv::cvtColor(out, out, cv::COLOR_GRAY2BGR);
  return out;
}

}  // namespace mirage

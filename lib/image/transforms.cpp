// lib/image/transforms.cpp
#include "lib/image/transforms.h"

#include <ATen/Parallel.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <cmath>
#include <exception>
#include <sstream>

#include "lib/error.h"
#include "lib/image/convert.h"

namespace mirage {

namespace {

// [N, C, H, W] float with C = 1 or 3; anything else names the function and the shape.
void check_batch(const at::Tensor& images, const char* what) {
  std::ostringstream shape;
  shape << images.sizes();
  if (!images.defined() || images.dim() != 4 || (images.size(1) != 1 && images.size(1) != 3)) {
    throw InputError(std::string(what) + ": images of shape " + (images.defined() ? shape.str() : "(none)") +
                     ": expected [N, C, H, W] with C = 1 or 3");
  }
  if (!images.is_floating_point()) {
    throw InputError(std::string(what) + ": images must be float in [0,1], not " +
                     std::string(c10::toString(images.scalar_type())));
  }
}

// Runs `one(i)` -> [C, H, W] for every image in parallel into a CPU float batch; the first
// failing image's error is rethrown, so the failure does not depend on thread timing.
template <typename F>
at::Tensor per_image(const at::Tensor& images, F&& one) {
  const int64_t n = images.size(0);
  at::Tensor out = torch::empty(images.sizes(), torch::kFloat);
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      try {
        out[i].copy_(one(i));
      } catch (...) {
        errors[static_cast<size_t>(i)] = std::current_exception();
      }
    }
  });
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  return out;
}

}  // namespace

at::Tensor jpeg_recompress(const at::Tensor& images, int quality) {
  if (quality < 1 || quality > 100) {
    throw UsageError("JPEG quality " + std::to_string(quality) + ": expected 1..100");
  }
  check_batch(images, "jpeg_recompress");
  const at::Tensor cpu = images.detach().to(torch::kCPU, torch::kFloat).contiguous();
  const bool gray = cpu.size(1) == 1;
  const std::vector<int> params = {cv::IMWRITE_JPEG_QUALITY, quality};
  at::Tensor out = per_image(cpu, [&](int64_t i) {
    // tensor_to_mat quantises exactly as quantize() does and hands OpenCV BGR.
    const cv::Mat mat = tensor_to_mat(cpu[i], 8);
    std::vector<uchar> bytes;
    if (!cv::imencode(".jpg", mat, bytes, params)) throw InternalError("OpenCV cannot encode JPEG");
    // Decoding by the image's own channel count keeps gray gray (IMREAD_COLOR would triplicate).
    const cv::Mat back = cv::imdecode(bytes, gray ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
    if (back.empty()) throw InternalError("OpenCV cannot decode the JPEG it encoded");
    return mat_to_tensor(back);
  });
  return out.to(images.device());
}

at::Tensor resize_roundtrip(const at::Tensor& images, double scale) {
  if (!std::isfinite(scale) || scale <= 0) {
    throw UsageError("resize scale " + std::to_string(scale) + ": expected a positive number");
  }
  check_batch(images, "resize_roundtrip");
  const int64_t h = images.size(2), w = images.size(3);
  const auto side = [scale](int64_t n) { return std::max<int64_t>(1, std::llround(static_cast<double>(n) * scale)); };
  const int64_t sh = side(h), sw = side(w);
  if (sh > 16384 || sw > 16384) {
    throw UsageError("resize scale " + std::to_string(scale) + " makes " + std::to_string(h) + "x" +
                     std::to_string(w) + " images " + std::to_string(sh) + "x" + std::to_string(sw) +
                     " (at most 16384 pixels a side)");
  }
  const at::Tensor cpu = images.detach().to(torch::kCPU, torch::kFloat).contiguous();
  if (sh == h && sw == w) return cpu.clamp(0.0, 1.0).to(images.device());
  // Resizing treats channels alike, so the HWC float view needs no BGR swap and no quantising.
  const auto resize = [](const cv::Mat& from, int64_t rows, int64_t cols) {
    const bool shrinking = rows <= from.rows && cols <= from.cols;
    cv::Mat to;
    cv::resize(from, to, cv::Size(static_cast<int>(cols), static_cast<int>(rows)), 0, 0,
               shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
    return to;
  };
  const int c = static_cast<int>(cpu.size(1));
  at::Tensor out = per_image(cpu, [&](int64_t i) {
    at::Tensor hwc = cpu[i].permute({1, 2, 0}).contiguous();
    const cv::Mat mat(static_cast<int>(h), static_cast<int>(w), CV_32FC(c), hwc.data_ptr<float>());
    cv::Mat back = resize(resize(mat, sh, sw), h, w);
    if (!back.isContinuous()) back = back.clone();
    return torch::from_blob(back.data, {h, w, c}, torch::kFloat).permute({2, 0, 1}).clone();
  });
  // Linear and area interpolation are convex combinations; the clamp only absorbs rounding.
  return out.clamp_(0.0, 1.0).to(images.device());
}

ImageCodec opencv_codec() {
  ImageCodec codec;
  codec.jpeg = [](const at::Tensor& x, int quality) { return jpeg_recompress(x, quality); };
  codec.resize = [](const at::Tensor& x, double scale) { return resize_roundtrip(x, scale); };
  return codec;
}

}  // namespace mirage

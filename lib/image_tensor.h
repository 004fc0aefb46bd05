// lib/image_tensor.h — conventions for image batches: NCHW float32 in [0,1].
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mirage {

// Throws InputError("<what>: ...") unless `x` is a 4-D floating tensor with values in [0,1]
// and no NaN.
void check_image_batch(const at::Tensor& x, const std::string& what);

// Converts channels (1 <-> 3: gray replicated to RGB; RGB to gray by ITU-R BT.601 luma) and
// size (bilinear, antialiased when shrinking) so the batch fits a model's input. A no-op when
// it already fits.
at::Tensor fit_batch(const at::Tensor& x, int64_t channels, int64_t height, int64_t width);

// Rows `idx` of `t` (along dim 0), in that order.
at::Tensor select_rows(const at::Tensor& t, const std::vector<int64_t>& idx);

// A shape for messages: "[64, 1, 28, 28]".
std::string shape_text(at::IntArrayRef sizes);
// An image shape for messages: "1x28x28".
std::string image_shape_text(int64_t channels, int64_t height, int64_t width);

// uint8 [.., H, W] -> float in [0,1]; float stays as is.
at::Tensor to_unit_float(const at::Tensor& x);

}  // namespace mirage

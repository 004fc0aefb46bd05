// gan/data.h — data sets a GAN run derives from its training images: the source domain that
// pix2pix and CycleGAN pair with their target (edges -> photo, as edges2shoes), made from any
// image set by a per-batch map such as Canny edges (lib/image/edges.h).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "lib/dataset.h"

namespace mirage {

// A data set aligned with `data`: image i is map(image i of data). map takes [N, C, H, W] in
// [0,1] and returns [N, channels, H, W] in [0,1]; it runs once over all of `data` (1000 images at
// a time, progress labelled `name`) and the result is held as uint8. Named "<name>(<data's
// name>)", unlabelled.
std::shared_ptr<Dataset> mapped_dataset(Dataset& data, const std::function<at::Tensor(const at::Tensor&)>& map,
                                        int64_t channels, const std::string& name);

}  // namespace mirage

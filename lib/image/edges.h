// lib/image/edges.h — Canny edge maps (Canny, TPAMI 1986) of image batches: the "edges" domain
// of pix2pix's edges -> photo translation (edges2shoes), made from any image set.
#pragma once
#include <ATen/core/Tensor.h>

namespace mirage {

// Canny edge maps of a batch [N, C, H, W] in [0,1] (gray via BT.601 when C = 3): [N, 1, H, W] with
// edges 1 and background 0; thresholds on the 8-bit image as cv::Canny takes them.
at::Tensor canny_edges(const at::Tensor& images, double low = 50, double high = 150);

}  // namespace mirage

// lib/image/transforms.h — the post-processing an image meets between its maker and a detector:
// JPEG re-compression and down/up-scaling. Detectors of GAN images are known to lean on traces
// these wipe out (Wang et al., CVPR 2020, train and test with JPEG and blur for that reason), so
// evaluation sweeps them.
//
// Both take a batch [N, C, H, W] float in [0,1] with C = 1 (gray) or 3 (RGB) on any device and
// return a new batch of the same shape, float in [0,1], on the same device.
#pragma once
#include <ATen/core/Tensor.h>

#include "lib/transforms.h"

namespace mirage {

// Each image as an 8-bit JPEG file of `quality` (1..100, libjpeg's scale, OpenCV's default
// 4:2:0 chroma subsampling for RGB, as PIL saves) would hold it: quantised to 8 bits, encoded and
// decoded again; gray stays one channel. The result is a multiple of 1/255. A quality outside
// 1..100 is a UsageError.
at::Tensor jpeg_recompress(const at::Tensor& images, int quality);

// Each image scaled by `scale` (> 0; each side rounded, at least 1 pixel) and back to its own
// size: INTER_AREA for a step that shrinks, INTER_LINEAR for one that enlarges, as fit_mat
// does. In float, not quantised (quantize() afterwards for what an 8-bit file holds). Scale 1
// returns a copy; a scale that is not a positive finite number, or one that makes a side
// larger than 16384 pixels, is a UsageError.
at::Tensor resize_roundtrip(const at::Tensor& images, double scale);

// The codec seam (lib/transforms.h) filled with the two above: what every command hands to
// detector training, evaluation and the blind-spot search.
ImageCodec opencv_codec();

}  // namespace mirage

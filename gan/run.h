// gan/run.h — what a GAN training run writes beside its checkpoint: the metrics log that a
// resumed run continues exactly, and the 2-D toy's samples as an image.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "gan/metrics.h"

namespace mirage {

// Opens a run's metrics.jsonl (one JSON line per logged step) for appending. A resumed run keeps
// only the lines up to `step`, its checkpoint's (the first line that does not parse, one cut short
// by a kill, ends what is kept), so the log reads as an uninterrupted run's; a new run starts it
// empty. Rewritten atomically; an unwritable file is an InputError naming it.
std::ofstream open_metrics_log(const std::string& path, bool resume, int64_t step);

// The toy's samples [N, 2] as a [1, size, size] scatter plot in [0,1]: points white (1), the
// mixture's mode centres grey (0.5), on a square of half-width max|centre| + 1.5, y up.
at::Tensor toy_scatter_image(const at::Tensor& points, const ToyMixture& mixture, int64_t size = 256);

}  // namespace mirage

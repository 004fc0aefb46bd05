// reports/detector_inputs.h — the images the detector commands (train-detector, eval-detector,
// blind-spots, audit detector) work on: a source of real or fake images (a data set, or a GAN to
// sample from) opened from the user's "[name=]spec", loaded fitted to a detector's input.
// Here, not in detectors/, because opening image files needs lib/image (OpenCV).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "detectors/blind_spots.h"
#include "detectors/train.h"
#include "gan/sampling.h"
#include "lib/dataset.h"

namespace mirage {

struct ImageSource {
  std::string name;  // "name=" prefix of the flag, else the spec
  std::string spec;
  std::shared_ptr<Dataset> data;             // image files / IDX / embedded set
  std::shared_ptr<GeneratorModel> generator;  // or a GAN (checkpoint folder or generator .pt)
  bool is_gan() const { return generator != nullptr; }
};

// `arg` is "[name=]spec": a GAN checkpoint folder (with config.json) or a generator .pt is a GAN,
// anything else a --data spec fitted to (channels, size) (0 = the data's own).
ImageSource open_image_source(const std::string& arg, int64_t channels, int64_t size, const std::string& resize,
                              c10::Device device);

// Images fitted to [channels, size, size], their labels (-1 unknown) and ids.
struct SourceImages {
  at::Tensor images;  // CPU float
  at::Tensor labels;  // int64
  std::vector<std::string> ids;
};

// Up to `limit` images (0 = all) of a data source: seeded_subset(size, limit, seed), so a small
// sample still covers every class. Unreadable items are skipped with a warning.
SourceImages load_source(ImageSource& source, int64_t limit, uint64_t seed, int64_t channels, int64_t size);

// Fakes 0..n-1 of a GAN source for a run seeded `seed`: fake i from fake_seed(seed, i), so
// 'mirage generate --latent-seeds' regenerates any of them (ids "name:seed:S"); conditional GANs
// cycle the classes 0..K-1, kept as labels.
SourceImages sample_source(ImageSource& source, int64_t n, uint64_t seed, int64_t channels, int64_t size);

// The input size a source suggests (square images only; 0 when unknown), and its channels.
int64_t source_size(const ImageSource& source);
int64_t source_channels(const ImageSource& source);

// What blind-spots and audit detector search, and the sources list of their reports
// ({"name", "spec", "kind", "n"[, "classes"]}).
struct BlindSpotInputs {
  BlindSpotData data;
  nlohmann::json sources = nlohmann::json::array();
};

// GAN sources give `n_fakes` fakes, one per pass from fake_seed(seed, i), with their latent
// codes (the first GAN is data.gan, for the latent search); data sources up to `limit` images.
// `real` is image data, or "none".
BlindSpotInputs load_blind_spot_inputs(const std::vector<std::string>& fakes, const std::string& real, int64_t n_fakes,
                                       int64_t limit, uint64_t seed, int64_t channels, int64_t size,
                                       const std::string& policy, c10::Device device);

// train-detector's fakes from `sources` beside `n_val_real` validation reals: a GAN source gives
// fixed validation fakes (`fake_count` * val_fraction, else an equal share of n_val_real) from
// derive_seed(seed, "val-fakes-K"); when every source is a GAN, training fakes are drawn for
// every batch (data.sample_fakes, round-robin over the GANs; only when `on_the_fly`: an ensemble
// trains nothing), else a GAN gives a fixed set of `per_source` from derive_seed(seed, "train-fakes-K"). An image source gives up to
// `limit` images split by `val_fraction`. Returns the report's sources list.
nlohmann::json add_training_fakes(std::vector<ImageSource>& sources, int64_t n_val_real, int64_t per_source,
                                  int64_t fake_count, int64_t limit, double val_fraction, bool on_the_fly,
                                  uint64_t seed, int64_t channels, int64_t size, DetectorTrainData& data);

}  // namespace mirage

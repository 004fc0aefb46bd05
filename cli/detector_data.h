// cli/detector_data.h — what train-detector and eval-detector share: opening a source of real or
// fake images (a data set, or a GAN to sample from) and loading it fitted to a detector's input.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "detectors/blind_spots.h"
#include "gan/sampling.h"

namespace mirage::cli {

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

// Up to `limit` images (0 = all) of a data source: a seeded shuffle's first `limit` when limiting,
// so a small sample still covers every class. Unreadable items are skipped with a warning.
SourceImages load_source(ImageSource& source, int64_t limit, uint64_t seed, int64_t channels, int64_t size);

// `n` fakes of a GAN source from `seed` (conditional GANs: classes cycle 0..K-1, kept as labels).
SourceImages sample_source(ImageSource& source, int64_t n, uint64_t seed, int64_t channels, int64_t size);

// The input size a source suggests (square images only; 0 when unknown).
int64_t source_size(const ImageSource& source);
int64_t source_channels(const ImageSource& source);

// What blind-spots and audit detector search: fakes and reals fitted to a detector, the sources
// list of the report, and the first GAN (the latent search's).
struct BlindSpotInputs {
  BlindSpotData data;
  nlohmann::json sources = nlohmann::json::array();  // {"name", "spec", "kind", "n"[, "classes"]}
  std::shared_ptr<GeneratorModel> search_gan;
  std::string search_gan_spec;
};

// GAN sources give `n_fakes` fakes, one per pass from fake_seed(seed, i) (regenerable with
// 'mirage generate --latent-seeds'), with their latent codes; data sources up to `limit` images.
// `real` is image data, or "none".
BlindSpotInputs load_blind_spot_inputs(const std::vector<std::string>& fakes, const std::string& real, int64_t n_fakes,
                                       int64_t limit, uint64_t seed, int64_t channels, int64_t size,
                                       const std::string& policy, c10::Device device);

// The latent search's settings (the blind-spots flags of the same names).
struct LatentSearchSlice {
  int64_t n = 64;  // codes searched (0 = off)
  int64_t steps = 50;
  double lr = 0.05;
  double lambda_z = 1.0;
  bool gradient_free = false;
};

// Searches the first `search.n` seeds of the inputs' first GAN for fakes the detector calls real,
// adds the finding to `report` and re-ranks it; returns the found images (undefined when it did
// not run: no GAN or n = 0).
at::Tensor add_latent_search_finding(Detector& detector, const BlindSpotInputs& inputs, const LatentSearchSlice& search,
                                     uint64_t seed, int64_t examples, int64_t batch_size, int64_t min_slice,
                                     BlindSpotReport& report);

}  // namespace mirage::cli

// reports/gan_training_run.h — `mirage train-gan` as library calls: open the images a GanConfig
// names (image files, IDX, Canny edge maps as pix2pix's source domain: lib/image, which gan/ may
// not use) and complete the config from them; then train with the one GanTrainer, writing the
// run folder: samples/step-*.png, metrics.jsonl (cut back to the checkpoint on --resume, so a
// resumed run's log reads as an uninterrupted one), the checkpoint, and train.json's body.
#pragma once
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "gan/config.h"
#include "gan/trainer.h"
#include "lib/dataset.h"

namespace mirage {

struct GanTrainingData {
  std::shared_ptr<Dataset> train, source;  // source: pix2pix / cyclegan domain A (aligned with train for pix2pix)
  std::shared_ptr<Dataset> val, val_source;  // held-out images for the image-to-image figures (or null)
  std::unique_ptr<GanDataSource> stream, val_stream;
};

// Opens the data of `config` (a noise-free toy needs none) and completes the config from it:
// channels and size from the data unless `keep_channels` / `keep_size` (the user or a resumed
// checkpoint set them: the data is fitted to them), the classes, the source domain's channels, finalize(), and with
// `epochs` > 0 the steps of that many passes. `val_data` "" means fashion-mnist:test when the
// training data is Fashion-MNIST, else no validation. UsageError/InputError name the data.
GanTrainingData open_gan_training_data(GanConfig& config, bool keep_channels, bool keep_size, int64_t epochs, std::string val_data,
                                       c10::Device device);

// Trains `trainer` (fresh or resumed) to its config's steps: sample grids into dir/samples/,
// one metrics line per log step into dir/metrics.jsonl, checkpoints into dir/checkpoint. A
// divergence is a DivergedError that says which checkpoint is kept. Returns train.json's body:
// config, data, steps, resumed, final metrics, mean images/s, validation figures (image-to-image
// GANs), mode coverage (toy), checkpoint, generator and sample files.
nlohmann::json run_gan_training(GanTrainer& trainer, const GanTrainingData& data, const std::string& dir, bool resume);

}  // namespace mirage

// reports/latent_search_run.h — `mirage latent-search` as a library call: open a noise GAN and
// its target (a classifier, with an optional auxiliary classifier for a conditional GAN, or a
// detector), check them against each other, search the latent space from the seeds 'mirage
// generate' would use (attacks/latent_search.h), and write the start and found images and one
// JSON line per start into a folder; the summary comes back as JSON.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "attacks/latent_search.h"
#include "detectors/detector.h"
#include "gan/sampling.h"
#include "lib/model.h"

namespace mirage {

struct LatentSearchRunConfig {
  std::string gan;       // checkpoint folder or generator .pt (a noise GAN)
  std::string model;     // target classifier, or
  std::string detector;  // target detector (exactly one of the two)
  std::string aux;       // auxiliary classifier (conditional GAN only)
  std::string classes;   // conditional GAN: "" or "all" (classes in turn), "K", "K1,K2" (in turn)
  int64_t n = 64;            // starts; start i has seed fake_seed(seed, i)
  int64_t target_class = -1; // classifier: the class to reach (-1: any but the start's)
  int bits = 8;              // PNG bits per channel, 8 or 16
  LatentSearchOptions search;  // its batch_size is the starts searched together
};

// UsageError for a value out of range (before anything is opened).
void check_latent_search_config(const LatentSearchRunConfig& config);

class LatentSearchRun {
 public:
  // Opens the GAN and the targets; a translator GAN, a conditional flag on an unconditional GAN,
  // a model of another image shape or with too few classes is a UsageError, before any search.
  LatentSearchRun(LatentSearchRunConfig config, uint64_t seed, c10::Device device);

  // Searches and writes `dir`/found/ and start/ (<index>_seed<seed>.png) and results.jsonl;
  // returns the summary (mode, goal, classes, options, rates, means, queries, steps, seconds)
  // without the models' file entries, which the caller adds from the accessors.
  nlohmann::json run(const std::string& dir);

  GeneratorModel& gan() { return *gan_; }
  TorchScriptModel* classifier() { return classifier_.get(); }
  TorchScriptModel* aux() { return aux_.get(); }
  Detector* detector() { return detector_.get(); }

 private:
  LatentSearchRunConfig config_;
  uint64_t seed_;
  std::unique_ptr<GeneratorModel> gan_;
  std::unique_ptr<TorchScriptModel> classifier_, aux_;
  std::unique_ptr<Detector> detector_;
  std::unique_ptr<Model> verdict_;
  Model* target_ = nullptr;
};

}  // namespace mirage

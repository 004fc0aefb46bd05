// detectors/blind_spots.h — where a detector fails, as data: slices of the images it sees (by
// source, class, post-processing, evasion budget, latent cluster) with their failure counts,
// rates and 95% Wilson intervals, ranked worst first, and examples that reproduce each.
//
// A failure is a fake the detector calls real (a miss) or, for the "reals" population, a real it
// calls fake (a false alarm), both at its stored threshold. Slices are ranked by the lower end of
// their Wilson interval, so a slice needs both a high rate and enough samples to rank first: a
// slice of 3 with 3 misses ranks below one of 200 with 150.
//
// Detector evasion (Carlini & Farid, CVPR-W 2020): white-box PGD and black-box Square toward
// "real" on the detector's verdict model, per budget eps, and the smallest perturbation (FAB
// minimal Linf / L2) that flips each fake. Latent search and latent clusters need the fakes'
// generator and latent codes (attacks/latent_search.h).
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "attacks/latent_search.h"
#include "gan/sampling.h"
#include "lib/options.h"
#include "lib/transforms.h"

namespace mirage {

class Detector;

struct FindingExample {
  std::string id;        // image id/path, or "seed:<s>" for a generated fake
  std::optional<uint64_t> seed;  // the fake's latent seed (regenerates it with `mirage generate`)
  int64_t cls = -1;
  double score = 0;      // p_fake after the slice's transform
  double clean_score = -1;  // p_fake before it (-1 when the slice has no transform)
  int64_t index = -1;    // row in the population the search was given
};

struct Finding {
  std::string search;     // source | class | post-processing | evasion | latent-search | latent-cluster
  std::string slice;      // e.g. "jpeg", "class", "pgd-linf", "cluster"
  nlohmann::json parameters = nlohmann::json::object();  // e.g. {"quality": 50}
  std::string population = "fakes";  // fakes (failure = called real) | reals (failure = called fake)
  int64_t n = 0;
  int64_t failures = 0;
  double rate = 0, ci_low = 0, ci_high = 1;
  double baseline_rate = 0;   // the population's failure rate without this slice's condition
  double mean_score = 0;      // mean p_fake in the slice
  std::vector<FindingExample> examples;  // worst (most evading) first
  nlohmann::json details = nlohmann::json::object();  // class mix, minimal norms, ...
  double gap() const { return rate - baseline_rate; }
};

// What the search looks at. Fakes may come with seeds, latent codes and classes (GAN fakes) or
// just ids (image files); reals are optional (false-alarm slices).
struct BlindSpotData {
  at::Tensor fakes;                       // [N, C, S, S] CPU, fitted to the detector
  std::vector<std::string> fake_ids;
  std::vector<std::string> fake_sources;  // per fake: generator/folder name
  at::Tensor fake_classes;                // [N] int64, -1 unknown (or empty)
  std::vector<std::optional<uint64_t>> fake_seeds;  // per fake, when generated from a seed (or empty)
  at::Tensor fake_latents;                // [N, z_dim] (or empty)
  at::Tensor reals;                       // [M, C, S, S] (or empty)
  std::vector<std::string> real_ids;
  at::Tensor real_classes;                // [M] (or empty)
  std::vector<std::string> class_names;
  // The GAN the latent search explores (the first GAN source; none: no latent search), as the
  // user named it, and the run seed its fakes came from: fake i is fake_seed(gan_seed, i).
  std::shared_ptr<GeneratorModel> gan;
  std::string gan_spec;
  uint64_t gan_seed = 0;
};

// The latent search for fakes the detector calls real (attacks/latent_search.h), started from the
// first `n` fakes of the data's GAN (fake_seed(data.gan_seed, i)), toward "real".
struct LatentSearchSettings {
  int64_t n = 64;  // codes searched (0 = off)
  int64_t steps = 50;
  double lr = 0.05;
  double lambda_z = 1.0;
  bool gradient_free = false;
};

struct BlindSpotOptions {
  std::vector<int> jpeg_qualities = {90, 75, 50, 30};
  std::vector<double> blur_sigmas = {0.5, 1.0, 2.0};
  std::vector<double> resize_scales = {0.5, 0.75, 1.5};
  std::vector<double> noise_sigmas = {0.01, 0.03, 0.1};
  std::vector<double> crop_fractions = {0.9, 0.75};  // center crop, scaled back to the input size
  bool gray_slice = true;                            // RGB -> gray -> RGB (RGB detectors only)
  std::vector<double> evasion_eps_linf = {1.0 / 255, 2.0 / 255, 4.0 / 255, 8.0 / 255};
  std::vector<double> evasion_eps_l2 = {0.1, 0.25, 0.5, 1.0};
  int64_t evasion_samples = 200;   // fakes attacked per budget (the first ones the detector catches)
  int64_t pgd_steps = 20;
  int64_t square_queries = 500;    // black-box budget per fake (0 skips Square)
  bool minimal_norm = true;        // FAB minimal Linf and L2 per fake
  int64_t clusters = 4;            // k of the latent k-means (0 skips)
  int64_t examples = 5;            // per finding
  int64_t min_slice = 1;           // slices smaller than this are dropped
  LatentSearchSettings latent_search;  // runs when the data has a GAN
  int64_t batch_size = 256;
  uint64_t seed = 0;

  // The field list of an audit config file (every field but seed, named by path with bounds):
  // batch_size, post_processing {jpeg, blur, resize, noise, crop, gray}, evasion {eps_linf,
  // eps_l2, samples, pgd_steps, square_queries, minimal_norm}, latent_search (the n of codes),
  // search_steps, search_lr, lambda_z, gradient_free, clusters, examples, min_slice.
  static const OptionFields<BlindSpotOptions>& fields();
};

struct BlindSpotReport {
  int64_t n_fakes = 0, n_reals = 0;
  int64_t misses = 0, false_alarms = 0;   // at the threshold, unprocessed images
  double threshold = 0.5;
  std::vector<Finding> findings;          // ranked worst first
  at::Tensor found_images;                // the latent search's finds (undefined when it did not run)
};

// Every slice of `data` the options ask for, the latent search last. `progress(stage)` is told each stage's name.
BlindSpotReport search_blind_spots(Detector& detector, const BlindSpotData& data, const BlindSpotOptions& options,
                                   const ImageCodec& codec = {},
                                   const std::function<void(const std::string&)>& progress = {});

// The pieces, for callers that want one kind of slice.
std::vector<Finding> source_and_class_slices(Detector& detector, const BlindSpotData& data,
                                             const std::vector<double>& fake_scores,
                                             const std::vector<double>& real_scores, int64_t examples);
std::vector<Finding> post_processing_slices(Detector& detector, const BlindSpotData& data,
                                            const std::vector<double>& fake_scores,
                                            const std::vector<double>& real_scores, const BlindSpotOptions& options,
                                            const ImageCodec& codec);
std::vector<Finding> evasion_slices(Detector& detector, const BlindSpotData& data,
                                    const std::vector<double>& fake_scores, const BlindSpotOptions& options);
// k-means (k-means++ start from `seed`) on the latent codes of the fakes that evade. A cluster
// holds its evading fakes and every other fake nearest to its centre within the 90th percentile
// of its evading members' distance, so its evasion rate says how much of that region of the
// latent space evades; it is described by size, evasion rate, mean score, the evading fakes'
// class mix and example seeds. No evading fake: no findings.
std::vector<Finding> latent_cluster_slices(const BlindSpotData& data, const std::vector<double>& fake_scores,
                                           double threshold, int64_t k, int64_t examples, uint64_t seed);
// The latent search of `options.latent_search` on data.gan: adds its finding to `report`, re-ranks
// it (options.min_slice) and keeps the found images. Nothing happens without a GAN or with n = 0.
void add_latent_search_slice(Detector& detector, const BlindSpotData& data, const BlindSpotOptions& options,
                             BlindSpotReport& report);
// A latent search for fakes the detector calls real, as a finding (n = starts searched,
// failures = evading fakes found; examples carry the seeds).
Finding latent_search_finding(const LatentSearchResult& result, double threshold,
                              const std::vector<double>& found_scores, int64_t examples);

// Sorts worst first (Wilson lower bound, then rate, then n) and drops slices under min_n.
void rank_findings(std::vector<Finding>& findings, int64_t min_n = 1);

}  // namespace mirage

// attacks/latent_search.h — searching a generator's latent space for inputs a model gets wrong.
//
// Unrestricted adversarial examples (Song et al., NeurIPS 2018): with a conditional generator
// G(z, y), start at z0 ~ N(0, I) and descend
//   L(z) = L_target(G(z, y)) + lambda_z * mean_i max(|z_i - z0_i| - eps_z, 0) + lambda_aux * CE(aux(G(z, y)), y)
// where L_target is the goal's loss on the target model: the C&W margin clamped at -kappa
// (untargeted: max(Z_y - max_{j!=y} Z_j, -kappa), so the target stops saying y; targeted:
// max(max_{j!=t} Z_j - Z_t, -kappa)), bounded below unlike -CE(y). The auxiliary classifier
// keeping y is what makes the sample still "a y": success = the target meets the goal AND the
// auxiliary model still predicts y.
//
// Detector evasion: the same search with the target a detector's verdict model (class 1 fake,
// 0 real), labels 1 and the goal "targeted to 0"; no auxiliary model.
//
// Gradient-free variant (detectors or classifiers given only as scores): the gradient of the
// same objective is estimated with NES (Ilyas et al., ICML 2018: antithetic Gaussian samples,
// sigma-scaled) from model outputs only; queries are counted per sample.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "attacks/attack.h"
#include "lib/model.h"
#include "lib/options.h"

namespace mirage {

class GeneratorModel;

// A generator seen by the search: z [N, z_dim] (and y [N] when num_classes > 0) -> images
// [N, C, H, W] in [0,1], differentiable with respect to z.
struct LatentGenerator {
  std::function<at::Tensor(const at::Tensor& z, const at::Tensor& y)> generate;
  int64_t z_dim = 0;
  int64_t num_classes = 0;  // 0: unconditional
  c10::Device device = c10::kCPU;
  // A noise generator loaded from a checkpoint or generator file (translators are a UsageError).
  static LatentGenerator from(GeneratorModel& g);
};

struct LatentSearchOptions {
  int64_t steps = 100;
  double lr = 0.01;             // Adam step on z (gradient and NES alike)
  double eps_z = 0.1;           // soft box around z0 inside which distance costs nothing
  double lambda_z = 100.0;      // weight of the distance term (Song et al.: lambda_1)
  double lambda_aux = 100.0;    // weight of the auxiliary classifier's CE (Song et al.: lambda_2)
  bool gradient_free = false;   // NES estimate from outputs only
  int64_t nes_samples = 20;     // antithetic pairs per NES estimate
  double nes_sigma = 0.1;
  double truncation = 0;        // start codes: latent_for_seed(seed, z_dim, truncation)
  bool early_stop = true;       // freeze a sample once it succeeds (keeps the closest find)
  int64_t batch_size = 64;
  double kappa = 0.1;           // target margin (logits) beyond which L_target stops pulling

  static const OptionFields<LatentSearchOptions>& fields();  // every field above, by its name
};

struct LatentSearchResult {
  std::vector<uint64_t> seeds;  // z0 = latent_for_seed(seeds[i], z_dim, truncation)
  at::Tensor classes;           // [N] int64: y given to G (conditional) or -1
  at::Tensor z0, z;             // [N, z_dim] start and found codes (CPU)
  at::Tensor start_images;      // [N, C, H, W] G(z0, y) (CPU)
  at::Tensor images;            // [N, C, H, W] G(z, y) (CPU)
  at::Tensor target_start_pred; // [N] int64: target's prediction on G(z0, y)
  at::Tensor target_pred;       // [N] int64: on G(z, y)
  at::Tensor aux_pred;          // [N] int64 on G(z, y), or -1 without an auxiliary model
  at::Tensor success;           // [N] bool: goal met on G(z, y) (and aux still predicts y)
  at::Tensor z_distance;        // [N] ||z - z0||_2
  at::Tensor linf, l2;          // [N] image distance of G(z, y) to G(z0, y)
  at::Tensor queries;           // [N] int64: target forward passes including this sample
  int64_t steps_run = 0;
};

// Searches from one start per seed. `labels` [N] are what the goal is relative to (the class y
// for unrestricted search, 1 = fake for detector evasion); `classes` [N] feed a conditional G
// (empty for an unconditional one). `aux` may be null. A conditional search with an
// unconditional G, or a G whose image shape differs from the target's spec, is a UsageError.
// `progress(done_steps, total_steps)` is called once per step when given.
LatentSearchResult latent_search(const LatentGenerator& generator, Model& target, Model* aux,
                                 const std::vector<uint64_t>& seeds, const at::Tensor& classes,
                                 const at::Tensor& labels, const Goal& goal, const LatentSearchOptions& options,
                                 const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace mirage

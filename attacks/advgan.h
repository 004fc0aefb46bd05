// attacks/advgan.h — AdvGAN: adversarial examples from a trained generator (Xiao et al., "Generating
// Adversarial Examples with Adversarial Networks", IJCAI 2018; reference code mathcbc/advGAN_pytorch).
//
// A generator G maps an image x to a perturbation delta = eps * tanh(G_raw(x)), so ||delta||_inf <= eps
// by construction, and x_adv = clamp(x + delta, 0, 1). G is trained against a frozen target model f
// together with a discriminator D that tells x from x_adv (least-squares GAN loss, as the reference
// code), minimising (paper Eq. 4, with the reference code's weights as defaults)
//   L_G = adv_weight * L_adv + gan_weight * L_GAN + hinge_weight * L_hinge
//   L_adv   = sum_i max(Z_y - max_{j!=y} Z_j, -kappa)       untargeted (Z = f's logits, C&W margin)
//           = sum_i max(max_{j!=t} Z_j - Z_t, -kappa)       targeted to class t
//             (summed over the batch as the reference code; the other two terms are means)
//   L_GAN   = mean (D(x_adv) - 1)^2 / 2                     (D: ((D(x) - 1)^2 + D(x_adv)^2) / 2)
//   L_hinge = mean_i max(0, ||delta_i||_2 - c)              (paper Eq. 3, c = hinge_bound)
// Once trained, an attack is one forward pass of G: no gradient of f and no query beyond the clean
// pass. A checkpoint is a folder (docs/formats.md): generator.pt (torch::save of G) + config.json.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attacks/attack.h"
#include "gan/translation_nets.h"
#include "lib/dataset.h"
#include "lib/model.h"

namespace mirage {

struct AdvGanOptions {
  double eps = 8.0 / 255;    // Linf bound in [0,1] pixel units (the paper's MNIST runs use 0.3)
  bool targeted = false;
  int64_t target_class = 0;  // when targeted
  int64_t epochs = 60;       // reference code: 60 epochs of MNIST
  int64_t batch_size = 128;
  double lr = 1e-3;          // Adam, for G and D
  double adv_weight = 10.0;  // reference code's adv_lambda
  double gan_weight = 1.0;
  double hinge_weight = 1.0; // reference code's pert_lambda
  double hinge_bound = 0.1;  // c: L2 norm of delta the hinge loss tolerates
  double kappa = 1.0;        // C&W confidence; the reference uses 0, which leaves samples on the
                             // boundary (held-out success 0.82 vs 0.89 with 1, targeted 0.53 vs 1.00)
  int64_t width = 8;         // G: 8 -> 16 -> 32 feature maps, 4 residual blocks (the reference's sizes)
  int64_t blocks = 4;
  int64_t limit = 0;         // train on the first `limit` shuffled samples only (0 = all)
  uint64_t seed = 0;         // weight init and shuffling; the same seed gives the same G on CPU

  nlohmann::json to_json() const;
  // Reads the fields `to_json` writes; `source` names the file for errors.
  static AdvGanOptions from_json(const nlohmann::json& j, const std::string& source);
};

// A trained perturbation generator and what it was trained for.
class AdvGanGenerator {
 public:
  AdvGanGenerator(AdvGanOptions options, int64_t channels, int64_t height, int64_t width);
  // x [N, C, H, W] in [0,1] (the trained shape) -> delta with |delta| <= eps; differentiable.
  at::Tensor perturbation(const at::Tensor& x);
  // clamp(x + perturbation(x), 0, 1), computed without a graph. G follows x to its device.
  at::Tensor adversarial(const at::Tensor& x);
  ResnetGenerator& net() { return net_; }
  const AdvGanOptions& options() const { return options_; }
  int64_t channels() const { return channels_; }
  int64_t height() const { return height_; }
  int64_t width() const { return width_; }
  // The target model (name, classes, file and sha256 when known) and the training summary, as
  // written to config.json.
  nlohmann::json target = nlohmann::json::object();
  nlohmann::json training = nlohmann::json::object();

 private:
  AdvGanOptions options_;
  int64_t channels_, height_, width_;
  ResnetGenerator net_{nullptr};
};

struct AdvGanEpoch {
  int64_t epoch = 0;  // 1-based
  double loss_d = 0, loss_gan = 0, loss_adv = 0, loss_hinge = 0;  // means over the epoch's batches
  double success_rate = 0;  // of the batches' x_adv while training, over the counted samples
  double seconds = 0;
  double images_per_second = 0;
};

struct AdvGanTraining {
  std::shared_ptr<AdvGanGenerator> generator;  // on the model's device, eval mode
  std::vector<AdvGanEpoch> history;
  // The final G over the training data (one more pass): success counts samples the model gets right
  // (untargeted) or whose label is not the target (targeted), as mirage attack's success_rate.
  double success_rate = 0;
  int64_t counted = 0;
  double mean_linf = 0, max_linf = 0, mean_l2 = 0;
  double seconds = 0;            // training only
  double images_per_second = 0;  // of training
  nlohmann::json to_json() const;  // the summary written to config.json and printed by the CLI
};

// Trains G and D against `target` (frozen: gradients flow through it to x_adv only) on labelled
// `data`, fitted to the model's input. Samples without a label are attacked against the model's
// own prediction. H and W must be multiples of 4. Calls `on_epoch` after each epoch.
AdvGanTraining train_advgan(Model& target, Dataset& data, const AdvGanOptions& options,
                            const std::function<void(const AdvGanEpoch&)>& on_epoch = {});

// Writes the checkpoint files into an existing folder (a staging folder: see save_advgan).
void write_advgan(AdvGanGenerator& generator, const std::string& folder);
// Writes the checkpoint folder `dir` atomically; an existing non-empty one is a UsageError unless
// `overwrite`.
void save_advgan(AdvGanGenerator& generator, const std::string& dir, bool overwrite = true);
// A folder that is not an AdvGAN checkpoint is a UsageError naming it; a truncated or unreadable
// one an InputError. G is loaded on CPU, then moved to `device`.
std::shared_ptr<AdvGanGenerator> load_advgan(const std::string& dir, c10::Device device = c10::Device(c10::kCPU));

class AdvGan final : public Attack {
 public:
  AdvGan(std::shared_ptr<AdvGanGenerator> generator, std::string checkpoint);
  // One forward pass of G per batch; an image shape other than the checkpoint's is a UsageError.
  AttackResult run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) override;
  std::string name() const override { return "advgan"; }
  nlohmann::json options_json() const override;

 private:
  std::shared_ptr<AdvGanGenerator> generator_;
  std::string checkpoint_;
};

// Parameter "checkpoint" (required): the folder train-advgan wrote.
std::unique_ptr<Attack> make_advgan(AttackParams& p);

}  // namespace mirage

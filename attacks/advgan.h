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
// Training is an AdvGanModel run by the one GAN loop (gan/trainer.h): L_GAN is the trainer's
// adversarial term (GanConfig adv_weight = gan_weight, lsgan), L_adv and L_hinge the model's extra
// G losses "adv" and "hinge"; checkpoints, exact resume and divergence checks come from the loop.
// Once trained, an attack is one forward pass of G: no gradient of f and no query beyond the clean
// pass. A checkpoint is a folder (docs/formats.md): generator.pt (torch::save of G) + config.json,
// and the trainer's state.pt when it comes from training (what --resume continues).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attacks/attack.h"
#include "gan/trainer.h"
#include "gan/translation_nets.h"
#include "lib/dataset.h"
#include "lib/model.h"

namespace mirage {

struct AdvGanOptions {
  double eps = 8.0 / 255;    // Linf bound in [0,1] pixel units (the paper's MNIST runs use 0.3)
  bool targeted = false;
  int64_t target_class = 0;  // when targeted
  int64_t epochs = 60;       // reference code: 60 epochs of MNIST; an epoch = floor(samples / batch) steps
  int64_t batch_size = 128;  // at most the number of samples
  double lr = 1e-3;          // Adam (betas 0.9, 0.999), for G and D
  double adv_weight = 10.0;  // reference code's adv_lambda
  double gan_weight = 1.0;   // 0: no discriminator is trained
  double hinge_weight = 1.0; // reference code's pert_lambda
  double hinge_bound = 0.1;  // c: L2 norm of delta the hinge loss tolerates
  double kappa = 1.0;        // C&W confidence; the reference uses 0, which leaves samples on the
                             // boundary (held-out success 0.82 vs 0.89 with 1, targeted 0.53 vs 1.00)
  int64_t width = 8;         // G: 8 -> 16 -> 32 feature maps, 4 residual blocks (the reference's sizes)
  int64_t blocks = 4;
  int64_t limit = 0;         // train on `limit` samples of a seeded shuffle only (0 = all)
  int64_t checkpoint_every = 1;  // epochs between checkpoints when training into a folder (0 = at the end)
  uint64_t seed = 0;         // weight init and shuffling; the same seed gives the same G on CPU
  std::string data;          // the data spec, labels file and resize policy the command opened
  std::string labels;        // (informative, as GanConfig's: --resume reopens them)
  std::string resize = "crop";

  nlohmann::json to_json() const;
  // Sets the fields `j` names (the rest keep their defaults) and checks them; an unknown key, a
  // wrong type or a bad value is a UsageError naming `source` and the key.
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
  // The target model (name, classes, file and sha256 when known), the training data (name,
  // samples) and the training summary, as written to config.json.
  nlohmann::json target = nlohmann::json::object();
  nlohmann::json data = nlohmann::json::object();
  nlohmann::json training = nlohmann::json::object();

 private:
  AdvGanOptions options_;
  int64_t channels_, height_, width_;
  ResnetGenerator net_{nullptr};
};

struct AdvGanEpoch {
  int64_t epoch = 0;  // 1-based
  double loss_d = 0, loss_gan = 0, loss_adv = 0, loss_hinge = 0;  // unweighted means over the epoch's steps
  double success_rate = 0;  // of the batches' x_adv while training, over the counted samples
  double seconds = 0;
  double images_per_second = 0;
};

// AdvGAN as a GanModel: G (the ResNet generator, "generator") and D (a PatchGAN,
// "discriminator"), N(0, 0.02) inits from seeded generators, no EMA. generate() runs G on x, sets
// the adversarial term D(x) vs D(x_adv) (none when gan_weight is 0: D is not trained) and the
// weighted losses "adv" and "hinge"; the target model stays frozen (gradients pass through it to
// x_adv only). config() is what the loop runs: lsgan, Adam(lr, 0.9, 0.999) for both nets, one D step
// per G step, adv_weight = gan_weight, epochs * floor(samples / batch) steps, a checkpoint every
// checkpoint_every epochs, a metrics call every step.
class AdvGanModel final : public GanModel {
 public:
  // `data_name` and `samples` describe the training set (config.json's "data"); the batch size is
  // capped at `samples`. The nets are built on the target's device.
  AdvGanModel(Model& target, const AdvGanOptions& options, const std::string& data_name, int64_t samples);
  const GanConfig& config() const override { return config_; }
  // config.json of an AdvGAN checkpoint (docs/formats.md); a resumed run may change epochs,
  // checkpoint_every and the training summary only.
  nlohmann::json config_json() const override;
  bool resumable_field(const std::string& key) const override;
  std::vector<NamedNet> generators() override;
  std::vector<NamedNet> discriminators() override;
  std::vector<NamedNet> ema_generators() override { return {}; }
  GeneratorPass generate(const GanBatch& batch, at::Generator& gen) override;
  at::Tensor discriminate(size_t k, const at::Tensor& x, const at::Tensor& cond) override;
  // Rows of x, x_adv and delta (0.5 + delta / 2 eps) for the first 8 of `fixed`.
  at::Tensor samples(const GanBatch& fixed, int64_t n, at::Generator& gen) override;
  // success_rate and linf_max of G on `batch`.
  std::map<std::string, double> validate(const GanBatch& batch) override;
  // generator.pt (torch::save of G, from the CPU), as load_advgan reads it.
  void export_generators(const std::string& dir) override;

  std::shared_ptr<AdvGanGenerator> generator() const { return generator_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  // What the G passes with a graph saw since the last take_tally(): samples counted and broken,
  // unweighted sums of L_adv and L_hinge over the passes.
  struct Tally {
    int64_t passes = 0, counted = 0, success = 0;
    double adv = 0, hinge = 0;
  };
  Tally take_tally();

 private:
  Model& target_;
  GanConfig config_;
  std::shared_ptr<AdvGanGenerator> generator_;
  PatchDiscriminator d_{nullptr};
  int64_t steps_per_epoch_ = 1;
  Tally tally_;
};

struct AdvGanTraining {
  std::shared_ptr<AdvGanGenerator> generator;  // on the model's device, eval mode
  std::vector<AdvGanEpoch> history;            // resumed: the checkpoint's epochs, then this run's
  // The final G over the training data (one more pass): success counts samples the model gets right
  // (untargeted) or whose label is not the target (targeted), as mirage attack's success_rate.
  double success_rate = 0;
  int64_t counted = 0;
  double mean_linf = 0, max_linf = 0, mean_l2 = 0;
  double seconds = 0;            // training only (of this process, when resumed)
  double images_per_second = 0;  // of training
  bool resumed = false;
  int64_t resumed_epochs = 0;    // epochs the checkpoint had done
  nlohmann::json to_json() const;  // the summary written to config.json and printed by the CLI
};

struct AdvGanRun {
  // A checkpoint folder the trainer writes (every checkpoint_every epochs and at the end, each
  // time replaced whole; at the end with the training summary). Empty: none.
  std::string checkpoint;
  bool resume = false;  // continue from `checkpoint` (its options must match but for epochs)
  std::function<void(const AdvGanEpoch&)> on_epoch;
};

// Trains G and D against `target` (frozen: gradients flow through it to x_adv only) on labelled
// `data`, fitted to the model's input, with the one GAN trainer. Samples without a label are
// attacked against the model's own prediction. H and W must be multiples of 4. A non-finite loss
// is a DivergedError (the last good checkpoint is kept).
AdvGanTraining train_advgan(Model& target, Dataset& data, const AdvGanOptions& options, const AdvGanRun& run = {});

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

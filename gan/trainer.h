// gan/trainer.h — the one adversarial training loop, and what it trains.
//
// Every GAN of mirage (dcgan and its conditional form, pix2pix, cyclegan, srgan, the 2-D toy, and
// AdvGAN in attacks/advgan.h) is a GanModel *value*: its networks, and one function that runs the
// generators on a batch and says what each discriminator compares. The loop (as pytorch/examples' dcgan.cpp, readable top to
// bottom) owns the rest once: D steps with the adversarial loss and gradient penalty, the G step
// with the adversarial and the model's extra losses, EMA, logging, samples, checkpoints,
// divergence checks and resume.
#pragma once
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gan/config.h"
#include "gan/losses.h"
#include "lib/error.h"

namespace mirage {

class Dataset;

// One batch of real data, on the run's device. Which fields are set depends on the model:
// x the real images (target domain B for pix2pix / cyclegan), y their labels, a the source
// domain (pix2pix: aligned with x; cyclegan: an independent draw from domain A).
struct GanBatch {
  at::Tensor x;
  at::Tensor y;
  at::Tensor a;
  int64_t size() const { return x.defined() ? x.size(0) : 0; }
};

// Real batches, a pure function of the step: a resumed run sees exactly the batches the
// uninterrupted one would have.
class GanDataSource {
 public:
  virtual ~GanDataSource() = default;
  virtual GanBatch batch(int64_t step, int64_t batch_size) = 0;
  virtual std::string name() const = 0;
};

// Shuffled epochs over a data set (x, y), each epoch's order from derive_seed(seed, "epoch-<k>");
// with `source`, its sample i is the a of x's sample i (pix2pix pairs), or with `unpaired` an
// independently shuffled draw (cyclegan). Images are fitted to (channels, size).
std::unique_ptr<GanDataSource> dataset_source(std::shared_ptr<Dataset> data, std::shared_ptr<Dataset> source,
                                              bool unpaired, int64_t channels, int64_t size,
                                              int64_t source_channels, uint64_t seed, c10::Device device);
// The same epochs over a labelled data set fitted to a model's input (channels, height, width):
// x and y always set, y = -1 where a sample has no label.
std::unique_ptr<GanDataSource> labelled_source(std::shared_ptr<Dataset> data, int64_t channels, int64_t height,
                                               int64_t width, uint64_t seed, c10::Device device);
// Samples of a 2-D toy mixture (gan/metrics.h), drawn from derive_seed(seed, "toy-<step>").
std::unique_ptr<GanDataSource> toy_source(const std::string& mixture, uint64_t seed, c10::Device device);

using NamedNet = std::pair<std::string, std::shared_ptr<torch::nn::Module>>;

// One discriminator's comparison: D(real | real_cond) against D(fake | fake_cond).
struct AdversarialTerm {
  size_t discriminator = 0;
  at::Tensor real;
  at::Tensor fake;         // with the generators' graph: G's loss flows through it
  at::Tensor fake_for_d;   // what D trains on; undefined = fake.detach() (cyclegan: the image pool)
  at::Tensor real_cond;    // labels for a projection D; undefined otherwise
  at::Tensor fake_cond;
};

struct GeneratorPass {
  // Empty: this step trains no discriminator (the D update is skipped).
  std::vector<AdversarialTerm> adversarial;
  // The model's own weighted generator losses (L1, cycle, identity, content), by name.
  std::vector<std::pair<std::string, at::Tensor>> losses;
};

class GanModel {
 public:
  virtual ~GanModel() = default;
  // What the loop reads: loss, batch size, steps, Adam's lr/betas, n_critic, gp/adv weights, EMA,
  // log/sample/checkpoint intervals, seed. A model built outside make_gan_model may leave the
  // rest as they are (config.arch then names it; finalize() is for make_gan_model's arches).
  virtual const GanConfig& config() const = 0;
  // What a checkpoint's config.json holds (default config().to_json()). resume() refuses a
  // checkpoint whose config.json differs from this but in fields resumable_field() accepts,
  // compared at any depth of nested objects.
  virtual nlohmann::json config_json() const;
  // Default: steps, log_every, sample_every, checkpoint_every.
  virtual bool resumable_field(const std::string& key) const;
  // Trained by the G optimiser / the D optimiser; EMA copies of the generators in the same
  // order (empty when the EMA is off). Names are stable: checkpoints store them.
  virtual std::vector<NamedNet> generators() = 0;
  virtual std::vector<NamedNet> discriminators() = 0;
  virtual std::vector<NamedNet> ema_generators() = 0;
  // Runs the generators on a batch (noise from `gen`), keeping the graph.
  virtual GeneratorPass generate(const GanBatch& batch, at::Generator& gen) = 0;
  // Scores of discriminator k: any shape with the batch first.
  virtual at::Tensor discriminate(size_t k, const at::Tensor& x, const at::Tensor& cond) = 0;
  // Images to look at, [N, C, H, W] in [0,1], from the EMA generators in eval mode: noise models
  // draw `n` samples from `gen` (conditional: classes cycling 0..K-1); translation models show
  // source | output | target of `fixed` side by side.
  virtual at::Tensor samples(const GanBatch& fixed, int64_t n, at::Generator& gen) = 0;
  // Held-out figures a model defines (pix2pix L1, cyclegan cycle error, srgan PSNR against
  // bicubic), computed with the EMA generators in eval mode; empty for noise models.
  virtual std::map<std::string, double> validate(const GanBatch& batch) = 0;
  // Writes the EMA generators (or the generators when the EMA is off) into `dir` as the model's
  // users load them: TorchScript generator.pt (cyclegan also generator_ba.pt), metadata kind
  // "generator"; AdvGAN's torch::save of G for load_advgan.
  virtual void export_generators(const std::string& dir) = 0;
};

// The GanModel of config.arch (config finalized first).
std::unique_ptr<GanModel> make_gan_model(GanConfig config, c10::Device device);

struct GanStepMetrics {
  int64_t step = 0;
  double d_loss = 0, g_loss = 0, gp = 0;
  double g_adv = 0;  // G's adversarial loss before adv_weight (not in to_json: g_loss holds it weighted)
  double d_real = 0, d_fake = 0;  // mean D scores on real and fake (logits)
  double g_grad_norm = 0, d_grad_norm = 0;  // on logged steps only (0 otherwise)
  std::map<std::string, double> terms;  // the model's extra G losses
  double images_per_second = 0;
  nlohmann::json to_json() const;
};

struct GanTrainHooks {
  std::function<void(const GanStepMetrics&)> on_metrics;                 // every log_every steps
  std::function<void(int64_t step, const at::Tensor& images)> on_samples;  // every sample_every
  std::function<void(int64_t step, const std::string& dir)> on_checkpoint;  // after each write
};

// Training stopped on a NaN/Inf loss; the last good checkpoint is kept (exit code 1).
class DivergedError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return kExitGateFailed; }
};

class GanTrainer {
 public:
  // Trains make_gan_model(config, device).
  GanTrainer(GanConfig config, GanDataSource& data, c10::Device device);
  // Trains a ready model (AdvGAN), its networks already on `device`; Adam as model->config() says.
  GanTrainer(std::unique_ptr<GanModel> model, GanDataSource& data, c10::Device device);
  ~GanTrainer();
  // Continues from a checkpoint folder written by save_checkpoint: networks, EMA, optimiser
  // states, step and random states. A folder of another arch/shape is a UsageError; a missing
  // or truncated state an InputError.
  void resume(const std::string& checkpoint_dir);
  // Trains until config().steps generator steps are done. With `checkpoint_dir`, writes a
  // checkpoint there every checkpoint_every steps and at the end (atomically: the folder is
  // replaced whole). Throws DivergedError on a non-finite loss.
  void run(const GanTrainHooks& hooks, const std::string& checkpoint_dir = "");
  // networks + optimisers + step + RNG state (state.pt), config.json (model().config_json()),
  // and the generators (model().export_generators).
  void save_checkpoint(const std::string& dir);
  int64_t step() const { return step_; }
  GanModel& model() { return *model_; }
  const GanConfig& config() const { return model_->config(); }
  // The fixed batch the sample grids and validate() use.
  const GanBatch& fixed_batch() const { return fixed_; }
  // One D update (n_critic of them per G step) and one G update, exposed for tests and the
  // benchmark; return the metrics of that step.
  GanStepMetrics train_step();

 private:
  std::unique_ptr<GanModel> model_;
  GanDataSource& data_;
  c10::Device device_;
  struct Optimizers;
  std::unique_ptr<Optimizers> opt_;
  at::Generator gen_;
  int64_t step_ = 0;
  int64_t data_step_ = 0;  // batches drawn (n_critic per G step)
  GanBatch fixed_;
};

// Reads config.json of a checkpoint folder (UsageError when it is not one).
GanConfig read_checkpoint_config(const std::string& dir);

// The trained discriminator of a dcgan checkpoint folder (conditional or not), in eval mode on
// `device`: what a "discriminator" detector is built from. Another arch is a UsageError; a
// missing or truncated state an InputError.
std::shared_ptr<torch::nn::Module> load_checkpoint_discriminator(const std::string& dir, c10::Device device);

// The exported generator of a checkpoint folder: kind "generator" metadata with z_dim, classes,
// arch in `extra`.
std::string checkpoint_generator_path(const std::string& dir);

}  // namespace mirage

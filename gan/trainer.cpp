#include "gan/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "gan/metrics.h"
#include "gan/networks.h"
#include "lib/atomic_file.h"
#include "lib/dataset.h"
#include "lib/image_tensor.h"
#include "lib/log.h"
#include "lib/runtime.h"

namespace mirage {

namespace fs = std::filesystem;

// ---- data sources ---------------------------------------------------------------------------

namespace {

// The epoch order of one data set, recomputed only when the epoch changes.
class EpochOrder {
 public:
  EpochOrder(int64_t n, uint64_t seed, std::string stream) : n_(n), seed_(seed), stream_(std::move(stream)) {}
  // The `batch_size` indices of the step-th batch (epochs of n / batch_size full batches).
  std::vector<int64_t> batch(int64_t step, int64_t batch_size) {
    const int64_t per_epoch = n_ / batch_size;
    const int64_t epoch = step / per_epoch, pos = step % per_epoch;
    if (epoch != epoch_) {
      order_ = shuffled_indices(n_, derive_seed(seed_, stream_ + std::to_string(epoch)));
      epoch_ = epoch;
    }
    return {order_.begin() + pos * batch_size, order_.begin() + (pos + 1) * batch_size};
  }

 private:
  int64_t n_;
  uint64_t seed_;
  std::string stream_;
  int64_t epoch_ = -1;
  std::vector<int64_t> order_;
};

class DatasetSource final : public GanDataSource {
 public:
  // `labelled`: y always set (-1 where unknown); otherwise only when the data set has classes.
  DatasetSource(std::shared_ptr<Dataset> data, std::shared_ptr<Dataset> source, bool unpaired, int64_t channels,
                int64_t height, int64_t width, int64_t source_channels, bool labelled, uint64_t seed,
                c10::Device device)
      : data_(std::move(data)), source_(std::move(source)), unpaired_(unpaired), labelled_(labelled),
        channels_(channels), height_(height), width_(width), source_channels_(source_channels), device_(device),
        order_(data_->size(), seed, "epoch-"), source_order_(source_ ? source_->size() : 1, seed, "source-epoch-") {
    if (source_ && !unpaired_ && source_->size() != data_->size()) {
      throw UsageError(source_->info().name + ": a paired source needs as many images as " + data_->info().name);
    }
  }
  GanBatch batch(int64_t step, int64_t batch_size) override {
    check_size(*data_, batch_size);
    std::vector<int64_t> idx = order_.batch(step, batch_size);
    Batch b = data_->get(idx);
    GanBatch out;
    out.x = fit_batch(b.images, channels_, height_, width_).to(device_);
    if (labelled_ || data_->info().num_classes > 0) out.y = b.labels.to(device_);
    if (source_) {
      if (unpaired_) {
        check_size(*source_, batch_size);
        idx = source_order_.batch(step, batch_size);
      }
      out.a = fit_batch(source_->get(idx).images, source_channels_, height_, width_).to(device_);
    }
    return out;
  }
  std::string name() const override { return data_->info().name; }

 private:
  static void check_size(const Dataset& d, int64_t batch_size) {
    if (d.size() < batch_size) {
      throw UsageError(d.info().name + ": " + std::to_string(d.size()) + " images are fewer than the batch size " +
                       std::to_string(batch_size));
    }
  }
  std::shared_ptr<Dataset> data_, source_;
  bool unpaired_, labelled_;
  int64_t channels_, height_, width_, source_channels_;
  c10::Device device_;
  EpochOrder order_, source_order_;
};

class ToySource final : public GanDataSource {
 public:
  ToySource(const std::string& mixture, uint64_t seed, c10::Device device)
      : mixture_(toy_mixture(mixture)), seed_(seed), device_(device) {}
  GanBatch batch(int64_t step, int64_t batch_size) override {
    at::Generator gen = make_generator(derive_seed(seed_, "toy-" + std::to_string(step)));
    GanBatch out;
    out.x = sample_mixture(mixture_, batch_size, gen).to(device_);
    return out;
  }
  std::string name() const override { return "toy:" + mixture_.name; }

 private:
  ToyMixture mixture_;
  uint64_t seed_;
  c10::Device device_;
};

// The L2 norm of all gradients of `nets`, read back with one synchronisation.
double grad_norm(const std::vector<NamedNet>& nets) {
  std::vector<at::Tensor> squares;
  for (const auto& [name, net] : nets) {
    for (const auto& p : net->parameters()) {
      if (p.grad().defined()) squares.push_back(p.grad().pow(2).sum());
    }
  }
  return squares.empty() ? 0.0 : std::sqrt(torch::stack(squares).sum().item<double>());
}

std::vector<at::Tensor> parameters_of(const std::vector<NamedNet>& nets) {
  std::vector<at::Tensor> params;
  for (const auto& [name, net] : nets) {
    for (const auto& p : net->parameters()) params.push_back(p);
  }
  return params;
}

void set_training(const std::vector<NamedNet>& nets, bool on) {
  for (const auto& [name, net] : nets) net->train(on);
}

}  // namespace

std::unique_ptr<GanDataSource> dataset_source(std::shared_ptr<Dataset> data, std::shared_ptr<Dataset> source,
                                              bool unpaired, int64_t channels, int64_t size,
                                              int64_t source_channels, uint64_t seed, c10::Device device) {
  return std::make_unique<DatasetSource>(std::move(data), std::move(source), unpaired, channels, size, size,
                                         source_channels, /*labelled=*/false, seed, device);
}

std::unique_ptr<GanDataSource> labelled_source(std::shared_ptr<Dataset> data, int64_t channels, int64_t height,
                                               int64_t width, uint64_t seed, c10::Device device) {
  return std::make_unique<DatasetSource>(std::move(data), nullptr, false, channels, height, width, channels,
                                         /*labelled=*/true, seed, device);
}

std::unique_ptr<GanDataSource> toy_source(const std::string& mixture, uint64_t seed, c10::Device device) {
  return std::make_unique<ToySource>(mixture, seed, device);
}

nlohmann::json GanStepMetrics::to_json() const {
  nlohmann::json j = {{"step", step},         {"d_loss", d_loss},         {"g_loss", g_loss},
                      {"d_real", d_real},     {"d_fake", d_fake},         {"g_grad_norm", g_grad_norm},
                      {"d_grad_norm", d_grad_norm}, {"images_per_second", images_per_second}};
  if (gp > 0) j["gp"] = gp;
  for (const auto& [name, value] : terms) j[name] = value;
  return j;
}

nlohmann::json GanModel::config_json() const { return config().to_json(); }

bool GanModel::resumable_field(const std::string& key) const {
  return key == "steps" || key == "log_every" || key == "sample_every" || key == "checkpoint_every";
}

// ---- the loop -------------------------------------------------------------------------------

struct GanTrainer::Optimizers {
  std::unique_ptr<torch::optim::Adam> g, d;
};

GanTrainer::GanTrainer(GanConfig config, GanDataSource& data, c10::Device device)
    : GanTrainer(make_gan_model(std::move(config), device), data, device) {}

GanTrainer::GanTrainer(std::unique_ptr<GanModel> model, GanDataSource& data, c10::Device device)
    : model_(std::move(model)),
      data_(data),
      device_(device),
      opt_(std::make_unique<Optimizers>()),
      gen_(make_generator(derive_seed(model_->config().seed, "gan-train"))) {
  const GanConfig& c = model_->config();
  opt_->g = std::make_unique<torch::optim::Adam>(
      parameters_of(model_->generators()), torch::optim::AdamOptions(c.lr_g).betas({c.beta1, c.beta2}));
  opt_->d = std::make_unique<torch::optim::Adam>(
      parameters_of(model_->discriminators()), torch::optim::AdamOptions(c.lr_d).betas({c.beta1, c.beta2}));
  fixed_ = data_.batch(0, std::min<int64_t>(64, c.batch_size));
}

GanTrainer::~GanTrainer() = default;

GanStepMetrics GanTrainer::train_step() {
  const GanConfig& c = model_->config();
  const GanLoss loss = parse_gan_loss(c.loss);
  const auto start = std::chrono::steady_clock::now();
  auto generators = model_->generators();
  auto discriminators = model_->discriminators();
  set_training(generators, true);
  set_training(discriminators, true);
  GanStepMetrics m;
  m.step = step_ + 1;
  // Gradient norms cost a pass over every parameter: only for the steps that are logged.
  const bool measure = m.step % c.log_every == 0 || m.step == c.steps;

  // (1) Discriminator: n_critic updates, each on a fresh real batch and fresh fakes. The last
  // one keeps the generators' graph, and the G step reuses its fakes (as DCGAN, pix2pix and
  // CycleGAN do; for n_critic > 1 this is Algorithm 1 of Gulrajani et al. with the G step's
  // noise equal to the last critic step's).
  GeneratorPass pass;
  for (int64_t i = 0; i < c.n_critic; ++i) {
    GanBatch batch = data_.batch(data_step_++, c.batch_size);
    if (i + 1 < c.n_critic) {
      torch::NoGradGuard no_grad;
      pass = model_->generate(batch, gen_);
    } else {
      pass = model_->generate(batch, gen_);
    }
    opt_->d->zero_grad();
    at::Tensor d_loss = torch::zeros({}, torch::TensorOptions().device(device_));
    at::Tensor gp = torch::zeros({}, torch::TensorOptions().device(device_));
    double real_sum = 0, fake_sum = 0;
    for (const AdversarialTerm& t : pass.adversarial) {
      at::Tensor fake = t.fake_for_d.defined() ? t.fake_for_d : t.fake.detach();
      at::Tensor r = model_->discriminate(t.discriminator, t.real, t.real_cond);
      at::Tensor f = model_->discriminate(t.discriminator, fake, t.fake_cond);
      d_loss = d_loss + discriminator_loss(loss, r, f);
      if (c.gp_weight > 0) {
        size_t k = t.discriminator;
        at::Tensor cond = t.real_cond;
        gp = gp + gradient_penalty([&](const at::Tensor& x) { return model_->discriminate(k, x, cond); },
                                   t.real, fake, gen_);
      }
      real_sum += r.mean().item<double>();
      fake_sum += f.mean().item<double>();
    }
    if (pass.adversarial.empty()) continue;  // nothing for D to learn this step
    at::Tensor total = d_loss + c.gp_weight * gp;
    m.d_loss = d_loss.item<double>();
    m.gp = gp.item<double>();
    if (!std::isfinite(m.d_loss) || !std::isfinite(m.gp)) {
      throw DivergedError("training diverged at step " + std::to_string(m.step) +
                          ": the discriminator loss is " + std::to_string(m.d_loss) + " (try a smaller --lr-d)");
    }
    total.backward();
    if (measure) m.d_grad_norm = grad_norm(discriminators);
    opt_->d->step();
    const double terms = static_cast<double>(std::max<size_t>(pass.adversarial.size(), 1));
    m.d_real = real_sum / terms;
    m.d_fake = fake_sum / terms;
  }

  // (2) Generator: the adversarial loss through every discriminator plus the model's own terms.
  opt_->g->zero_grad();
  at::Tensor g_adv = torch::zeros({}, torch::TensorOptions().device(device_));
  for (const AdversarialTerm& t : pass.adversarial) {
    g_adv = g_adv + generator_loss(loss, model_->discriminate(t.discriminator, t.fake, t.fake_cond));
  }
  m.g_adv = g_adv.item<double>();
  at::Tensor g_loss = c.adv_weight * g_adv;
  for (const auto& [name, value] : pass.losses) {
    g_loss = g_loss + value;
    m.terms[name] = value.item<double>();
  }
  m.g_loss = g_loss.item<double>();
  if (!std::isfinite(m.g_loss)) {
    throw DivergedError("training diverged at step " + std::to_string(m.step) + ": the generator loss is " +
                        std::to_string(m.g_loss) + " (try a smaller --lr-g)");
  }
  g_loss.backward();
  if (measure) m.g_grad_norm = grad_norm(generators);
  opt_->g->step();

  // (3) Generator EMA: a plain copy until ema_start, so early averages do not drag in the
  // random initialisation.
  auto emas = model_->ema_generators();
  for (size_t i = 0; i < emas.size(); ++i) {
    ema_update(*emas[i].second, *generators[i].second, step_ < c.ema_start ? 0.0 : c.ema_decay);
  }
  ++step_;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.images_per_second = static_cast<double>(c.batch_size * c.n_critic) / std::max(seconds, 1e-9);
  return m;
}

void GanTrainer::run(const GanTrainHooks& hooks, const std::string& checkpoint_dir) {
  const GanConfig& c = model_->config();
  Progress progress("train-gan", c.steps, "step");
  progress.advance(step_);
  while (step_ < c.steps) {
    GanStepMetrics m = train_step();
    const bool last = step_ == c.steps;
    if (hooks.on_metrics && (step_ % c.log_every == 0 || last)) hooks.on_metrics(m);
    char status[96];
    std::snprintf(status, sizeof(status), "D %.3f G %.3f", m.d_loss, m.g_loss);
    progress.advance(1, status);
    if (hooks.on_samples && ((c.sample_every > 0 && step_ % c.sample_every == 0) || last)) {
      at::Generator grid = make_generator(derive_seed(c.seed, "sample-grid"));
      hooks.on_samples(step_, model_->samples(fixed_, 64, grid));
    }
    if (!checkpoint_dir.empty() && ((c.checkpoint_every > 0 && step_ % c.checkpoint_every == 0) || last)) {
      save_checkpoint(checkpoint_dir);
      if (hooks.on_checkpoint) hooks.on_checkpoint(step_, checkpoint_dir);
    }
  }
  progress.finish();
}

// ---- checkpoints ----------------------------------------------------------------------------

namespace {

const char* kStateFile = "state.pt";
const char* kConfigFile = "config.json";

// The first field of `saved` (at any depth of nested objects) that differs from `current`,
// skipping those the model lets a resumed run change; throws naming it.
void check_resumable(const GanModel& model, const std::string& dir, const nlohmann::json& saved,
                     const nlohmann::json& current, const std::string& prefix = "") {
  for (const auto& [key, value] : saved.items()) {
    if (model.resumable_field(key)) continue;
    const nlohmann::json now = current.is_object() && current.contains(key) ? current.at(key) : nlohmann::json();
    if (value.is_object() && now.is_object()) {
      check_resumable(model, dir, value, now, prefix + key + ".");
    } else if (now != value) {
      throw UsageError(dir + ": checkpoint has " + prefix + key + " = " + value.dump() + " but this run has " +
                       now.dump());
    }
  }
}

// config.json of a checkpoint folder, as written (UsageError when there is none).
nlohmann::json read_config_json(const std::string& dir) {
  const fs::path path = fs::path(dir) / kConfigFile;
  std::ifstream in(path);
  if (!in) throw UsageError(dir + ": not a mirage GAN checkpoint (no " + kConfigFile + ")");
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception&) {
    throw InputError(path.string() + ": not valid JSON (truncated or corrupt checkpoint)");
  }
}

}  // namespace

void GanTrainer::save_checkpoint(const std::string& dir) {
  AtomicDirectory out(dir, /*overwrite=*/true);
  torch::serialize::OutputArchive archive;
  auto write_nets = [&](const std::string& group, const std::vector<NamedNet>& nets) {
    for (const auto& [name, net] : nets) {
      torch::serialize::OutputArchive sub;
      net->save(sub);
      archive.write(group + "_" + name, sub);
    }
  };
  write_nets("g", model_->generators());
  write_nets("d", model_->discriminators());
  write_nets("ema", model_->ema_generators());
  torch::serialize::OutputArchive og, od;
  opt_->g->save(og);
  opt_->d->save(od);
  archive.write("optim_g", og);
  archive.write("optim_d", od);
  archive.write("step", torch::tensor(step_));
  archive.write("data_step", torch::tensor(data_step_));
  archive.write("rng", gen_.get_state());
  // Dropout (pix2pix's U-Net) draws from LibTorch's global generator.
  archive.write("rng_global", at::detail::getDefaultCPUGenerator().get_state());
  archive.save_to((fs::path(out.staging()) / kStateFile).string());
  write_text_atomic((fs::path(out.staging()) / kConfigFile).string(), model_->config_json().dump(2) + "\n");
  model_->export_generators(out.staging());
  out.commit();
}

GanConfig read_checkpoint_config(const std::string& dir) {
  GanConfig config = GanConfig::from_json(read_config_json(dir), (fs::path(dir) / kConfigFile).string());
  config.finalize();
  return config;
}

std::shared_ptr<torch::nn::Module> load_checkpoint_discriminator(const std::string& dir, c10::Device device) {
  const GanConfig config = read_checkpoint_config(dir);
  if (config.arch != "dcgan") {
    throw UsageError(dir + ": a discriminator detector needs a dcgan checkpoint, this one is " + config.arch);
  }
  auto model = make_gan_model(config, device);
  auto d = model->discriminators().at(0).second;
  const std::string state = (fs::path(dir) / kStateFile).string();
  try {
    torch::serialize::InputArchive archive, sub;
    archive.load_from(state, device);
    archive.read("d_" + model->discriminators().at(0).first, sub);
    d->load(sub);
  } catch (const c10::Error& e) {
    throw InputError(state + ": cannot read the discriminator (" + one_line(e) + ")");
  }
  d->eval();
  return d;
}

std::string checkpoint_generator_path(const std::string& dir) {
  return (fs::path(dir) / "generator.pt").string();
}

void GanTrainer::resume(const std::string& dir) {
  check_resumable(*model_, dir, read_config_json(dir), model_->config_json());
  const std::string state = (fs::path(dir) / kStateFile).string();
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(state, device_);
  } catch (const c10::Error&) {
    throw InputError(state + ": cannot read the training state (missing, truncated or corrupt checkpoint)");
  }
  try {
    auto read_nets = [&](const std::string& group, const std::vector<NamedNet>& nets) {
      for (const auto& [name, net] : nets) {
        torch::serialize::InputArchive sub;
        archive.read(group + "_" + name, sub);
        net->load(sub);
      }
    };
    read_nets("g", model_->generators());
    read_nets("d", model_->discriminators());
    read_nets("ema", model_->ema_generators());
    torch::serialize::InputArchive og, od;
    archive.read("optim_g", og);
    archive.read("optim_d", od);
    opt_->g->load(og);
    opt_->d->load(od);
    // A fresh tensor per read: reading into a defined tensor resizes it in place.
    auto read = [&](const std::string& key) {
      at::Tensor t;
      archive.read(key, t);
      return t;
    };
    step_ = read("step").item<int64_t>();
    data_step_ = read("data_step").item<int64_t>();
    gen_.set_state(read("rng").to(torch::kCPU));
    at::Generator global = at::detail::getDefaultCPUGenerator();
    global.set_state(read("rng_global").to(torch::kCPU));
  } catch (const c10::Error& e) {
    throw InputError(state + ": does not match this model (" + one_line(e) + ")");
  }
  log_info("resumed from " + dir + " at step " + std::to_string(step_));
}

}  // namespace mirage

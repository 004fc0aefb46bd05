#include "reports/detector_training_run.h"

#include <torch/torch.h>

#include <cstdio>
#include <memory>
#include <set>

#include "detectors/adversarial_data.h"
#include "detectors/detector.h"
#include "detectors/evaluate.h"
#include "gan/trainer.h"
#include "lib/dataset.h"
#include "lib/error.h"
#include "lib/image/convert.h"
#include "lib/image/transforms.h"
#include "lib/image_tensor.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/runtime.h"
#include "reports/detector_inputs.h"

namespace mirage {
namespace {

// The training data of a run: fitted to the detector's input, with the report's sources list.
struct TrainingInputs {
  DetectorTrainData data;
  AdversarialDetectorData adversarial;  // adversarial kind only
  nlohmann::json sources;
};

// Opens the sources (config.gan, fakes, size and channels are completed from them), loads and
// splits the reals and adds the fakes: a GAN's or image data's, or the adversarial examples.
TrainingInputs load_training_inputs(DetectorTrainingConfig& c, uint64_t seed, c10::Device device) {
  if (c.kind == "discriminator" && c.gan.empty()) {
    if (c.fakes.size() != 1) throw UsageError("--kind discriminator needs --gan CHECKPOINT (or exactly one GAN --fake)");
    c.gan = c.fakes[0].substr(c.fakes[0].find('=') == std::string::npos ? 0 : c.fakes[0].find('=') + 1);
  }
  if (c.kind == "discriminator" && c.fakes.empty()) c.fakes.push_back(c.gan);
  std::vector<ImageSource> fake_sources;
  for (const auto& f : c.fakes) fake_sources.push_back(open_image_source(f, c.channels, c.size, c.resize, device));
  if (c.size == 0) {
    for (const auto& s : fake_sources) {
      if (s.is_gan() && c.size == 0) c.size = source_size(s);
    }
  }
  ImageSource real_source = open_image_source(c.real, c.channels, c.size, c.resize, device);
  if (real_source.is_gan()) throw UsageError("--real must be image data, not a GAN");
  if (c.size == 0) c.size = source_size(real_source);
  if (c.size == 0) throw UsageError("--size is required: the real images are not square");
  if (c.channels == 0) c.channels = source_channels(real_source);

  SourceImages reals = load_source(real_source, c.limit, derive_seed(seed, "real-sample"), c.channels, c.size);
  const int64_t n_real = reals.images.size(0);
  auto [train_idx, val_idx] = split_indices(n_real, c.val_fraction, derive_seed(seed, "split"));
  if (train_idx.empty() || val_idx.empty()) throw UsageError("too few real images (" + std::to_string(n_real) + ") for a train/validation split");
  TrainingInputs in;
  in.data.real_train = select_rows(reals.images, train_idx);
  in.data.real_val = select_rows(reals.images, val_idx);
  const int64_t per_source = c.fake_count > 0 ? c.fake_count : n_real;
  if (c.kind == "adversarial") {
    auto classifier = TorchScriptModel::load(c.model, device);
    in.adversarial = attack_for_detector(*classifier, reals.images, reals.labels, train_idx, val_idx, c.attacks, seed, device);
    in.data.fake_train = in.adversarial.fake_train;
    in.data.fake_val = in.adversarial.fake_val;
    in.sources = in.adversarial.sources;
  } else {
    in.sources = add_training_fakes(fake_sources, static_cast<int64_t>(val_idx.size()), per_source, c.fake_count, c.limit,
                                    c.val_fraction, /*on_the_fly=*/c.kind != "ensemble", seed, c.channels, c.size, in.data);
  }
  const DetectorTrainData& data = in.data;
  log_info("detector " + c.kind + " on " + std::to_string(c.size) + "x" + std::to_string(c.size) + "x" + std::to_string(c.channels) +
           ": " + std::to_string(data.real_train.size(0)) + " real training images, " +
           (data.fake_train.defined() ? std::to_string(data.fake_train.size(0)) + " fake" : std::string("fakes drawn per batch")) +
           "; validation " + std::to_string(data.real_val.size(0)) + " real / " + std::to_string(data.fake_val.size(0)) + " fake");
  return in;
}

// Nothing is trained: the threshold (info.threshold) is chosen on the ensemble's p_fake over the
// validation split, reals labelled 0 and fakes 1. Returns the validation metrics.
nlohmann::json threshold_ensemble(Detector& ensemble, const DetectorTrainData& data, const std::string& rule,
                                  DetectorInfo& info) {
  DetectorScores scores;
  scores.p_fake = score_images(ensemble, data.real_val);
  scores.label.assign(scores.p_fake.size(), 0);
  auto pf = score_images(ensemble, data.fake_val);
  scores.p_fake.insert(scores.p_fake.end(), pf.begin(), pf.end());
  scores.label.resize(scores.p_fake.size(), 1);
  info.threshold = choose_threshold(scores.p_fake, scores.label, rule);
  const auto m = detection_metrics(scores, info.threshold);
  nlohmann::json validation = m.to_json();
  validation["threshold"] = info.threshold;
  validation["threshold_rule"] = rule;
  return validation;
}

// The net to train: the GAN's discriminator (which must take the data's shape), or a new one.
std::shared_ptr<DetectorNetImpl> make_net(const DetectorTrainingConfig& c, c10::Device device) {
  if (c.kind != "discriminator") return std::make_shared<DetectorNetImpl>(c.net);
  auto d = std::dynamic_pointer_cast<DcganDiscriminatorImpl>(load_checkpoint_discriminator(c.gan, device));
  if (!d) throw UsageError(c.gan + ": its discriminator is not a DCGAN discriminator");
  auto net = std::make_shared<DetectorNetImpl>(c.net, DcganDiscriminator(d));
  if (net->options().size != c.size || net->options().channels != c.channels) {
    throw UsageError(c.gan + ": its discriminator takes " + std::to_string(net->options().size) + " px, " +
                     std::to_string(net->options().channels) + "-channel images; the data is " + std::to_string(c.size) +
                     " px, " + std::to_string(c.channels) + "-channel");
  }
  return net;
}

}  // namespace

namespace {

// epochs, lr and weight decay left at -1: the kind's defaults.
void apply_kind_defaults(const std::string& kind, DetectorTrainOptions& t) {
  if (t.epochs < 0) t.epochs = kind == "discriminator" || kind == "ensemble" ? 0 : 5;
  if (t.lr < 0) t.lr = kind == "spectral" ? 1e-2 : 2e-4;
  if (t.weight_decay < 0) t.weight_decay = kind == "spectral" ? 1e-3 : 0;
}

}  // namespace

void check_detector_training_config(const DetectorTrainingConfig& c) {
  static const std::set<std::string> kinds{"cnn", "spectral", "discriminator", "adversarial", "ensemble"};
  if (!kinds.count(c.kind)) throw UsageError("--kind must be cnn, spectral, discriminator, adversarial or ensemble, got '" + c.kind + "'");
  if (!(c.val_fraction > 0 && c.val_fraction < 1)) throw UsageError("--val-fraction must be in (0, 1)");
  if (c.limit < 0 || c.fake_count < 0) throw UsageError("--limit and --fake-count must be >= 0");
  DetectorTrainOptions t = c.train;  // as the run will use it
  apply_kind_defaults(c.kind, t);
  t.threshold = c.threshold;
  t.check();
  if (c.kind == "adversarial" && (c.model.empty() || c.attacks.empty())) throw UsageError("--kind adversarial needs --model and at least one --attack");
  if (c.kind != "adversarial" && (!c.attacks.empty() || !c.model.empty())) throw UsageError("--model/--attack apply to --kind adversarial only");
  for (const auto& a : c.attacks) make_attack(a.name, a.params);  // unknown names and keys refused before any work
  if (c.kind == "ensemble" && c.members.empty()) throw UsageError("--kind ensemble needs --members A.pt,B.pt");
  if (c.kind != "adversarial" && c.fakes.empty() && !(c.kind == "discriminator" && !c.gan.empty())) {
    throw UsageError("--fake is required (image data or a GAN checkpoint)");
  }
  parse_resize_policy(c.resize);
}

DetectorTrainingResult train_detector_run(DetectorTrainingConfig config, const std::string& out, uint64_t seed,
                                          c10::Device device) {
  check_detector_training_config(config);
  DetectorTrainingConfig& c = config;
  const std::string& kind = c.kind;
  DetectorTrainOptions& train = c.train;
  c.net.kind = kind;
  apply_kind_defaults(kind, train);
  train.threshold = c.threshold;
  train.seed = seed;
  train.codec = opencv_codec();

  TrainingInputs in = load_training_inputs(c, seed, device);
  const DetectorTrainData& data = in.data;
  c.net.channels = c.channels;
  c.net.size = c.size;

  DetectorInfo info;
  info.kind = kind;
  info.threshold_rule = c.threshold;
  info.input_policy = c.resize;
  nlohmann::json history = nlohmann::json::array();
  nlohmann::json validation;
  if (kind == "ensemble") {
    const std::vector<std::string> members = split_list(c.members);
    auto ensemble = load_ensemble(members, info, device);
    if (ensemble->spec().channels != c.channels || ensemble->spec().height != c.size) {
      throw UsageError("--members take " + std::to_string(ensemble->spec().height) + " px images, the data " + std::to_string(c.size));
    }
    validation = threshold_ensemble(*ensemble, data, c.threshold, info);
    info.validation = validation;
    info.training = {{"members", members}, {"real", c.real}, {"fakes", in.sources}};
    export_ensemble(members, info, out);
  } else {
    std::shared_ptr<DetectorNetImpl> net = make_net(c, device);
    auto result = train_detector(*net, data, train, device, [&](const DetectorEpoch& e) {
      char line[200];
      std::snprintf(line, sizeof(line), "epoch %lld: loss %.4f, train accuracy %.4f, validation AUC %.4f, %.0f img/s",
                    static_cast<long long>(e.epoch), e.loss, e.train_accuracy, e.val_auc, e.images_per_second);
      log_info(line);
      history.push_back(e.to_json());
    });
    validation = result.validation;
    info.threshold = result.threshold;
    info.validation = validation;
    info.training = {{"real", c.real},
                     {"fakes", in.sources},
                     {"n_train_real", data.real_train.size(0)},
                     {"best_epoch", result.best_epoch},
                     {"stopped_early", result.stopped_early},
                     {"options", train.to_json()},
                     {"net", {{"width", c.net.width}, {"features", c.net.features}, {"hidden", c.net.hidden}}}};
    net->to(torch::kCPU);
    if (kind == "adversarial") {
      // Detection rate per attack on its validation adversarials, at the chosen threshold.
      auto det = as_detector(net, info, torch::kCPU);
      add_detection_rates(*det, in.adversarial);
      validation["per_attack"] = in.adversarial.per_attack;
      info.validation = validation;
    }
    export_detector(*net, info, out);
  }
  char line[200];
  std::snprintf(line, sizeof(line), "validation AUC %.4f, threshold %.4f (%s): TPR %.4f at FPR %.4f",
                validation.value("auc", 0.0), info.threshold, c.threshold.c_str(), validation.value("tpr", 0.0),
                validation.value("fpr", 0.0));
  log_info(line);

  DetectorTrainingResult r;
  r.spec = detector_spec(c.channels, c.size, info);
  r.report = {{"kind", kind},
              {"config", {{"real", c.real}, {"fakes", c.fakes}, {"limit", c.limit}, {"fake_count", c.fake_count},
                          {"val_fraction", c.val_fraction}, {"threshold", c.threshold}, {"resize", c.resize},
                          {"train", train.to_json()}, {"net", info.training.value("net", nlohmann::json())}}},
              {"data", {{"n_train_real", data.real_train.size(0)},
                        {"n_train_fake", data.fake_train.defined() ? nlohmann::json(data.fake_train.size(0)) : nlohmann::json("per batch")},
                        {"n_val_real", data.real_val.size(0)}, {"n_val_fake", data.fake_val.size(0)}, {"sources", in.sources}}},
              {"history", history},
              {"validation", validation},
              {"threshold", info.threshold}};
  return r;
}

}  // namespace mirage

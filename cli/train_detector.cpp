// mirage train-detector — a real-vs-fake (or clean-vs-adversarial) detector, trained, calibrated
// and saved as TorchScript with its threshold (detectors/train.h does the work).
#include <torch/torch.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "attacks/attack.h"
#include "cli/common.h"
#include "cli/detector_data.h"
#include "detectors/detector.h"
#include "detectors/detector_net.h"
#include "detectors/evaluate.h"
#include "detectors/train.h"
#include "gan/trainer.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/image/open_data.h"
#include "lib/image/transforms.h"
#include "lib/image_tensor.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/parse.h"

namespace mirage::cli {
namespace {

std::pair<double, double> parse_range(const std::string& text, const std::string& flag) {
  const auto comma = text.find(',');
  if (comma == std::string::npos) throw UsageError(flag + ": expected MIN,MAX, got '" + text + "'");
  try {
    return {std::stod(text.substr(0, comma)), std::stod(text.substr(comma + 1))};
  } catch (const std::exception&) {
    throw UsageError(flag + ": expected two numbers MIN,MAX, got '" + text + "'");
  }
}

// "pgd:eps=8/255,steps=10" -> ("pgd", {"eps": "8/255", "steps": "10"}).
std::pair<std::string, nlohmann::json> parse_attack_spec(const std::string& spec) {
  const auto colon = spec.find(':');
  std::string name = spec.substr(0, colon);
  nlohmann::json params = nlohmann::json::object();
  if (colon != std::string::npos) {
    std::stringstream rest(spec.substr(colon + 1));
    std::string pair;
    while (std::getline(rest, pair, ',')) {
      const auto eq = pair.find('=');
      if (eq == std::string::npos || eq == 0) throw UsageError("--attack '" + spec + "': expected NAME[:key=value,...]");
      params[pair.substr(0, eq)] = pair.substr(eq + 1);
    }
  }
  return {name, params};
}

at::Tensor select_rows(const at::Tensor& t, const std::vector<int64_t>& idx) {
  return t.index_select(0, torch::tensor(idx, torch::kInt64));
}

}  // namespace

int train_detector_main(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string adv_eps, kind, real, out, report, resize, threshold, blur_sigma, jpeg_quality, gan, model_path, members_list;
  std::vector<std::string> fakes, attacks;
  int64_t limit = 0, fake_count = 0, size = 0, channels = 0;
  double val_fraction = 0.2;
  DetectorTrainOptions train;
  DetectorNetOptions net_options;
  po::options_description options("options");
  options.add_options()
    ("kind,k", po::value(&kind)->default_value("cnn"), "cnn | spectral | discriminator | adversarial | ensemble")
    ("real", po::value(&real)->default_value("fashion-mnist:train"), "real images (data spec)")
    ("fake", po::value(&fakes)->composing(), "[name=]fake images: a data spec, a GAN checkpoint folder or generator .pt (sampled on the fly); repeatable")
    ("gan", po::value(&gan), "discriminator kind: the GAN checkpoint whose discriminator becomes the detector (default: the one GAN --fake)")
    ("model,m", po::value(&model_path), "adversarial kind: the classifier whose adversarial examples are the 'fakes'")
    ("attack,a", po::value(&attacks)->composing(), "adversarial kind: NAME[:key=value,...] (e.g. pgd:eps=8/255), repeatable")
    ("members", po::value(&members_list), "ensemble kind: comma-separated detector files whose calibrated p_fake are averaged")
    ("out,o", po::value(&out), "where to write the detector (.pt)")
    ("report", po::value(&report), "training report JSON (default: <out>.json)")
    ("limit", po::value(&limit)->default_value(0), "use N real images (a seeded sample; 0 = all), and as many fakes per image source")
    ("fake-count", po::value(&fake_count)->default_value(0), "fakes per GAN source for validation / fixed sets (default: as many as real images)")
    ("val-fraction", po::value(&val_fraction)->default_value(0.2), "held out for early stopping, calibration and the threshold")
    ("threshold", po::value(&threshold)->default_value("eer"), "threshold rule on validation: eer, or fpr:F (flag at most F of the reals)")
    ("epochs", po::value(&train.epochs)->default_value(-1), "passes over the real training images (default 5; discriminator: 0 = calibrate only)")
    ("batch-size", po::value(&train.batch_size)->default_value(64), "images per step, half real and half fake")
    ("lr", po::value(&train.lr)->default_value(-1), "Adam learning rate (default 2e-4; spectral 1e-2)")
    ("weight-decay", po::value(&train.weight_decay)->default_value(-1), "L2 weight decay (default 0; spectral 1e-3)")
    ("patience", po::value(&train.patience)->default_value(3), "stop after this many epochs without a better validation AUC")
    ("width", po::value(&net_options.width)->default_value(32), "cnn/adversarial: feature maps of the first block")
    ("features", po::value(&net_options.features)->default_value("radial+dct"), "spectral: radial | dct | radial+dct")
    ("hidden", po::value(&net_options.hidden)->default_value(0), "spectral: hidden units (0 = logistic regression)")
    ("blur-prob", po::value(&train.blur_prob)->default_value(0.1), "probability of a Gaussian blur per training image")
    ("blur-sigma", po::value(&blur_sigma)->default_value("0.1,1.5"), "blur sigma range in pixels MIN,MAX")
    ("jpeg-prob", po::value(&train.jpeg_prob)->default_value(0.1), "probability of JPEG re-compression per training image")
    ("jpeg-quality", po::value(&jpeg_quality)->default_value("30,100"), "JPEG quality range MIN,MAX")
    ("adv-eps", po::value(&adv_eps)->default_value("0"), "adversarial training: PGD-Linf radius on the detector's input (e.g. 4/255; 0 = off)")
    ("adv-steps", po::value(&train.adv_steps)->default_value(5), "adversarial training: PGD steps")
    ("size", po::value(&size)->default_value(0), "detector input height = width (default: the data's or the GAN's)")
    ("in-channels", po::value(&channels)->default_value(0), "detector input channels, 1 or 3 (default: the real data's)")
    ("resize", po::value(&resize)->default_value("crop"), "how other-sized images are fitted: crop or stretch (stored in the detector)");
  add_common_options(options, common);
  po::variables_map vm;
  if (!parse_command("train-detector", "--kind KIND --real DATA --fake SOURCE... --out DETECTOR.pt [options]",
                     "Trains a detector that tells real images from fakes (or clean inputs from adversarial\n"
                     "ones), picks the best epoch by validation AUC, calibrates it (Platt scaling) and chooses\n"
                     "its threshold on the validation split, then saves it as TorchScript: forward(x) gives\n"
                     "logits over (real, fake), p_fake(x) the probability; 'mirage score' and PyTorch load it.\n"
                     "Kinds: cnn (DCGAN-discriminator CNN, CNNDetection's blur+JPEG augmentation), spectral\n"
                     "(log spectrum / DCT + logistic regression), discriminator (a trained GAN's D, calibrated),\n"
                     "adversarial (a CNN on clean vs --attack outputs against --model), ensemble (--members).",
                     "  mirage train-detector --kind cnn --fake runs/gan --limit 10000 --out det.pt\n"
                     "  mirage train-detector --kind spectral --fake fakes/ --threshold fpr:0.01 --out spec.pt\n"
                     "  mirage train-detector --kind discriminator --gan runs/gan --out d.pt\n"
                     "  mirage train-detector --kind adversarial --model fmnist.pt -a pgd:eps=8/255 -a fgsm:eps=4/255 --limit 2000 --out adv.pt\n"
                     "  mirage train-detector --kind ensemble --members det.pt,spec.pt --fake runs/gan --out ens.pt\n",
                     args, options, {}, vm, describe_data_specs())) {
    return kExitOk;
  }
  static const std::set<std::string> kinds{"cnn", "spectral", "discriminator", "adversarial", "ensemble"};
  if (!kinds.count(kind)) throw UsageError("--kind must be cnn, spectral, discriminator, adversarial or ensemble, got '" + kind + "'");
  if (out.empty()) throw UsageError("--out is required");
  if (!(val_fraction > 0 && val_fraction < 1)) throw UsageError("--val-fraction must be in (0, 1)");
  if (limit < 0 || fake_count < 0) throw UsageError("--limit and --fake-count must be >= 0");
  check_threshold_rule(threshold);
  train.threshold = threshold;
  std::tie(train.blur_sigma_min, train.blur_sigma_max) = parse_range(blur_sigma, "--blur-sigma");
  const auto [q_lo, q_hi] = parse_range(jpeg_quality, "--jpeg-quality");
  train.jpeg_quality_min = static_cast<int64_t>(q_lo);
  train.jpeg_quality_max = static_cast<int64_t>(q_hi);
  if (train.jpeg_quality_min < 1 || train.jpeg_quality_max > 100 || train.jpeg_quality_min > train.jpeg_quality_max) {
    throw UsageError("--jpeg-quality must be MIN,MAX with 1 <= MIN <= MAX <= 100");
  }
  if (train.blur_sigma_min < 0 || train.blur_sigma_min > train.blur_sigma_max) throw UsageError("--blur-sigma must be MIN,MAX with 0 <= MIN <= MAX");
  for (double p : {train.blur_prob, train.jpeg_prob}) {
    if (!(p >= 0 && p <= 1)) throw UsageError("--blur-prob and --jpeg-prob must be in [0, 1]");
  }
  train.adv_eps = parse_number(adv_eps, "--adv-eps");
  if (!(train.adv_eps >= 0 && train.adv_eps < 1)) throw UsageError("--adv-eps must be in [0, 1)");
  if (kind == "adversarial" && (model_path.empty() || attacks.empty())) throw UsageError("--kind adversarial needs --model and at least one --attack");
  if (kind != "adversarial" && (!attacks.empty() || !model_path.empty())) throw UsageError("--model/--attack apply to --kind adversarial only");
  if (kind == "ensemble" && members_list.empty()) throw UsageError("--kind ensemble needs --members A.pt,B.pt");
  if (kind != "adversarial" && fakes.empty() && !(kind == "discriminator" && !gan.empty())) throw UsageError("--fake is required (image data or a GAN checkpoint)");
  net_options.kind = kind;
  if (train.epochs < 0) train.epochs = kind == "discriminator" || kind == "ensemble" ? 0 : 5;
  if (train.lr < 0) train.lr = kind == "spectral" ? 1e-2 : 2e-4;
  if (train.weight_decay < 0) train.weight_decay = kind == "spectral" ? 1e-3 : 0;
  if (report.empty()) report = std::filesystem::path(out).replace_extension(".json").string();
  if (report == out) throw UsageError("--report must differ from --out");
  check_output_path(out);
  check_output_path(report);
  parse_resize_policy(resize);
  Runtime runtime = start_runtime(common);
  train.seed = runtime.seed;
  train.codec = opencv_codec();
  const std::string started = utc_now();

  // ---- sources and the input shape ----
  if (kind == "discriminator" && gan.empty()) {
    if (fakes.size() != 1) throw UsageError("--kind discriminator needs --gan CHECKPOINT (or exactly one GAN --fake)");
    gan = fakes[0].substr(fakes[0].find('=') == std::string::npos ? 0 : fakes[0].find('=') + 1);
  }
  if (kind == "discriminator" && fakes.empty()) fakes.push_back(gan);
  std::vector<ImageSource> fake_sources;
  for (const auto& f : fakes) fake_sources.push_back(open_image_source(f, channels, size, resize, runtime.device));
  if (size == 0) {
    for (const auto& s : fake_sources) {
      if (s.is_gan() && size == 0) size = source_size(s);
    }
  }
  ImageSource real_source = open_image_source(real, channels, size, resize, runtime.device);
  if (real_source.is_gan()) throw UsageError("--real must be image data, not a GAN");
  if (size == 0) size = source_size(real_source);
  if (size == 0) throw UsageError("--size is required: the real images are not square");
  if (channels == 0) channels = source_channels(real_source);
  net_options.channels = channels;
  net_options.size = size;

  // ---- reals, split ----
  SourceImages reals = load_source(real_source, limit, derive_seed(runtime.seed, "real-sample"), channels, size);
  const int64_t n_real = reals.images.size(0);
  auto [train_idx, val_idx] = split_indices(n_real, val_fraction, derive_seed(runtime.seed, "split"));
  if (train_idx.empty() || val_idx.empty()) throw UsageError("too few real images (" + std::to_string(n_real) + ") for a train/validation split");
  DetectorTrainData data;
  data.real_train = select_rows(reals.images, train_idx);
  data.real_val = select_rows(reals.images, val_idx);
  const int64_t per_source = fake_count > 0 ? fake_count : n_real;
  nlohmann::json sources_json = nlohmann::json::array();
  nlohmann::json per_attack = nlohmann::json::object();

  if (kind == "adversarial") {
    // Metzen et al.: the detector sees each image clean and attacked; the split is by image.
    auto classifier = open_model(model_path, SpecFlags{}, runtime.device);
    if (reals.labels.min().item<int64_t>() < 0) throw UsageError("--kind adversarial needs labelled --real data");
    std::vector<at::Tensor> adv_train, adv_val;
    for (const auto& spec : attacks) {
      auto [name, params] = parse_attack_spec(spec);
      auto attack = make_attack(name, params);
      attack->set_seed(derive_seed(runtime.seed, "attack-" + spec));
      std::vector<at::Tensor> adv;
      std::vector<int64_t> success;
      Progress progress("attack " + spec, n_real);
      for (int64_t start = 0; start < n_real; start += 256) {
        const auto x = reals.images.slice(0, start, std::min(n_real, start + 256)).to(runtime.device);
        const auto y = reals.labels.slice(0, start, std::min(n_real, start + 256)).to(runtime.device);
        auto r = attack->run(*classifier, fit_batch(x, classifier->spec().channels, classifier->spec().height, classifier->spec().width), y, Goal::untargeted());
        adv.push_back(fit_batch(r.adversarial, channels, size, size).to(torch::kCPU));
        const auto s = r.success.to(torch::kCPU, torch::kInt64);
        success.insert(success.end(), s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + s.numel());
        progress.advance(x.size(0));
      }
      progress.finish();
      const auto all = torch::cat(adv);
      adv_train.push_back(select_rows(all, train_idx));
      adv_val.push_back(select_rows(all, val_idx));
      int64_t val_success = 0;
      for (auto i : val_idx) val_success += success[static_cast<size_t>(i)];
      per_attack[spec] = {{"attack", name}, {"params", params}, {"n_val", val_idx.size()},
                          {"attack_success_rate_val", static_cast<double>(val_success) / static_cast<double>(val_idx.size())}};
      sources_json.push_back({{"name", spec}, {"kind", "attack"}, {"n", n_real}});
    }
    data.fake_train = torch::cat(adv_train);
    data.fake_val = torch::cat(adv_val);
  } else {
    std::vector<at::Tensor> fake_train, fake_val;
    const bool all_gans = std::all_of(fake_sources.begin(), fake_sources.end(), [](const ImageSource& s) { return s.is_gan(); });
    const int64_t n_val_fakes = std::max<int64_t>(1, static_cast<int64_t>(val_idx.size()) / static_cast<int64_t>(fake_sources.size()));
    for (size_t k = 0; k < fake_sources.size(); ++k) {
      ImageSource& s = fake_sources[k];
      if (s.is_gan()) {
        // Validation fakes are fixed (a seed of their own); training fakes are drawn per batch
        // when every source is a GAN, else a fixed set like the image sources.
        fake_val.push_back(sample_source(s, fake_count > 0 ? std::max<int64_t>(1, static_cast<int64_t>(fake_count * val_fraction)) : n_val_fakes,
                                         derive_seed(runtime.seed, "val-fakes-" + std::to_string(k)), channels, size).images);
        if (!all_gans) fake_train.push_back(sample_source(s, per_source, derive_seed(runtime.seed, "train-fakes-" + std::to_string(k)), channels, size).images);
        sources_json.push_back({{"name", s.name}, {"kind", "gan"}, {"path", s.spec}, {"arch", s.generator->arch()},
                                {"on_the_fly", all_gans}});
      } else {
        SourceImages f = load_source(s, limit, derive_seed(runtime.seed, "fake-sample-" + std::to_string(k)), channels, size);
        auto [ti, vi] = split_indices(f.images.size(0), val_fraction, derive_seed(runtime.seed, "split-" + std::to_string(k)));
        if (ti.empty() || vi.empty()) throw UsageError(s.spec + ": too few images for a train/validation split");
        fake_train.push_back(select_rows(f.images, ti));
        fake_val.push_back(select_rows(f.images, vi));
        sources_json.push_back({{"name", s.name}, {"kind", "images"}, {"spec", s.spec}, {"n", f.images.size(0)}});
      }
    }
    if (!fake_train.empty()) data.fake_train = torch::cat(fake_train);
    data.fake_val = torch::cat(fake_val);
    if (all_gans && kind != "ensemble") {
      auto gans = std::make_shared<std::vector<ImageSource>>(fake_sources);
      data.sample_fakes = [gans, channels = channels, size = size](int64_t n, uint64_t seed) {
        // Round-robin over the GANs, n split as evenly as possible.
        std::vector<at::Tensor> parts;
        const auto m = static_cast<int64_t>(gans->size());
        for (int64_t k = 0; k < m; ++k) {
          const int64_t share = n / m + (k < n % m ? 1 : 0);
          if (share > 0) parts.push_back(sample_source((*gans)[static_cast<size_t>(k)], share, derive_seed(seed, std::to_string(k)), channels, size).images);
        }
        return torch::cat(parts);
      };
    }
  }
  log_info("detector " + kind + " on " + std::to_string(size) + "x" + std::to_string(size) + "x" + std::to_string(channels) +
           ": " + std::to_string(data.real_train.size(0)) + " real training images, " +
           (data.fake_train.defined() ? std::to_string(data.fake_train.size(0)) + " fake" : std::string("fakes drawn per batch")) +
           "; validation " + std::to_string(data.real_val.size(0)) + " real / " + std::to_string(data.fake_val.size(0)) + " fake");

  DetectorInfo info;
  info.kind = kind;
  info.threshold_rule = threshold;
  info.input_policy = resize;
  nlohmann::json history = nlohmann::json::array();
  nlohmann::json validation;
  if (kind == "ensemble") {
    std::vector<std::string> members;
    std::stringstream list(members_list);
    for (std::string m; std::getline(list, m, ',');) {
      if (!m.empty()) members.push_back(m);
    }
    // Threshold on the members' mean over the validation split (nothing is trained).
    const std::string staging = out + ".members.tmp";
    DetectorInfo provisional = info;
    export_ensemble(members, provisional, staging);
    auto ensemble = load_detector(staging, runtime.device);
    std::filesystem::remove(staging);
    if (ensemble->spec().channels != channels || ensemble->spec().height != size) {
      throw UsageError("--members take " + std::to_string(ensemble->spec().height) + " px images, the data " + std::to_string(size));
    }
    DetectorScores scores;
    scores.p_fake = score_images(*ensemble, data.real_val);
    scores.label.assign(scores.p_fake.size(), 0);
    auto pf = score_images(*ensemble, data.fake_val);
    scores.p_fake.insert(scores.p_fake.end(), pf.begin(), pf.end());
    scores.label.resize(scores.p_fake.size(), 1);
    info.threshold = choose_threshold(scores.p_fake, scores.label, threshold);
    const auto m = detection_metrics(scores, info.threshold);
    validation = m.to_json();
    validation["threshold"] = info.threshold;
    validation["threshold_rule"] = threshold;
    info.validation = validation;
    info.training = {{"members", members}, {"real", real}, {"fakes", sources_json}};
    export_ensemble(members, info, out);
  } else {
    std::shared_ptr<DetectorNetImpl> net;
    if (kind == "discriminator") {
      auto d = std::dynamic_pointer_cast<DcganDiscriminatorImpl>(load_checkpoint_discriminator(gan, runtime.device));
      if (!d) throw UsageError(gan + ": its discriminator is not a DCGAN discriminator");
      net = std::make_shared<DetectorNetImpl>(net_options, DcganDiscriminator(d));
      if (net->options().size != size || net->options().channels != channels) {
        throw UsageError(gan + ": its discriminator takes " + std::to_string(net->options().size) + " px, " +
                         std::to_string(net->options().channels) + "-channel images; the data is " + std::to_string(size) +
                         " px, " + std::to_string(channels) + "-channel");
      }
    } else {
      net = std::make_shared<DetectorNetImpl>(net_options);
    }
    auto result = train_detector(*net, data, train, runtime.device, [&](const DetectorEpoch& e) {
      char line[200];
      std::snprintf(line, sizeof(line), "epoch %lld: loss %.4f, train accuracy %.4f, validation AUC %.4f, %.0f img/s",
                    static_cast<long long>(e.epoch), e.loss, e.train_accuracy, e.val_auc, e.images_per_second);
      log_info(line);
      history.push_back(e.to_json());
    });
    validation = result.validation;
    info.threshold = result.threshold;
    info.validation = validation;
    info.training = {{"real", real},
                     {"fakes", sources_json},
                     {"n_train_real", data.real_train.size(0)},
                     {"best_epoch", result.best_epoch},
                     {"stopped_early", result.stopped_early},
                     {"options", train.to_json()},
                     {"net", {{"width", net_options.width}, {"features", net_options.features}, {"hidden", net_options.hidden}}}};
    net->to(torch::kCPU);
    if (kind == "adversarial") {
      // Detection rate per attack on its validation adversarials, at the chosen threshold.
      auto det = as_detector(net, info, torch::kCPU);
      const int64_t n_val = static_cast<int64_t>(val_idx.size());
      for (size_t a = 0; a < attacks.size(); ++a) {
        const auto p = score_images(*det, data.fake_val.slice(0, static_cast<int64_t>(a) * n_val, static_cast<int64_t>(a + 1) * n_val));
        int64_t flagged = 0;
        for (double v : p) flagged += v >= info.threshold;
        per_attack[attacks[a]]["detection_rate"] = static_cast<double>(flagged) / static_cast<double>(p.size());
      }
      validation["per_attack"] = per_attack;
      info.validation = validation;
    }
    export_detector(*net, info, out);
  }
  char line[200];
  std::snprintf(line, sizeof(line), "validation AUC %.4f, threshold %.4f (%s): TPR %.4f at FPR %.4f",
                validation.value("auc", 0.0), info.threshold, threshold.c_str(), validation.value("tpr", 0.0),
                validation.value("fpr", 0.0));
  log_info(line);
  const ModelSpec spec = detector_spec(channels, size, info);
  nlohmann::json j = run_header("train-detector", runtime, started);
  j.update({{"kind", kind},
            {"config", {{"real", real}, {"fakes", fakes}, {"limit", limit}, {"fake_count", fake_count},
                        {"val_fraction", val_fraction}, {"threshold", threshold}, {"resize", resize},
                        {"train", train.to_json()}, {"net", info.training.value("net", nlohmann::json())}}},
            {"data", {{"n_train_real", data.real_train.size(0)},
                      {"n_train_fake", data.fake_train.defined() ? nlohmann::json(data.fake_train.size(0)) : nlohmann::json("per batch")},
                      {"n_val_real", data.real_val.size(0)}, {"n_val_fake", data.fake_val.size(0)}, {"sources", sources_json}}},
            {"history", history},
            {"validation", validation},
            {"threshold", info.threshold},
            {"detector", model_file_json(out, spec)}});
  write_json(report, j);
  log_info("wrote detector " + out + " and report " + report);
  return kExitOk;
}

}  // namespace mirage::cli

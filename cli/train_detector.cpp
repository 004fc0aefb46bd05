// mirage train-detector — a real-vs-fake (or clean-vs-adversarial) detector, trained, calibrated
// and saved as TorchScript with its threshold (detectors/train.h does the work).
#include <torch/torch.h>

#include <filesystem>
#include <set>

#include "attacks/attack.h"
#include "cli/common.h"
#include "detectors/adversarial_data.h"
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
#include "reports/detector_inputs.h"

namespace mirage::cli {
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
  std::tie(train.blur_sigma_min, train.blur_sigma_max) = parse_number_range(blur_sigma, "--blur-sigma");
  const auto [q_lo, q_hi] = parse_number_range(jpeg_quality, "--jpeg-quality");
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
  std::vector<AttackSpec> attack_specs;
  for (const auto& a : attacks) {
    attack_specs.push_back(parse_attack_spec(a));
    make_attack(attack_specs.back().name, attack_specs.back().params);  // unknown names and keys refused before any work
  }
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
  nlohmann::json sources_json;
  AdversarialDetectorData adversarial;
  if (kind == "adversarial") {
    auto classifier = open_model(model_path, SpecFlags{}, runtime.device);
    adversarial = attack_for_detector(*classifier, reals.images, reals.labels, train_idx, val_idx, attack_specs, runtime.seed, runtime.device);
    data.fake_train = adversarial.fake_train;
    data.fake_val = adversarial.fake_val;
    sources_json = adversarial.sources;
  } else {
    sources_json = add_training_fakes(fake_sources, static_cast<int64_t>(val_idx.size()), per_source, fake_count, limit,
                                      val_fraction, /*on_the_fly=*/kind != "ensemble", runtime.seed, channels, size, data);
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
    const std::vector<std::string> members = split_list(members_list);
    // Thresholded on the members' mean over the validation split (nothing is trained).
    auto ensemble = load_ensemble(members, info, runtime.device);
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
      add_detection_rates(*det, adversarial);
      validation["per_attack"] = adversarial.per_attack;
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

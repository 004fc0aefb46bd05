// mirage train-detector — a real-vs-fake (or clean-vs-adversarial) detector, trained, calibrated
// and saved as TorchScript with its threshold (reports/detector_training_run.h does the work).
#include <torch/torch.h>

#include <filesystem>

#include "attacks/attack.h"
#include "cli/common.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/image/open_data.h"
#include "lib/log.h"
#include "reports/detector_training_run.h"

namespace mirage::cli {
int train_detector_main(const std::vector<std::string>& args) {
  CommonFlags common;
  DetectorTrainingConfig c;
  std::string out, report;
  // Augmentation and adversarial training, read and bounded by DetectorTrainOptions::fields().
  FieldFlags field_flags({
      {"blur-prob", "blur_prob", "probability of a Gaussian blur per training image (default 0.1)"},
      {"blur-sigma", "blur_sigma", "blur sigma range in pixels MIN,MAX (default 0.1,1.5)"},
      {"jpeg-prob", "jpeg_prob", "probability of JPEG re-compression per training image (default 0.1)"},
      {"jpeg-quality", "jpeg_quality", "JPEG quality range MIN,MAX (default 30,100)"},
      {"adv-eps", "adv_eps", "adversarial training: PGD-Linf radius on the detector's input (e.g. 4/255; default 0 = off)"},
  });
  std::vector<std::string> attacks;
  DetectorTrainOptions& train = c.train;
  DetectorNetOptions& net_options = c.net;
  po::options_description options("options");
  options.add_options()
    ("kind,k", po::value(&c.kind)->default_value("cnn"), "cnn | spectral | discriminator | adversarial | ensemble")
    ("real", po::value(&c.real)->default_value("fashion-mnist:train"), "real images (data spec)")
    ("fake", po::value(&c.fakes)->composing(), "[name=]fake images: a data spec, a GAN checkpoint folder or generator .pt (sampled on the fly); repeatable")
    ("gan", po::value(&c.gan), "discriminator kind: the GAN checkpoint whose discriminator becomes the detector (default: the one GAN --fake)")
    ("model,m", po::value(&c.model), "adversarial kind: the classifier whose adversarial examples are the 'fakes'")
    ("attack,a", po::value(&attacks)->composing(), "adversarial kind: NAME[:key=value,...] (e.g. pgd:eps=8/255), repeatable")
    ("members", po::value(&c.members), "ensemble kind: comma-separated detector files whose calibrated p_fake are averaged")
    ("out,o", po::value(&out), "where to write the detector (.pt)")
    ("report", po::value(&report), "training report JSON (default: <out>.json)")
    ("limit", po::value(&c.limit)->default_value(0), "use N real images (a seeded sample; 0 = all), and as many fakes per image source")
    ("fake-count", po::value(&c.fake_count)->default_value(0), "fakes per GAN source for validation / fixed sets (default: as many as real images)")
    ("val-fraction", po::value(&c.val_fraction)->default_value(0.2), "held out for early stopping, calibration and the threshold")
    ("threshold", po::value(&c.threshold)->default_value("eer"), "threshold rule on validation: eer, or fpr:F (flag at most F of the reals)")
    ("epochs", po::value(&train.epochs)->default_value(-1), "passes over the real training images (default 5; discriminator: 0 = calibrate only)")
    ("batch-size", po::value(&train.batch_size)->default_value(64), "images per step, half real and half fake")
    ("lr", po::value(&train.lr)->default_value(-1), "Adam learning rate (default 2e-4; spectral 1e-2)")
    ("weight-decay", po::value(&train.weight_decay)->default_value(-1), "L2 weight decay (default 0; spectral 1e-3)")
    ("patience", po::value(&train.patience)->default_value(3), "stop after this many epochs without a better validation AUC")
    ("width", po::value(&net_options.width)->default_value(32), "cnn/adversarial: feature maps of the first block")
    ("features", po::value(&net_options.features)->default_value("radial+dct"), "spectral: radial | dct | radial+dct")
    ("hidden", po::value(&net_options.hidden)->default_value(0), "spectral: hidden units (0 = logistic regression)")
    ("adv-steps", po::value(&train.adv_steps)->default_value(5), "adversarial training: PGD steps")
    ("size", po::value(&c.size)->default_value(0), "detector input height = width (default: the data's or the GAN's)")
    ("in-channels", po::value(&c.channels)->default_value(0), "detector input channels, 1 or 3 (default: the real data's)")
    ("resize", po::value(&c.resize)->default_value("crop"), "how other-sized images are fitted: crop, stretch or imagenet (stored in the detector)");
  field_flags.add_to(options);
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
  field_flags.apply(train, DetectorTrainOptions::fields(), vm);
  for (const auto& a : attacks) c.attacks.push_back(parse_attack_spec(a));
  if (out.empty()) throw UsageError("--out is required");
  check_detector_training_config(c);
  if (report.empty()) report = std::filesystem::path(out).replace_extension(".json").string();
  if (report == out) throw UsageError("--report must differ from --out");
  check_output_path(out);
  check_output_path(report);
  Runtime runtime = start_runtime(common);
  const std::string started = utc_now();
  DetectorTrainingResult result = train_detector_run(c, out, runtime.seed, runtime.device);
  nlohmann::json j = run_header("train-detector", runtime, started);
  j.update(result.report);
  j["detector"] = model_file_json(out, result.spec);
  write_json(report, j);
  log_info("wrote detector " + out + " and report " + report);
  return kExitOk;
}

}  // namespace mirage::cli

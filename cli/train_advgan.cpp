// mirage train-advgan — trains an AdvGAN perturbation generator against a classifier with the one
// GAN trainer and writes its checkpoint folder, for 'mirage attack --attack advgan --advgan DIR'.
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "attacks/advgan.h"
#include "cli/common.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/image/open_data.h"
#include "lib/json_io.h"
#include "lib/log.h"
#include "lib/parse.h"

namespace mirage::cli {

namespace {

namespace fs = std::filesystem;

// Flags that set an AdvGanOptions field: given, they win over the defaults and (--resume) over the
// checkpoint's options, which then refuses a contradiction naming the field.
struct OptionFlag {
  const char* flag;
  const char* key;
  const char* help;
};
const std::vector<OptionFlag>& option_flags() {
  static const std::vector<OptionFlag> flags = {
      {"eps", "eps", "Linf bound of the perturbation in [0,1] pixel units, e.g. 0.3 or 8/255 (default 8/255)"},
      {"epochs", "epochs", "passes over the training data (default 60)"},
      {"batch-size", "batch_size", "images per step (default 128)"},
      {"lr", "lr", "Adam learning rate of G and D (default 1e-3)"},
      {"limit", "limit", "train on N samples of a seeded shuffle only (default 0 = all)"},
      {"adv-weight", "adv_weight", "weight of the C&W margin loss L_adv (default 10)"},
      {"gan-weight", "gan_weight", "weight of the least-squares GAN loss (default 1; 0: no discriminator)"},
      {"hinge-weight", "hinge_weight", "weight of the hinge loss on ||delta||_2 (default 1)"},
      {"hinge-bound", "hinge_bound", "c: the L2 norm of delta the hinge loss tolerates (default 0.1)"},
      {"kappa", "kappa", "C&W confidence margin (default 1)"},
      {"g-width", "width", "generator feature maps at full resolution, x2 and x4 below (default 8)"},
      {"checkpoint-every", "checkpoint_every", "epochs between checkpoints in --out (default 1; 0 = at the end)"},
  };
  return flags;
}

}  // namespace

int train_advgan_main(const std::vector<std::string>& args) {
  CommonFlags common;
  SpecFlags spec_flags;
  std::string model_path, data, labels, resize, out;
  int64_t target = -1;
  bool overwrite = false, resume = false;
  std::vector<std::string> texts(option_flags().size());
  po::options_description options("options");
  options.add_options()
    ("model,m", po::value(&model_path), "TorchScript classifier (.pt) to attack (frozen; --resume: the checkpoint's)")
    ("data", po::value(&data)->default_value("fashion-mnist:train"), "training data (fashion-mnist[:train|test], image folder, IDX file, or file list)")
    ("labels", po::value(&labels), "IDX label file for IDX --data (default: found beside it)")
    ("resize", po::value(&resize)->default_value("crop"), "how image files are fitted to the model: crop, stretch or imagenet (shorter side to 256/224 of the input, then the centre)")
    ("out,o", po::value(&out), "checkpoint folder: generator.pt, config.json, state.pt")
    ("overwrite", po::bool_switch(&overwrite), "replace --out if it exists and is not empty")
    ("resume", po::bool_switch(&resume), "continue the run in --out from its checkpoint (e.g. with more --epochs)")
    ("target", po::value(&target)->default_value(-1), "train a targeted generator toward class K (default: untargeted)");
  for (size_t i = 0; i < option_flags().size(); ++i) {
    options.add_options()(option_flags()[i].flag, po::value(&texts[i]), option_flags()[i].help);
  }
  add_spec_options(options, spec_flags);
  add_common_options(options, common);
  po::positional_options_description positional;
  positional.add("model", 1);
  po::variables_map vm;
  if (!parse_command("train-advgan", "--model MODEL.pt --out CKPT_DIR [options]",
                     "Trains an AdvGAN generator (Xiao et al. 2018) against a classifier: G(x) = eps * tanh(.) is\n"
                     "a perturbation within the Linf ball by construction, trained with a C&W margin loss on the\n"
                     "model, a least-squares GAN loss against a discriminator and a hinge loss on ||delta||_2, by\n"
                     "the GAN trainer of train-gan. --out is replaced whole at each checkpoint (every\n"
                     "--checkpoint-every epochs): generator.pt, config.json (options, image shape, target model\n"
                     "sha256, data, training history and summary) and state.pt; a killed run continues with\n"
                     "--resume and ends where an uninterrupted one would (CPU). Prints a JSON summary on stdout:\n"
                     "success rate on the training data, mean/max Linf, training images/s, time. Then attack with\n"
                     "'mirage attack --attack advgan --advgan CKPT_DIR': one forward pass of G per batch.\n"
                     "Exit 1 when training diverges (NaN/Inf loss); the last good checkpoint is kept.",
                     "  mirage train-advgan --model fmnist.pt --eps 0.1 --epochs 5 --out advgan/\n"
                     "  mirage train-advgan --model fmnist.pt --eps 0.3 --target 3 --limit 10000 --out advgan-t3/\n"
                     "  mirage train-advgan --out advgan/ --resume --epochs 10\n"
                     "  mirage attack --model fmnist.pt --attack advgan --advgan advgan/ --data fashion-mnist:test --out adv/\n",
                     args, options, positional, vm, describe_data_specs())) {
    return kExitOk;
  }
  if (out.empty()) throw UsageError("--out is required (the checkpoint folder to write)");
  auto given = [&](const char* flag) { return vm.count(flag) && !vm[flag].defaulted(); };

  // The options: a resumed run's own, else the defaults; flags on top.
  nlohmann::json j = AdvGanOptions().to_json(), saved_target = nlohmann::json::object();
  if (resume) {
    const std::string config = (fs::path(out) / "config.json").string();
    if (!fs::exists(config)) throw UsageError("--resume: " + out + " holds no checkpoint (no " + config + ")");
    const nlohmann::json saved = read_json_file(config, "--resume");
    if (saved.value("kind", "") != "advgan" || !saved.contains("options")) {
      throw UsageError("--resume: " + out + " is not an AdvGAN checkpoint");
    }
    j = saved["options"];
    saved_target = saved.value("target_model", nlohmann::json::object());
    if (model_path.empty()) model_path = saved_target.value("path", "");
  } else {
    if (model_path.empty()) throw UsageError("--model is required");
    AtomicDirectory probe(out, overwrite);  // a bad --out fails now, not after training
  }
  if (model_path.empty()) throw UsageError("--model is required (the checkpoint names no model file)");
  if (!resume || given("data")) j["data"] = data;
  if (!resume || given("labels")) j["labels"] = labels;
  if (!resume || given("resize")) j["resize"] = resize;
  if (!resume || given("target")) {
    if (target < -1) throw UsageError("--target must be a class index >= 0");
    j["targeted"] = target >= 0;
    j["target_class"] = target >= 0 ? target : 0;
  }
  if (given("eps")) {
    const double eps = parse_number(texts[0], "--eps");
    if (!(eps > 0 && eps <= 1)) throw UsageError("--eps must be in (0, 1], got " + texts[0]);
  }
  for (size_t i = 0; i < option_flags().size(); ++i) {
    if (vm.count(option_flags()[i].flag)) j[option_flags()[i].key] = texts[i];
  }
  Runtime runtime = start_runtime(common);
  if (!resume || given("seed")) j["seed"] = runtime.seed;
  AdvGanOptions o = AdvGanOptions::from_json(j, "train-advgan flags");

  auto model = open_model(model_path, spec_flags, runtime.device);
  auto dataset = open_data(o.data, o.labels, o.resize, model->spec().channels, model->spec().height, model->spec().width);
  model->complete_spec(dataset->info());
  const ModelSpec& spec = model->spec();
  if (o.targeted && o.target_class >= spec.num_classes) {
    throw UsageError("--target " + std::to_string(o.target_class) + ": the model has " +
                     std::to_string(spec.num_classes) + " classes");
  }
  if (dataset->info().num_classes > spec.num_classes) {
    throw UsageError("--data " + dataset->info().name + " has " + std::to_string(dataset->info().num_classes) +
                     " classes but the model outputs " + std::to_string(spec.num_classes));
  }
  log_info(std::string(resume ? "resuming" : "training") + " AdvGAN (eps " + std::to_string(o.eps) +
           (o.targeted ? ", target " + std::to_string(o.target_class) : "") + ") against " + model_path + " on " +
           dataset->info().name + " (" + runtime.device.str() + ")");
  const std::string started = utc_now();
  const auto t0 = std::chrono::steady_clock::now();
  AdvGanRun run;
  run.checkpoint = out;
  run.resume = resume;
  run.on_epoch = [&](const AdvGanEpoch& e) {
    char line[200];
    std::snprintf(line, sizeof(line), "epoch %lld: loss D %.4f, GAN %.4f, adv %.4f, hinge %.4f, success %.4f, %.0f img/s",
                  static_cast<long long>(e.epoch), e.loss_d, e.loss_gan, e.loss_adv, e.loss_hinge, e.success_rate,
                  e.images_per_second);
    log_info(line);
  };
  AdvGanTraining trained = train_advgan(*model, *dataset, o, run);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  nlohmann::json summary = run_header("train-advgan", runtime, started);
  summary["seed"] = o.seed;  // the run's, also when resumed without --seed
  summary.update({
      {"model", model_file_json(model_path, spec)},
      {"data", {{"name", dataset->info().name}, {"n", dataset->size()}, {"trained_on", trained.generator->data["samples"]}}},
      {"options", o.to_json()},
      {"checkpoint", out},
      {"resumed", resume},
      {"resumed_epochs", trained.resumed_epochs},
      {"result", {{"success_rate", trained.success_rate},
                  {"counted", trained.counted},
                  {"linf", {{"mean", trained.mean_linf}, {"max", trained.max_linf}}},
                  {"l2_mean", trained.mean_l2},
                  {"train_images_per_second", trained.images_per_second},
                  {"train_seconds", trained.seconds},
                  {"seconds", seconds}}},
      {"history", trained.to_json()["history"]},
  });
  write_json("-", summary);
  char line[200];
  std::snprintf(line, sizeof(line), "success rate %.4f on the training data (max Linf %.4f), wrote %s",
                trained.success_rate, trained.max_linf, out.c_str());
  log_info(line);
  return kExitOk;
}

}  // namespace mirage::cli

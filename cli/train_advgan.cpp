// mirage train-advgan — trains an AdvGAN perturbation generator against a classifier and writes its
// checkpoint folder, for 'mirage attack --attack advgan --advgan DIR'.
#include <chrono>
#include <cstdio>

#include "attacks/advgan.h"
#include "cli/common.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/image/open_data.h"
#include "lib/log.h"
#include "lib/parse.h"

namespace mirage::cli {

int train_advgan_main(const std::vector<std::string>& args) {
  CommonFlags common;
  SpecFlags spec_flags;
  std::string model_path, data, labels, resize, out, eps_text;
  int64_t target = -1;
  bool overwrite = false;
  AdvGanOptions o;
  po::options_description options("options");
  options.add_options()
    ("model,m", po::value(&model_path), "TorchScript classifier (.pt) to attack (frozen)")
    ("data", po::value(&data)->default_value("fashion-mnist:train"), "training data (fashion-mnist[:train|test], image folder, IDX file, or file list)")
    ("labels", po::value(&labels), "IDX label file for IDX --data (default: found beside it)")
    ("resize", po::value(&resize)->default_value("crop"), "how image files are fitted to the model: crop or stretch")
    ("out,o", po::value(&out), "checkpoint folder to write (generator.pt + config.json)")
    ("overwrite", po::bool_switch(&overwrite), "replace --out if it exists and is not empty")
    ("eps", po::value(&eps_text)->default_value("8/255"), "Linf bound of the perturbation in [0,1] pixel units (0.3, 8/255)")
    ("target", po::value(&target)->default_value(-1), "train a targeted generator toward class K (default: untargeted)")
    ("epochs", po::value(&o.epochs)->default_value(o.epochs), "passes over the training data")
    ("batch-size", po::value(&o.batch_size)->default_value(o.batch_size), "images per step")
    ("lr", po::value(&o.lr)->default_value(o.lr), "Adam learning rate of G and D")
    ("limit", po::value(&o.limit)->default_value(0), "train on N samples of a seeded shuffle only (0 = all)")
    ("adv-weight", po::value(&o.adv_weight)->default_value(o.adv_weight), "weight of the C&W margin loss L_adv")
    ("gan-weight", po::value(&o.gan_weight)->default_value(o.gan_weight), "weight of the least-squares GAN loss (0: no discriminator)")
    ("hinge-weight", po::value(&o.hinge_weight)->default_value(o.hinge_weight), "weight of the hinge loss on ||delta||_2")
    ("hinge-bound", po::value(&o.hinge_bound)->default_value(o.hinge_bound), "c: the L2 norm of delta the hinge loss tolerates")
    ("kappa", po::value(&o.kappa)->default_value(o.kappa), "C&W confidence margin")
    ("g-width", po::value(&o.width)->default_value(o.width), "generator feature maps at full resolution (x2, x4 below)");
  add_spec_options(options, spec_flags);
  add_common_options(options, common);
  po::positional_options_description positional;
  positional.add("model", 1);
  po::variables_map vm;
  if (!parse_command("train-advgan", "--model MODEL.pt --out CKPT_DIR [options]",
                     "Trains an AdvGAN generator (Xiao et al. 2018) against a classifier: G(x) = eps * tanh(.) is\n"
                     "a perturbation within the Linf ball by construction, trained with a C&W margin loss on the\n"
                     "model, a least-squares GAN loss against a discriminator and a hinge loss on ||delta||_2.\n"
                     "Writes --out (appears only when training completes): generator.pt and config.json (options,\n"
                     "image shape, target model sha256, training summary). Prints a JSON summary on stdout:\n"
                     "success rate on the training data, mean/max Linf, training images/s, time. Then attack with\n"
                     "'mirage attack --attack advgan --advgan CKPT_DIR': one forward pass of G per batch.",
                     "  mirage train-advgan --model fmnist.pt --eps 0.1 --epochs 5 --out advgan/\n"
                     "  mirage train-advgan --model fmnist.pt --eps 0.3 --target 3 --limit 10000 --out advgan-t3/\n"
                     "  mirage attack --model fmnist.pt --attack advgan --advgan advgan/ --data fashion-mnist:test --out adv/\n",
                     args, options, positional, vm, describe_data_specs())) {
    return kExitOk;
  }
  if (model_path.empty()) throw UsageError("--model is required");
  if (out.empty()) throw UsageError("--out is required (the checkpoint folder to write)");
  o.eps = parse_number(eps_text, "--eps");
  if (!(o.eps > 0 && o.eps <= 1)) throw UsageError("--eps must be in (0, 1], got " + eps_text);
  if (o.epochs < 1) throw UsageError("--epochs must be >= 1");
  if (o.batch_size < 1) throw UsageError("--batch-size must be >= 1");
  if (!(o.lr > 0)) throw UsageError("--lr must be > 0");
  if (o.limit < 0) throw UsageError("--limit must be >= 0");
  if (target < -1) throw UsageError("--target must be a class index >= 0");
  o.targeted = target >= 0;
  o.target_class = o.targeted ? target : 0;
  AtomicDirectory folder(out, overwrite);  // a bad --out fails now, not after training
  Runtime runtime = start_runtime(common);
  o.seed = runtime.seed;

  auto model = open_model(model_path, spec_flags, runtime.device);
  auto dataset = open_data(data, labels, resize, model->spec().channels, model->spec().height, model->spec().width);
  model->complete_spec(dataset->info());
  const ModelSpec& spec = model->spec();
  if (o.targeted && o.target_class >= spec.num_classes) {
    throw UsageError("--target " + std::to_string(target) + ": the model has " + std::to_string(spec.num_classes) +
                     " classes");
  }
  if (dataset->info().num_classes > spec.num_classes) {
    throw UsageError("--data " + dataset->info().name + " has " + std::to_string(dataset->info().num_classes) +
                     " classes but the model outputs " + std::to_string(spec.num_classes));
  }
  log_info("training AdvGAN (eps " + std::to_string(o.eps) + (o.targeted ? ", target " + std::to_string(target) : "") +
           ") against " + model_path + " on " + dataset->info().name + " (" + runtime.device.str() + ")");
  const std::string started = utc_now();
  const auto t0 = std::chrono::steady_clock::now();
  AdvGanTraining trained = train_advgan(*model, *dataset, o, [&](const AdvGanEpoch& e) {
    char line[200];
    std::snprintf(line, sizeof(line), "epoch %lld: loss D %.4f, GAN %.4f, adv %.4f, hinge %.4f, success %.4f, %.0f img/s",
                  static_cast<long long>(e.epoch), e.loss_d, e.loss_gan, e.loss_adv, e.loss_hinge, e.success_rate,
                  e.images_per_second);
    log_info(line);
  });
  write_advgan(*trained.generator, folder.staging());
  folder.commit();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  nlohmann::json j = run_header("train-advgan", runtime, started);
  j.update({
      {"model", model_file_json(model_path, spec)},
      {"data", {{"name", dataset->info().name}, {"n", dataset->size()}, {"trained_on", trained.generator->training["samples"]}}},
      {"options", o.to_json()},
      {"checkpoint", out},
      {"result", {{"success_rate", trained.success_rate},
                  {"counted", trained.counted},
                  {"linf", {{"mean", trained.mean_linf}, {"max", trained.max_linf}}},
                  {"l2_mean", trained.mean_l2},
                  {"train_images_per_second", trained.images_per_second},
                  {"train_seconds", trained.seconds},
                  {"seconds", seconds}}},
      {"history", trained.to_json()["history"]},
  });
  write_json("-", j);
  char line[200];
  std::snprintf(line, sizeof(line), "success rate %.4f on the training data (max Linf %.4f), wrote %s",
                trained.success_rate, trained.max_linf, out.c_str());
  log_info(line);
  return kExitOk;
}

}  // namespace mirage::cli

// mirage — adversarial robustness and deepfake detection in one binary.
#include <iostream>

#include "cli/common.h"
#include "lib/error.h"
#include "lib/log.h"

namespace mirage::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"train-classifier", "train a small CNN classifier and save it as TorchScript", train_classifier_main},
      {"eval", "accuracy, per-class accuracy and confusion matrix of a classifier, as JSON", eval_main},
      {"attack", "adversarial examples against a classifier: PNGs, per-sample JSONL, summary JSON", attack_main},
      {"train-advgan", "train an AdvGAN perturbation generator against a classifier (checkpoint for attack --advgan)", train_advgan_main},
      {"train-gan", "train a GAN (dcgan, conditional, pix2pix, cyclegan, srgan, 2-D toy); resumable", train_gan_main},
      {"generate", "draw fakes from a trained generator: PNGs and a manifest of latent seeds", generate_main},
      {"gan-eval", "quality of a generator's fakes: fd/kid/precision/recall/coverage on domain features", gan_eval_main},
      {"train-detector", "train a real-vs-fake (or clean-vs-adversarial) detector, calibrated, as TorchScript", train_detector_main},
      {"score", "score image files or folders as real or fake with a detector (JSON Lines)", score_main},
      {"eval-detector", "a detector's AUC, AP, TPR at its threshold and at 1% FPR, EER, ECE, per source and class", eval_detector_main},
      {"latent-search", "search a GAN's latent space for fakes a classifier gets wrong or a detector calls real", latent_search_main},
      {"blind-spots", "where a detector fails: slices by source, class, post-processing, evasion, latent cluster", blind_spots_main},
      {"audit", "CI audits of a classifier or a detector: versioned JSON report, renderings, exit 1 on a failed gate", audit_main},
      {"report", "work with reports: validate, render (Markdown/JUnit/HTML), diff (gate on regressions), merge shards", report_main},
      {"info", "show a model's input spec and metadata", info_main},
  };
  return list;
}

namespace {

void print_help() {
  std::cout << "usage: mirage <command> [options]\n"
               "       mirage --version | --help\n\n"
               "mirage audits image classifiers and detectors: adversarial examples, GANs, fake detection.\n\n"
               "commands:\n";
  for (const auto& c : commands()) {
    std::string name = c.name;
    std::cout << "  " << name << std::string(name.size() < 20 ? 20 - name.size() : 1, ' ') << c.summary << "\n";
  }
  std::cout << "\nRun 'mirage <command> --help' for a command's options and examples.\n"
               "Exit codes: 0 ok, 1 a quality gate (or a batch item) failed, 2 bad usage or input, 3 internal error.\n";
}

void print_version() {
  auto v = versions();
  std::cout << "mirage " << v["mirage"].get<std::string>() << " (" << v["git"].get<std::string>() << ")\n"
            << "libtorch " << v["libtorch"].get<std::string>() << "\n"
            << "opencv " << v["opencv"].get<std::string>() << "\n"
            << "cuda " << (v["cuda"].get<bool>() ? "available" : "not available") << "\n";
}

}  // namespace
}  // namespace mirage::cli

int main(int argc, char** argv) {
  using namespace mirage;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    if (args.size() >= 2 && args[0] == "help") args = {args[1], "--help"};  // "mirage help eval"
    else {
      cli::print_help();
      return args.empty() ? kExitUsage : kExitOk;
    }
  }
  if (args[0] == "--version" || args[0] == "version") {
    cli::print_version();
    return kExitOk;
  }
  const std::string name = args[0];
  for (const auto& command : cli::commands()) {
    if (name != command.name) continue;
    try {
      return command.run(std::vector<std::string>(args.begin() + 1, args.end()));
    } catch (const std::exception& e) {
      std::cerr << "mirage " << name << ": error: " << one_line(e) << std::endl;
      return exit_code_for(e);
    }
  }
  std::cerr << "mirage: unknown command '" << name << "' (see 'mirage --help')" << std::endl;
  return kExitUsage;
}

// mirage attack — adversarial examples against a classifier: PNGs, per-sample JSON Lines and a
// summary JSON, written into one output folder that appears only when the run completes.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "attacks/attack.h"
#include "cli/common.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/image/io.h"
#include "lib/image/open_data.h"
#include "lib/json_io.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "reports/attack_run.h"

namespace mirage::cli {

namespace {

// --params '{"eps": "8/255"}' then every -p key=value on top (values stay strings: the attack's
// parameter reader parses numbers, fractions and booleans and names the parameter when it cannot).
nlohmann::json attack_params(const std::string& json_text, const std::vector<std::string>& pairs) {
  nlohmann::json params = nlohmann::json::object();
  if (!json_text.empty()) {
    params = parse_json_text(json_text, "--params");
    if (!params.is_object()) throw UsageError("--params: expected a JSON object like '{\"eps\": \"8/255\"}'");
  }
  set_param_pairs(params, pairs, "--param");
  return params;
}

void print_attack_list() {
  std::cout << "attacks (parameters and defaults: docs/attacks.md):\n";
  for (const auto& info : attack_registry()) {
    std::string name = info.name;
    std::cout << "  " << name << std::string(name.size() < 12 ? 12 - name.size() : 1, ' ')
              << (info.black_box ? "[black-box] " : "") << info.summary << "\n";
  }
}

}  // namespace

int attack_main(const std::vector<std::string>& args) {
  CommonFlags common;
  SpecFlags spec_flags;
  std::string model_path, data, labels_path, out, resize, attack_name, params_json, goal_mode, advgan_checkpoint;
  std::vector<std::string> param_pairs;
  int64_t limit = 0;
  std::string batch_text;
  int bits = 16;
  bool no_images = false, overwrite = false, list = false;
  po::options_description options("options");
  options.add_options()
    ("model,m", po::value(&model_path), "TorchScript classifier (.pt) taking [0,1] images")
    ("data", po::value(&data)->default_value("fashion-mnist:test"), "labelled data (fashion-mnist[:train|test], image folder, IDX file, or file list)")
    ("labels", po::value(&labels_path), "IDX label file for IDX --data (default: found beside it)")
    ("attack,a", po::value(&attack_name), "attack name (see --list)")
    ("param,p", po::value(&param_pairs)->composing(), "attack parameter key=value, repeatable (-p eps=8/255 -p steps=40)")
    ("params", po::value(&params_json), "attack parameters as a JSON object ('{\"eps\": \"8/255\"}'); -p wins")
    ("advgan", po::value(&advgan_checkpoint), "with --attack advgan: the checkpoint folder from train-advgan")
    ("goal", po::value(&goal_mode)->default_value("untargeted"), "untargeted, target:K, runner-up or random")
    ("out,o", po::value(&out), "output folder: images/, samples.jsonl, summary.json")
    ("overwrite", po::bool_switch(&overwrite), "replace --out if it exists and is not empty")
    ("limit", po::value(&limit)->default_value(0), "attack the first N samples only (0 = all)")
    ("batch-size", po::value(&batch_text)->default_value("auto"), "images per attack batch, or auto: the largest of 128 (CPU) / 1024 (CUDA), halved until a forward+backward probe fits; a batch that runs out of memory later is halved and retried")
    ("bit-depth", po::value(&bits)->default_value(16), "bits per channel of the written PNGs: 16 (near-lossless) or 8")
    ("no-images", po::bool_switch(&no_images), "write samples.jsonl and summary.json only")
    ("resize", po::value(&resize)->default_value("crop"), "how image files are fitted to the model: crop, stretch or imagenet (shorter side to 256/224 of the input, then the centre)")
    ("list", po::bool_switch(&list), "list the attacks and exit");
  add_spec_options(options, spec_flags);
  add_common_options(options, common);
  po::positional_options_description positional;
  positional.add("model", 1);
  po::variables_map vm;
  if (!parse_command("attack", "--model MODEL.pt --attack NAME [-p key=value ...] --out DIR [options]",
                     "Runs an adversarial attack on a classifier over labelled data. Writes into --out (which\n"
                     "appears only when the run completes): images/<index>.png, the adversarial images (PNG,\n"
                     "16 bits per channel unless --bit-depth 8); samples.jsonl, one line per sample (id, label,\n"
                     "clean and adversarial prediction, success, Linf, L2, queries; an unreadable image gets a\n"
                     "line with its error and is skipped); summary.json (clean and robust accuracy, success\n"
                     "rate on the initially correct samples, norm and query statistics, time, images/s, and\n"
                     "what the written 8/16-bit files do). Samples without a label are attacked against the\n"
                     "model's own prediction. Exit 1 when some images could not be read.",
                     "  mirage attack --model fmnist.pt --attack pgd -p eps=0.1 -p alpha=0.01 -p steps=40 --out pgd/\n"
                     "  mirage attack --model fmnist.pt --attack autoattack -p eps=0.1 --limit 1000 --out aa/\n"
                     "  mirage attack --model resnet.pt --data photos/ --attack square -p eps=4/255 --goal runner-up --out sq/\n"
                     "  mirage attack --model fmnist.pt --attack advgan --advgan advgan/ --out adv/\n"
                     "  mirage attack --list\n",
                     args, options, positional, vm, describe_data_specs())) {
    return kExitOk;
  }
  if (list) {
    print_attack_list();
    return kExitOk;
  }
  if (model_path.empty()) throw UsageError("--model is required");
  if (attack_name.empty()) throw UsageError("--attack is required (see 'mirage attack --list')");
  if (out.empty()) throw UsageError("--out is required");
  const bool auto_batch = batch_text == "auto";
  int64_t batch_size = 0;
  if (!auto_batch) {
    const double b = parse_number(batch_text, "--batch-size");
    if (!(b >= 1) || b != std::floor(b)) throw UsageError("--batch-size must be auto or an integer >= 1, got \"" + batch_text + "\"");
    batch_size = static_cast<int64_t>(b);
  }
  if (limit < 0) throw UsageError("--limit must be >= 0");
  if (bits != 8 && bits != 16) throw UsageError("--bit-depth must be 8 or 16");
  nlohmann::json params = attack_params(params_json, param_pairs);
  if (!advgan_checkpoint.empty()) {
    if (attack_name != "advgan") throw UsageError("--advgan is for --attack advgan, not " + attack_name);
    params["checkpoint"] = advgan_checkpoint;
  }
  auto attack = make_attack(attack_name, params);
  AtomicDirectory folder(out, overwrite);
  Runtime runtime = start_runtime(common);

  auto model = open_model(model_path, spec_flags, runtime.device);
  auto dataset = open_data(data, labels_path, resize, model->spec().channels, model->spec().height, model->spec().width);
  model->complete_spec(dataset->info());
  const ModelSpec& spec = model->spec();
  const int64_t k = spec.num_classes;
  if (dataset->info().num_classes > k) {
    throw UsageError("--data " + dataset->info().name + " has " + std::to_string(dataset->info().num_classes) +
                     " classes but the model outputs " + std::to_string(k));
  }
  AttackRunOptions run_options;
  run_options.goal = goal_mode;
  run_options.limit = limit;
  if (auto_batch) {
    // Memory depends on the shape, not the pixels: the probe runs on a blank image.
    const int64_t total = limit > 0 ? std::min(limit, dataset->size()) : dataset->size();
    const int64_t cap = std::max<int64_t>(1, std::min(auto_batch_cap(runtime.device), total));
    batch_size = probe_batch_size(*model, torch::zeros({1, spec.channels, spec.height, spec.width}), cap);
    log_debug("--batch-size auto: " + std::to_string(batch_size));  // the summary records it
  }
  run_options.batch_size = batch_size;
  run_options.bits = bits;
  const std::string staging = folder.staging();
  if (!no_images) ensure_directory(staging + "/images");
  std::ofstream jsonl(staging + "/samples.jsonl");
  if (!jsonl) throw InputError(staging + "/samples.jsonl: cannot write");
  const std::string started = utc_now();
  AttackRun run = run_attack(*model, *dataset, *attack, run_options, runtime.seed, [&](const AttackedSample& s) {
    nlohmann::json line = attacked_sample_json(s);
    if (s.error.empty() && !no_images) {
      char name[32];
      std::snprintf(name, sizeof(name), "images/%06lld.png", static_cast<long long>(s.index));
      write_image(staging + "/" + name, s.saved, 95, bits);
      line["file"] = name;
    }
    jsonl << line.dump() << "\n";
  });
  jsonl.close();
  if (!jsonl) throw InputError(staging + "/samples.jsonl: write failed");

  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& item : run.skipped) skipped.push_back(attacked_sample_json(item));
  nlohmann::json summary = run_header("attack", runtime, started);
  summary.update({
      {"model", model_file_json(model_path, spec)},
      {"model_had_metadata", model->had_metadata()},
      {"data", {{"name", dataset->info().name}, {"n", run.total}, {"limit", limit}, {"resize", resize}}},
      {"attack", {{"name", attack->name()}, {"black_box", attack->black_box()}, {"options", attack->options_json()}}},
      {"goal", goal_mode},
      {"batch_size", batch_size},
      {"result", attack_run_json(run, bits)},
      {"skipped_items", skipped},
  });
  write_json(staging + "/summary.json", summary);
  folder.commit();
  char line[200];
  std::snprintf(line, sizeof(line), "clean accuracy %.4f, robust accuracy %.4f on %lld images (%.1f img/s), wrote %s",
                run.clean_accuracy().value, run.robust_accuracy().value, static_cast<long long>(run.n),
                run.images_per_second(), out.c_str());
  log_info(line);
  for (const auto& st : run.stages) {
    std::snprintf(line, sizeof(line), "  after %-8s robust accuracy %.4f (%lld attacked, %lld broken, %.1f s)",
                  st.attack.c_str(), run.n > 0 ? static_cast<double>(st.robust) / static_cast<double>(run.n) : 0.0,
                  static_cast<long long>(st.attacked), static_cast<long long>(st.broken), st.seconds);
    log_info(line);
  }
  if (!run.skipped.empty()) {
    log_warn(std::to_string(run.skipped.size()) + " image(s) could not be read and were skipped (see samples.jsonl)");
    return kExitGateFailed;
  }
  return kExitOk;
}

}  // namespace mirage::cli

// mirage attack — adversarial examples against a classifier: PNGs, per-sample JSON Lines and a
// summary JSON, written into one output folder that appears only when the run completes.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "attacks/attack.h"
#include "cli/common.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/image/convert.h"
#include "lib/image/io.h"
#include "lib/image/open_data.h"
#include "lib/log.h"
#include "lib/metrics.h"

namespace mirage::cli {

namespace {

// --params '{"eps": "8/255"}' then every -p key=value on top (values stay strings: the attack's
// parameter reader parses numbers, fractions and booleans and names the parameter when it cannot).
nlohmann::json attack_params(const std::string& json_text, const std::vector<std::string>& pairs) {
  nlohmann::json params = nlohmann::json::object();
  if (!json_text.empty()) {
    try {
      params = nlohmann::json::parse(json_text);
    } catch (const nlohmann::json::exception& e) {
      throw UsageError("--params: not valid JSON (" + std::string(e.what()) + ")");
    }
    if (!params.is_object()) throw UsageError("--params: expected a JSON object like '{\"eps\": \"8/255\"}'");
  }
  for (const auto& pair : pairs) {
    auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError("--param '" + pair + "': expected key=value");
    params[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
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

nlohmann::json stats(std::vector<double> v) {
  if (v.empty()) return {{"n", 0}, {"mean", nullptr}, {"median", nullptr}, {"max", nullptr}};
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double d : v) sum += d;
  const size_t m = v.size() / 2;
  const double median = v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
  return {{"n", v.size()}, {"mean", sum / static_cast<double>(v.size())}, {"median", median}, {"max", v.back()}};
}

double ratio(int64_t a, int64_t b) { return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0; }

nlohmann::json rate(int64_t k, int64_t n) {
  auto [lo, hi] = wilson_interval(k, n);
  return {{"value", ratio(k, n)}, {"count", k}, {"of", n}, {"ci95", {lo, hi}}};
}

// Sums autoattack's per-stage counts over batches.
struct StageTotals {
  int64_t attacked = 0, broken = 0;
  double seconds = 0;
};

}  // namespace

int attack_main(const std::vector<std::string>& args) {
  CommonFlags common;
  SpecFlags spec_flags;
  std::string model_path, data, labels_path, out, resize, attack_name, params_json, goal_mode, advgan_checkpoint;
  std::vector<std::string> param_pairs;
  int64_t limit = 0, batch_size = 128;
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
    ("batch-size", po::value(&batch_size)->default_value(128), "images per attack batch")
    ("bit-depth", po::value(&bits)->default_value(16), "bits per channel of the written PNGs: 16 (near-lossless) or 8")
    ("no-images", po::bool_switch(&no_images), "write samples.jsonl and summary.json only")
    ("resize", po::value(&resize)->default_value("crop"), "how image files are fitted to the model: crop or stretch")
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
  if (batch_size < 1) throw UsageError("--batch-size must be >= 1");
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
  attack->set_seed(runtime.seed);

  auto model = open_model(model_path, spec_flags, runtime.device);
  auto dataset = open_data(data, labels_path, resize, model->spec().channels, model->spec().height, model->spec().width);
  model->complete_spec(dataset->info());
  const ModelSpec& spec = model->spec();
  const int64_t k = spec.num_classes;
  if (dataset->info().num_classes > k) {
    throw UsageError("--data " + dataset->info().name + " has " + std::to_string(dataset->info().num_classes) +
                     " classes but the model outputs " + std::to_string(k));
  }
  const int64_t n_total = limit > 0 ? std::min(limit, dataset->size()) : dataset->size();
  const std::string staging = folder.staging();
  if (!no_images) ensure_directory(staging + "/images");
  std::ofstream jsonl(staging + "/samples.jsonl");
  if (!jsonl) throw InputError(staging + "/samples.jsonl: cannot write");

  const std::string started = utc_now();
  const auto t0 = std::chrono::steady_clock::now();
  double attack_seconds = 0;
  int64_t n = 0, clean_correct = 0, robust_correct = 0, successes_on_correct = 0, saved_robust = 0,
          saved_success_on_correct = 0, saved_changed = 0, predicted_labels = 0, total_queries = 0, gradient_calls = 0;
  std::vector<double> linf_ok, l2_ok, queries;
  std::vector<BadItem> bad;
  std::vector<std::string> stage_order;
  std::map<std::string, StageTotals> stages;
  std::map<std::string, int64_t> stage_robust;
  Progress progress("attack " + attack_name, n_total);
  for (int64_t first = 0, b = 0; first < n_total; first += batch_size, ++b) {
    std::vector<int64_t> indices;
    for (int64_t i = first; i < std::min(first + batch_size, n_total); ++i) indices.push_back(i);
    const size_t bad_before = bad.size();
    Batch batch = get_batch_skipping_bad(*dataset, indices, bad);
    for (size_t i = bad_before; i < bad.size(); ++i) {
      log_warn("skipped " + bad[i].error);
      jsonl << nlohmann::json{{"index", bad[i].index}, {"id", bad[i].id}, {"error", bad[i].error}}.dump() << "\n";
    }
    if (batch.size() == 0) {
      progress.advance(static_cast<int64_t>(indices.size()));
      continue;
    }
    // The indices of the good items, in batch order.
    std::vector<int64_t> kept;
    for (int64_t index : indices) {
      bool is_bad = false;
      for (size_t i = bad_before; i < bad.size(); ++i) is_bad = is_bad || bad[i].index == index;
      if (!is_bad) kept.push_back(index);
    }
    auto images = batch.images.to(runtime.device);
    auto labels = batch.labels.clone();
    if ((labels < 0).any().item<bool>()) {
      torch::NoGradGuard no_grad;
      auto pred = model->logits(images).argmax(1).to(torch::kCPU);
      predicted_labels += (labels < 0).sum().item<int64_t>();
      labels = torch::where(labels < 0, pred, labels);
    }
    if ((labels >= k).any().item<bool>()) {
      int64_t at = (labels >= k).nonzero()[0][0].item<int64_t>();
      throw InputError(batch.ids[at] + ": label " + std::to_string(labels[at].item<int64_t>()) +
                       " is out of range for a model with " + std::to_string(k) + " classes");
    }
    Goal goal = make_goal(goal_mode, *model, images, labels, derive_seed(runtime.seed, "goal-batch-" + std::to_string(b)));
    const auto ta = std::chrono::steady_clock::now();
    AttackResult r = attack->run(*model, images, labels, goal);
    attack_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - ta).count();
    gradient_calls += r.gradient_calls;

    // What the written files do: the adversarials as 8/16-bit images, evaluated again.
    auto saved = quantize(r.adversarial.detach().to(torch::kCPU), bits);
    at::Tensor saved_pred;
    {
      torch::NoGradGuard no_grad;
      saved_pred = model->logits(saved.to(runtime.device)).argmax(1).to(torch::kCPU);
    }
    auto saved_success = goal.targeted ? saved_pred.eq(goal.targets.to(torch::kCPU)) : saved_pred.ne(labels);
    auto clean_pred = r.clean_pred.to(torch::kCPU), adv_pred = r.adv_pred.to(torch::kCPU);
    auto success = r.success.to(torch::kCPU), linf = r.linf.to(torch::kCPU), l2 = r.l2.to(torch::kCPU);
    auto q = r.queries.to(torch::kCPU);
    at::Tensor targets = goal.targeted ? goal.targets.to(torch::kCPU) : at::Tensor();
    for (int64_t i = 0; i < batch.size(); ++i) {
      const int64_t index = kept[static_cast<size_t>(i)];
      const int64_t label = labels[i].item<int64_t>();
      const bool correct = clean_pred[i].item<int64_t>() == label;
      const bool ok = success[i].item<bool>();
      const bool still = adv_pred[i].item<int64_t>() == label;
      nlohmann::json line = {{"index", index},
                             {"id", batch.ids[static_cast<size_t>(i)]},
                             {"label", label},
                             {"label_predicted", batch.labels[i].item<int64_t>() < 0},
                             {"clean_pred", clean_pred[i].item<int64_t>()},
                             {"adv_pred", adv_pred[i].item<int64_t>()},
                             {"success", ok},
                             {"linf", linf[i].item<double>()},
                             {"l2", l2[i].item<double>()},
                             {"queries", q[i].item<int64_t>()},
                             {"saved_pred", saved_pred[i].item<int64_t>()}};
      if (goal.targeted) line["target"] = targets[i].item<int64_t>();
      if (!no_images) {
        char name[32];
        std::snprintf(name, sizeof(name), "images/%06lld.png", static_cast<long long>(index));
        write_image(staging + "/" + name, saved[i], 95, bits);
        line["file"] = name;
      }
      jsonl << line.dump() << "\n";
      ++n;
      clean_correct += correct;
      robust_correct += still;
      saved_robust += saved_pred[i].item<int64_t>() == label;
      saved_changed += saved_pred[i].item<int64_t>() != adv_pred[i].item<int64_t>();
      total_queries += q[i].item<int64_t>();
      queries.push_back(static_cast<double>(q[i].item<int64_t>()));
      if (correct && ok) {
        ++successes_on_correct;
        linf_ok.push_back(linf[i].item<double>());
        l2_ok.push_back(l2[i].item<double>());
      }
      if (correct && saved_success[i].item<bool>()) ++saved_success_on_correct;
    }
    if (r.details.is_object() && r.details.contains("stages")) {
      for (const auto& s : r.details["stages"]) {
        const std::string name = s["attack"];
        if (!stages.count(name)) stage_order.push_back(name);
        auto& t = stages[name];
        t.attacked += s["attacked"].get<int64_t>();
        t.broken += s["broken"].get<int64_t>();
        t.seconds += s["seconds"].get<double>();
        stage_robust[name] += s["robust"].get<int64_t>();
      }
    }
    progress.advance(static_cast<int64_t>(indices.size()),
                     "robust " + std::to_string(robust_correct) + "/" + std::to_string(n));
  }
  progress.finish();
  jsonl.close();
  if (!jsonl) throw InputError(staging + "/samples.jsonl: write failed");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  nlohmann::json result = {
      {"n", n},
      {"skipped", bad.size()},
      {"clean_accuracy", rate(clean_correct, n)},
      {"robust_accuracy", rate(robust_correct, n)},
      {"success_rate", rate(successes_on_correct, clean_correct)},
      {"linf", stats(linf_ok)},
      {"l2", stats(l2_ok)},
      {"queries", {{"total", total_queries}, {"per_sample", stats(queries)}}},
      {"gradient_calls", gradient_calls},
      {"seconds", seconds},
      {"attack_seconds", attack_seconds},
      {"images_per_second", attack_seconds > 0 ? static_cast<double>(n) / attack_seconds : 0.0},
      {"labels_from_predictions", predicted_labels},
      {"saved", {{"bit_depth", bits},
                 {"robust_accuracy", rate(saved_robust, n)},
                 {"success_rate", rate(saved_success_on_correct, clean_correct)},
                 {"prediction_changed", saved_changed}}},
  };
  if (!stage_order.empty()) {
    nlohmann::json st = nlohmann::json::array();
    for (const auto& name : stage_order) {
      const auto& t = stages[name];
      st.push_back({{"attack", name},
                    {"attacked", t.attacked},
                    {"broken", t.broken},
                    {"robust_accuracy", ratio(stage_robust[name], n)},
                    {"seconds", t.seconds}});
    }
    result["stages"] = st;
  }
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& item : bad) skipped.push_back({{"index", item.index}, {"id", item.id}, {"error", item.error}});
  nlohmann::json summary = run_header("attack", runtime, started);
  summary.update({
      {"model", model_file_json(model_path, spec)},
      {"model_had_metadata", model->had_metadata()},
      {"data", {{"name", dataset->info().name}, {"n", n_total}, {"limit", limit}, {"resize", resize}}},
      {"attack", {{"name", attack->name()}, {"black_box", attack->black_box()}, {"options", attack->options_json()}}},
      {"goal", goal_mode},
      {"batch_size", batch_size},
      {"result", result},
      {"skipped_items", skipped},
  });
  write_json(staging + "/summary.json", summary);
  folder.commit();
  char line[200];
  std::snprintf(line, sizeof(line), "clean accuracy %.4f, robust accuracy %.4f on %lld images (%.1f img/s), wrote %s",
                ratio(clean_correct, n), ratio(robust_correct, n), static_cast<long long>(n),
                attack_seconds > 0 ? static_cast<double>(n) / attack_seconds : 0.0, out.c_str());
  log_info(line);
  if (result.contains("stages")) {
    for (const auto& st : result["stages"]) {
      std::snprintf(line, sizeof(line), "  after %-8s robust accuracy %.4f (%lld attacked, %lld broken, %.1f s)",
                    st["attack"].get<std::string>().c_str(), st["robust_accuracy"].get<double>(),
                    static_cast<long long>(st["attacked"].get<int64_t>()),
                    static_cast<long long>(st["broken"].get<int64_t>()), st["seconds"].get<double>());
      log_info(line);
    }
  }
  if (!bad.empty()) {
    log_warn(std::to_string(bad.size()) + " image(s) could not be read and were skipped (see samples.jsonl)");
    return kExitGateFailed;
  }
  return kExitOk;
}

}  // namespace mirage::cli

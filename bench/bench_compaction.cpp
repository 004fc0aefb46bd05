// bench/bench_compaction.cpp — what batch compaction buys: the AutoAttack standard ensemble
// (APGD-CE, APGD-T, FAB-T, Square) with compaction (a broken sample leaves its stage's batch)
// against the same ensemble, same seed, same images, with compaction off (`compact=false`: every
// sample computed every step, masked; the reference implementation's cost). Both must give the
// same robust accuracy; the figure is the time ratio. The two runs alternate which goes first.
//
// mirage_bench compaction [model=cnn] [n=500] [eps=0.1] [steps=100] [queries=5000] [batch=250] [data] [rounds=1]
//   model: cnn (mirage's small CNN trained 2 epochs on 10k Fashion-MNIST images: a standard,
//   non-robust model), robust-cnn (the same net adversarially trained, PGD-5 at eps, 2 epochs on
//   10k), or a TorchScript file (e.g. tests/python/make_resnet.py's resnet18_cifar.pt) with
//   `data` a CIFAR-10 binary file (its test_batch.bin); labels are then the model's own
//   predictions on the data when it has random weights (every sample starts correct).
//
// Prints one JSON line: {"bench": "compaction", "model", "n", "eps", "clean_accuracy",
// "compact_s", "masked_s", "speedup", "robust_compact", "robust_masked", "stages_compact",
// "stages_masked"}.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "attacks/attack.h"
#include "attacks/pgd.h"
#include "bench/benches.h"
#include "lib/cifar.h"
#include "lib/classifier.h"
#include "lib/dataset.h"
#include "lib/image_tensor.h"
#include "lib/model.h"
#include "lib/runtime.h"

namespace {

using bench::seconds_since;

struct Target {
  std::unique_ptr<mirage::Model> model;
  torch::Tensor x, y;
};

mirage::Batch first_samples(mirage::Dataset& data, int64_t n) {
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < std::min(n, data.size()); ++i) idx.push_back(i);
  return data.get(idx);
}

// mirage's small CNN on 10k Fashion-MNIST training images, 2 epochs; with `adv_eps` > 0 each
// batch is replaced by its PGD-5 adversarial examples (Madry et al.; the whole budget).
std::unique_ptr<mirage::Model> train_cnn(double adv_eps, c10::Device device) {
  auto train = mirage::open_fashion_mnist("train");
  torch::manual_seed(0);
  mirage::SmallCnn net(mirage::SmallCnnOptions{});
  if (adv_eps <= 0) {
    mirage::ClassifierTrainOptions co;
    co.epochs = 2;
    co.limit = 10000;
    mirage::train_classifier(net, *train, nullptr, co, device);
    return mirage::as_model(net, {}, device);
  }
  net->to(device);
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
  mirage::PgdOptions po;
  po.eps = adv_eps;
  po.alpha = adv_eps / 2.5;
  po.steps = 5;
  po.early_stop = false;
  mirage::Pgd pgd(po);
  pgd.set_seed(1);
  mirage::FunctionModel view([&net](const at::Tensor& x) { return net->forward(x); },
                                 mirage::small_cnn_spec(net, {}), device);
  const int64_t limit = 10000, batch = 128;
  for (int epoch = 0; epoch < 2; ++epoch) {
    for (int64_t start = 0; start < limit; start += batch) {
      std::vector<int64_t> idx;
      for (int64_t i = start; i < std::min(limit, start + batch); ++i) idx.push_back((i * 7919 + epoch) % train->size());
      auto b = train->get(idx);
      auto x = b.images.to(device), y = b.labels.to(device);
      net->eval();
      auto adv = pgd.run(view, x, y, mirage::Goal::untargeted()).adversarial.detach();
      net->train();
      mirage::classifier_train_step(net, opt, adv, y);
    }
  }
  net->eval();
  return mirage::as_model(net, {}, device);
}

Target make_target(const std::string& which, const std::string& data_path, int64_t n, double eps, c10::Device device) {
  Target t;
  if (which == "cnn" || which == "robust-cnn") {
    t.model = train_cnn(which == "cnn" ? 0.0 : eps, device);
    auto test = mirage::open_fashion_mnist("test");
    auto b = first_samples(*test, n);
    t.x = b.images.to(device);
    t.y = b.labels.to(device);
    return t;
  }
  auto data = mirage::open_cifar_files({data_path}, mirage::CifarKind::kCifar10, "cifar");
  mirage::ModelSpec spec;
  spec.channels = 3;
  spec.height = 32;
  spec.width = 32;
  spec.num_classes = 10;
  t.model = mirage::TorchScriptModel::load(which, device, spec);
  auto b = first_samples(*data, n);
  t.x = b.images.to(device);
  t.y = b.labels.to(device);
  return t;
}

struct Outcome {
  double seconds = 0;
  int64_t robust = 0;
  nlohmann::json stages = nlohmann::json::array();
};

Outcome run_autoattack(const Target& t, bool compact, double eps, int64_t steps, int64_t queries, int64_t batch) {
  auto attack = mirage::make_attack(
      "autoattack", {{"eps", eps}, {"steps", steps}, {"queries", queries}, {"compact", compact}});
  attack->set_seed(0);
  Outcome o;
  std::vector<double> stage_seconds;
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t start = 0; start < t.x.size(0); start += batch) {
    const int64_t end = std::min(t.x.size(0), start + batch);
    auto r = attack->run(*t.model, t.x.slice(0, start, end), t.y.slice(0, start, end), mirage::Goal::untargeted());
    o.robust += (~r.success).sum().item<int64_t>();
    const auto& stages = r.details.at("stages");
    stage_seconds.resize(stages.size(), 0.0);
    for (size_t i = 0; i < stages.size(); ++i) stage_seconds[i] += stages[i].at("seconds").get<double>();
    if (start == 0) {
      for (const auto& s : stages) o.stages.push_back(s.at("attack"));
    }
  }
  o.seconds = seconds_since(t0);
  nlohmann::json named = nlohmann::json::object();
  for (size_t i = 0; i < stage_seconds.size(); ++i) named[o.stages[i].get<std::string>()] = stage_seconds[i];
  o.stages = named;
  return o;
}

}  // namespace

int bench_compaction(const std::vector<std::string>& args) {
  auto arg = [&](size_t i, const char* fallback) { return args.size() > i ? args[i] : std::string(fallback); };
  const std::string which = arg(0, "cnn");
  const int64_t n = std::atoll(arg(1, "500").c_str());
  const double eps = std::atof(arg(2, "0.1").c_str());
  const int64_t steps = std::atoll(arg(3, "100").c_str());
  const int64_t queries = std::atoll(arg(4, "5000").c_str());
  const int64_t batch = std::atoll(arg(5, "250").c_str());
  const std::string data = arg(6, "");
  const int rounds = std::atoi(arg(7, "1").c_str());
  if (n < 1 || !(eps > 0) || steps < 1 || queries < 1 || batch < 1 || rounds < 1 ||
      (which != "cnn" && which != "robust-cnn" && data.empty())) {
    std::fprintf(stderr,
                 "usage: mirage_bench compaction [cnn|robust-cnn|MODEL.pt] [n=500] [eps=0.1] [steps=100] [queries=5000] "
                 "[batch=250] [CIFAR_FILE, with MODEL.pt] [rounds=1]\n");
    return 2;
  }
  mirage::RuntimeOptions ro;
  auto runtime = mirage::init_runtime(ro);
  Target t = make_target(which, data, n, eps, runtime.device);
  double clean = 0;
  {
    torch::NoGradGuard g;
    clean = t.model->logits(t.x).argmax(1).eq(t.y).to(torch::kDouble).mean().item<double>();
  }
  Outcome packed, masked;
  double packed_s = 0, masked_s = 0;
  for (int r = 0; r < rounds; ++r) {
    for (int side = 0; side < 2; ++side) {
      const bool compact_now = (side == 0) == (r % 2 == 1);  // round 0: masked first
      auto o = run_autoattack(t, compact_now, eps, steps, queries, batch);
      (compact_now ? packed_s : masked_s) += o.seconds;
      (compact_now ? packed : masked) = o;
    }
  }
  const double count = static_cast<double>(t.x.size(0));
  nlohmann::json line = {{"bench", "compaction"},
                         {"model", std::filesystem::path(which).filename().string()},
                         {"device", runtime.device.str()},
                         {"threads", runtime.threads},
                         {"n", t.x.size(0)},
                         {"eps", eps},
                         {"steps", steps},
                         {"queries", queries},
                         {"batch", batch},
                         {"rounds", rounds},
                         {"clean_accuracy", clean},
                         {"compact_s", packed_s / rounds},
                         {"masked_s", masked_s / rounds},
                         {"speedup", masked_s / packed_s},
                         {"robust_compact", static_cast<double>(packed.robust) / count},
                         {"robust_masked", static_cast<double>(masked.robust) / count},
                         {"stages_compact_s", packed.stages},
                         {"stages_masked_s", masked.stages}};
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
  return 0;
}

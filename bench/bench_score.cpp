// bench/bench_score.cpp — detector scoring throughput: mirage's scoring path (load_detector +
// score_images, what `mirage score` and `eval-detector` run once images are decoded) against a
// raw loop over the same TorchScript file (torch::jit::load, p_fake per batch under NoGradGuard),
// on the same pre-made images and batch size. Rounds alternate which side goes first.
//
// Prints one JSON line: {"bench": "detector_score", "kind", "width", "images", "batch", "threads",
// "mirage_img_s", "baseline_img_s", "ratio" (median over rounds of mirage / baseline img/s),
// "max_abs_diff" (the two sides' p_fake must agree)}.
#include <torch/script.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/benches.h"
#include "detectors/detector.h"
#include "detectors/detector_net.h"
#include "detectors/evaluate.h"
#include "lib/runtime.h"

int bench_score(const std::vector<std::string>& args) {
  using namespace mirage;
  const int rounds = args.size() > 0 ? std::stoi(args[0]) : 5;
  const int64_t n = args.size() > 1 ? std::stoll(args[1]) : 4096;
  const int64_t batch = args.size() > 2 ? std::stoll(args[2]) : 256;
  const int64_t width = args.size() > 3 ? std::stoll(args[3]) : 32;
  const int threads = args.size() > 4 ? std::stoi(args[4]) : 1;
  RuntimeOptions ro;
  ro.threads = threads;
  init_runtime(ro);
  torch::manual_seed(0);
  const std::string path = (std::filesystem::temp_directory_path() / ("mirage-bench-score-" + std::to_string(::getpid()) + ".pt")).string();
  {
    DetectorNetImpl net(DetectorNetOptions{"cnn", 1, 28, width});
    DetectorInfo info;
    info.kind = "cnn";
    export_detector(net, info, path);
  }
  auto detector = load_detector(path, torch::kCPU);
  torch::jit::Module raw = torch::jit::load(path);
  raw.eval();
  std::filesystem::remove(path);
  const auto images = torch::rand({n, 1, 28, 28});

  auto run_mirage = [&] { return score_images(*detector, images, batch); };
  auto run_raw = [&] {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> out;
    for (int64_t s = 0; s < n; s += batch) out.push_back(raw.get_method("p_fake")({images.slice(0, s, std::min(n, s + batch))}).toTensor());
    return torch::cat(out);
  };
  const auto a = run_mirage();
  const auto b = run_raw();  // warm-up both, and check they agree
  double max_diff = 0;
  for (int64_t i = 0; i < n; ++i) max_diff = std::max(max_diff, std::abs(a[static_cast<size_t>(i)] - b[i].item<double>()));
  std::vector<double> ratios, mirage_rates, raw_rates;
  for (int r = 0; r < rounds; ++r) {
    double tm = 0, tb = 0;
    for (int side = 0; side < 2; ++side) {
      const bool mirage_turn = (side == 0) == (r % 2 == 0);
      const auto t0 = std::chrono::steady_clock::now();
      if (mirage_turn) {
        run_mirage();
        tm = bench::seconds_since(t0);
      } else {
        run_raw();
        tb = bench::seconds_since(t0);
      }
    }
    mirage_rates.push_back(static_cast<double>(n) / tm);
    raw_rates.push_back(static_cast<double>(n) / tb);
    ratios.push_back(tb / tm);
  }
  std::printf(
      "{\"bench\": \"detector_score\", \"kind\": \"cnn\", \"width\": %lld, \"images\": %lld, \"batch\": %lld, "
      "\"threads\": %d, \"mirage_img_s\": %.0f, \"baseline_img_s\": %.0f, \"ratio\": %.3f, \"max_abs_diff\": %.2e}\n",
      static_cast<long long>(width), static_cast<long long>(n), static_cast<long long>(batch), threads,
      bench::median(mirage_rates), bench::median(raw_rates), bench::median(ratios), max_diff);
  return 0;
}

#include "reports/score_run.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "lib/error.h"
#include "lib/image/convert.h"
#include "lib/image/folder_dataset.h"
#include "lib/log.h"

namespace mirage {

ScoreInputs open_score_inputs(const std::vector<std::string>& inputs, const std::string& list, Detector& detector,
                              const std::string& detector_path) {
  ResizePolicy policy;
  try {
    policy = parse_resize_policy(detector.info().input_policy);
  } catch (const UsageError& e) {
    throw UsageError(detector_path + ": input_policy: " + e.what());
  }
  ImageFileList files;
  if (!inputs.empty()) files = collect_image_paths(inputs);
  if (!list.empty()) {
    const ImageFileList listed = read_image_list(list);
    files.paths.insert(files.paths.end(), listed.paths.begin(), listed.paths.end());
    files.name += (files.name.empty() ? "" : " ") + list;
  }
  files.labels.assign(files.paths.size(), -1);
  files.class_names.clear();
  ScoreInputs out;
  out.paths = files.paths;
  out.input_policy = resize_policy_name(policy);
  ImageShape shape;
  shape.channels = detector.spec().channels;
  shape.height = detector.spec().height;
  shape.width = detector.spec().width;
  out.images = std::make_shared<ImageFilesDataset>(std::move(files), shape, policy);
  return out;
}

nlohmann::json ScoreTotals::to_json() const {
  return {{"n", n},
          {"scored", scored},
          {"failed", bad.size()},
          {"fake", fake},
          {"real", scored - fake},
          {"mean_p_fake", scored > 0 ? nlohmann::json(sum_p_fake / static_cast<double>(scored)) : nlohmann::json(nullptr)},
          {"seconds", seconds},
          {"images_per_second", images_per_second()}};
}

ScoreTotals score_files(Detector& detector, const ScoreInputs& inputs, int64_t batch_size, double threshold,
                        std::ostream& lines, bool flush) {
  if (batch_size < 1) throw UsageError("batch size must be >= 1");
  ScoreTotals t;
  t.n = static_cast<int64_t>(inputs.paths.size());
  const auto t0 = std::chrono::steady_clock::now();
  Progress progress("score", t.n);
  for (int64_t first = 0; first < t.n; first += batch_size) {
    std::vector<int64_t> indices;
    for (int64_t i = first; i < std::min(first + batch_size, t.n); ++i) indices.push_back(i);
    const size_t bad_before = t.bad.size();
    Batch batch = get_batch_skipping_bad(*inputs.images, indices, t.bad);
    at::Tensor p;
    if (batch.size() > 0) {
      torch::NoGradGuard no_grad;
      p = detector.p_fake(batch.images.to(detector.device())).to(torch::kCPU, torch::kDouble).contiguous();
    }
    // Good items come back in order, so walking the indices interleaves them with the bad ones.
    size_t next_bad = bad_before;
    int64_t row = 0;
    for (int64_t index : indices) {
      const std::string& path = inputs.paths[static_cast<size_t>(index)];
      if (next_bad < t.bad.size() && t.bad[next_bad].index == index) {
        log_warn(t.bad[next_bad].error);
        lines << nlohmann::json{{"path", path}, {"error", t.bad[next_bad].error}}.dump() << "\n";
        t.bad[next_bad].id = path;  // the summary names files, not data-set indices
        ++next_bad;
        continue;
      }
      const double p_fake = p.data_ptr<double>()[row++];
      const bool is_fake = p_fake >= threshold;
      lines << nlohmann::json{{"path", path}, {"p_fake", p_fake}, {"verdict", is_fake ? "fake" : "real"},
                              {"threshold", threshold}}
                   .dump()
            << "\n";
      ++t.scored;
      t.fake += is_fake;
      t.sum_p_fake += p_fake;
    }
    if (flush) lines.flush();
    progress.advance(static_cast<int64_t>(indices.size()), "fake " + std::to_string(t.fake) + "/" + std::to_string(t.scored));
  }
  progress.finish();
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return t;
}

}  // namespace mirage

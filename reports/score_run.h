// reports/score_run.h — `mirage score` as library calls: the image files a run takes (files,
// folders, lists, in the order given) fitted to a detector's input, and the scoring of them in
// batches, one JSON line per file in input order; a file that cannot be read gets an error line
// and the run goes on.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "detectors/detector.h"
#include "lib/dataset.h"

namespace mirage {

// The files of `inputs` (image files, folders walked recursively, list files) then of `list`
// ("" = none), unlabelled, read as `detector` takes them (its channels and size, by its
// input_policy). InputError for a missing input or no images; UsageError for a detector whose
// input_policy is not crop, stretch or imagenet.
struct ScoreInputs {
  std::vector<std::string> paths;  // in scoring order
  std::shared_ptr<Dataset> images;  // ids are the paths
  std::string input_policy;        // "crop" or "stretch", as applied
};
ScoreInputs open_score_inputs(const std::vector<std::string>& inputs, const std::string& list, Detector& detector,
                              const std::string& detector_path);

struct ScoreTotals {
  int64_t n = 0, scored = 0, fake = 0;
  double sum_p_fake = 0;
  std::vector<BadItem> bad;  // id = the file's path
  double seconds = 0;
  double images_per_second() const { return seconds > 0 ? static_cast<double>(scored) / seconds : 0.0; }
  // {"n", "scored", "failed", "fake", "real", "mean_p_fake", "seconds", "images_per_second"}
  nlohmann::json to_json() const;
};

// Scores every file in batches of `batch_size`, writing to `lines` in input order
//   {"path": ..., "p_fake": ..., "verdict": "fake"|"real", "threshold": ...} or {"path": ..., "error": ...}
// (flushed after each batch when `flush`), logging each unreadable file, with a progress bar.
ScoreTotals score_files(Detector& detector, const ScoreInputs& inputs, int64_t batch_size, double threshold,
                        std::ostream& lines, bool flush);

}  // namespace mirage

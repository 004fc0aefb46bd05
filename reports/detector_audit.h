// reports/detector_audit.h — the detector audit: a detector's overall metrics at its stored
// threshold (detectors/evaluate.h) and its blind spots (detectors/blind_spots.h), gated for CI.
// Plain structs out; detector_report_json shapes the versioned report
// (reports/schemas/detector.schema.json, docs/reports.md).
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "detectors/blind_spots.h"
#include "detectors/evaluate.h"
#include "reports/audit_config.h"
#include "reports/gates.h"
#include "reports/report_json.h"
#include "reports/robustness_audit.h"

namespace mirage {

// One point of a ROC curve: the rates of "fake iff p_fake >= t" for some threshold t.
struct RocPoint {
  double fpr = 0, tpr = 0;
};

// The ROC curve of `scores` (label 1 positive): one vertex per distinct score, from (0,0) to
// (1,1), both rates non-decreasing (tied scores give one diagonal step, so the trapezoid area is
// exactly roc_auc). Thinned to at most `max_points` vertices (4 at least): a vertex goes only
// from a stretch of L1 length <= 4 / (max_points - 3), replaced by its chord, so the area moves
// by at most half the boxes of those stretches (<= 0.01 at 200 points, far less in practice).
// Needs both classes (InputError otherwise).
std::vector<RocPoint> roc_curve(const std::vector<double>& scores, const std::vector<int>& labels,
                                size_t max_points = 200);

struct DetectorAudit {
  double threshold = 0.5;
  DetectionMetrics overall;   // reals vs every fake, unprocessed
  std::vector<RocPoint> roc;  // of the same scores, at most 200 points
  BlindSpotReport blind_spots;  // findings ranked worst first
  at::Tensor found_images;    // the latent search's finds (undefined when it did not run)
  std::string data_sha256;    // over "id\t<0 real|1 fake>\n" of every image, fakes then reals
  std::vector<StageTime> stages;  // scoring, slices, then the extra search when given
  StageTime total;
};

// Scores every image, computes the overall metrics (needs reals and fakes) and runs the
// blind-spot search of `config`. Random choices come from derive_seed(seed, "blind-spots").
DetectorAudit run_detector_audit(Detector& detector, const BlindSpotData& data, const DetectorAuditConfig& config,
                                 const ImageCodec& codec, uint64_t seed,
                                 const std::function<void(const std::string&)>& progress = {});

struct DetectorGateResult {
  DetectorGate gate;
  std::string op;  // ">=" or "<="
  double threshold = 0;
  bool found = true;  // false: no finding matched (value null, the gate fails)
  double value = 0;
  int64_t finding_rank = 0;  // the finding the value comes from (1 = worst); 0 = none
  bool passed = false;
};

// One result per bound of each gate, in config order. max_slice_failure_rate is the largest rate
// among findings with n >= min_n (config.min_slice when the gate gives none), 0 when none is
// that large; slice_failure_rate the rate of the first (worst) finding that matches.
std::vector<DetectorGateResult> evaluate_detector_gates(const DetectorAuditConfig& config, const DetectorAudit& audit);
bool all_passed(const std::vector<DetectorGateResult>& gates);
// What `mirage audit detector` logs: the headline metrics, the five worst findings, each gate.
std::vector<LogLine> detector_audit_lines(const DetectorAudit& audit, const std::vector<DetectorGateResult>& gates);

// What the audit does not know about its inputs.
struct DetectorReportMetadata {
  std::vector<std::string> command;
  std::string device = "cpu";
  int threads = 1;
  uint64_t seed = 0;
  std::string detector_path, detector_sha256;
  nlohmann::json detector_spec = nlohmann::json::object();
  nlohmann::json sources = nlohmann::json::array();  // {"name", "spec", "kind", "n"}
  std::vector<std::string> class_names;
  std::string image_dir, image_prefix;  // where example PNGs go, how the report names them; empty = none
};

// The full report: schema_version, kind "detector", reproducibility, detector, data, config as
// given, timing, overall, findings (worst first, with examples and reproduce commands), gates,
// passed. Writes the example images when meta.image_dir is set.
nlohmann::json detector_report_json(const DetectorAudit& audit, const BlindSpotData& data,
                                    const DetectorAuditConfig& config, const std::vector<DetectorGateResult>& gates,
                                    const DetectorReportMetadata& meta);

}  // namespace mirage

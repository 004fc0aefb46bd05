#include "reports/detector_audit.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "detectors/detector.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/hash.h"
#include "lib/image/io.h"
#include "lib/log.h"
#include "lib/runtime.h"
#include "lib/version.h"
#include "reports/blind_spot_json.h"
#include "reports/gates.h"

namespace mirage {

namespace {



// A gate's parameter matches a finding's when equal, numbers compared as numbers (50 == 50.0).
bool same_value(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    return std::fabs(x - y) <= 1e-9 * std::max(1.0, std::fabs(y));
  }
  return a == b;
}

bool matches(const DetectorGate& g, const Finding& f) {
  if (!g.search.empty() && f.search != g.search) return false;
  if (!g.population.empty() && f.population != g.population) return false;
  if (g.metric == "max_slice_failure_rate") return true;
  if (f.slice != g.slice) return false;
  for (auto it = g.parameters.begin(); it != g.parameters.end(); ++it) {
    if (!f.parameters.contains(it.key()) || !same_value(f.parameters[it.key()], it.value())) return false;
  }
  return true;
}

double overall_value(const std::string& metric, const DetectionMetrics& m) {
  if (metric == "auc") return m.auc;
  if (metric == "average_precision") return m.average_precision;
  if (metric == "accuracy") return m.accuracy;
  if (metric == "tpr") return m.tpr;
  if (metric == "fpr") return m.fpr;
  if (metric == "tpr_at_1pct_fpr") return m.tpr_at_1pct_fpr;
  if (metric == "eer") return m.eer;
  if (metric == "ece") return m.ece;
  throw InternalError("no detector metric '" + metric + "'");
}

// The shortest text that reads back as `d` ("1", "0.1", "0.0039215686274509803").
std::string number(double d) {
  char text[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof(text), "%.*g", precision, d);
    if (std::strtod(text, nullptr) == d) break;
  }
  return text;
}

// The `mirage blind-spots` flags that rerun only this finding's slice: every sweep off but its
// own, findings of any size kept. (Noise slices draw their noise per sweep position, so a noise
// slice's images differ from the audit's in the noise itself, not in its sigma.)
std::string slice_command(const Finding& f, const DetectorAuditConfig& c, const DetectorReportMetadata& meta, int rank) {
  std::string cmd = "mirage blind-spots --detector " + meta.detector_path;
  std::string real = "none";
  for (const auto& s : meta.sources) {
    if (s.value("name", "") == "real" && s.value("kind", "") == "images") real = s.value("spec", "none");
    else cmd += " --fake " + s.value("spec", "");
  }
  cmd += " --real " + real + " --seed " + std::to_string(meta.seed) + " --n " + std::to_string(c.n) + " --limit " +
         std::to_string(c.limit) + " --examples " + std::to_string(c.options.examples) + " --min-slice 1";
  std::string jpeg = "none", blur = "none", resize = "none", noise = "none", crop = "none", linf = "none", l2 = "none";
  std::string extra = " --no-minimal --square-queries 0";
  int64_t latent = 0, clusters = 0, evasion_samples = 0;
  const auto& p = f.parameters;
  if (f.search == "post-processing") {
    if (f.slice == "jpeg" && p.contains("quality")) jpeg = p["quality"].dump();
    if (f.slice == "blur" && p.contains("sigma")) blur = number(p["sigma"].get<double>());
    if (f.slice == "resize" && p.contains("scale")) resize = number(p["scale"].get<double>());
    if (f.slice == "noise" && p.contains("sigma")) noise = number(p["sigma"].get<double>());
    if (f.slice == "crop" && p.contains("fraction")) crop = number(p["fraction"].get<double>());
  } else if (f.search == "evasion") {
    evasion_samples = c.options.evasion_samples;
    const std::string norm = p.value("norm", "");
    if (f.slice.rfind("minimal-", 0) == 0) {
      extra = " --square-queries 0";
    } else if (p.contains("eps")) {
      (norm == "l2" ? l2 : linf) = number(p["eps"].get<double>());
      if (f.slice.rfind("square-", 0) == 0) extra = " --no-minimal --square-queries " + std::to_string(c.options.square_queries);
    }
    extra += " --pgd-steps " + std::to_string(c.options.pgd_steps);
  } else if (f.search == "latent-cluster") {
    clusters = c.options.clusters;
  } else if (f.search == "latent-search") {
    const LatentSearchSettings& s = c.options.latent_search;
    latent = s.n;
    extra += " --search-steps " + std::to_string(s.steps) + " --search-lr " + number(s.lr) + " --lambda-z " +
             number(s.lambda_z) + (s.gradient_free ? " --gradient-free" : "");
  }
  cmd += " --jpeg " + jpeg + " --blur " + blur + " --resize " + resize + " --noise " + noise + " --crop " + crop +
         " --eps-linf " + linf + " --eps-l2 " + l2 + " --evasion-samples " + std::to_string(evasion_samples) +
         " --latent-search " + std::to_string(latent) + " --clusters " + std::to_string(clusters) + extra +
         " --out blind-spot-" + std::to_string(rank);
  return cmd;
}

}  // namespace

std::vector<RocPoint> roc_curve(const std::vector<double>& scores, const std::vector<int>& labels, size_t max_points) {
  if (scores.size() != labels.size()) {
    throw InputError("roc_curve: " + std::to_string(scores.size()) + " scores but " + std::to_string(labels.size()) +
                     " labels");
  }
  const int64_t positives = std::count(labels.begin(), labels.end(), 1);
  const int64_t negatives = static_cast<int64_t>(labels.size()) - positives;
  if (positives == 0 || negatives == 0) {
    throw InputError("roc_curve: needs both classes, got " + std::to_string(positives) + " positives and " +
                     std::to_string(negatives) + " negatives");
  }
  std::vector<size_t> order(scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  // Lowering the threshold past each group of tied scores adds the whole group at once.
  std::vector<RocPoint> full = {{0.0, 0.0}};
  int64_t tp = 0, fp = 0;
  for (size_t start = 0; start < order.size();) {
    size_t end = start;
    for (; end < order.size() && scores[order[end]] == scores[order[start]]; ++end) (labels[order[end]] == 1 ? tp : fp)++;
    full.push_back({static_cast<double>(fp) / static_cast<double>(negatives),
                    static_cast<double>(tp) / static_cast<double>(positives)});
    start = end;
  }
  max_points = std::max<size_t>(max_points, 4);
  if (full.size() <= max_points) return full;
  // Greedy thinning: keep a vertex when skipping it would make the chord from the last kept one
  // longer than `step`. Two consecutive kept stretches then add up to more than `step`, and the
  // curve's L1 length is at most 2, which bounds the count by max_points.
  const double step = 4.0 / static_cast<double>(max_points - 3);
  auto l1 = [](const RocPoint& a, const RocPoint& b) { return std::fabs(b.fpr - a.fpr) + std::fabs(b.tpr - a.tpr); };
  std::vector<RocPoint> out = {full.front()};
  for (size_t i = 1; i + 1 < full.size(); ++i) {
    if (l1(out.back(), full[i + 1]) > step) out.push_back(full[i]);
  }
  out.push_back(full.back());
  return out;
}

DetectorAudit run_detector_audit(Detector& detector, const BlindSpotData& data, const DetectorAuditConfig& config,
                                 const ImageCodec& codec, uint64_t seed,
                                 const std::function<void(const std::string&)>& progress) {
  DetectorAudit audit;
  StageClock total("total");
  audit.threshold = detector.threshold();
  if (!data.fakes.defined() || data.fakes.size(0) == 0) throw UsageError("the detector audit needs fakes");
  if (!data.reals.defined() || data.reals.size(0) == 0) {
    throw UsageError("the detector audit needs reals (--real): AUC and the gates compare reals with fakes");
  }
  std::string identity;
  for (const auto& id : data.fake_ids) identity += id + "\t1\n";
  for (const auto& id : data.real_ids) identity += id + "\t0\n";
  audit.data_sha256 = sha256_hex(identity);

  StageClock scoring("scoring");
  DetectorScores scores;
  for (double p : score_images(detector, data.fakes, config.options.batch_size)) {
    scores.p_fake.push_back(p);
    scores.label.push_back(1);
  }
  for (double p : score_images(detector, data.reals, config.options.batch_size)) {
    scores.p_fake.push_back(p);
    scores.label.push_back(0);
  }
  audit.overall = detection_metrics(scores, audit.threshold);
  audit.roc = roc_curve(scores.p_fake, scores.label);
  audit.stages.push_back(scoring.stop());

  StageClock slices("slices");
  BlindSpotOptions options = config.options;
  options.seed = derive_seed(seed, "blind-spots");
  options.latent_search.n = 0;  // timed as a stage of its own, below
  audit.blind_spots = search_blind_spots(detector, data, options, codec, progress);
  audit.stages.push_back(slices.stop());
  if (data.gan && config.options.latent_search.n > 0) {
    StageClock search("latent-search");
    if (progress) progress("latent search over " + std::to_string(config.options.latent_search.n) + " codes");
    options.latent_search = config.options.latent_search;
    add_latent_search_slice(detector, data, options, audit.blind_spots);
    audit.found_images = audit.blind_spots.found_images;
    audit.stages.push_back(search.stop());
  }
  audit.total = total.stop();
  return audit;
}

std::vector<DetectorGateResult> evaluate_detector_gates(const DetectorAuditConfig& config, const DetectorAudit& audit) {
  std::vector<DetectorGateResult> out;
  for (const auto& gate : config.gates) {
    DetectorGateResult base;
    base.gate = gate;
    if (gate.metric == "max_slice_failure_rate") {
      const int64_t min_n = gate.min_n > 0 ? gate.min_n : config.options.min_slice;
      base.value = 0;
      int64_t rank = 0;
      for (const auto& f : audit.blind_spots.findings) {
        ++rank;
        if (f.n < min_n || !matches(gate, f)) continue;
        if (base.finding_rank == 0 || f.rate > base.value) {
          base.value = f.rate;
          base.finding_rank = rank;
        }
      }
    } else if (gate.metric == "slice_failure_rate") {
      base.found = false;
      int64_t rank = 0;
      for (const auto& f : audit.blind_spots.findings) {
        ++rank;
        if (!matches(gate, f)) continue;
        base.found = true;
        base.value = f.rate;
        base.finding_rank = rank;
        break;
      }
    } else {
      base.value = overall_value(gate.metric, audit.overall);
    }
    for (int bound = 0; bound < 2; ++bound) {
      if (bound == 0 && !gate.has_min) continue;
      if (bound == 1 && !gate.has_max) continue;
      DetectorGateResult g = base;
      g.op = bound == 0 ? ">=" : "<=";
      g.threshold = bound == 0 ? gate.min : gate.max;
      // A slice the audit did not see cannot be shown to pass.
      g.passed = g.found && (bound == 0 ? g.value >= g.threshold : g.value <= g.threshold);
      out.push_back(g);
    }
  }
  return out;
}

bool all_passed(const std::vector<DetectorGateResult>& gates) {
  for (const auto& g : gates) {
    if (!g.passed) return false;
  }
  return true;
}

nlohmann::json detector_report_json(const DetectorAudit& audit, const BlindSpotData& data,
                                    const DetectorAuditConfig& config, const std::vector<DetectorGateResult>& gates,
                                    const DetectorReportMetadata& meta) {

  if (!meta.image_dir.empty()) ensure_directory(meta.image_dir);
  nlohmann::json findings =
      findings_json(audit.blind_spots, data, audit.found_images, meta.sources, meta.image_dir, meta.image_prefix);
  for (size_t i = 0; i < findings.size(); ++i) {
    const Finding& f = audit.blind_spots.findings[i];
    findings[i]["severity"] = f.ci_low;
    findings[i]["reproduce"] = slice_command(f, config, meta, static_cast<int>(i + 1));
  }

  nlohmann::json gate_rows = nlohmann::json::array();
  for (const auto& g : gates) {
    nlohmann::json row = {{"metric", g.gate.metric},
                          {"op", g.op},
                          {"threshold", g.threshold},
                          {"value", g.found ? nlohmann::json(g.value) : nlohmann::json(nullptr)},
                          {"finding_rank", g.finding_rank > 0 ? nlohmann::json(g.finding_rank) : nlohmann::json(nullptr)},
                          {"passed", g.passed}};
    if (!g.gate.search.empty()) row["search"] = g.gate.search;
    if (!g.gate.slice.empty()) row["slice"] = g.gate.slice;
    if (!g.gate.population.empty()) row["population"] = g.gate.population;
    if (g.gate.metric == "slice_failure_rate") row["parameters"] = g.gate.parameters;
    if (g.gate.metric == "max_slice_failure_rate") {
      row["min_n"] = g.gate.min_n > 0 ? g.gate.min_n : config.options.min_slice;
    }
    gate_rows.push_back(row);
  }

  const auto& m = audit.overall;
  const auto& b = audit.blind_spots;
  nlohmann::json roc = nlohmann::json::array();
  for (const auto& p : audit.roc) roc.push_back({{"fpr", p.fpr}, {"tpr", p.tpr}});
  return {
      {"schema_version", kReportSchemaVersion},
      {"kind", "detector"},
      {"reproducibility", reproducibility_json(meta.command, meta.device, meta.threads, meta.seed)},
      {"detector", {{"path", meta.detector_path}, {"sha256", meta.detector_sha256}, {"spec", meta.detector_spec}}},
      {"data",
       {{"sources", meta.sources},
        {"n_real", b.n_reals},
        {"n_fake", b.n_fakes},
        {"class_names", data.class_names},
        {"sha256", audit.data_sha256},
        {"identity", "sha256 of \"id<TAB>label\\n\" over the fakes (label 1) then the reals (label 0), in order"}}},
      {"config", config.source},
      {"timing", timing_json(audit.total, audit.stages)},
      {"overall",
       {{"n_real", m.n_real},
        {"n_fake", m.n_fake},
        {"threshold", audit.threshold},
        {"auc", m.auc},
        {"average_precision", m.average_precision},
        {"accuracy", m.accuracy},
        {"tpr", m.tpr},
        {"fpr", m.fpr},
        {"tpr_at_1pct_fpr", m.tpr_at_1pct_fpr},
        {"eer", m.eer},
        {"ece", m.ece},
        {"fakes_called_real", failure_rate_json(b.misses, b.n_fakes)},
        {"reals_called_fake", failure_rate_json(b.false_alarms, b.n_reals)},
        {"roc", roc}}},
      {"findings", findings},
      {"gates", gate_rows},
      {"passed", all_passed(gates)},
  };
}

std::vector<LogLine> detector_audit_lines(const DetectorAudit& audit, const std::vector<DetectorGateResult>& gates) {
  std::vector<LogLine> out;
  const auto& m = audit.overall;
  char line[256];
  std::snprintf(line, sizeof(line), "AUC %.4f, TPR@1%%FPR %.4f, accuracy %.4f at threshold %.4f on %lld reals, %lld fakes",
                m.auc, m.tpr_at_1pct_fpr, m.accuracy, audit.threshold, static_cast<long long>(m.n_real),
                static_cast<long long>(m.n_fake));
  out.push_back({line});
  const auto& findings = audit.blind_spots.findings;
  for (size_t i = 0; i < findings.size() && i < 5; ++i) out.push_back({finding_line(i + 1, findings[i])});
  for (const auto& g : gates) {
    std::string what = g.gate.metric + (g.gate.slice.empty() ? "" : " " + g.gate.slice + " " + g.gate.parameters.dump());
    if (g.found) {
      std::snprintf(line, sizeof(line), "gate %s: %.4f %s %.4f %s", what.c_str(), g.value, g.op.c_str(), g.threshold,
                    g.passed ? "passed" : "FAILED");
    } else {
      std::snprintf(line, sizeof(line), "gate %s: no such finding FAILED", what.c_str());
    }
    out.push_back({line, !g.passed});
  }
  return out;
}

}  // namespace mirage

#include "reports/report_json.h"

#include <cstdio>

#include "lib/atomic_file.h"
#include "lib/image/io.h"
#include "lib/json_io.h"
#include "lib/version.h"

namespace mirage {

namespace {

nlohmann::json stage_json(const StageTime& t) {
  return {{"name", t.name}, {"started", t.started}, {"finished", t.finished}, {"seconds", t.seconds}};
}

// The per-sample records, one array per field (a report of 10k samples stays small and diffable).
nlohmann::json samples_json(const RobustnessAudit& audit) {
  nlohmann::json index = nlohmann::json::array(), id = nlohmann::json::array(), label = nlohmann::json::array(),
                 clean_pred = nlohmann::json::array(), clean_correct = nlohmann::json::array();
  for (const auto& s : audit.samples) {
    index.push_back(s.index);
    id.push_back(s.id);
    label.push_back(s.label);
    clean_pred.push_back(s.clean_pred);
    clean_correct.push_back(s.clean_correct);
  }
  nlohmann::json results = nlohmann::json::array();
  for (size_t r = 0; r < audit.results.size(); ++r) {
    nlohmann::json correct = nlohmann::json::array(), adv_pred = nlohmann::json::array(),
                   linf = nlohmann::json::array(), l2 = nlohmann::json::array(), queries = nlohmann::json::array();
    for (const auto& s : audit.samples) {
      const SampleOutcome& o = s.outcomes.at(r);
      correct.push_back(o.correct);
      adv_pred.push_back(o.adv_pred);
      linf.push_back(o.linf);
      l2.push_back(o.l2);
      queries.push_back(o.queries);
    }
    results.push_back({{"attack", audit.results[r].attack},
                       {"eps_text", audit.results[r].eps_text},
                       {"correct", correct},
                       {"adv_pred", adv_pred},
                       {"linf", linf},
                       {"l2", l2},
                       {"queries", queries}});
  }
  return {{"index", index},           {"id", id},
          {"label", label},           {"clean_pred", clean_pred},
          {"clean_correct", clean_correct}, {"results", results}};
}

nlohmann::json shard_json(const RobustnessAudit& audit) {
  if (!audit.shard.sharded()) return nullptr;
  return {{"index", audit.shard.index},
          {"count", audit.shard.count},
          {"first", audit.first},
          {"end", audit.end},
          {"total_n", audit.total_n}};
}

nlohmann::json per_class_json(const std::vector<Rate>& rates, const std::vector<std::string>& names) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t c = 0; c < rates.size(); ++c) {
    nlohmann::json row = {{"class", c}, {"n", rates[c].of}, {"accuracy", rate_json(rates[c])}};
    if (c < names.size()) row["name"] = names[c];
    out.push_back(row);
  }
  return out;
}

}  // namespace

std::string worst_image_name(size_t result, size_t rank, bool adversarial, const Shard& shard) {
  char name[96];
  std::snprintf(name, sizeof(name), "result%02zu_worst%02zu_%s.png", result, rank, adversarial ? "adv" : "clean");
  if (!shard.sharded()) return name;
  char prefix[64];
  std::snprintf(prefix, sizeof(prefix), "shard%02lld-of-%02lld_", static_cast<long long>(shard.index),
                static_cast<long long>(shard.count));
  return prefix + std::string(name);
}

void write_worst_images(const RobustnessAudit& audit, const std::string& dir) {
  ensure_directory(dir);
  for (size_t r = 0; r < audit.results.size(); ++r) {
    const auto& worst = audit.results[r].worst;
    for (size_t w = 0; w < worst.size(); ++w) {
      if (!worst[w].clean.defined() || !worst[w].adversarial.defined()) continue;
      write_image(dir + "/" + worst_image_name(r, w, false, audit.shard), worst[w].clean, 95, 16);
      write_image(dir + "/" + worst_image_name(r, w, true, audit.shard), worst[w].adversarial, 95, 16);
    }
  }
}

nlohmann::json reproducibility_json(const std::vector<std::string>& command, const std::string& device, int threads,
                                    uint64_t seed) {
  nlohmann::json versions = version_info();
  versions["opencv"] = opencv_version();
  return {{"versions", versions}, {"command", command}, {"device", device}, {"threads", threads}, {"seed", seed}};
}

nlohmann::json timing_json(const StageTime& total, const std::vector<StageTime>& stages) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& s : stages) rows.push_back(stage_json(s));
  return {{"started", total.started}, {"finished", total.finished}, {"seconds", total.seconds}, {"stages", rows}};
}

nlohmann::json robustness_report_json(const RobustnessAudit& audit, const AuditConfig& config,
                                      const std::vector<GateResult>& gates, const ReportMetadata& meta) {

  nlohmann::json results = nlohmann::json::array();
  for (size_t i = 0; i < audit.results.size(); ++i) {
    const auto& r = audit.results[i];
    nlohmann::json worst = nlohmann::json::array();
    for (size_t w = 0; w < r.worst.size(); ++w) {
      const auto& e = r.worst[w];
      nlohmann::json row = {{"index", e.index},           {"id", e.id},         {"label", e.label},
                            {"clean_pred", e.clean_pred}, {"adv_pred", e.adv_pred}, {"margin", e.margin},
                            {"linf", e.linf},             {"l2", e.l2}};
      if (!e.clean_image.empty() || !e.adversarial_image.empty()) {
        row["images"] = {{"clean", e.clean_image}, {"adversarial", e.adversarial_image}};
      } else if (!meta.images_dir.empty()) {
        row["images"] = {{"clean", meta.images_dir + "/" + worst_image_name(i, w, false, audit.shard)},
                         {"adversarial", meta.images_dir + "/" + worst_image_name(i, w, true, audit.shard)}};
      }
      worst.push_back(row);
    }
    results.push_back({
        {"attack", r.attack},
        {"name", r.name},
        {"norm", r.norm},
        {"eps", r.eps},
        {"eps_text", r.eps_text},
        {"black_box", r.black_box},
        {"options", r.options},
        {"robust_accuracy", rate_json(r.robust_accuracy)},
        {"success_rate", rate_json(r.success_rate)},
        {"perturbation", {{"linf", stats_json(r.linf)}, {"l2", stats_json(r.l2)}}},
        {"queries", {{"total", r.queries_total}, {"mean", r.queries_mean}}},
        {"gradient_calls", r.gradient_calls},
        {"per_class", per_class_json(r.per_class, audit.class_names)},
        {"confusion_shift", r.confusion_shift},
        {"worst", worst},
        {"seconds", r.time.seconds},
    });
  }

  nlohmann::json curves = nlohmann::json::array();
  for (const auto& c : audit.curves) {
    nlohmann::json points = nlohmann::json::array();
    for (const auto& p : c.points) {
      points.push_back({{"eps", p.eps}, {"eps_text", p.eps_text}, {"robust_accuracy", p.robust_accuracy}});
    }
    curves.push_back({{"attack", c.attack}, {"norm", c.norm}, {"points", points}});
  }

  nlohmann::json headline = nullptr;
  if (audit.has_headline) {
    headline = {{"attack", "autoattack"},
                {"eps", audit.headline_eps},
                {"eps_text", audit.headline_eps_text},
                {"robust_accuracy", rate_json(audit.headline)}};
  }

  nlohmann::json gate_rows = nlohmann::json::array();
  for (const auto& g : gates) {
    gate_rows.push_back({{"metric", g.metric},
                         {"attack", g.attack.empty() ? nlohmann::json(nullptr) : nlohmann::json(g.attack)},
                         {"eps", g.has_eps ? nlohmann::json(g.eps) : nlohmann::json(nullptr)},
                         {"op", g.op},
                         {"threshold", g.threshold},
                         {"value", g.value},
                         {"passed", g.passed}});
  }

  return {
      {"schema_version", kReportSchemaVersion},
      {"kind", "robustness"},
      {"reproducibility", reproducibility_json(meta.command, meta.device, meta.threads, meta.seed)},
      {"model", {{"path", meta.model_path}, {"sha256", meta.model_sha256}, {"spec", meta.model_spec}}},
      {"data",
       {{"name", meta.data_name},
        {"n", audit.n},
        {"num_classes", audit.num_classes},
        {"sha256", audit.data_sha256},
        {"identity", "sha256 of \"id<TAB>label\\n\" over the audited samples, in order"}}},
      {"config", config.source},
      {"shard", shard_json(audit)},
      {"timing", timing_json(audit.total, audit.stages)},
      {"clean_accuracy", rate_json(audit.clean_accuracy)},
      {"clean_per_class", per_class_json(audit.clean_per_class, audit.class_names)},
      {"results", results},
      {"curves", curves},
      {"headline", headline},
      {"gates", gate_rows},
      {"passed", all_passed(gates)},
      {"samples", samples_json(audit)},
  };
}

}  // namespace mirage

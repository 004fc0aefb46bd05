#include "reports/blind_spot_json.h"

#include <torch/torch.h>

#include <cstdio>

#include "lib/image/grid.h"
#include "lib/image/io.h"
#include "lib/metrics.h"

namespace mirage {

nlohmann::json failure_rate_json(int64_t k, int64_t n) {
  const auto [lo, hi] = wilson_interval(k, n);
  return {{"failures", k}, {"n", n}, {"rate", n > 0 ? static_cast<double>(k) / static_cast<double>(n) : 0.0}, {"ci95", {lo, hi}}};
}

std::string regenerate_command(const std::string& gan, uint64_t seed, int64_t cls) {
  std::string c = "mirage generate --gan " + gan + " --latent-seeds " + std::to_string(seed);
  if (cls >= 0) c += " --class " + std::to_string(cls);
  return c + " --out fake-" + std::to_string(seed);
}

nlohmann::json finding_example_json(const FindingExample& e, const Finding& f, const std::vector<std::string>& class_names,
                                    const nlohmann::json& sources) {
  nlohmann::json j = {{"id", e.id}, {"score", e.score}};
  if (e.seed) j["seed"] = *e.seed;
  if (e.cls >= 0) {
    j["class"] = e.cls;
    if (static_cast<size_t>(e.cls) < class_names.size()) j["class_name"] = class_names[static_cast<size_t>(e.cls)];
  }
  if (e.clean_score >= 0) j["clean_score"] = e.clean_score;
  // Latent-search finds are not the seed's own fake: the seed only names the search's start.
  if (e.seed && f.search != "latent-search") {
    for (const auto& s : sources) {
      if (e.id.rfind(s["name"].get<std::string>() + ":seed:", 0) == 0) {
        j["reproduce"] = regenerate_command(s["spec"].get<std::string>(), *e.seed, e.cls);
      }
    }
  }
  return j;
}

nlohmann::json finding_json(const Finding& f, int rank, const nlohmann::json& examples) {
  return {{"rank", rank},
          {"search", f.search},
          {"slice", f.slice},
          {"parameters", f.parameters},
          {"population", f.population},
          {"n", f.n},
          {"failures", f.failures},
          {"rate", f.rate},
          {"ci95", {f.ci_low, f.ci_high}},
          {"baseline_rate", f.baseline_rate},
          {"gap", f.gap()},
          {"mean_p_fake", f.mean_score},
          {"examples", examples},
          {"details", f.details}};
}

nlohmann::json findings_json(const BlindSpotReport& report, const BlindSpotData& data, const at::Tensor& found_images,
                             const nlohmann::json& sources, const std::string& image_dir, const std::string& image_prefix) {
  nlohmann::json findings = nlohmann::json::array();
  int rank = 0;
  for (const auto& f : report.findings) {
    ++rank;
    nlohmann::json ex = nlohmann::json::array();
    int k = 0;
    for (const auto& e : f.examples) {
      nlohmann::json j = finding_example_json(e, f, data.class_names, sources);
      const bool from_search = f.search == "latent-search";
      at::Tensor image;
      if (from_search && found_images.defined()) image = found_images[e.index];
      else if (!from_search && f.population == "fakes") image = data.fakes[e.index];
      else if (!from_search) image = data.reals[e.index];
      if (!image_dir.empty() && image.defined() && rank <= 20) {
        char name[64];
        std::snprintf(name, sizeof(name), "%02d_%s_%d.png", rank, f.population.c_str(), k);
        write_image(image_dir + "/" + name, image);
        j["image"] = image_prefix + name;
      }
      ex.push_back(j);
      ++k;
    }
    findings.push_back(finding_json(f, rank, ex));
  }
  return findings;
}

void write_findings_contact_sheet(const nlohmann::json& findings, const std::string& root, int64_t examples,
                                  int64_t channels, int64_t size, const std::string& path) {
  if (examples <= 0) return;
  std::vector<at::Tensor> cells;
  int64_t rows = 0;
  for (const auto& f : findings) {
    if (rows == 8) break;
    std::vector<at::Tensor> row;
    for (const auto& e : f["examples"]) {
      if (e.contains("image")) row.push_back(read_image(root + "/" + e["image"].get<std::string>(), channels, size, size));
    }
    if (row.empty()) continue;
    while (static_cast<int64_t>(row.size()) < examples) row.push_back(torch::full({channels, size, size}, 0.5));
    for (auto& t : row) cells.push_back(t);
    ++rows;
  }
  if (!cells.empty()) write_grid(path, torch::stack(cells), examples);
}

std::string finding_line(size_t rank, const Finding& f) {
  char line[256];
  std::snprintf(line, sizeof(line), "  #%zu %s %s %s: %lld/%lld %s (%.1f%%, 95%% CI %.1f-%.1f%%)", rank, f.search.c_str(),
                f.slice.c_str(), f.parameters.dump().c_str(), static_cast<long long>(f.failures), static_cast<long long>(f.n),
                f.population == "fakes" ? "called real" : "called fake", 100 * f.rate, 100 * f.ci_low, 100 * f.ci_high);
  return line;
}

}  // namespace mirage

// reports/blind_spot_json.h — blind-spot findings as JSON, one shape for `mirage blind-spots`
// (findings.json) and `mirage audit detector` (the detector report): a finding's counts, rate,
// 95% Wilson interval, gap to the baseline, examples, and the commands that reproduce them.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "detectors/blind_spots.h"

namespace mirage {

// {"failures", "n", "rate", "ci95"} of k failures in n.
nlohmann::json failure_rate_json(int64_t k, int64_t n);

// The command that regenerates a GAN fake exactly (`mirage generate` draws one fake per pass).
std::string regenerate_command(const std::string& gan, uint64_t seed, int64_t cls);

// One example of finding `f`: id, score, seed, class (and its name from `class_names`),
// clean_score, and for a sampled GAN fake the `reproduce` command, found through `sources`
// (the {"name", "spec", "kind"} list of the run's inputs). The caller adds "image".
nlohmann::json finding_example_json(const FindingExample& e, const Finding& f, const std::vector<std::string>& class_names,
                                    const nlohmann::json& sources);

// The finding object at `rank` (1 = worst) with its examples already shaped.
nlohmann::json finding_json(const Finding& f, int rank, const nlohmann::json& examples);
// "  #<rank> <search> <slice> <parameters>: k/n called real (r%, 95% CI lo-hi%)": a finding in the log.
std::string finding_line(size_t rank, const Finding& f);

// Every finding of `report` ranked (rank 1 first), examples included. When `image_dir` is set,
// the examples of the top 20 findings are written there as NN_<population>_<k>.png and recorded
// as `image_prefix` + that name; `found_images` are the latent search's finds (may be undefined).
nlohmann::json findings_json(const BlindSpotReport& report, const BlindSpotData& data, const at::Tensor& found_images,
                             const nlohmann::json& sources, const std::string& image_dir = "",
                             const std::string& image_prefix = "");

// One contact sheet of the top 8 findings that have example images (`findings` as findings_json
// gives them, image paths relative to `root`): a row each, its examples left to right, rows
// padded to `examples` cells with gray. Written to `path`; nothing when no finding has images.
void write_findings_contact_sheet(const nlohmann::json& findings, const std::string& root, int64_t examples,
                                  int64_t channels, int64_t size, const std::string& path);

}  // namespace mirage

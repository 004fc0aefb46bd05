// mirage score — image files or folders in, one JSON line per image out: the detector's p_fake
// and its verdict at the calibrated (or given) threshold. Unreadable files get an error line and
// the run goes on; the exit code tells a script whether every file was scored.
#include <torch/torch.h>

#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/common.h"
#include "detectors/detector.h"
#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/log.h"
#include "reports/score_run.h"

namespace mirage::cli {

namespace {

// A run where some file could not be read exits with the input-error code: the user's data is
// at fault, as with any other unreadable input, though every readable file was scored.
constexpr int kExitSomeFilesFailed = kExitGateFailed;  // as every batch command: an item failed

}  // namespace

int score_main(const std::vector<std::string>& args) {
  CommonFlags common;
  std::string detector_path, list_path, out, summary_path;
  std::vector<std::string> inputs;
  int64_t batch_size = 64;
  double threshold_flag = 0;
  po::options_description options("options");
  options.add_options()
    ("detector,d", po::value(&detector_path), "detector file (.pt) from 'mirage train-detector'")
    ("path", po::value(&inputs)->composing(), "image file, folder (recursive) or image list; also positional, repeatable")
    ("list", po::value(&list_path), "a file listing images, one 'path [label]' per line (labels are ignored)")
    ("out,o", po::value(&out)->default_value("-"), "JSON Lines output file; '-' = stdout")
    ("summary", po::value(&summary_path), "summary JSON file (counts, threshold, images/s, detector hash); '-' = stdout")
    ("batch-size", po::value(&batch_size)->default_value(64), "images decoded and scored at a time")
    ("threshold", po::value(&threshold_flag), "verdict threshold in [0,1] instead of the detector's calibrated one");
  add_common_options(options, common);
  po::positional_options_description positional;
  positional.add("path", -1);
  po::variables_map vm;
  if (!parse_command(
          "score", "--detector D.pt [PATH ...] [--list FILE] [--out scores.jsonl] [--summary S.json] [options]",
          "Scores image files as real or fake with a detector. A PATH is an image file, a folder (walked\n"
          "recursively in sorted order; names starting with '.' and files that are not images are skipped)\n"
          "or an image list (.txt, .lst, .csv); --list adds a list file of any name. Writes one JSON line\n"
          "per image, in input order, to --out (stdout by default; a file appears only when the run\n"
          "completes):\n"
          "  {\"path\": \"a.png\", \"p_fake\": 0.93, \"verdict\": \"fake\", \"threshold\": 0.5}\n"
          "  {\"path\": \"b.png\", \"error\": \"b.png: cannot decode image (corrupt or unsupported format)\"}\n"
          "The verdict is \"fake\" when p_fake >= threshold: the detector's calibrated threshold unless\n"
          "--threshold. A file that cannot be read gets an error line and the run goes on.\n\n"
          "Input policy: images are converted to the detector's channels (gray<->RGB, BT.601 luma) and\n"
          "fitted to its size: crop = scale the shorter side then centre-crop, stretch = scale each axis;\n"
          "INTER_AREA when shrinking. The detector's metadata says which (input_policy).\n\n"
          "--summary writes the run header, the detector file (path, sha256, spec, kind, threshold rule),\n"
          "and n, scored, failed, fake, real, mean p_fake, threshold, seconds and images/s; a one-line\n"
          "summary goes to stderr.\n\n"
          "Exit codes: 0 every file was scored; 1 some file could not be read (its line says why; the\n"
          "others are scored and written); 2 bad flags, no images, or not a detector file.",
          "  mirage score --detector det.pt photos/ --out scores.jsonl --summary summary.json\n"
          "  mirage score -d det.pt a.png b.jpg                      # JSON Lines on stdout\n"
          "  mirage score -d det.pt --list files.txt --threshold 0.9 --out strict.jsonl\n"
          "  mirage score -d det.pt fakes/ -q | jq -r 'select(.verdict == \"fake\") | .path'\n",
          args, options, positional, vm)) {
    return kExitOk;
  }
  if (detector_path.empty()) throw UsageError("--detector is required");
  if (inputs.empty() && list_path.empty()) {
    throw UsageError("no images given: pass image files or folders, or --list FILE (see 'mirage score --help')");
  }
  if (batch_size < 1) throw UsageError("--batch-size must be >= 1");
  std::optional<double> threshold_override;
  if (vm.count("threshold")) {
    if (!(threshold_flag >= 0 && threshold_flag <= 1)) {
      throw UsageError("--threshold " + std::to_string(threshold_flag) + ": expected a probability in [0,1]");
    }
    threshold_override = threshold_flag;
  }
  if (out == "-" && summary_path == "-") throw UsageError("--out and --summary cannot both be stdout ('-')");
  if (out != "-") check_output_path(out);
  if (!summary_path.empty() && summary_path != "-") check_output_path(summary_path);
  Runtime runtime = start_runtime(common);

  auto detector = load_detector(detector_path, runtime.device);
  const DetectorInfo& info = detector->info();
  const double threshold = threshold_override.value_or(detector->threshold());
  const ScoreInputs images = open_score_inputs(inputs, list_path, *detector, detector_path);

  // Lines go to stdout as they come (a pipe sees progress), to a file only on completion.
  std::unique_ptr<AtomicFile> file;
  if (out != "-") file = std::make_unique<AtomicFile>(out);
  std::ostream& lines = file ? file->stream() : std::cout;
  const std::string started = utc_now();
  const ScoreTotals t = score_files(*detector, images, batch_size, threshold, lines, /*flush=*/!file);
  if (!lines) throw InputError((file ? out : std::string("stdout")) + ": write failed");
  if (file) file->commit();

  if (!summary_path.empty()) {
    nlohmann::json detector_json = model_file_json(detector_path, detector->spec());
    detector_json.update({{"kind", info.kind},
                          {"threshold", info.threshold},
                          {"threshold_rule", info.threshold_rule},
                          {"input_policy", images.input_policy}});
    nlohmann::json failed_items = nlohmann::json::array();
    for (const auto& item : t.bad) failed_items.push_back({{"path", item.id}, {"error", item.error}});
    nlohmann::json result = t.to_json();
    result["threshold"] = threshold;
    result["threshold_source"] = threshold_override ? "--threshold" : "detector";
    nlohmann::json summary = run_header("score", runtime, started);
    summary.update({{"detector", detector_json},
                    {"inputs", inputs},
                    {"list", list_path.empty() ? nlohmann::json(nullptr) : nlohmann::json(list_path)},
                    {"out", out},
                    {"batch_size", batch_size},
                    {"result", result},
                    {"failed_items", failed_items}});
    write_json(summary_path, summary);
  }
  char mean_text[32] = "-";
  if (t.scored > 0) std::snprintf(mean_text, sizeof(mean_text), "%.4f", t.sum_p_fake / static_cast<double>(t.scored));
  char line[320];
  std::snprintf(line, sizeof(line), "scored %lld of %lld images: %lld fake, %lld real at threshold %.4g, mean p_fake %s; %.1f img/s%s%s",
                static_cast<long long>(t.scored), static_cast<long long>(t.n), static_cast<long long>(t.fake),
                static_cast<long long>(t.scored - t.fake), threshold, mean_text, t.images_per_second(),
                out == "-" ? "" : ", wrote ", out == "-" ? "" : out.c_str());
  log_info(line);
  if (!t.bad.empty()) {
    log_warn(std::to_string(t.bad.size()) + " file(s) could not be read (see their error lines); exit code " +
             std::to_string(kExitSomeFilesFailed));
    return kExitSomeFilesFailed;
  }
  return kExitOk;
}

}  // namespace mirage::cli

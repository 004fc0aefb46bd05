// cli/common.h — what every command shares: flag parsing, runtime flags, output writing.
#pragma once
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "lib/dataset.h"
#include "lib/log.h"
#include "lib/model.h"
#include "lib/options.h"
#include "lib/runtime.h"

namespace mirage::cli {

namespace po = boost::program_options;

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

// Every command, in the order --help lists them.
const std::vector<Command>& commands();

// A flag that sets a field of an options struct through its field list (lib/options.h): the
// flag's text is read as the field's type, with the field's bounds, and a bad value names the
// flag ("--pgd-steps: must be >= 1, got 0"). `key` may name a field of a section ("evasion.samples").
struct FieldFlag {
  const char* flag;
  const char* key;
  const char* help;
};
class FieldFlags {
 public:
  explicit FieldFlags(std::vector<FieldFlag> flags) : flags_(std::move(flags)), texts_(flags_.size()) {}
  void add_to(po::options_description& options) {
    for (size_t i = 0; i < flags_.size(); ++i) options.add_options()(flags_[i].flag, po::value(&texts_[i]), flags_[i].help);
  }
  // The flags given, in table order, on top of `value`.
  template <class T>
  void apply(T& value, const OptionFields<T>& fields, const po::variables_map& vm) const {
    for (size_t i = 0; i < flags_.size(); ++i) {
      if (vm.count(flags_[i].flag)) fields.set(value, flags_[i].key, texts_[i], std::string("--") + flags_[i].flag);
    }
  }

 private:
  std::vector<FieldFlag> flags_;
  std::vector<std::string> texts_;
};

// --device, --seed, --threads, --quiet, --verbose: every command takes them.
struct CommonFlags {
  RuntimeOptions runtime;
  bool quiet = false;
  bool verbose = false;
};
void add_common_options(po::options_description& options, CommonFlags& flags);
// Sets the log level and applies the runtime flags; logs the device and threads in verbose mode.
Runtime start_runtime(const CommonFlags& flags);

// Parses `args` for command `name`. Prints the help (usage, description, options, examples)
// and returns false on --help; throws UsageError ("--flag: ...") on unknown or bad flags.
bool parse_command(const std::string& name, const std::string& usage, const std::string& description,
                   const std::string& examples, const std::vector<std::string>& args,
                   po::options_description& options, const po::positional_options_description& positional,
                   po::variables_map& vm, const std::string& epilogue = "");

// Model input spec from flags (--channels --height --width --classes --mean --std
// --class-names): overrides whatever the model file says.
struct SpecFlags {
  int64_t channels = 0, height = 0, width = 0, classes = 0;
  std::string mean, std, class_names;  // comma-separated
  std::string channel_order;           // rgb | bgr; empty = the model's mirage.json, else rgb
};
void add_spec_options(po::options_description& options, SpecFlags& flags);
ModelSpec spec_from_flags(const SpecFlags& flags);

// Opens a model for a command: TorchScript file, spec from metadata or flags, completed from
// the data when the file has no metadata.
std::unique_ptr<TorchScriptModel> open_model(const std::string& path, const SpecFlags& flags, c10::Device device);

// Opens --data; `target` fits image folders to a model's input (0 = the images' own size).
std::shared_ptr<Dataset> open_data(const std::string& spec, const std::string& labels,
                                   const std::string& resize, int64_t channels, int64_t height, int64_t width);

// JSON to `path` atomically, or to stdout when path is "-".
void write_json(const std::string& path, const nlohmann::json& j);

// {"mirage": ..., "libtorch": ..., "opencv": ..., "cuda": ...}
nlohmann::json versions();

}  // namespace mirage::cli

namespace mirage::cli {
// One function per command, each in its own file (cli/<command>.cpp).
int train_classifier_main(const std::vector<std::string>& args);
int eval_main(const std::vector<std::string>& args);
int info_main(const std::vector<std::string>& args);
int attack_main(const std::vector<std::string>& args);
int train_advgan_main(const std::vector<std::string>& args);
int train_gan_main(const std::vector<std::string>& args);
int generate_main(const std::vector<std::string>& args);
int gan_eval_main(const std::vector<std::string>& args);
int train_detector_main(const std::vector<std::string>& args);
int score_main(const std::vector<std::string>& args);
int eval_detector_main(const std::vector<std::string>& args);
int latent_search_main(const std::vector<std::string>& args);
int blind_spots_main(const std::vector<std::string>& args);
int audit_main(const std::vector<std::string>& args);
int audit_robustness_main(const std::vector<std::string>& args);  // `audit robustness`
int audit_detector_main(const std::vector<std::string>& args);    // `audit detector`
int report_main(const std::vector<std::string>& args);
int report_diff_main(const std::vector<std::string>& args);   // `report diff`
int report_merge_main(const std::vector<std::string>& args);  // `report merge`
}  // namespace mirage::cli

#include "lib/classifier.h"
namespace mirage::cli {
// The JSON of an evaluation: accuracy, per-class rows, confusion matrix, timing.
nlohmann::json eval_result_json(const EvalResult& r);
// {"path", "sha256", "spec"} of a model file.
nlohmann::json model_file_json(const std::string& path, const ModelSpec& spec);
// What every command's JSON starts with: command, versions, seed, device, threads, started and
// finished (now).
nlohmann::json run_header(const std::string& command, const Runtime& runtime, const std::string& started);
}  // namespace mirage::cli

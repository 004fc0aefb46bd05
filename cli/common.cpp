#include "cli/common.h"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/hash.h"
#include "lib/image/io.h"
#include "lib/image/open_data.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/version.h"

namespace mirage::cli {

void add_common_options(po::options_description& options, CommonFlags& flags) {
  options.add_options()
    ("device", po::value(&flags.runtime.device)->default_value("auto"), "auto | cpu | cuda | cuda:N")
    ("seed", po::value(&flags.runtime.seed)->default_value(0), "random seed; the same seed gives the same output on CPU")
    ("threads", po::value(&flags.runtime.threads)->default_value(0), "CPU threads (0 = all cores)")
    ("quiet,q", po::bool_switch(&flags.quiet), "no progress bars or log lines on stderr")
    ("verbose,v", po::bool_switch(&flags.verbose), "more log lines on stderr")
    ("help,h", "show this help");
}

Runtime start_runtime(const CommonFlags& flags) {
  if (flags.quiet) {
    set_log_level(LogLevel::kQuiet);
  } else if (flags.verbose) {
    set_log_level(LogLevel::kDebug);
  }
  Runtime runtime = init_runtime(flags.runtime);
  log_debug("device " + runtime.device.str() + ", " + std::to_string(runtime.threads) + " threads, seed " +
            std::to_string(runtime.seed));
  return runtime;
}

bool parse_command(const std::string& name, const std::string& usage, const std::string& description,
                   const std::string& examples, const std::vector<std::string>& args,
                   po::options_description& options, const po::positional_options_description& positional,
                   po::variables_map& vm, const std::string& epilogue) {
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: mirage " << name << " " << usage << "\n\n" << description << "\n\n" << options;
      if (!examples.empty()) std::cout << "\nexamples:\n" << examples;
      if (!epilogue.empty()) std::cout << "\n" << epilogue;
      std::cout.flush();
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + " (see 'mirage " + name + " --help')");
  }
  return true;
}

void add_spec_options(po::options_description& options, SpecFlags& flags) {
  options.add_options()
    ("channels", po::value(&flags.channels), "model input channels (overrides the model's mirage.json)")
    ("height", po::value(&flags.height), "model input height")
    ("width", po::value(&flags.width), "model input width")
    ("classes", po::value(&flags.classes), "number of classes")
    ("mean", po::value(&flags.mean), "per-channel mean the model expects, comma-separated (mirage normalises)")
    ("std", po::value(&flags.std), "per-channel std the model expects, comma-separated")
    ("channel-order", po::value(&flags.channel_order), "rgb or bgr: the channel order the model takes (bgr: mirage reverses the channels, then applies --mean/--std, given in the model's order)")
    ("class-names", po::value(&flags.class_names), "class names, comma-separated");
}

namespace {

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) out.push_back(item);
  return out;
}

}  // namespace

ModelSpec spec_from_flags(const SpecFlags& f) {
  ModelSpec spec;
  auto check = [](int64_t v, const char* flag) {
    if (v < 0) throw UsageError(std::string("--") + flag + " must be positive");
    return v;
  };
  spec.channels = check(f.channels, "channels");
  spec.height = check(f.height, "height");
  spec.width = check(f.width, "width");
  spec.num_classes = check(f.classes, "classes");
  if (!f.mean.empty()) spec.mean = parse_number_list(f.mean, "--mean");
  if (!f.std.empty()) spec.std = parse_number_list(f.std, "--std");
  if (spec.mean.size() != spec.std.size()) throw UsageError("--mean and --std must be given together, with as many values");
  for (double s : spec.std) {
    if (!(s > 0)) throw UsageError("--std values must be positive");
  }
  if (!f.class_names.empty()) spec.class_names = split_commas(f.class_names);
  if (!f.channel_order.empty()) {
    if (f.channel_order != "rgb" && f.channel_order != "bgr") {
      throw UsageError("--channel-order must be rgb or bgr, got \"" + f.channel_order + "\"");
    }
    spec.channel_order = f.channel_order;
  }
  return spec;
}

std::unique_ptr<TorchScriptModel> open_model(const std::string& path, const SpecFlags& flags, c10::Device device) {
  return TorchScriptModel::load(path, device, spec_from_flags(flags));
}

std::shared_ptr<Dataset> open_data(const std::string& spec, const std::string& labels, const std::string& resize,
                                   int64_t channels, int64_t height, int64_t width) {
  ImageShape target;
  target.channels = channels;
  target.height = height;
  target.width = width;
  const ResizePolicy policy = parse_resize_policy(resize);
  // A model of unknown size under the ImageNet policy takes what the policy is for: 224 x 224.
  if (policy == ResizePolicy::kImageNet && height == 0 && width == 0) target.height = target.width = 224;
  return open_dataset(spec, target, policy, labels);
}

namespace {

// Indented JSON, except that an array of numbers, strings, booleans or nulls stays on one line:
// a report's per-sample columns are then one line each, not one line per sample.
void dump_readable(const nlohmann::json& j, int depth, std::string& out) {
  const bool flat_array = j.is_array() && std::all_of(j.begin(), j.end(), [](const nlohmann::json& e) {
                            return e.is_primitive();
                          });
  if (j.is_primitive() || flat_array || j.empty()) {
    out += j.dump();
    return;
  }
  const std::string inner(static_cast<size_t>(2 * (depth + 1)), ' ');
  out += j.is_object() ? "{\n" : "[\n";
  bool first = true;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!first) out += ",\n";
    first = false;
    out += inner;
    if (j.is_object()) out += nlohmann::json(it.key()).dump() + ": ";
    dump_readable(*it, depth + 1, out);
  }
  out += "\n" + std::string(static_cast<size_t>(2 * depth), ' ') + (j.is_object() ? "}" : "]");
}

}  // namespace

void write_json(const std::string& path, const nlohmann::json& j) {
  std::string text;
  dump_readable(j, 0, text);
  text += "\n";
  if (path == "-") {
    std::cout << text << std::flush;
    return;
  }
  write_text_atomic(path, text);
}

nlohmann::json versions() {
  nlohmann::json v = version_info();
  v["opencv"] = opencv_version();
  return v;
}

}  // namespace mirage::cli


namespace mirage::cli {

nlohmann::json eval_result_json(const EvalResult& r) {
  nlohmann::json per_class = nlohmann::json::array();
  for (size_t c = 0; c < r.per_class_n.size(); ++c) {
    nlohmann::json row = {{"class", c}, {"n", r.per_class_n[c]}};
    if (c < r.class_names.size()) row["name"] = r.class_names[c];
    row["accuracy"] = r.per_class_accuracy[c] < 0 ? nlohmann::json(nullptr) : nlohmann::json(r.per_class_accuracy[c]);
    per_class.push_back(row);
  }
  return {{"n", r.n},
          {"correct", r.correct},
          {"accuracy", r.accuracy},
          {"per_class", per_class},
          {"confusion_matrix", r.confusion},
          {"seconds", r.seconds},
          {"images_per_second", r.images_per_second}};
}

nlohmann::json model_file_json(const std::string& path, const ModelSpec& spec) {
  return {{"path", path}, {"sha256", sha256_file(path)}, {"spec", spec.to_json()}};
}

nlohmann::json run_header(const std::string& command, const Runtime& runtime, const std::string& started) {
  return {{"command", command},         {"versions", versions()},          {"seed", runtime.seed},
          {"device", runtime.device.str()}, {"threads", runtime.threads}, {"started", started},
          {"finished", utc_now()}};
}

}  // namespace mirage::cli

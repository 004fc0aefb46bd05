// mirage info — a model file's input spec and metadata, as JSON.
#include "cli/common.h"
#include "lib/error.h"

namespace mirage::cli {

int info_main(const std::vector<std::string>& args) {
  CommonFlags common;
  SpecFlags spec_flags;
  std::string model_path, out;
  po::options_description options("options");
  options.add_options()
    ("model,m", po::value(&model_path)->required(), "TorchScript model (.pt)")
    ("out,o", po::value(&out)->default_value("-"), "where to write the JSON (- = stdout)");
  add_spec_options(options, spec_flags);
  add_common_options(options, common);
  po::positional_options_description positional;
  positional.add("model", 1);
  po::variables_map vm;
  if (!parse_command("info", "MODEL.pt [options]",
                     "Prints what mirage knows of a model: its mirage.json metadata (input shape, classes,\n"
                     "normalisation), merged with any spec flags given, and the file's SHA-256.",
                     "  mirage info fmnist.pt\n", args, options, positional, vm)) {
    return kExitOk;
  }
  common.runtime.device = "cpu";
  start_runtime(common);
  auto model = open_model(model_path, spec_flags, c10::Device(c10::kCPU));
  nlohmann::json j = model_file_json(model_path, model->spec());
  j["had_metadata"] = model->had_metadata();
  write_json(out, j);
  return kExitOk;
}

}  // namespace mirage::cli

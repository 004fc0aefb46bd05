// mirage eval — accuracy, per-class accuracy and confusion matrix of a classifier, as JSON.
#include "cli/common.h"
#include "lib/image/open_data.h"
#include "lib/atomic_file.h"
#include "lib/classifier.h"
#include "lib/error.h"
#include "lib/log.h"

namespace mirage::cli {

int eval_main(const std::vector<std::string>& args) {
  CommonFlags common;
  SpecFlags spec_flags;
  std::string model_path, data, labels, out, resize;
  EvalOptions eval;
  po::options_description options("options");
  options.add_options()
    ("model,m", po::value(&model_path)->required(), "TorchScript classifier (.pt) taking [0,1] images")
    ("data", po::value(&data)->default_value("fashion-mnist:test"), "labelled data (fashion-mnist[:train|test], image folder, IDX file, or file list)")
    ("labels", po::value(&labels), "IDX label file for IDX --data (default: found beside it)")
    ("out,o", po::value(&out)->default_value("-"), "where to write the JSON (- = stdout)")
    ("batch-size", po::value(&eval.batch_size)->default_value(256), "images per forward pass")
    ("limit", po::value(&eval.limit)->default_value(0), "evaluate the first N samples only (0 = all)")
    ("resize", po::value(&resize)->default_value("crop"), "how image files are fitted to the model: crop, stretch or imagenet (shorter side to 256/224 of the input, then the centre)");
  add_spec_options(options, spec_flags);
  add_common_options(options, common);
  po::positional_options_description positional;
  positional.add("model", 1);
  po::variables_map vm;
  if (!parse_command("eval", "--model MODEL.pt [--data DATA] [options]",
                     "Evaluates a TorchScript classifier on labelled data. The model's input spec comes from the\n"
                     "mirage.json inside the file, else from --channels/--height/--width/--classes, else from the\n"
                     "data and one probing forward pass. Images are fitted to the model's input (see --resize).",
                     "  mirage eval --model fmnist.pt\n"
                     "  mirage eval --model resnet.pt --data photos/ --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 -o eval.json\n",
                     args, options, positional, vm, describe_data_specs())) {
    return kExitOk;
  }
  if (out != "-") check_output_path(out);
  Runtime runtime = start_runtime(common);
  auto model = open_model(model_path, spec_flags, runtime.device);
  const ModelSpec& spec = model->spec();
  auto dataset = open_data(data, labels, resize, spec.channels, spec.height, spec.width);
  model->complete_spec(dataset->info());
  std::string started = utc_now();
  EvalResult r = evaluate_classifier(*model, *dataset, eval);
  nlohmann::json j = run_header("eval", runtime, started);
  j.update({
      {"model", model_file_json(model_path, model->spec())},
      {"model_had_metadata", model->had_metadata()},
      {"data", {{"name", dataset->info().name}, {"n", r.n}, {"limit", eval.limit}}},
      {"result", eval_result_json(r)},
  });
  write_json(out, j);
  char line[128];
  std::snprintf(line, sizeof(line), "accuracy %.4f on %lld images", r.accuracy, static_cast<long long>(r.n));
  log_info(line + (out == "-" ? std::string() : ", wrote " + out));
  return kExitOk;
}

}  // namespace mirage::cli

#include "lib/model.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <filesystem>

#include "lib/dataset.h"
#include "lib/error.h"
#include "lib/image_tensor.h"

namespace mirage {
namespace {

constexpr const char* kMetadataFile = "mirage.json";

int64_t positive_int(const nlohmann::json& j, const char* key, const std::string& source,
                     const std::string& path) {
  if (!j.contains(key)) return 0;
  const auto& v = j.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() < 0) {
    throw InputError(source + ": field '" + path + key + "' must be a non-negative integer");
  }
  return v.get<int64_t>();
}

std::vector<double> number_list(const nlohmann::json& j, const char* key, const std::string& source,
                                const std::string& path) {
  std::vector<double> out;
  if (!j.contains(key) || j.at(key).is_null()) return out;
  const auto& v = j.at(key);
  if (!v.is_array()) throw InputError(source + ": field '" + path + key + "' must be a list of numbers");
  for (const auto& x : v) {
    if (!x.is_number()) throw InputError(source + ": field '" + path + key + "' must be a list of numbers");
    out.push_back(x.get<double>());
  }
  return out;
}

}  // namespace

void ModelSpec::fill_from(const ModelSpec& other) {
  if (channels == 0) channels = other.channels;
  if (height == 0) height = other.height;
  if (width == 0) width = other.width;
  if (num_classes == 0) num_classes = other.num_classes;
  if (mean.empty()) mean = other.mean;
  if (std.empty()) std = other.std;
  if (channel_order.empty()) channel_order = other.channel_order;
  if (class_names.empty()) class_names = other.class_names;
  if (name.empty()) name = other.name;
  if (kind == "classifier" && !other.kind.empty()) kind = other.kind;
  for (auto it = other.extra.begin(); it != other.extra.end(); ++it) {
    if (!extra.contains(it.key())) extra[it.key()] = it.value();
  }
}

nlohmann::json ModelSpec::to_json() const {
  nlohmann::json input = {{"channels", channels}, {"height", height}, {"width", width}, {"range", {0.0, 1.0}}};
  if (!mean.empty()) input["mean"] = mean;
  if (!std.empty()) input["std"] = std;
  if (!channel_order.empty()) input["channel_order"] = channel_order;
  nlohmann::json j = {{"format", "mirage-model"}, {"format_version", 1}, {"kind", kind},
                      {"input", input},           {"num_classes", num_classes}};
  if (!name.empty()) j["name"] = name;
  if (!class_names.empty()) j["class_names"] = class_names;
  if (!extra.empty()) j["extra"] = extra;
  return j;
}

ModelSpec ModelSpec::from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw InputError(source + ": metadata must be a JSON object");
  if (j.contains("format_version") &&
      (!j.at("format_version").is_number_integer() || j.at("format_version").get<int>() > 1)) {
    throw InputError(source + ": metadata format_version " + j.at("format_version").dump() +
                     " is newer than this mirage understands (1)");
  }
  ModelSpec spec;
  if (j.contains("input")) {
    const auto& in = j.at("input");
    if (!in.is_object()) throw InputError(source + ": field 'input' must be an object");
    spec.channels = positive_int(in, "channels", source, "input.");
    spec.height = positive_int(in, "height", source, "input.");
    spec.width = positive_int(in, "width", source, "input.");
    spec.mean = number_list(in, "mean", source, "input.");
    spec.std = number_list(in, "std", source, "input.");
    if (in.contains("channel_order")) {
      const auto& order = in.at("channel_order");
      if (!order.is_string() || (order != "rgb" && order != "bgr")) {
        throw InputError(source + ": input.channel_order must be \"rgb\" or \"bgr\", got " + order.dump());
      }
      spec.channel_order = order.get<std::string>();
    }
  }
  spec.num_classes = positive_int(j, "num_classes", source, "");
  if (j.contains("class_names")) {
    const auto& names = j.at("class_names");
    if (!names.is_array()) throw InputError(source + ": field 'class_names' must be a list of strings");
    for (const auto& n : names) {
      if (!n.is_string()) throw InputError(source + ": field 'class_names' must be a list of strings");
      spec.class_names.push_back(n.get<std::string>());
    }
  }
  if (j.contains("kind")) {
    if (!j.at("kind").is_string()) throw InputError(source + ": field 'kind' must be a string");
    spec.kind = j.at("kind").get<std::string>();
  }
  if (j.contains("name") && j.at("name").is_string()) spec.name = j.at("name").get<std::string>();
  if (j.contains("extra")) spec.extra = j.at("extra");
  if (spec.mean.size() != spec.std.size()) {
    throw InputError(source + ": input.mean and input.std must have the same length");
  }
  for (double s : spec.std) {
    if (!(s > 0)) throw InputError(source + ": input.std values must be positive");
  }
  if (!spec.class_names.empty() && spec.num_classes > 0 &&
      static_cast<int64_t>(spec.class_names.size()) != spec.num_classes) {
    throw InputError(source + ": " + std::to_string(spec.class_names.size()) + " class_names for num_classes " +
                     std::to_string(spec.num_classes));
  }
  if (spec.num_classes == 0) spec.num_classes = static_cast<int64_t>(spec.class_names.size());
  return spec;
}

at::Tensor Model::predict(const at::Tensor& x) {
  torch::NoGradGuard no_grad;
  return logits(x).argmax(1);
}

void check_logits(const at::Tensor& logits, int64_t n, int64_t num_classes, const std::string& model_name) {
  if (logits.dim() != 2 || logits.size(0) != n || (num_classes > 0 && logits.size(1) != num_classes)) {
    throw InputError(model_name + ": expected logits [" + std::to_string(n) + ", " +
                     (num_classes > 0 ? std::to_string(num_classes) : std::string("classes")) +
                     "], got " + shape_text(logits.sizes()));
  }
  torch::NoGradGuard no_grad;
  if (!torch::isfinite(logits).all().item<bool>()) {
    throw InputError(model_name + ": produced NaN or Inf logits");
  }
}

TorchScriptModel::TorchScriptModel(torch::jit::Module module, ModelSpec spec, c10::Device device,
                                   std::string path, bool had_metadata)
    : module_(std::move(module)),
      spec_(std::move(spec)),
      device_(device),
      path_(std::move(path)),
      had_metadata_(had_metadata),
      bgr_(spec_.channel_order == "bgr") {
  if (!spec_.mean.empty()) {
    mean_ = torch::tensor(spec_.mean, torch::kFloat32).view({1, -1, 1, 1}).to(device_);
    std_ = torch::tensor(spec_.std, torch::kFloat32).view({1, -1, 1, 1}).to(device_);
  }
}

std::unique_ptr<TorchScriptModel> TorchScriptModel::load(const std::string& path, c10::Device device,
                                                         const ModelSpec& overrides) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError(path + ": no such model file");
  torch::jit::ExtraFilesMap extra{{kMetadataFile, ""}};
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, device, extra);
  } catch (const std::exception& e) {
    throw InputError(path + ": not a loadable TorchScript file (" + one_line(e) + ")");
  }
  ModelSpec spec = overrides;
  const bool shape_from_flags = overrides.channels > 0 || overrides.height > 0 || overrides.width > 0;
  bool had_metadata = !extra[kMetadataFile].empty();
  if (had_metadata) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(extra[kMetadataFile]);
    } catch (const std::exception& e) {
      throw InputError(path + ": mirage.json is not valid JSON (" + one_line(e) + ")");
    }
    spec.fill_from(ModelSpec::from_json(j, path + ":mirage.json"));
  }
  if (spec.name.empty()) spec.name = std::filesystem::path(path).filename().string();
  if (spec.channel_order == "bgr" && spec.channels > 0 && spec.channels != 3) {
    throw UsageError(path + ": channel order bgr needs 3 input channels, the model takes " + std::to_string(spec.channels));
  }
  if (!spec.mean.empty() && spec.channels > 0 && static_cast<int64_t>(spec.mean.size()) != spec.channels) {
    if (spec.mean.size() != 1) {
      throw UsageError(path + ": mean/std have " + std::to_string(spec.mean.size()) + " values for " +
                       std::to_string(spec.channels) + " channels");
    }
  }
  module.eval();
  for (auto p : module.parameters()) p.set_requires_grad(false);
  const bool shape_from_metadata = had_metadata && (spec.channels > overrides.channels || spec.height > overrides.height ||
                                                    spec.width > overrides.width);
  auto model = std::unique_ptr<TorchScriptModel>(new TorchScriptModel(std::move(module), std::move(spec), device,
                                                                      path, had_metadata));
  if (shape_from_flags) model->shape_source_ = "flags (--channels/--height/--width)";
  if (shape_from_metadata) model->shape_source_ += std::string(shape_from_flags ? " and " : "") + "its mirage.json";
  return model;
}

void TorchScriptModel::complete_spec(const DatasetInfo& data) {
  if (spec_.channels == 0 || spec_.height == 0 || spec_.width == 0) {
    shape_source_ += std::string(shape_source_.empty() ? "" : " and ") + "the data (" + data.name + ")";
  }
  if (spec_.channels == 0) spec_.channels = data.channels;
  if (spec_.height == 0) spec_.height = data.height;
  if (spec_.width == 0) spec_.width = data.width;
  if (spec_.num_classes == 0) {
    torch::NoGradGuard no_grad;
    auto probe = torch::full({2, spec_.channels, spec_.height, spec_.width}, 0.5,
                             torch::TensorOptions().device(device_));
    at::Tensor out = logits(probe);
    if (out.dim() != 2) {
      throw InputError(path_ + ": output of shape " + shape_text(out.sizes()) +
                       " is not [N, classes] logits");
    }
    spec_.num_classes = out.size(1);
  }
  if (spec_.class_names.empty() && static_cast<int64_t>(data.class_names.size()) == spec_.num_classes) {
    spec_.class_names = data.class_names;
  }
}

at::Tensor TorchScriptModel::logits(const at::Tensor& x) {
  if (x.dim() != 4 || (spec_.channels > 0 && x.size(1) != spec_.channels) ||
      (spec_.height > 0 && x.size(2) != spec_.height) || (spec_.width > 0 && x.size(3) != spec_.width)) {
    throw InputError(path_ + ": expects images [N, " + std::to_string(spec_.channels) + ", " +
                     std::to_string(spec_.height) + ", " + std::to_string(spec_.width) + "], got " +
                     shape_text(x.sizes()));
  }
  at::Tensor input = x.device() == device_ ? x : x.to(device_);
  if (bgr_) input = input.flip({1});
  if (mean_.defined()) input = (input - mean_) / std_;
  torch::jit::IValue out;
  try {
    out = module_.forward({input});
  } catch (const std::exception& e) {  // c10::Error, or the interpreter's JITException
    // Most often the input shape is not the one the model was written for: say which shape was
    // tried, where it came from and how to set it, then the model's own complaint.
    throw InputError(path_ + ": forward failed on images " + shape_text(x.sizes()) + " (input shape from " +
                     (shape_source_.empty() ? std::string("the defaults") : shape_source_) +
                     "; set it with --channels/--height/--width): " + torch_error_text(e));
  }
  at::Tensor result;
  if (out.isTensor()) {
    result = out.toTensor();
  } else if (out.isTuple() && !out.toTupleRef().elements().empty() &&
             out.toTupleRef().elements()[0].isTensor()) {
    result = out.toTupleRef().elements()[0].toTensor();  // (logits, features...) models
  } else {
    throw InputError(path_ + ": forward() must return a logits tensor");
  }
  check_logits(result, x.size(0), spec_.num_classes, path_);
  return result;
}

at::Tensor FunctionModel::logits(const at::Tensor& x) {
  at::Tensor out = forward_(x.device() == device_ ? x : x.to(device_));
  check_logits(out, x.size(0), spec_.num_classes, spec_.name.empty() ? "model" : spec_.name);
  return out;
}

at::Tensor QueryCountingModel::logits(const at::Tensor& x) {
  queries_ += x.size(0);
  return inner_.logits(x);
}

}  // namespace mirage

#include "detectors/detector.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "detectors/detector_net.h"
#include "lib/error.h"
#include "lib/export.h"

namespace mirage {
namespace {

at::Tensor two_class_logits(const at::Tensor& z) { return torch::stack({z * -0.5, z * 0.5}, 1); }

// A saved detector: the TorchScript file's p_fake / logit methods.
class ScriptDetector final : public Detector {
 public:
  ScriptDetector(std::unique_ptr<TorchScriptModel> model, DetectorInfo info)
      : model_(std::move(model)), info_(std::move(info)) {}
  at::Tensor p_fake(const at::Tensor& x) override { return call("p_fake", x); }
  at::Tensor logit(const at::Tensor& x) override { return call("logit", x); }
  const DetectorInfo& info() const override { return info_; }
  const ModelSpec& spec() const override { return model_->spec(); }
  c10::Device device() const override { return model_->device(); }
  Model& model() override { return *model_; }

 private:
  at::Tensor call(const char* method, const at::Tensor& x) {
    at::Tensor out = model_->module().get_method(method)({x}).toTensor();
    if (out.dim() != 1 || out.size(0) != x.size(0)) {
      throw InputError(model_->path() + ": " + method + " returned " + c10::str(out.sizes()) + " for " +
                       std::to_string(x.size(0)) + " images");
    }
    if (!torch::isfinite(out).all().item<bool>()) throw InputError(model_->path() + ": " + method + " returned NaN/Inf");
    return out;
  }
  std::unique_ptr<TorchScriptModel> model_;
  DetectorInfo info_;
};

class NativeDetector final : public Detector {
 public:
  NativeDetector(std::shared_ptr<DetectorNetImpl> net, DetectorInfo info, c10::Device device)
      : net_(std::move(net)),
        info_(std::move(info)),
        spec_(detector_spec(net_->options().channels, net_->options().size, info_)),
        device_(device),
        model_([this](const at::Tensor& x) { return two_class_logits(logit(x)); }, spec_, device) {
    net_->to(device);
    net_->eval();
  }
  at::Tensor p_fake(const at::Tensor& x) override { return torch::sigmoid(logit(x)); }
  at::Tensor logit(const at::Tensor& x) override { return net_->forward(x); }
  const DetectorInfo& info() const override { return info_; }
  const ModelSpec& spec() const override { return spec_; }
  c10::Device device() const override { return device_; }
  Model& model() override { return model_; }

 private:
  std::shared_ptr<DetectorNetImpl> net_;
  DetectorInfo info_;
  ModelSpec spec_;
  c10::Device device_;
  FunctionModel model_;
};

// Saved detectors averaged: what export_ensemble writes, computed the same way in memory.
class EnsembleDetector final : public Detector {
 public:
  EnsembleDetector(std::vector<std::unique_ptr<Detector>> members, DetectorInfo info)
      : members_(std::move(members)),
        info_(std::move(info)),
        spec_(detector_spec(members_.at(0)->spec().channels, members_.at(0)->spec().height, info_)),
        model_([this](const at::Tensor& x) { return two_class_logits(logit(x)); }, spec_, members_.at(0)->device()) {}
  at::Tensor p_fake(const at::Tensor& x) override {
    at::Tensor sum = members_[0]->p_fake(x);
    for (size_t i = 1; i < members_.size(); ++i) sum = sum + members_[i]->p_fake(x);
    return sum / static_cast<double>(members_.size());
  }
  at::Tensor logit(const at::Tensor& x) override {
    const at::Tensor p = torch::clamp(p_fake(x), 1e-7, 1.0 - 1e-7);
    return torch::log(p) - torch::log1p(-p);
  }
  const DetectorInfo& info() const override { return info_; }
  const ModelSpec& spec() const override { return spec_; }
  c10::Device device() const override { return members_[0]->device(); }
  Model& model() override { return model_; }

 private:
  std::vector<std::unique_ptr<Detector>> members_;
  DetectorInfo info_;
  ModelSpec spec_;
  FunctionModel model_;
};

// The members of an ensemble, loaded, with one input shape (UsageError naming the odd one).
std::vector<std::unique_ptr<Detector>> load_members(const std::vector<std::string>& members, c10::Device device) {
  if (members.size() < 2) throw UsageError("an ensemble needs at least two member detectors");
  std::vector<std::unique_ptr<Detector>> out;
  for (const auto& path : members) {
    out.push_back(load_detector(path, device));
    const ModelSpec& first = out.front()->spec();
    const ModelSpec& spec = out.back()->spec();
    if (spec.channels != first.channels || spec.height != first.height || spec.width != first.width) {
      throw UsageError(path + ": takes [" + std::to_string(spec.channels) + ", " + std::to_string(spec.height) +
                       ", " + std::to_string(spec.width) + "] images, the first member [" + std::to_string(first.channels) +
                       ", " + std::to_string(first.height) + ", " + std::to_string(first.width) + "]");
    }
  }
  return out;
}

}  // namespace

nlohmann::json DetectorInfo::to_json() const {
  return {{"kind", kind},           {"threshold", threshold},   {"threshold_rule", threshold_rule},
          {"input_policy", input_policy}, {"validation", validation}, {"training", training}};
}

DetectorInfo DetectorInfo::from_json(const nlohmann::json& j, const std::string& source) {
  DetectorInfo info;
  try {
    info.kind = j.at("kind").get<std::string>();
    info.threshold = j.at("threshold").get<double>();
    info.threshold_rule = j.value("threshold_rule", "");
    info.input_policy = j.value("input_policy", "crop");
    info.validation = j.value("validation", nlohmann::json::object());
    info.training = j.value("training", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    throw InputError(source + ": bad detector metadata (" + std::string(e.what()) + ")");
  }
  if (!(info.threshold >= 0 && info.threshold <= 1)) {
    throw InputError(source + ": detector threshold " + std::to_string(info.threshold) + " is outside [0, 1]");
  }
  return info;
}

ModelSpec detector_spec(int64_t channels, int64_t size, const DetectorInfo& info) {
  ModelSpec spec;
  spec.kind = "detector";
  spec.name = "mirage-detector-" + info.kind;
  spec.channels = channels;
  spec.height = size;
  spec.width = size;
  spec.num_classes = 2;
  spec.class_names = {"real", "fake"};
  spec.extra = {{"detector", info.to_json()}};
  return spec;
}

std::unique_ptr<Detector> load_detector(const std::string& path, c10::Device device) {
  auto model = TorchScriptModel::load(path, device);
  const ModelSpec& spec = model->spec();
  if (!model->had_metadata() || spec.kind != "detector" || !spec.extra.contains("detector")) {
    throw UsageError(path + ": not a mirage detector (" +
                     (model->had_metadata() ? "its metadata says kind '" + spec.kind + "'" : std::string("no mirage.json")) +
                     "); train one with 'mirage train-detector'");
  }
  if (!model->module().find_method("p_fake") || !model->module().find_method("logit")) {
    throw UsageError(path + ": detector file lacks the p_fake/logit methods");
  }
  DetectorInfo info = DetectorInfo::from_json(spec.extra["detector"], path + ":mirage.json");
  return std::make_unique<ScriptDetector>(std::move(model), std::move(info));
}

std::unique_ptr<Model> verdict_model(Detector& detector) {
  const double t = std::min(std::max(detector.threshold(), 1e-7), 1 - 1e-7);
  const double shift = std::log(t / (1 - t));
  return std::make_unique<FunctionModel>(
      [&detector, shift](const at::Tensor& x) { return two_class_logits(detector.logit(x) - shift); },
      detector.spec(), detector.device());
}

std::unique_ptr<Detector> as_detector(std::shared_ptr<DetectorNetImpl> net, DetectorInfo info, c10::Device device) {
  return std::make_unique<NativeDetector>(std::move(net), std::move(info), device);
}

void export_detector(DetectorNetImpl& net, const DetectorInfo& info, const std::string& path) {
  const bool was_training = net.is_training();
  net.eval();
  torch::jit::Module module = to_torchscript(net, "Detector_" + info.kind, net.torchscript_source());
  if (was_training) net.train();
  save_torchscript(module, detector_spec(net.options().channels, net.options().size, info), path);
}

void export_ensemble(const std::vector<std::string>& members, const DetectorInfo& info, const std::string& path) {
  auto loaded = load_members(members, torch::kCPU);
  torch::jit::Module ensemble(c10::QualifiedName("__torch__.mirage.DetectorEnsemble"));
  const int64_t channels = loaded[0]->spec().channels, size = loaded[0]->spec().height;
  std::string sum;
  for (size_t i = 0; i < loaded.size(); ++i) {
    auto& script = dynamic_cast<ScriptDetector&>(*loaded[i]);
    const std::string name = "m" + std::to_string(i);
    ensemble.register_module(name, dynamic_cast<TorchScriptModel&>(script.model()).module());
    sum += (i ? " + " : "") + std::string("self.") + name + ".p_fake(x)";
  }
  std::ostringstream s;
  s << "def p_fake(self, x):\n"
    << "    return (" << sum << ") / " << static_cast<double>(members.size()) << "\n"
    << "def logit(self, x):\n"
    << "    p = torch.clamp(self.p_fake(x), 1e-7, 1.0 - 1e-7)\n"
    << "    return torch.log(p) - torch.log1p(-p)\n"
    << "def forward(self, x):\n"
    << "    z = self.logit(x)\n"
    << "    return torch.stack([z * -0.5, z * 0.5], 1)\n";
  ensemble.define(s.str());
  ensemble.eval();
  DetectorInfo out = info;
  out.kind = "ensemble";
  save_torchscript(ensemble, detector_spec(channels, size, out), path);
}

std::unique_ptr<Detector> load_ensemble(const std::vector<std::string>& members, DetectorInfo info, c10::Device device) {
  info.kind = "ensemble";
  return std::make_unique<EnsembleDetector>(load_members(members, device), std::move(info));
}

}  // namespace mirage

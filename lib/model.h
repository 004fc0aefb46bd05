// lib/model.h — the Model interface: every classifier mirage attacks or evaluates, whether a
// user's TorchScript file, a native net, or a detector seen as a 2-class model.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/jit/api/module.h>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mirage {

struct DatasetInfo;

// What a model takes and returns. Stored as `mirage.json` inside a TorchScript archive (see
// docs/formats.md); 0 / empty means "not known yet".
struct ModelSpec {
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
  int64_t num_classes = 0;
  // Applied by mirage to [0,1] images before forward(): (x - mean) / std per channel. Empty
  // when the model normalises inside (mirage's own exports do) or takes [0,1] as is.
  std::vector<double> mean;
  std::vector<double> std;
  // The channel order the model takes: "rgb" (mirage's images), or "bgr" (a model trained on
  // OpenCV/Caffe-loaded images): mirage reverses the channels before normalising, so `mean` and
  // `std` are in the model's order. Empty means not set (rgb).
  std::string channel_order;
  std::vector<std::string> class_names;
  std::string kind = "classifier";  // classifier | detector | generator | ...
  std::string name;
  nlohmann::json extra = nlohmann::json::object();  // kind-specific fields, kept verbatim

  bool complete() const { return channels > 0 && height > 0 && width > 0 && num_classes > 0; }
  // Fills each unknown field from `other`.
  void fill_from(const ModelSpec& other);
  nlohmann::json to_json() const;
  // `source` names where the JSON came from, for error messages.
  static ModelSpec from_json(const nlohmann::json& j, const std::string& source);
};

class Model {
 public:
  virtual ~Model() = default;
  // x: [N, C, H, W] in [0,1] on device(); returns logits [N, num_classes]. Differentiable
  // with respect to x.
  virtual at::Tensor logits(const at::Tensor& x) = 0;
  virtual const ModelSpec& spec() const = 0;
  virtual c10::Device device() const = 0;
  // Argmax class without building a graph.
  at::Tensor predict(const at::Tensor& x);
};

// A TorchScript classifier. Its parameters are frozen (no gradients) and it runs in eval mode.
class TorchScriptModel final : public Model {
 public:
  // Reads `mirage.json` from the archive when present; `overrides` (from flags) win over it.
  // A missing/corrupt file is an InputError naming `path`.
  static std::unique_ptr<TorchScriptModel> load(const std::string& path, c10::Device device,
                                                const ModelSpec& overrides = {});
  // Fills what the spec still lacks: shape from the data, classes from one forward pass.
  void complete_spec(const DatasetInfo& data);

  at::Tensor logits(const at::Tensor& x) override;
  const ModelSpec& spec() const override { return spec_; }
  c10::Device device() const override { return device_; }
  const std::string& path() const { return path_; }
  bool had_metadata() const { return had_metadata_; }
  // Where the input shape came from, for messages: "flags (--channels/--height/--width)",
  // "its mirage.json", "the data (<name>)", or a mix ("flags and the data (...)").
  const std::string& shape_source() const { return shape_source_; }
  torch::jit::Module& module() { return module_; }

 private:
  TorchScriptModel(torch::jit::Module module, ModelSpec spec, c10::Device device,
                   std::string path, bool had_metadata);
  torch::jit::Module module_;
  ModelSpec spec_;
  c10::Device device_;
  std::string path_;
  bool had_metadata_;
  std::string shape_source_;
  at::Tensor mean_, std_;
  bool bgr_ = false;
};

// Any differentiable function as a Model: native nets, detectors seen as classifiers.
class FunctionModel final : public Model {
 public:
  FunctionModel(std::function<at::Tensor(const at::Tensor&)> forward, ModelSpec spec, c10::Device device)
      : forward_(std::move(forward)), spec_(std::move(spec)), device_(device) {}
  at::Tensor logits(const at::Tensor& x) override;
  const ModelSpec& spec() const override { return spec_; }
  c10::Device device() const override { return device_; }

 private:
  std::function<at::Tensor(const at::Tensor&)> forward_;
  ModelSpec spec_;
  c10::Device device_;
};

// Counts every image a wrapped model is asked about (black-box attacks' budget). A query is
// one image through logits(), whatever the batch size.
class QueryCountingModel final : public Model {
 public:
  explicit QueryCountingModel(Model& inner) : inner_(inner) {}
  at::Tensor logits(const at::Tensor& x) override;
  const ModelSpec& spec() const override { return inner_.spec(); }
  c10::Device device() const override { return inner_.device(); }
  int64_t queries() const { return queries_; }
  void reset() { queries_ = 0; }

 private:
  Model& inner_;
  int64_t queries_ = 0;
};

// Checks a model's output: [N, num_classes], finite. A NaN/Inf is an InputError naming the
// model: mirage never reports results computed from NaN.
void check_logits(const at::Tensor& logits, int64_t n, int64_t num_classes,
                  const std::string& model_name);

}  // namespace mirage

#include "lib/export.h"

#include <torch/script.h>
#include <torch/torch.h>

#include "lib/atomic_file.h"
#include "lib/model.h"

namespace mirage {

std::string export_name(const std::string& name) {
  std::string out = name;
  std::replace(out.begin(), out.end(), '.', '_');
  return out;
}

torch::jit::Module to_torchscript(const torch::nn::Module& net, const std::string& type_name,
                                  const std::string& source) {
  // "__torch__." is the namespace PyTorch gives user classes; a type outside it loads in
  // LibTorch but not in Python's torch.jit.load.
  torch::jit::Module module(c10::QualifiedName("__torch__.mirage." + type_name));
  torch::NoGradGuard no_grad;
  for (const auto& p : net.named_parameters(/*recurse=*/true)) {
    module.register_parameter(export_name(p.key()), p.value().detach().to(torch::kCPU).clone(),
                              /*is_buffer=*/false);
  }
  for (const auto& b : net.named_buffers(/*recurse=*/true)) {
    module.register_buffer(export_name(b.key()), b.value().detach().to(torch::kCPU).clone());
  }
  module.define(source);
  module.eval();
  return module;
}

void save_torchscript(torch::jit::Module& module, const ModelSpec& spec, const std::string& path) {
  torch::jit::ExtraFilesMap extra{{"mirage.json", spec.to_json().dump(2)}};
  save_atomic(path, [&](const std::string& tmp) { module.save(tmp, extra); });
}

}  // namespace mirage

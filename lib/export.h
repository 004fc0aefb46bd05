// lib/export.h — native mirage nets out as TorchScript that PyTorch's torch.jit.load reads.
//
// LibTorch 1.13 cannot script a C++ torch::nn::Module, so an export builds a
// torch::jit::Module by hand: every parameter and buffer of the net is registered under its
// name with '.' replaced by '_' (conv1.weight -> conv1_weight), and forward() is TorchScript
// source the net provides, written against those names.
#pragma once
#include <torch/csrc/jit/api/module.h>
#include <torch/nn/module.h>
#include <string>

namespace mirage {

struct ModelSpec;

// The attribute name under which an export registers the parameter or buffer `name`.
std::string export_name(const std::string& name);

// A TorchScript module of type `type_name` holding a copy (on CPU) of `net`'s parameters and
// buffers and the methods in `source` (at least `def forward(self, x)`).
torch::jit::Module to_torchscript(const torch::nn::Module& net, const std::string& type_name,
                                  const std::string& source);

// Saves `module` with `spec` as its `mirage.json` extra file, atomically.
void save_torchscript(torch::jit::Module& module, const ModelSpec& spec, const std::string& path);

}  // namespace mirage

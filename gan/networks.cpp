#include "gan/networks.h"

#include <torch/torch.h>

#include <sstream>

#include "lib/error.h"
#include "lib/runtime.h"

namespace mirage {
namespace F = torch::nn::functional;

namespace {

// DCGAN's grids: 28 px grows from 7x7 in two doublings; 32 and 64 px from 4x4 in three or four.
struct DcganLayout {
  int64_t base = 0;    // side of the lowest-resolution grid
  int64_t blocks = 0;  // stride-2 blocks between it and the image
};

DcganLayout dcgan_layout(int64_t size, const std::string& who) {
  if (size == 28) return {7, 2};
  if (size == 32) return {4, 3};
  if (size == 64) return {4, 4};
  throw UsageError(who + " image size must be 28, 32 or 64, got " + std::to_string(size));
}

void require_positive(int64_t value, const std::string& what) {
  if (value <= 0) throw UsageError(what + " must be positive, got " + std::to_string(value));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Spectral normalisation

SpectralNormImpl::SpectralNormImpl(int64_t out_features, double eps) : eps_(eps) {
  require_positive(out_features, "spectral norm out_features");
  u_ = register_buffer("u", F::normalize(torch::randn({out_features}), F::NormalizeFuncOptions().dim(0).eps(eps)));
}

torch::Tensor SpectralNormImpl::normalize(const torch::Tensor& weight) {
  const torch::Tensor w = weight.reshape({weight.size(0), -1});
  if (w.size(0) != u_.size(0)) {
    throw UsageError("spectral norm was built for " + std::to_string(u_.size(0)) + " outputs, the weight has " +
                     std::to_string(w.size(0)));
  }
  const auto unit = F::NormalizeFuncOptions().dim(0).eps(eps_);
  torch::Tensor u, v;
  {
    // Algorithm 1: v <- W^T u / |W^T u|, u <- W v / |W v|, once per training step. u and v are
    // constants for autograd (as torch.nn.utils.spectral_norm), so the gradient is W's only.
    torch::NoGradGuard no_grad;
    const torch::Tensor wd = w.detach();
    v = F::normalize(torch::mv(wd.t(), u_), unit);
    if (is_training()) u_.copy_(F::normalize(torch::mv(wd, v), unit));
    // A copy: u_ changes in place on the next call, and backward() must see this step's value.
    u = u_.clone();
  }
  const torch::Tensor sigma = torch::dot(u, torch::mv(w, v));  // sigma(W) ~ u^T W v
  return weight / sigma;
}

// ---------------------------------------------------------------------------------------------
// DCGAN generator

DcganGeneratorImpl::DcganGeneratorImpl(DcganGeneratorOptions options) : options_(options) {
  const auto& o = options_;
  const auto layout = dcgan_layout(o.size, "DCGAN generator");
  require_positive(o.z_dim, "DCGAN generator z_dim");
  require_positive(o.channels, "DCGAN generator channels");
  require_positive(o.width, "DCGAN generator width");
  if (o.num_classes < 0) throw UsageError("DCGAN generator num_classes must be >= 0");
  if (o.num_classes > 0) {
    require_positive(o.embed_dim, "DCGAN generator embed_dim");
    embed = register_module("embed", torch::nn::Embedding(o.num_classes, o.embed_dim));
  }
  int64_t c = o.width << layout.blocks;
  const int64_t in = o.z_dim + (o.num_classes > 0 ? o.embed_dim : 0);
  // No biases before BN: its shift makes them redundant (DCGAN).
  project = register_module(
      "project", torch::nn::Linear(torch::nn::LinearOptions(in, c * layout.base * layout.base).bias(false)));
  project_bn = register_module("project_bn", torch::nn::BatchNorm2d(c));
  for (int64_t i = 0; i < layout.blocks; ++i, c /= 2) {
    const std::string k = std::to_string(i);
    ups.push_back(register_module(
        "up" + k, torch::nn::ConvTranspose2d(
                      torch::nn::ConvTranspose2dOptions(c, c / 2, 4).stride(2).padding(1).bias(false))));
    up_bns.push_back(register_module("up_bn" + k, torch::nn::BatchNorm2d(c / 2)));
  }
  out = register_module("out", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.width, o.channels, 3).padding(1)));
  at::Generator gen = init_generator(o.init_seed);
  normal_init(*this, gen);
}

torch::Tensor DcganGeneratorImpl::forward(const torch::Tensor& z, const torch::Tensor& y) {
  const auto& o = options_;
  if (z.dim() != 2 || z.size(1) != o.z_dim) {
    throw UsageError("DCGAN generator expects z of shape [N, " + std::to_string(o.z_dim) + "], got " +
                     c10::str(z.sizes()));
  }
  torch::Tensor h = z;
  if (o.num_classes > 0) {
    if (!y.defined()) throw UsageError("the conditional DCGAN generator needs class labels y");
    h = torch::cat({z, embed(y)}, 1);
  }
  // Unconditional: a given y is ignored, so one trainer loop serves both kinds.
  const int64_t base = dcgan_layout(o.size, "DCGAN generator").base;
  h = torch::relu(project_bn(project(h).reshape({-1, project_bn->options.num_features(), base, base})));
  for (size_t i = 0; i < ups.size(); ++i) h = torch::relu(up_bns[i](ups[i](h)));
  return (torch::tanh(out(h)) + 1) / 2;
}

std::string DcganGeneratorImpl::torchscript_source() const {
  const auto& o = options_;
  const bool conditional = o.num_classes > 0;
  const int64_t base = dcgan_layout(o.size, "DCGAN generator").base;
  // Eval-mode BN: running statistics, each layer's own eps.
  auto bn_relu = [](const torch::nn::BatchNorm2d& bn, const std::string& n) {
    std::ostringstream s;
    s << "    x = torch.relu(torch.batch_norm(x, self." << n << "_weight, self." << n << "_bias, self." << n
      << "_running_mean, self." << n << "_running_var, False, 0.1, " << bn->options.eps() << ", False))\n";
    return s.str();
  };
  std::ostringstream s;
  s << "def forward(self, z" << (conditional ? ", y" : "") << "):\n";
  s << (conditional ? "    x = torch.cat([z, torch.embedding(self.embed_weight, y)], 1)\n" : "    x = z\n");
  s << "    x = torch.reshape(torch.linear(x, self.project_weight, None), [-1, "
    << project_bn->options.num_features() << ", " << base << ", " << base << "])\n";
  s << bn_relu(project_bn, "project_bn");
  for (size_t i = 0; i < ups.size(); ++i) {
    const std::string k = std::to_string(i);
    s << "    x = torch.conv_transpose2d(x, self.up" << k << "_weight, None, [2, 2], [1, 1])\n";
    s << bn_relu(up_bns[i], "up_bn" + k);
  }
  s << "    x = torch.conv2d(x, self.out_weight, self.out_bias, [1, 1], [1, 1])\n";
  s << "    return (torch.tanh(x) + 1.0) / 2.0\n";
  return s.str();
}

// ---------------------------------------------------------------------------------------------
// DCGAN discriminator

DcganDiscriminatorImpl::DcganDiscriminatorImpl(DcganDiscriminatorOptions options) : options_(options) {
  const auto& o = options_;
  const auto layout = dcgan_layout(o.size, "DCGAN discriminator");
  require_positive(o.channels, "DCGAN discriminator channels");
  require_positive(o.width, "DCGAN discriminator width");
  if (o.num_classes < 0) throw UsageError("DCGAN discriminator num_classes must be >= 0");
  if (o.norm != "batch" && o.norm != "layer" && o.norm != "none") {
    throw UsageError("DCGAN discriminator norm must be batch, layer or none, got '" + o.norm + "'");
  }
  int64_t c_in = o.channels, side = o.size;
  for (int64_t i = 0; i < layout.blocks; ++i) {
    const std::string k = std::to_string(i);
    const int64_t c = o.width << i;
    side /= 2;
    // DCGAN: no norm on the first block (it would erase the input's statistics).
    const bool normed = i > 0 && o.norm != "none";
    convs.push_back(register_module(
        "conv" + k, torch::nn::Conv2d(torch::nn::Conv2dOptions(c_in, c, 4).stride(2).padding(1).bias(!normed))));
    if (o.spectral_norm) conv_sn.push_back(register_module("conv" + k + "_sn", SpectralNorm(c)));
    norms.emplace_back();
    if (normed && o.norm == "batch") norms.back() = torch::nn::AnyModule(torch::nn::BatchNorm2d(c));
    // Per-sample statistics over the whole block output: scores stay independent across the
    // batch, as WGAN-GP's per-sample penalty needs (Gulrajani et al. 2017, Sec. 4).
    if (normed && o.norm == "layer") {
      norms.back() = torch::nn::AnyModule(torch::nn::LayerNorm(torch::nn::LayerNormOptions({c, side, side})));
    }
    if (!norms.back().is_empty()) register_module("norm" + k, norms.back().ptr());
    c_in = c;
  }
  const int64_t features = c_in * side * side;
  out = register_module("out", torch::nn::Linear(features, 1));
  if (o.spectral_norm) out_sn = register_module("out_sn", SpectralNorm(1));
  if (o.num_classes > 0) {
    embed = register_module("embed", torch::nn::Embedding(o.num_classes, features));
    // Miyato & Koyama normalise the class embedding too (their SNEmbedID).
    if (o.spectral_norm) embed_sn = register_module("embed_sn", SpectralNorm(o.num_classes));
  }
  at::Generator gen = init_generator(o.init_seed);
  normal_init(*this, gen);
  if (embed) {
    // N(0, 1) would make <embed(y), features> dwarf the unconditional score at the start.
    torch::NoGradGuard no_grad;
    embed->weight.copy_(torch::empty(embed->weight.sizes()).normal_(0.0, 0.02, gen));
  }
}

torch::Tensor DcganDiscriminatorImpl::features(const torch::Tensor& x) {
  const auto& o = options_;
  if (x.dim() != 4 || x.size(1) != o.channels || x.size(2) != o.size || x.size(3) != o.size) {
    throw UsageError("DCGAN discriminator expects images [N, " + std::to_string(o.channels) + ", " +
                     std::to_string(o.size) + ", " + std::to_string(o.size) + "], got " + c10::str(x.sizes()));
  }
  torch::Tensor h = x * 2 - 1;
  for (size_t i = 0; i < convs.size(); ++i) {
    const torch::Tensor w = o.spectral_norm ? conv_sn[i]->normalize(convs[i]->weight) : convs[i]->weight;
    h = F::conv2d(h, w, F::Conv2dFuncOptions().bias(convs[i]->bias).stride(2).padding(1));
    if (!norms[i].is_empty()) h = norms[i].forward(h);
    h = F::leaky_relu(h, F::LeakyReLUFuncOptions().negative_slope(0.2));
  }
  return h.flatten(1);
}

torch::Tensor DcganDiscriminatorImpl::forward(const torch::Tensor& x, const torch::Tensor& y) {
  const auto& o = options_;
  const torch::Tensor f = features(x);
  const torch::Tensor w = o.spectral_norm ? out_sn->normalize(out->weight) : out->weight;
  torch::Tensor score = F::linear(f, w, out->bias).squeeze(1);
  if (o.num_classes > 0) {
    if (!y.defined()) throw UsageError("the projection DCGAN discriminator needs class labels y");
    // Projection (Miyato & Koyama 2018, eq. 3): score = psi(phi(x)) + y^T V phi(x).
    const torch::Tensor v = o.spectral_norm ? embed_sn->normalize(embed->weight) : embed->weight;
    score = score + (F::embedding(y, v) * f).sum(1);
  }
  return score;
}

torch::Tensor DcganDiscriminatorImpl::class_scores(const torch::Tensor& x) {
  const auto& o = options_;
  const torch::Tensor f = features(x);
  const torch::Tensor w = o.spectral_norm ? out_sn->normalize(out->weight) : out->weight;
  const torch::Tensor score = F::linear(f, w, out->bias);  // [N, 1]
  if (o.num_classes == 0) return score;
  const torch::Tensor v = o.spectral_norm ? embed_sn->normalize(embed->weight) : embed->weight;
  return score + torch::mm(f, v.t());
}

std::string DcganDiscriminatorImpl::torchscript_source(const std::string& prefix) const {
  const auto& o = options_;
  std::ostringstream s;
  // Spectral norm in eval mode: v = normalize(W^T u), sigma = u . (W v), u the stored buffer.
  auto weight = [&](const std::string& name, const std::string& sn) {
    const std::string w = "self." + prefix + name + "_weight";
    if (!o.spectral_norm) return w;
    const std::string u = "self." + prefix + sn + "_u";
    s << "    w2 = torch.reshape(" << w << ", [" << w << ".size(0), -1])\n"
      << "    v = torch.mv(w2.t(), " << u << ")\n"
      << "    v = v / torch.clamp(torch.norm(v), min=1e-12)\n"
      << "    sn_" << name << " = " << w << " / torch.dot(" << u << ", torch.mv(w2, v))\n";
    return "sn_" + name;
  };
  s << "def " << prefix << "scores(self, x):\n";
  s << "    h = x * 2.0 - 1.0\n";
  int64_t side = o.size;
  for (size_t i = 0; i < convs.size(); ++i) {
    const std::string k = std::to_string(i);
    const int64_t c = o.width << i;
    side /= 2;
    const std::string w = weight("conv" + k, "conv" + k + "_sn");
    const std::string bias = convs[i]->bias.defined() ? "self." + prefix + "conv" + k + "_bias" : "None";
    s << "    h = torch.conv2d(h, " << w << ", " << bias << ", [2, 2], [1, 1])\n";
    if (!norms[i].is_empty()) {
      const std::string n = "self." + prefix + "norm" + k;
      if (o.norm == "batch") {
        const double eps = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(norms[i].ptr())->options.eps();
        s << "    h = torch.batch_norm(h, " << n << "_weight, " << n << "_bias, " << n << "_running_mean, " << n
          << "_running_var, False, 0.1, " << eps << ", False)\n";
      } else {
        const double eps = std::dynamic_pointer_cast<torch::nn::LayerNormImpl>(norms[i].ptr())->options.eps();
        s << "    h = torch.layer_norm(h, [" << c << ", " << side << ", " << side << "], " << n << "_weight, " << n
          << "_bias, " << eps << ", False)\n";
      }
    }
    s << "    h = torch.leaky_relu(h, 0.2)\n";
  }
  s << "    f = torch.flatten(h, 1)\n";
  const std::string w_out = weight("out", "out_sn");
  s << "    score = torch.linear(f, " << w_out << ", self." << prefix << "out_bias)\n";
  if (o.num_classes > 0) {
    const std::string v = weight("embed", "embed_sn");
    s << "    score = score + torch.mm(f, " << v << ".t())\n";
  }
  s << "    return score\n";
  return s.str();
}

// ---------------------------------------------------------------------------------------------
// MLP GAN of the 2-D benchmark

namespace {

void check_mlp_options(const MlpGanOptions& o) {
  require_positive(o.z_dim, "MLP GAN z_dim");
  require_positive(o.data_dim, "MLP GAN data_dim");
  require_positive(o.hidden, "MLP GAN hidden");
  require_positive(o.layers, "MLP GAN layers");
  require_positive(o.pack, "MLP GAN pack");
}

void require_matrix(const torch::Tensor& t, int64_t columns, const std::string& what) {
  if (t.dim() != 2 || t.size(1) != columns) {
    throw UsageError(what + " expects [N, " + std::to_string(columns) + "], got " + c10::str(t.sizes()));
  }
}

}  // namespace

MlpGeneratorImpl::MlpGeneratorImpl(MlpGanOptions options) : options_(options) {
  check_mlp_options(options_);
  net = torch::nn::Sequential();
  int64_t in = options_.z_dim;
  for (int64_t i = 0; i < options_.layers; ++i, in = options_.hidden) {
    net->push_back(torch::nn::Linear(in, options_.hidden));
    net->push_back(torch::nn::ReLU());
  }
  net->push_back(torch::nn::Linear(in, options_.data_dim));
  register_module("net", net);
}

torch::Tensor MlpGeneratorImpl::forward(const torch::Tensor& z, const torch::Tensor& /*y*/) {
  require_matrix(z, options_.z_dim, "MLP generator");
  return net->forward(z);
}

std::string MlpGeneratorImpl::torchscript_source() const {
  // Linear layers sit at Sequential indices 0, 2, 4, ... (a ReLU after each hidden one).
  std::string src = "def forward(self, z):\n    x = z\n";
  for (int64_t i = 0; i <= options_.layers; ++i) {
    const std::string name = "self.net_" + std::to_string(2 * i);
    src += "    x = torch.linear(x, " + name + "_weight, " + name + "_bias)\n";
    if (i < options_.layers) src += "    x = torch.relu(x)\n";
  }
  return src + "    return x\n";
}

MlpDiscriminatorImpl::MlpDiscriminatorImpl(MlpGanOptions options) : options_(options) {
  check_mlp_options(options_);
  net = torch::nn::Sequential();
  int64_t in = options_.pack * options_.data_dim;
  for (int64_t i = 0; i < options_.layers; ++i, in = options_.hidden) {
    net->push_back(torch::nn::Linear(in, options_.hidden));
    net->push_back(torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)));
  }
  net->push_back(torch::nn::Linear(in, 1));
  register_module("net", net);
}

torch::Tensor MlpDiscriminatorImpl::forward(const torch::Tensor& x, const torch::Tensor& /*y*/) {
  const auto& o = options_;
  require_matrix(x, o.data_dim, "MLP discriminator");
  if (x.size(0) % o.pack != 0) {
    throw UsageError("MLP discriminator with pack " + std::to_string(o.pack) + " needs a batch size that is a multiple of it, got " +
                     std::to_string(x.size(0)));
  }
  // PacGAN: row j of the packed batch is samples j*pack .. j*pack + pack - 1 side by side.
  return net->forward(x.reshape({x.size(0) / o.pack, o.pack * o.data_dim})).squeeze(1);
}

// ---------------------------------------------------------------------------------------------
// Weight averaging and copying

namespace {

using NamedTensors = torch::OrderedDict<std::string, torch::Tensor>;

void check_same_structure(const NamedTensors& to, const NamedTensors& from, const std::string& what) {
  if (to.size() != from.size()) {
    throw UsageError(what + ": the networks differ in structure (" + std::to_string(to.size()) + " vs " +
                     std::to_string(from.size()) + " tensors)");
  }
  for (const auto& item : to) {
    const torch::Tensor* other = from.find(item.key());
    if (!other) throw UsageError(what + ": '" + item.key() + "' is missing from the source network");
    if (other->sizes() != item.value().sizes()) {
      throw UsageError(what + ": '" + item.key() + "' has shape " + c10::str(item.value().sizes()) + " vs " +
                       c10::str(other->sizes()) + " in the source network");
    }
  }
}

// Checks everything before touching anything, so a mismatch leaves `to` as it was.
std::pair<NamedTensors, NamedTensors> matched(torch::nn::Module& to, const torch::nn::Module& from,
                                              const std::string& what) {
  check_same_structure(to.named_parameters(), from.named_parameters(), what);
  check_same_structure(to.named_buffers(), from.named_buffers(), what);
  return {to.named_parameters(), to.named_buffers()};
}

}  // namespace

at::Generator init_generator(const std::optional<uint64_t>& seed) {
  return seed ? make_generator(*seed) : at::detail::getDefaultCPUGenerator();
}

void normal_init(torch::nn::Module& net, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  for (const auto& m : net.modules(/*include_self=*/false)) {
    const bool bn = m->as<torch::nn::BatchNorm1d>() || m->as<torch::nn::BatchNorm2d>();
    const bool affine = m->as<torch::nn::Conv2d>() || m->as<torch::nn::ConvTranspose2d>() || m->as<torch::nn::Linear>();
    if (!bn && !affine) continue;
    for (auto& p : m->named_parameters(/*recurse=*/false)) {
      at::Tensor& t = p.value();
      if (!t.defined()) continue;
      if (p.key() == "weight") {
        t.copy_(torch::empty(t.sizes()).normal_(bn ? 1.0 : 0.0, 0.02, gen));
      } else {
        t.zero_();
      }
    }
  }
}

void ema_update(torch::nn::Module& ema, const torch::nn::Module& net, double decay) {
  if (!(decay >= 0.0 && decay <= 1.0)) throw UsageError("EMA decay must be in [0, 1], got " + std::to_string(decay));
  torch::NoGradGuard no_grad;
  auto [params, buffers] = matched(ema, net, "ema_update");
  const auto source = net.named_parameters();
  for (auto& p : params) p.value().mul_(decay).add_(source[p.key()].to(p.value().device()), 1.0 - decay);
  const auto source_buffers = net.named_buffers();
  for (auto& b : buffers) b.value().copy_(source_buffers[b.key()]);
}

void copy_weights(torch::nn::Module& to, const torch::nn::Module& from) {
  torch::NoGradGuard no_grad;
  auto [params, buffers] = matched(to, from, "copy_weights");
  const auto source = from.named_parameters();
  for (auto& p : params) p.value().copy_(source[p.key()]);
  const auto source_buffers = from.named_buffers();
  for (auto& b : buffers) b.value().copy_(source_buffers[b.key()]);
}

void standing_statistics(torch::nn::Module& net, int64_t batches, const std::function<void()>& forward) {
  std::vector<std::pair<torch::nn::BatchNorm1dImpl*, c10::optional<double>>> bn1;
  std::vector<std::pair<torch::nn::BatchNorm2dImpl*, c10::optional<double>>> bn2;
  for (const auto& m : net.modules(/*include_self=*/false)) {
    if (auto* b = dynamic_cast<torch::nn::BatchNorm1dImpl*>(m.get())) bn1.emplace_back(b, b->options.momentum());
    if (auto* b = dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get())) bn2.emplace_back(b, b->options.momentum());
  }
  if (bn1.empty() && bn2.empty()) {
    net.eval();
    return;
  }
  // momentum = nullopt makes BatchNorm keep a cumulative average over num_batches_tracked.
  for (auto& [b, momentum] : bn1) {
    b->reset_running_stats();
    b->options.momentum(c10::nullopt);
  }
  for (auto& [b, momentum] : bn2) {
    b->reset_running_stats();
    b->options.momentum(c10::nullopt);
  }
  {
    torch::NoGradGuard no_grad;
    net.train();
    for (int64_t i = 0; i < batches; ++i) forward();
  }
  for (auto& [b, momentum] : bn1) b->options.momentum(momentum);
  for (auto& [b, momentum] : bn2) b->options.momentum(momentum);
  net.eval();
}

}  // namespace mirage

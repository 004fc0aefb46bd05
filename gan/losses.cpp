#include "gan/losses.h"

#include <torch/torch.h>

#include "lib/error.h"

namespace mirage {

GanLoss parse_gan_loss(const std::string& name) {
  if (name == "ns") return GanLoss::kNonSaturating;
  if (name == "wgan-gp") return GanLoss::kWasserstein;
  if (name == "hinge") return GanLoss::kHinge;
  if (name == "lsgan") return GanLoss::kLeastSquares;
  throw UsageError("--loss: must be ns, wgan-gp, hinge or lsgan, got '" + name + "'");
}

std::string gan_loss_name(GanLoss loss) {
  switch (loss) {
    case GanLoss::kNonSaturating: return "ns";
    case GanLoss::kWasserstein: return "wgan-gp";
    case GanLoss::kHinge: return "hinge";
    case GanLoss::kLeastSquares: return "lsgan";
  }
  return "?";
}

at::Tensor discriminator_loss(GanLoss loss, const at::Tensor& r, const at::Tensor& f) {
  switch (loss) {
    // -log sigmoid(r) - log(1 - sigmoid(f)), written with softplus for stability.
    case GanLoss::kNonSaturating: return torch::softplus(-r).mean() + torch::softplus(f).mean();
    case GanLoss::kWasserstein: return f.mean() - r.mean();
    case GanLoss::kHinge: return torch::relu(1 - r).mean() + torch::relu(1 + f).mean();
    case GanLoss::kLeastSquares: return 0.5 * ((r - 1).pow(2).mean() + f.pow(2).mean());
  }
  throw InternalError("unknown GAN loss");
}

at::Tensor generator_loss(GanLoss loss, const at::Tensor& f) {
  switch (loss) {
    case GanLoss::kNonSaturating: return torch::softplus(-f).mean();  // -log sigmoid(f)
    case GanLoss::kWasserstein:
    case GanLoss::kHinge: return -f.mean();
    case GanLoss::kLeastSquares: return 0.5 * (f - 1).pow(2).mean();
  }
  throw InternalError("unknown GAN loss");
}

at::Tensor gradient_penalty_at(const std::function<at::Tensor(const at::Tensor&)>& critic, const at::Tensor& x) {
  at::Tensor point = x.detach().requires_grad_(true);
  at::Tensor scores = critic(point);
  // Each sample's score depends only on that sample (no batch norm in a WGAN-GP critic), so the
  // gradient of the sum is the per-sample gradient.
  at::Tensor grad = torch::autograd::grad({scores.sum()}, {point}, {}, /*retain_graph=*/true,
                                          /*create_graph=*/true)[0];
  at::Tensor norm = grad.flatten(1).norm(2, 1);
  return (norm - 1).pow(2).mean();
}

at::Tensor gradient_penalty(const std::function<at::Tensor(const at::Tensor&)>& critic, const at::Tensor& real,
                            const at::Tensor& fake, at::Generator& gen) {
  std::vector<int64_t> shape(static_cast<size_t>(real.dim()), 1);
  shape[0] = real.size(0);
  at::Tensor e = torch::rand(shape, gen, torch::TensorOptions().dtype(real.scalar_type())).to(real.device());
  return gradient_penalty_at(critic, e * real.detach() + (1 - e) * fake.detach());
}

}  // namespace mirage

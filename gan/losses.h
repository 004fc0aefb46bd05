// gan/losses.h — adversarial losses on discriminator scores (logits), and the WGAN-GP penalty.
//   ns      non-saturating (Goodfellow et al. 2014): D: softplus(-r) + softplus(f); G: softplus(-f)
//   wgan-gp Wasserstein critic (Gulrajani et al. 2017): D: f - r; G: -f (penalty separate)
//   hinge   (Lim & Ye 2017; Miyato et al. 2018): D: relu(1 - r) + relu(1 + f); G: -f
//   lsgan   least squares (Mao et al. 2017; CycleGAN's choice): D: ((r-1)^2 + f^2)/2; G: (f-1)^2/2
// Scores may have any shape (PatchGAN grids); losses are means over all elements.
#pragma once
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <functional>
#include <string>

namespace mirage {

enum class GanLoss { kNonSaturating, kWasserstein, kHinge, kLeastSquares };

// "ns" | "wgan-gp" | "hinge" | "lsgan"; anything else is a UsageError naming --loss.
GanLoss parse_gan_loss(const std::string& name);
std::string gan_loss_name(GanLoss loss);

at::Tensor discriminator_loss(GanLoss loss, const at::Tensor& real_scores, const at::Tensor& fake_scores);
at::Tensor generator_loss(GanLoss loss, const at::Tensor& fake_scores);

// E[(||grad_x D(x)||_2 - 1)^2] at the points `x` (graph kept, so the penalty trains D).
at::Tensor gradient_penalty_at(const std::function<at::Tensor(const at::Tensor&)>& critic, const at::Tensor& x);
// The WGAN-GP penalty on x = e * real + (1 - e) * fake, e ~ U[0,1] per sample drawn from `gen`
// (Gulrajani et al. 2017, Algorithm 1).
at::Tensor gradient_penalty(const std::function<at::Tensor(const at::Tensor&)>& critic,
                            const at::Tensor& real, const at::Tensor& fake, at::Generator& gen);

}  // namespace mirage

// attacks/fab.h — FAB, the Fast Adaptive Boundary attack (Croce & Hein, ICML 2020, "Minimally
// distorted adversarial examples with a fast adaptive boundary attack"), Linf, L2 and L1;
// untargeted (fab) and targeted (fab-t, as AutoAttack's standard version runs it).
//
// As the reference fab_base.py: at the iterate x1 the classifier is linearised (untargeted: the
// class k != y whose hyperplane z_k - z_y = 0 is closest in the dual norm; FAB-T: z_t - z_y; an
// explicit target of the run's goal: z_t - max_{k != t} z_k at x1); x1 and the clean x0 are both projected onto that hyperplane intersected with the box [0,1]
// (d1, d2); the step is x1 <- clip((x1 + eta d1)(1 - alpha) + (x0 + eta d2) alpha) with
// alpha = min(|d1| / (|d1| + |d2|), alpha_max); an iterate that is adversarial is kept when it is
// the closest to x0 so far and then pulled back to x0 + beta (x1 - x0). A sample counts as broken
// only if its closest adversarial has norm <= eps (the reference's perturb()); a sample not
// broken is returned unchanged. Only samples whose goal does not hold on the clean image are
// attacked.
#pragma once
#include "attacks/attack.h"

namespace mirage {

struct FabOptions {
  Norm norm = Norm::kLinf;
  double eps = 8.0 / 255;  // success threshold, and the scale of random restarts (L2: 0.5, L1: 12)
  int64_t steps = 100;     // n_iter
  int64_t restarts = 1;    // n_restarts: the first from x, the others from random points at eps/2
  double alpha_max = 0.1;  // largest weight of the step taken from the clean image
  double eta = 1.05;       // overshoot of the projections
  double beta = 0.9;       // backward step toward x0 once adversarial
  int64_t target_classes = 9;  // fab-t: how many runner-up classes to try, in turn
  // Stop a sample once an adversarial within eps is found. Off by default: FAB is a
  // minimal-norm attack and keeps shrinking the norm. AutoAttack turns it on (it only asks
  // whether a sample is broken within eps, which this cannot change).
  bool early_stop = false;
  bool compact = true;  // as PgdOptions::compact
};

class Fab final : public Attack {
 public:
  Fab(FabOptions options, bool targeted, std::string name)
      : options_(std::move(options)), targeted_(targeted), name_(std::move(name)) {}
  // `goal`: untargeted, or targeted with explicit targets (then both fab and fab-t attack those).
  // With targeted_ (fab-t) and an untargeted goal, targets are the classes ranked 2nd, 3rd, ...
  // by clean logit, as the reference FAB-T.
  AttackResult run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) override;
  std::string name() const override { return name_; }
  nlohmann::json options_json() const override;

 private:
  FabOptions options_;
  bool targeted_;
  std::string name_;
};

// The displacement d [M, D] of minimal `norm` taking each row of `t` [M, D] onto the hyperplane
// w . z = b ([M, D], [M]) within the box [0,1]^D: w . (t + d) = b and 0 <= t + d <= 1. Where the
// box does not reach the hyperplane, d moves t to the box corner closest to it (the reference's
// projection_linf / projection_l2 / projection_l1, batched over rows).
at::Tensor fab_projection(const at::Tensor& t, const at::Tensor& w, const at::Tensor& b, Norm norm);

std::unique_ptr<Attack> make_fab(AttackParams& p);
std::unique_ptr<Attack> make_fab_t(AttackParams& p);

}  // namespace mirage

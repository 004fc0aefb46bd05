// attacks/pgd.h — Projected gradient descent (Madry et al., ICLR 2018), Linf and L2; with
// random_start off and one restart it is BIM (Kurakin et al., 2017).
//
// As torchattacks' PGD / PGDL2: start at x + uniform noise in the ball (L2: Gaussian direction,
// radius uniform in [0, eps]), clamp to [0,1]; each step ascends CE (descends CE(target) when
// targeted) by alpha * sign(grad) (Linf) or alpha * grad / ||grad||_2 (L2), then projects onto
// the eps-ball around x and clamps to [0,1]. With restarts > 1 (AutoAttack's convention) each
// sample keeps the first successful restart; a sample no restart breaks returns the last
// iterate of the last restart.
#pragma once
#include "attacks/attack.h"

namespace mirage {

struct PgdOptions {
  Norm norm = Norm::kLinf;
  double eps = 8.0 / 255;    // in [0,1] pixel units
  double alpha = 2.0 / 255;  // step size
  int64_t steps = 10;
  int64_t restarts = 1;
  bool random_start = true;
  // Stop stepping a sample at its first adversarial iterate and return that iterate. On by
  // default: it cannot lose a success (without it a sample returns its last iterate, which may
  // have left the adversarial region again, as torchattacks' PGD does; set false to match that).
  bool early_stop = true;
  // Finished samples leave the batch (no more compute); false keeps them in it, masked (the
  // baseline of bench/: the same results at the cost of computing every sample every step).
  bool compact = true;
};

class Pgd final : public Attack {
 public:
  explicit Pgd(PgdOptions options, std::string name = "pgd") : options_(options), name_(std::move(name)) {}
  AttackResult run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) override;
  std::string name() const override { return name_; }
  nlohmann::json options_json() const override;

 private:
  PgdOptions options_;
  std::string name_;
};

std::unique_ptr<Attack> make_pgd(AttackParams& p);
std::unique_ptr<Attack> make_bim(AttackParams& p);

}  // namespace mirage

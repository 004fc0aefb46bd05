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
  bool early_stop = false;   // stop stepping a sample once it succeeds (saves queries)
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

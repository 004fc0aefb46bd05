// attacks/square.h — Square Attack (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020, "Square
// Attack: a query-efficient black-box adversarial attack via random search"), Linf and L2.
//
// Score-based and black-box: only model.logits() under NoGradGuard, never a gradient. As the
// reference (AutoAttack's square.py, attack_single_run): start at x + eps * random signs constant
// along each image column (Linf) or at a grid of signed centred squares scaled to norm eps (L2);
// then, per query, change one random s x s window (s from p_init and the halving schedule
// rescaled to `queries`), keep the change only when the loss decreases (or the sample becomes
// adversarial), and stop querying a sample once its margin is <= 0. Restarts run on the samples
// still robust. A sample never made adversarial returns its best (lowest-loss) point.
//
// Queries: `queries` bounds the forward passes of each restart per sample, the initial point's
// included; result.queries adds the clean pass, so a sample costs at most 1 + restarts * queries.
#pragma once
#include "attacks/attack.h"

namespace mirage {

struct SquareOptions {
  Norm norm = Norm::kLinf;
  double eps = 8.0 / 255;       // L2: 0.5
  int64_t queries = 5000;       // n_queries, per restart
  double p_init = 0.8;          // initial fraction of pixels a window covers
  int64_t restarts = 1;
  std::string loss = "margin";  // margin | ce (untargeted; targeted runs use CE toward the target)
};

class Square final : public Attack {
 public:
  explicit Square(SquareOptions options) : options_(std::move(options)) {}
  AttackResult run(Model& model, const at::Tensor& images, const at::Tensor& labels, const Goal& goal) override;
  std::string name() const override { return "square"; }
  nlohmann::json options_json() const override;
  bool black_box() const override { return true; }

 private:
  // One run of the random search on the samples given; returns the reference's x_best, and per
  // sample its loss, whether it meets the goal, and the queries spent.
  at::Tensor single_run(Model& model, const at::Tensor& x, const at::Tensor& y, const Goal& goal,
                        at::Tensor& loss_best, at::Tensor& met, at::Tensor& queries);
  SquareOptions options_;
};

// The reference's p_selection: p_init halved after 10, 50, 200, 500, 1000, 2000, 4000, 6000 and
// 8000 of 10000 queries, the iteration `it` rescaled from `n_queries` to 10000.
double square_p_selection(int64_t it, int64_t n_queries, double p_init);

// The reference's eta(s) before its random transpose: an s x s window whose top s/2 rows hold
// positive and bottom rows negative nested centred rectangles (weights 1/k^2), unit Frobenius
// norm. [s, s] float on the CPU.
at::Tensor square_eta(int64_t s);

std::unique_ptr<Attack> make_square(AttackParams& p);

}  // namespace mirage

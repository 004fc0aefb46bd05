// attacks/registry.cpp — every attack by name. An explicit list rather than static
// self-registration: objects in a static library that nothing references are dropped by the
// linker, and their registrations with them.
#include "attacks/apgd.h"
#include "attacks/attack.h"
#include "attacks/fgsm.h"
#include "attacks/pgd.h"

namespace mirage {

const std::vector<AttackInfo>& attack_registry() {
  static const std::vector<AttackInfo> list = {
      {"fgsm", "Fast Gradient Sign Method, one Linf step (Goodfellow et al. 2015)", false, make_fgsm},
      {"bim", "Basic Iterative Method: PGD without random start (Kurakin et al. 2017)", false, make_bim},
      {"pgd", "Projected Gradient Descent, Linf or L2, random start and restarts (Madry et al. 2018)", false, make_pgd},
      {"apgd-ce", "Auto-PGD with cross-entropy loss, Linf or L2 (Croce & Hein 2020)", false, make_apgd_ce},
      {"apgd-dlr", "Auto-PGD with the difference-of-logits-ratio loss (Croce & Hein 2020)", false, make_apgd_dlr},
      {"apgd-t", "targeted Auto-PGD over the top runner-up classes, DLR-targeted loss (Croce & Hein 2020)", false, make_apgd_t},
  };
  return list;
}

}  // namespace mirage

// attacks/registry.cpp — every attack by name. An explicit list rather than static
// self-registration: objects in a static library that nothing references are dropped by the
// linker, and their registrations with them.
#include "attacks/advgan.h"
#include "attacks/apgd.h"
#include "attacks/attack.h"
#include "attacks/autoattack.h"
#include "attacks/cw.h"
#include "attacks/deepfool.h"
#include "attacks/fab.h"
#include "attacks/fgsm.h"
#include "attacks/hop_skip_jump.h"
#include "attacks/mifgsm.h"
#include "attacks/pgd.h"
#include "attacks/square.h"

namespace mirage {

const std::vector<AttackInfo>& attack_registry() {
  static const std::vector<AttackInfo> list = {
      {"fgsm", "Fast Gradient Sign Method, one Linf step (Goodfellow et al. 2015)", false, make_fgsm},
      {"bim", "Basic Iterative Method: PGD without random start (Kurakin et al. 2017)", false, make_bim},
      {"pgd", "Projected Gradient Descent, Linf or L2, random start and restarts (Madry et al. 2018)", false, make_pgd},
      {"apgd-ce", "Auto-PGD with cross-entropy loss, Linf or L2 (Croce & Hein 2020)", false, make_apgd_ce},
      {"apgd-dlr", "Auto-PGD with the difference-of-logits-ratio loss (Croce & Hein 2020)", false, make_apgd_dlr},
      {"apgd-t", "targeted Auto-PGD over the top runner-up classes, DLR-targeted loss (Croce & Hein 2020)", false, make_apgd_t},
      {"mi-fgsm", "Momentum Iterative FGSM, Linf (Dong et al. 2018)", false, make_mifgsm},
      {"deepfool", "DeepFool, minimal L2 or Linf perturbation by linearising the boundary (Moosavi-Dezfooli et al. 2016)", false, make_deepfool},
      {"cw", "Carlini-Wagner L2, minimal perturbation by Adam in tanh space with a binary search on c (Carlini & Wagner 2017)", false, make_cw},
      {"fab", "Fast Adaptive Boundary attack, minimal Linf, L2 or L1 perturbation within eps (Croce & Hein 2020)", false, make_fab},
      {"fab-t", "targeted FAB over the top runner-up classes, as in AutoAttack (Croce & Hein 2020)", false, make_fab_t},
      {"square", "Square Attack, score-based black-box random search, Linf or L2 (Andriushchenko et al. 2020)", true, make_square},
      {"hsj", "HopSkipJump, decision-based black-box minimal L2 or Linf perturbation (Chen et al. 2020)", true, make_hsj},
      {"autoattack", "AutoAttack standard ensemble: APGD-CE, APGD-T, FAB-T, Square on the still-robust samples (Croce & Hein 2020)", false, make_autoattack},
      {"advgan", "AdvGAN: one forward pass of a trained perturbation generator, Linf by construction (Xiao et al. 2018); needs --advgan CKPT from train-advgan", false, make_advgan},
  };
  return list;
}

}  // namespace mirage

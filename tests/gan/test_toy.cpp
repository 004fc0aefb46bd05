// The 2-D mode-collapse benchmark end to end: the trainer's best toy configuration covers every
// mode of the ring, and the measures flag a collapsed generator that the per-sample quality
// alone would call perfect.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "gan/metrics.h"
#include "gan/networks.h"
#include "gan/trainer.h"
#include "lib/runtime.h"

using namespace mirage;

TEST_CASE("the best toy configuration covers all 8 ring modes, a collapsed one is flagged", "[gan][toy]") {
  GanConfig c;
  c.arch = "toy";
  c.mixture = "ring8";
  c.loss = "hinge";
  c.lr_g = 5e-4;
  c.ema_decay = 0;
  c.batch_size = 256;
  c.steps = 3000;
  c.seed = 0;
  c.sample_every = 0;
  c.checkpoint_every = 0;
  torch::manual_seed(0);
  auto source = toy_source(c.mixture, c.seed, torch::kCPU);
  GanTrainer trainer(c, *source, torch::kCPU);
  const ToyMixture ring = toy_mixture("ring8");
  at::Generator gen = make_generator(1);

  // Before training the generator is one blob near the origin: no mode.
  ModeCoverage untrained = mode_coverage(ring, trainer.model().samples(trainer.fixed_batch(), 2500, gen));
  CHECK(untrained.modes_covered <= 1);

  trainer.run({});
  at::Tensor samples = trainer.model().samples(trainer.fixed_batch(), 2500, gen);
  ModeCoverage trained = mode_coverage(ring, samples);
  CAPTURE(trained.per_mode, trained.high_quality_fraction);
  CHECK(trained.modes_covered == 8);
  CHECK(trained.high_quality_fraction > 0.5);

  // Collapse: the trained generator fed one latent code for every sample puts all of them on
  // (at most) one mode. Every sample may be "high quality"; coverage says what is wrong.
  auto g = std::dynamic_pointer_cast<MlpGeneratorImpl>(trainer.model().generators()[0].second);
  REQUIRE(g);
  torch::NoGradGuard no_grad;
  at::Tensor z = torch::randn({1, trainer.config().z_dim}, gen).expand({2500, -1});
  ModeCoverage collapsed = mode_coverage(ring, g->forward(z));
  CHECK(collapsed.modes_covered <= 1);
  CHECK(collapsed.modes_covered < trained.modes_covered);
}

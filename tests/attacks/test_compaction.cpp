// Batch compaction (attacks/attack.h, ActiveRows): a sample an attack is done with costs no
// more forward passes, and compacting changes nothing but the cost. Then memory: a batch that
// runs out of memory is halved, and `--batch-size auto` probes what fits. Each attack is run twice
// with the same seed, compacting and masked, on a model whose forward is exactly batch
// independent (it runs one row at a time), and must give the same per-sample results.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <new>
#include <stdexcept>

#include "attacks/attack.h"
#include "lib/error.h"
#include "tests/attacks/toy_models.h"

namespace mirage::test {
namespace {

// The toy conv net run one row at a time (so its results cannot depend on the batch), counting
// the rows it is given.
struct RowByRowModel {
  std::shared_ptr<int64_t> rows = std::make_shared<int64_t>(0);
  std::unique_ptr<FunctionModel> inner = toy_conv_model(6);
  FunctionModel model;
  RowByRowModel()
      : model(
            [this](const at::Tensor& x) {
              *rows += x.size(0);
              std::vector<at::Tensor> out;
              for (int64_t i = 0; i < x.size(0); ++i) out.push_back(inner->logits(x.narrow(0, i, 1)));
              return torch::cat(out);
            },
            toy_spec(1, 8, 8, 5), torch::kCPU) {}
};

// What `model` predicts on `x`: labels on which every sample starts correctly classified.
at::Tensor own_labels(Model& model, const at::Tensor& x) {
  torch::NoGradGuard g;
  return model.logits(x).argmax(1);
}

struct Run {
  AttackResult result;
  int64_t rows = 0;  // rows the model was given, finalize_result's pass included
};

Run run_attack(const std::string& name, nlohmann::json params, bool compact, RowByRowModel& m, const at::Tensor& x,
               const at::Tensor& y) {
  params["compact"] = compact;
  auto attack = make_attack(name, params);
  attack->set_seed(7);
  *m.rows = 0;
  Run run;
  run.result = attack->run(m.model, x, y, Goal::untargeted());
  run.rows = *m.rows;
  return run;
}

}  // namespace

TEST_CASE("ActiveRows drops finished rows when compacting and freezes them when masking", "[attacks][compaction]") {
  for (bool compact : {true, false}) {
    ActiveRows rows(4, torch::kCPU, compact);
    auto state = torch::arange(4).to(torch::kFloat);
    auto by_column = torch::arange(8).view({2, 4});
    CHECK(rows.retire(torch::tensor({false, true, false, true}), {&state}, {&by_column}));
    auto next = state + 10;
    auto stepped = rows.step(next, state);
    if (compact) {
      CHECK(rows.index().equal(torch::tensor({0, 2}, torch::kLong)));
      CHECK(state.equal(torch::tensor({0.f, 2.f})));
      CHECK(by_column.equal(torch::tensor({0, 2, 4, 6}).view({2, 2})));
      CHECK(stepped.equal(torch::tensor({10.f, 12.f})));
    } else {
      CHECK(rows.index().equal(torch::arange(4)));
      CHECK(rows.running().equal(torch::tensor({true, false, true, false})));
      CHECK(state.numel() == 4);
      CHECK(stepped.equal(torch::tensor({10.f, 1.f, 12.f, 3.f})));
    }
    // A row already retired is not retired twice; retiring the rest leaves none running.
    CHECK_FALSE(rows.retire(torch::ones({rows.size()}, torch::kBool), {&state}));
  }
}

TEST_CASE("every compacting attack gives the masked run's per-sample results at the cost of the samples still running",
          "[attacks][compaction]") {
  torch::manual_seed(3);
  RowByRowModel m;
  auto x = torch::rand({12, 1, 8, 8});
  auto y = own_labels(*m.inner, x);
  const nlohmann::json linf = {{"eps", 0.05}, {"steps", 12}};
  struct Case {
    std::string name;
    nlohmann::json params;
  };
  std::vector<Case> cases = {
      {"pgd", linf},
      {"pgd", {{"norm", "l2"}, {"eps", 1.5}, {"steps", 12}, {"restarts", 2}}},
      {"bim", linf},
      {"mi-fgsm", linf},
      {"apgd-ce", linf},
      {"apgd-dlr", {{"eps", 0.15}, {"steps", 12}, {"restarts", 2}}},
      {"apgd-t", {{"eps", 0.15}, {"steps", 12}, {"target_classes", 2}}},
      {"fab", {{"eps", 0.15}, {"steps", 12}, {"early_stop", true}}},
      {"fab", {{"eps", 0.15}, {"steps", 12}}},
      {"fab-t", {{"eps", 0.15}, {"steps", 12}, {"target_classes", 2}, {"early_stop", true}}},
      {"autoattack", {{"eps", 0.1}, {"steps", 12}, {"queries", 50}, {"target_classes", 2}}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    SECTION("case " + std::to_string(i) + ": " + c.name) {
      INFO(c.params.dump());
      auto packed = run_attack(c.name, c.params, true, m, x, y);
      auto masked = run_attack(c.name, c.params, false, m, x, y);
      const auto& a = packed.result;
      const auto& b = masked.result;
      CHECK(a.success.equal(b.success));
      CHECK(a.adv_pred.equal(b.adv_pred));
      CHECK(a.queries.equal(b.queries));
      CHECK(a.gradient_calls == b.gradient_calls);
      CHECK(torch::allclose(a.linf, b.linf, 0.0, 1e-5));
      CHECK(torch::allclose(a.l2, b.l2, 0.0, 1e-5));
      CHECK(torch::allclose(a.adversarial, b.adversarial, 0.0, 1e-5));
      // Compacting, the model sees each sample exactly as often as its query count says (plus
      // the one pass that checks the returned images); masking, it sees every sample each step.
      // AutoAttack's stages each check their own returned images too.
      const int64_t n = x.size(0);
      int64_t checks = n;
      if (a.details.is_object()) {
        for (const auto& stage : a.details.at("stages")) checks += stage.at("attacked").get<int64_t>();
      }
      CHECK(packed.rows == a.queries.sum().item<int64_t>() + checks);
      CHECK(masked.rows >= packed.rows);
      const bool some_broken = a.success.any().item<bool>();
      const bool all_broken = a.success.all().item<bool>();
      INFO("broken " << a.success.sum().item<int64_t>() << " of " << n << ", rows " << packed.rows << " vs "
                     << masked.rows);
      // Early stop retires broken samples (fab without it keeps shrinking their norm).
      const bool stops = !(c.name == "fab" && !c.params.contains("early_stop"));
      if (stops && some_broken) CHECK(packed.rows < masked.rows);
      if (c.name == "pgd" && c.params.size() == 2) {
        // The case is not trivial: PGD breaks some samples, not all.
        CHECK(some_broken);
        CHECK_FALSE(all_broken);
      }
    }
  }
}

TEST_CASE("PGD stops a sample at its first adversarial iterate by default and never loses a success to it",
          "[attacks][compaction][pgd]") {
  torch::manual_seed(4);
  RowByRowModel m;
  auto x = torch::rand({16, 1, 8, 8});
  auto y = own_labels(*m.inner, x);
  const nlohmann::json params = {{"eps", 0.2}, {"steps", 30}};
  auto attack = make_attack("pgd", params);
  CHECK(attack->options_json().at("early_stop") == true);
  attack->set_seed(1);
  auto stopped = attack->run(m.model, x, y, Goal::untargeted());
  auto full_params = params;
  full_params["early_stop"] = false;
  auto full_attack = make_attack("pgd", full_params);
  full_attack->set_seed(1);
  auto full = full_attack->run(m.model, x, y, Goal::untargeted());
  // Every success of the last-iterate run is a success of the early-stopping one.
  CHECK((full.success & ~stopped.success).sum().item<int64_t>() == 0);
  // A broken sample spent fewer steps than the budget: clean pass + steps + final check.
  auto broken = stopped.success;
  REQUIRE(broken.any().item<bool>());
  CHECK((stopped.queries <= full.queries).all().item<bool>());
  CHECK(stopped.queries.masked_select(broken).min().item<int64_t>() < 30 + 2);
  CHECK(stopped.queries.sum().item<int64_t>() < full.queries.sum().item<int64_t>());
  CHECK(full.queries.min().item<int64_t>() == 30 + 2);
}

}  // namespace mirage::test

// ---- memory: out-of-memory halving and --batch-size auto ---------------------------------------

namespace mirage::test {
namespace {

// The toy conv net, failing as CUDA does ("CUDA out of memory") on batches above `fits` rows.
struct SmallMemoryModel {
  std::unique_ptr<FunctionModel> inner = toy_conv_model(6);
  int64_t fits;
  FunctionModel model;
  explicit SmallMemoryModel(int64_t rows)
      : fits(rows),
        model(
            [this](const at::Tensor& x) {
              if (x.size(0) > fits) throw std::runtime_error("CUDA out of memory. Tried to allocate 2.00 GiB");
              return inner->logits(x);
            },
            toy_spec(1, 8, 8, 5), torch::kCPU) {}
};

}  // namespace

TEST_CASE("a real LibTorch allocation failure reads as out of memory and other errors do not", "[attacks][memory]") {
  bool seen = false;
  try {
    auto huge = torch::empty({int64_t{1} << 60}, torch::kFloat);
    (void)huge;
  } catch (const std::exception& e) {
    seen = true;
    CHECK(is_out_of_memory(e));
  }
  CHECK(seen);
  CHECK_FALSE(is_out_of_memory(std::runtime_error("Expected 3 channels, got 1")));
  CHECK(is_out_of_memory(std::bad_alloc()));
}

TEST_CASE("a batch that runs out of memory is halved and retried with the same per-sample results",
          "[attacks][memory]") {
  torch::manual_seed(5);
  SmallMemoryModel small(3);
  auto x = torch::rand({8, 1, 8, 8});
  auto y = own_labels(*small.inner, x);
  // FGSM has no randomness: the halves must give exactly what the whole batch gives.
  auto attack = make_attack("fgsm", {{"eps", 0.05}});
  int64_t splits = 0;
  auto r = run_splitting_on_oom(*attack, small.model, x, y, Goal::untargeted(), &splits);
  CHECK(splits == 3);  // 8 -> 4 + 4 -> 2 + 2 + 2 + 2
  auto whole = attack->run(*small.inner, x, y, Goal::untargeted());
  CHECK(r.success.equal(whole.success));
  CHECK(torch::allclose(r.adversarial, whole.adversarial, 0.0, 1e-6));
  CHECK(r.queries.equal(whole.queries));
  CHECK(r.gradient_calls == 4 * whole.gradient_calls);
  // Targets follow their samples into the halves.
  auto targets = (y + 1).remainder(5);
  auto pgd = make_attack("pgd", {{"eps", 0.3}, {"steps", 5}, {"random_start", false}});
  auto t = run_splitting_on_oom(*pgd, small.model, x, y, Goal::targeted_to(targets));
  CHECK(t.success.size(0) == 8);
  CHECK(t.adv_pred.eq(targets).equal(t.success));
  // AutoAttack's per-stage records add up over the halves.
  auto aa = make_attack("autoattack", {{"eps", 0.05}, {"steps", 3}, {"queries", 10}, {"target_classes", 2}});
  auto a = run_splitting_on_oom(*aa, small.model, x, y, Goal::untargeted());
  CHECK(a.details["n"] == 8);
  CHECK(a.details["stages"][0]["attacked"] == 8);
}

TEST_CASE("out of memory at batch 1 names the model and the device's memory, other errors pass through",
          "[attacks][memory]") {
  SmallMemoryModel none(0);
  auto x = torch::rand({4, 1, 8, 8});
  auto y = torch::zeros({4}, torch::kLong);
  auto attack = make_attack("fgsm", {});
  try {
    run_splitting_on_oom(*attack, none.model, x, y, Goal::untargeted());
    FAIL("no error");
  } catch (const InputError& e) {
    const std::string m = e.what();
    CHECK(m.find("toy: out of memory on cpu at batch 1") == 0);
    CHECK(m.find("MiB available") != std::string::npos);
  }
  FunctionModel broken([](const at::Tensor&) -> at::Tensor { throw std::runtime_error("shape mismatch"); },
                       toy_spec(1, 8, 8, 5), torch::kCPU);
  CHECK_THROWS_WITH(run_splitting_on_oom(*attack, broken, x, y, Goal::untargeted()), "shape mismatch");
}

TEST_CASE("batch size auto takes the largest halving of the cap whose forward and backward fit", "[attacks][memory]") {
  SmallMemoryModel small(5);
  CHECK(probe_batch_size(small.model, torch::rand({1, 1, 8, 8}), 128) == 4);
  CHECK(probe_batch_size(small.model, torch::rand({1, 1, 8, 8}), 5) == 5);
  SmallMemoryModel none(0);
  CHECK_THROWS_AS(probe_batch_size(none.model, torch::rand({1, 1, 8, 8}), 16), InputError);
  CHECK(auto_batch_cap(torch::kCPU) == 128);
}

}  // namespace mirage::test

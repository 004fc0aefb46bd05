// run_attack (the loop of `mirage attack`) on a model whose answers are known in closed form:
// per-sample records agree with the run's counts, the break points are exact, unlabelled
// samples are attacked against the model's own prediction, unreadable samples are skipped and
// reported first in their batch, and bad labels name the sample.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <set>

#include "attacks/attack.h"
#include "lib/error.h"
#include "reports/attack_run.h"
#include "tests/reports/toy_audit.h"
#include "tests/test_util.h"

using mirage::test::distance;
using mirage::test::kN;
using mirage::test::message_of;
using mirage::test::toy_data;
using mirage::test::toy_model;

namespace {

std::unique_ptr<mirage::Attack> pgd(double eps) {
  return mirage::make_attack("pgd", {{"eps", eps}, {"alpha", 0.01}, {"steps", 20}});
}

// A data set whose samples in `bad` cannot be read (as a corrupt image file).
class Unreadable final : public mirage::Dataset {
 public:
  Unreadable(std::shared_ptr<mirage::Dataset> base, std::set<int64_t> bad) : base_(std::move(base)), bad_(std::move(bad)) {}
  int64_t size() const override { return base_->size(); }
  const mirage::DatasetInfo& info() const override { return base_->info(); }
  mirage::Batch get(const std::vector<int64_t>& indices) override {
    for (int64_t i : indices) {
      if (bad_.count(i)) throw mirage::InputError("toy:" + std::to_string(i) + ": cannot decode image");
    }
    return base_->get(indices);
  }

 private:
  std::shared_ptr<mirage::Dataset> base_;
  std::set<int64_t> bad_;
};

}  // namespace

TEST_CASE("run_attack breaks exactly the samples closer than eps and its counts agree with its records",
          "[reports][attack-run]") {
  auto data = toy_data();
  auto model = toy_model();
  auto attack = pgd(0.1);
  mirage::AttackRunOptions options;
  options.batch_size = 24;
  std::vector<mirage::AttackedSample> seen;
  mirage::AttackRun run = mirage::run_attack(model, *data, *attack, options, 7,
                                             [&](const mirage::AttackedSample& s) { seen.push_back(s); });
  REQUIRE(run.total == kN);
  REQUIRE(run.n == kN);
  REQUIRE(seen.size() == static_cast<size_t>(kN));
  int64_t correct = 0, robust = 0, broken = 0, queries = 0;
  for (int64_t i = 0; i < kN; ++i) {
    const auto& s = seen[static_cast<size_t>(i)];
    CHECK(s.index == i);
    CHECK(s.error.empty());
    CHECK_FALSE(s.label_predicted);
    CHECK(s.linf <= 0.1 + 1e-6);
    CHECK(s.saved.sizes() == at::IntArrayRef({1, 4, 4}));
    CHECK(s.success == (distance(i) < 0.1));
    correct += s.clean_pred == s.label;
    robust += s.adv_pred == s.label;
    broken += s.clean_pred == s.label && s.success;
    queries += s.queries;
  }
  CHECK(run.clean_correct == correct);
  CHECK(correct == kN);
  CHECK(run.robust == robust);
  CHECK(run.broken == broken);
  CHECK(run.queries_total == queries);
  CHECK(static_cast<int64_t>(run.linf.size()) == broken);
  CHECK(run.success_rate().of == correct);
  CHECK(run.skipped.empty());

  const auto j = mirage::attack_run_json(run, 16);
  CHECK(j["n"] == kN);
  CHECK(j["robust_accuracy"]["count"] == robust);
  CHECK(j["success_rate"]["count"] == broken);
  CHECK(j["linf"]["n"] == broken);
  CHECK(j["queries"]["total"] == queries);
  CHECK(j["saved"]["bit_depth"] == 16);
  CHECK_FALSE(j.contains("stages"));
  CHECK(mirage::attacked_sample_json(seen[0]).count("saved_pred") == 1);

  SECTION("the same seed gives the same records") {
    auto again = mirage::run_attack(model, *data, *pgd(0.1), options, 7);
    CHECK(again.robust == run.robust);
    CHECK(again.linf == run.linf);
  }
}

TEST_CASE("run_attack with a tiny eps breaks nothing and reports empty norm statistics as null", "[reports][attack-run]") {
  auto data = toy_data();
  auto model = toy_model();
  mirage::AttackRunOptions options;
  options.limit = 10;
  options.batch_size = 3;
  auto run = mirage::run_attack(model, *data, *pgd(0.001), options, 1);
  CHECK(run.total == 10);
  CHECK(run.n == 10);
  CHECK(run.broken == 0);
  const auto j = mirage::attack_run_json(run, 8);
  CHECK(j["linf"]["n"] == 0);
  CHECK(j["linf"]["mean"].is_null());
  CHECK(j["success_rate"]["value"] == 0.0);
}

TEST_CASE("run_attack attacks unlabelled samples against the model's prediction", "[reports][attack-run]") {
  auto base = toy_data();
  auto all = base->get([] {
    std::vector<int64_t> v;
    for (int64_t i = 0; i < kN; ++i) v.push_back(i);
    return v;
  }());
  mirage::TensorDataset unlabelled(all.images, torch::full({kN}, -1, torch::kLong), base->info());
  auto model = toy_model();
  std::vector<mirage::AttackedSample> seen;
  auto run = mirage::run_attack(model, unlabelled, *pgd(0.1), {}, 3, [&](const mirage::AttackedSample& s) { seen.push_back(s); });
  CHECK(run.labels_from_predictions == kN);
  for (const auto& s : seen) {
    CHECK(s.label_predicted);
    CHECK(s.label == s.clean_pred);
  }
  CHECK(run.clean_correct == kN);
}

TEST_CASE("run_attack skips unreadable samples, reports them first in their batch and goes on", "[reports][attack-run]") {
  Unreadable data(toy_data(), {5, 30});
  auto model = toy_model();
  mirage::AttackRunOptions options;
  options.batch_size = 8;
  std::vector<mirage::AttackedSample> seen;
  auto run = mirage::run_attack(model, data, *pgd(0.05), options, 2, [&](const mirage::AttackedSample& s) { seen.push_back(s); });
  CHECK(run.total == kN);
  CHECK(run.n == kN - 2);
  REQUIRE(run.skipped.size() == 2);
  CHECK(run.skipped[0].index == 5);
  CHECK(run.skipped[1].index == 30);
  CHECK(run.skipped[0].error.find("toy:5") != std::string::npos);
  REQUIRE(seen.size() == static_cast<size_t>(kN));
  CHECK(seen[0].index == 5);   // batch [0, 8): the bad sample first
  CHECK(seen[1].index == 0);
  CHECK(seen[8].index == 8);
  CHECK(seen[24].index == 30);  // batch [24, 32)
  CHECK(seen[25].index == 24);
  const auto line = mirage::attacked_sample_json(seen[0]);
  CHECK(line.size() == 3);
  CHECK(line.contains("error"));
}

TEST_CASE("run_attack refuses a label the model does not have, naming the sample", "[reports][attack-run]") {
  auto base = toy_data();
  auto all = base->get({0, 1, 2, 3});
  auto labels = all.labels.clone();
  labels[2] = 5;
  mirage::DatasetInfo six = base->info();  // the data says 6 classes, the model has 2
  six.num_classes = 6;
  six.class_names.clear();
  mirage::TensorDataset bad(all.images, labels, six);
  auto model = toy_model();
  auto attack = pgd(0.1);
  const std::string msg = message_of<mirage::InputError>([&] { mirage::run_attack(model, bad, *attack, {}, 1); });
  CHECK(msg.find("toy:2") != std::string::npos);
  CHECK(msg.find("label 5") != std::string::npos);
}

// The one-place helpers every folder calls: option field lists, JSON files, list splitting,
// seeded subsets, rates as JSON, shape texts.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "lib/dataset.h"
#include "lib/error.h"
#include "lib/image_tensor.h"
#include "lib/json_io.h"
#include "lib/options.h"
#include "lib/parse.h"
#include "tests/test_util.h"

namespace {

struct Toy {
  double eps = 8.0 / 255;
  int64_t steps = 10;
  uint64_t seed = 0;
  bool targeted = false;
  std::string name = "pgd";
};

const mirage::OptionFields<Toy>& toy_fields() {
  static const auto f = mirage::OptionFields<Toy>()
                            .add("eps", &Toy::eps)
                            .add("steps", &Toy::steps)
                            .add("seed", &Toy::seed)
                            .add("targeted", &Toy::targeted)
                            .add("name", &Toy::name);
  return f;
}

}  // namespace

TEST_CASE("an option field list round-trips every field through JSON", "[options]") {
  Toy t;
  t.eps = 0.25;
  t.steps = 7;
  t.seed = 18446744073709551615ull;
  t.targeted = true;
  t.name = "x";
  const nlohmann::json j = toy_fields().to_json(t);
  CHECK(j.size() == 5);
  Toy back;
  toy_fields().from_json(back, j, "toy.json");
  CHECK(back.eps == t.eps);
  CHECK(back.steps == 7);
  CHECK(back.seed == t.seed);
  CHECK(back.targeted);
  CHECK(back.name == "x");
}

TEST_CASE("an option field list reads fractions and keeps the fields a JSON leaves out", "[options]") {
  Toy t;
  toy_fields().from_json(t, nlohmann::json{{"eps", "8/255"}, {"steps", "20"}}, "cfg");
  CHECK(t.eps == Approx(8.0 / 255));
  CHECK(t.steps == 20);
  CHECK(t.name == "pgd");
}

TEST_CASE("an option field list refuses unknown keys and wrong types naming the source and key", "[options]") {
  Toy t;
  const std::string unknown = mirage::test::message_of<mirage::UsageError>([&] { toy_fields().from_json(t, {{"epz", 1}}, "cfg.json"); });
  CHECK(unknown.find("cfg.json") != std::string::npos);
  CHECK(unknown.find("unknown key 'epz'") != std::string::npos);
  CHECK(unknown.find("eps, steps, seed, targeted, name") != std::string::npos);
  CHECK_THROWS_AS(toy_fields().from_json(t, {{"steps", 1.5}}, "cfg"), mirage::UsageError);
  CHECK_THROWS_AS(toy_fields().from_json(t, {{"seed", -1}}, "cfg"), mirage::UsageError);
  CHECK_THROWS_AS(toy_fields().from_json(t, {{"name", 3}}, "cfg"), mirage::UsageError);
  CHECK_THROWS_AS(toy_fields().from_json(t, {{"targeted", "maybe"}}, "cfg"), mirage::UsageError);
  CHECK_THROWS_AS(toy_fields().from_json(t, nlohmann::json::array(), "cfg"), mirage::UsageError);
}

TEST_CASE("read_json_file names the file for a missing or invalid file", "[json_io]") {
  const auto dir = std::filesystem::temp_directory_path() / "mirage_json_io_test";
  std::filesystem::create_directories(dir);
  const std::string bad = (dir / "bad.json").string();
  std::ofstream(bad) << "{\"a\": ";
  const std::string m1 = mirage::test::message_of<mirage::InputError>([&] { mirage::read_json_file(bad, "--config"); });
  CHECK(m1.find("--config " + bad + ": not valid JSON") == 0);
  const std::string missing = (dir / "none.json").string();
  const std::string m2 = mirage::test::message_of<mirage::InputError>([&] { mirage::read_json_file(missing); });
  CHECK(m2 == missing + ": cannot read");
  CHECK_THROWS_AS(mirage::read_json_file(missing), mirage::InputError);
  const std::string good = (dir / "good.json").string();
  std::ofstream(good) << "{\"a\": [1, 2]}";
  CHECK(mirage::read_json_file(good)["a"][1] == 2);
  CHECK_THROWS_AS(mirage::parse_json_text("{", "--params"), mirage::UsageError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("rate_json carries the ratio, counts and Wilson interval under the given keys", "[json_io]") {
  const nlohmann::json j = mirage::rate_json(3, 4);
  CHECK(j["value"] == 0.75);
  CHECK(j["count"] == 3);
  CHECK(j["of"] == 4);
  CHECK(j["ci95"][0].get<double>() < 0.75);
  CHECK(j["ci95"][1].get<double>() > 0.75);
  const nlohmann::json f = mirage::rate_json(0, 0, {"rate", "failures", "n"});
  CHECK(f["rate"] == 0.0);
  CHECK(f["failures"] == 0);
  CHECK(f["ci95"][1] == 1.0);
}

TEST_CASE("split_list trims items and skips empty ones", "[parse]") {
  CHECK(mirage::split_list(" a, b,,c ,") == std::vector<std::string>{"a", "b", "c"});
  CHECK(mirage::split_list("x:y", ':') == std::vector<std::string>{"x", "y"});
  CHECK(mirage::split_list("").empty());
  CHECK(mirage::parse_number_list("1/255, 0.5", "--eps") == std::vector<double>{1.0 / 255, 0.5});
}

TEST_CASE("parse_number_range takes MIN,MAX in parse_number's syntax, fractions included", "[parse]") {
  CHECK(mirage::parse_number_range("1/255,0.5", "--blur-sigma") == std::pair<double, double>{1.0 / 255, 0.5});
  CHECK(mirage::parse_number_range(" 30 , 100", "--jpeg-quality") == std::pair<double, double>{30, 100});
  for (const char* bad : {"1", "1,2,3", "a,2", ",2", ""}) {
    INFO(bad);
    CHECK(mirage::test::message_of<mirage::UsageError>([&] { mirage::parse_number_range(bad, "--blur-sigma"); })
              .find("--blur-sigma") != std::string::npos);
  }
}

TEST_CASE("seeded_subset is a seeded choice of distinct indices, or everything without a limit", "[dataset][determinism]") {
  const auto a = mirage::seeded_subset(100, 10, 7);
  CHECK(a == mirage::seeded_subset(100, 10, 7));
  CHECK(a != mirage::seeded_subset(100, 10, 8));
  CHECK(std::set<int64_t>(a.begin(), a.end()).size() == 10);
  const auto all = mirage::seeded_subset(5, 0, 7);
  CHECK(all == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(mirage::seeded_subset(5, 9, 7) == all);
}

TEST_CASE("shape texts read as the messages print them", "[image_tensor]") {
  CHECK(mirage::shape_text(std::vector<int64_t>{64, 1, 28, 28}) == "[64, 1, 28, 28]");
  CHECK(mirage::shape_text(std::vector<int64_t>{}) == "[]");
  CHECK(mirage::image_shape_text(3, 32, 32) == "3x32x32");
}

namespace {

struct Inner {
  int64_t steps = 5;
};
struct Shaped {
  std::vector<double> sigmas = {0.5, 1.0};
  std::vector<int> qualities = {90};
  double lo = 0.1, hi = 1.5;
  Inner inner;
};

const mirage::OptionFields<Shaped>& shaped_fields() {
  static const auto f = mirage::OptionFields<Shaped>()
                            .add("sigmas", &Shaped::sigmas)
                            .add("qualities", &Shaped::qualities)
                            .add_range("sigma", &Shaped::lo, &Shaped::hi)
                            .add("steps", &Shaped::inner, &Inner::steps);
  return f;
}

}  // namespace

TEST_CASE("an option field list reads lists, ranges and fields of member structs, from JSON or from text", "[options]") {
  Shaped s;
  const nlohmann::json j = shaped_fields().to_json(s);
  CHECK(j["sigma"] == nlohmann::json::array({0.1, 1.5}));
  CHECK(j["steps"] == 5);
  CHECK(j["qualities"] == nlohmann::json::array({90}));
  shaped_fields().from_json(s, {{"sigmas", {"1/255", 0.25}}, {"qualities", "75, 50"}, {"sigma", "0,3/2"}, {"steps", 7}}, "cfg");
  CHECK(s.sigmas.size() == 2);
  CHECK(s.sigmas[0] == Approx(1.0 / 255));
  CHECK(s.sigmas[1] == 0.25);
  CHECK(s.qualities == std::vector<int>{75, 50});
  CHECK(s.lo == 0);
  CHECK(s.hi == 1.5);
  CHECK(s.inner.steps == 7);
  Shaped back;
  shaped_fields().from_json(back, shaped_fields().to_json(s), "round trip");
  CHECK(shaped_fields().to_json(back) == shaped_fields().to_json(s));
  // One field set from a flag's text names the flag; a bad item names its index.
  shaped_fields().set(s, "steps", "12", "--steps");
  CHECK(s.inner.steps == 12);
  const std::string flag = mirage::test::message_of<mirage::UsageError>([&] { shaped_fields().set(s, "steps", "1.5", "--steps"); });
  CHECK(flag.find("--steps: must be an integer") == 0);
  const std::string item = mirage::test::message_of<mirage::UsageError>([&] { shaped_fields().from_json(s, {{"sigmas", {1, "x"}}}, "cfg"); });
  CHECK(item.find("'sigmas'[1]") != std::string::npos);
  CHECK_THROWS_AS(shaped_fields().from_json(s, {{"sigma", {2, 1}}}, "cfg"), mirage::UsageError);    // min > max
  CHECK_THROWS_AS(shaped_fields().from_json(s, {{"sigma", {1, 2, 3}}}, "cfg"), mirage::UsageError); // not a pair
  CHECK_THROWS_AS(shaped_fields().from_json(s, {{"qualities", {1e10}}}, "cfg"), mirage::UsageError);  // not an int
  CHECK_THROWS_AS(shaped_fields().from_json(s, {{"sigmas", 3}}, "cfg"), mirage::UsageError);          // not a list
  CHECK_THROWS_AS(shaped_fields().set(s, "stepz", "1", "--stepz"), mirage::UsageError);
}

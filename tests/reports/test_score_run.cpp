// `mirage score` as library calls: files in input order (folders sorted), one line per file,
// an unreadable file an error line that does not stop the run, and totals that add up.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <fstream>
#include <sstream>

#include "lib/error.h"
#include "lib/image/io.h"
#include "reports/score_run.h"
#include "tests/reports/toy_detector.h"
#include "tests/test_util.h"

TEST_CASE("scoring files writes a line per file in input order and goes on past an unreadable one", "[reports][score_run]") {
  mirage::test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "imgs");
  // Brightness 0.8 is called fake by the toy detector, 0.2 real.
  const std::vector<std::pair<std::string, double>> files = {{"a.png", 0.8}, {"b.png", 0.2}, {"d.png", 0.8}, {"e.png", 0.2}};
  for (const auto& [name, level] : files) mirage::write_image((dir.path() / "imgs" / name).string(), torch::full({1, 8, 8}, level));
  std::ofstream((dir.path() / "imgs" / "c.png").string()) << "not a png";
  const std::string single = dir.file("z.png");
  mirage::write_image(single, torch::full({1, 8, 8}, 0.9));

  mirage::test::BrightnessDetector detector;
  const auto inputs = mirage::open_score_inputs({(dir.path() / "imgs").string(), single}, "", detector, "toy.pt");
  REQUIRE(inputs.paths.size() == 6);
  CHECK(inputs.input_policy == "crop");
  std::ostringstream out;
  const mirage::ScoreTotals t = mirage::score_files(detector, inputs, /*batch_size=*/2, 0.5, out, false);
  CHECK(t.n == 6);
  CHECK(t.scored == 5);
  CHECK(t.fake == 3);
  REQUIRE(t.bad.size() == 1);
  CHECK(t.bad[0].id.find("c.png") != std::string::npos);
  std::istringstream in(out.str());
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  REQUIRE(lines.size() == 6);
  const std::vector<std::string> order = {"a.png", "b.png", "c.png", "d.png", "e.png", "z.png"};
  for (size_t i = 0; i < lines.size(); ++i) CHECK(lines[i]["path"].get<std::string>().find(order[i]) != std::string::npos);
  CHECK(lines[2].contains("error"));
  CHECK(lines[0]["verdict"] == "fake");
  CHECK(lines[1]["verdict"] == "real");
  CHECK(lines[5]["verdict"] == "fake");
  double sum = 0;
  for (const auto& l : lines) sum += l.value("p_fake", 0.0);
  CHECK(t.to_json()["mean_p_fake"].get<double>() == Approx(sum / 5));
  CHECK(t.to_json()["real"] == 2);
  CHECK_THROWS_AS(mirage::open_score_inputs({dir.file("nowhere")}, "", detector, "toy.pt"), mirage::InputError);
}

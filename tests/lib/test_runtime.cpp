#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "lib/error.h"
#include "lib/parse.h"
#include "lib/runtime.h"

using namespace mirage;

TEST_CASE("device strings parse or fail with a UsageError naming --device", "[runtime]") {
  CHECK(parse_device("cpu").is_cpu());
  if (!torch::cuda::is_available()) {
    CHECK(parse_device("auto").is_cpu());
    CHECK_THROWS_AS(parse_device("cuda"), UsageError);
    CHECK_THROWS_AS(parse_device("cuda:0"), UsageError);
  } else {
    CHECK(parse_device("auto").is_cuda());
  }
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda0", ""}) {
    CHECK_THROWS_WITH(parse_device(bad), Catch::Contains("--device"));
  }
}

TEST_CASE("the same seed gives the same random streams, different seeds differ", "[runtime][determinism]") {
  auto a = torch::rand({16}, make_generator(42), torch::TensorOptions());
  auto b = torch::rand({16}, make_generator(42), torch::TensorOptions());
  auto c = torch::rand({16}, make_generator(43), torch::TensorOptions());
  CHECK(torch::equal(a, b));
  CHECK_FALSE(torch::equal(a, c));
}

TEST_CASE("init_runtime seeds module initialisation and sets threads", "[runtime][determinism]") {
  RuntimeOptions o;
  o.device = "cpu";
  o.seed = 5;
  o.threads = 1;
  auto r = init_runtime(o);
  CHECK(r.threads == 1);
  CHECK(torch::get_num_threads() == 1);
  auto w1 = torch::nn::Linear(4, 4)->weight.clone();
  init_runtime(o);
  auto w2 = torch::nn::Linear(4, 4)->weight.clone();
  CHECK(torch::equal(w1, w2));
  o.threads = -1;
  CHECK_THROWS_AS(init_runtime(o), UsageError);
}

TEST_CASE("derived seeds are stable and distinct per stream", "[runtime][determinism]") {
  CHECK(derive_seed(1, "shuffle") == derive_seed(1, "shuffle"));
  CHECK(derive_seed(1, "shuffle") != derive_seed(1, "epoch-0"));
  CHECK(derive_seed(1, "epoch-0") != derive_seed(2, "epoch-0"));
}

TEST_CASE("numbers parse as decimals or fractions", "[parse]") {
  CHECK(parse_number("8/255", "eps") == Approx(8.0 / 255));
  CHECK(parse_number("0.5", "eps") == 0.5);
  CHECK(parse_number("1e-3", "eps") == 0.001);
  for (const char* bad : {"", "abc", "1/0", "3x", "/2", "nan"}) {
    CHECK_THROWS_WITH(parse_number(bad, "--eps"), Catch::Contains("--eps"));
  }
}

TEST_CASE("errors map to the documented exit codes and one line", "[errors]") {
  CHECK(exit_code_for(UsageError("x")) == 2);
  CHECK(exit_code_for(InputError("x")) == 2);
  CHECK(exit_code_for(InternalError("x")) == 3);
  CHECK(exit_code_for(std::runtime_error("x")) == 3);
  try {
    torch::zeros({2}).view({3});
    FAIL("expected a LibTorch error");
  } catch (const std::exception& e) {
    std::string line = one_line(e);
    CHECK(line.find('\n') == std::string::npos);
    CHECK_FALSE(line.empty());
  }
}

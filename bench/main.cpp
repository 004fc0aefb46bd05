// mirage_bench [train-step|attack|gan|score|advgan|compaction|all] [args...] — runs benchmarks by name (default: all).
#include <cstdio>
#include <string>
#include <vector>

#include "bench/benches.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string name = args.empty() ? "all" : args[0];
  if (!args.empty()) args.erase(args.begin());
  if (name == "train-step") return bench_train_step(args);
  if (name == "attack") return bench_attack(args);
  if (name == "gan") return bench_gan(args);
  if (name == "score") return bench_score(args);
  if (name == "advgan") return bench_advgan(args);  // trains two nets first: not in "all"
  if (name == "compaction") return bench_compaction(args);  // trains a net or needs a fixture: not in "all"
  if (name == "all") return bench_train_step({}) | bench_attack({}) | bench_gan({}) | bench_score({});
  std::fprintf(stderr, "usage: mirage_bench [train-step|attack|gan|score|advgan|compaction|all] [args...]\n");
  return 2;
}

// lib/prefetch.h: items come back in order, item i + 1 loads while the caller holds item i, and
// an error in loading reaches the caller.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "lib/prefetch.h"

using mirage::Prefetcher;

TEST_CASE("a prefetcher returns every item in order and loads the next one in the background", "[lib][prefetch]") {
  std::atomic<int> started{0};
  Prefetcher<int> p(4, [&](int64_t i) {
    ++started;
    return static_cast<int>(i * 10);
  });
  std::vector<int> got;
  got.push_back(p.next());
  // Without another call, item 1 gets loaded: the loader runs on its own thread.
  for (int wait = 0; wait < 2000 && started.load() < 2; ++wait) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(started.load() == 2);
  while (!p.done()) got.push_back(p.next());
  CHECK(got == std::vector<int>{0, 10, 20, 30});
  CHECK(started.load() == 4);  // nothing loaded past the end
}

TEST_CASE("an error while loading reaches the caller at that item", "[lib][prefetch]") {
  Prefetcher<int> p(3, [](int64_t i) {
    if (i == 1) throw std::runtime_error("bad item 1");
    return static_cast<int>(i);
  });
  CHECK(p.next() == 0);
  CHECK_THROWS_WITH(p.next(), "bad item 1");
}

TEST_CASE("a prefetcher with nothing to load is done at once", "[lib][prefetch]") {
  Prefetcher<int> p(0, [](int64_t) -> int { throw std::runtime_error("never called"); });
  CHECK(p.done());
}

// lib/prefetch.h — decoding in parallel with compute: a Prefetcher loads item i + 1 on a
// background thread while the caller works on item i (batch commands over image folders, where
// JPEG decoding would otherwise stall the model).
#pragma once
#include <cstdint>
#include <functional>
#include <future>
#include <utility>

namespace mirage {

template <typename T>
class Prefetcher {
 public:
  // Items 0 .. count-1, each made by `load(i)`; item 0 starts loading at once.
  Prefetcher(int64_t count, std::function<T(int64_t)> load) : count_(count), load_(std::move(load)) { start(0); }
  ~Prefetcher() {
    if (pending_.valid()) pending_.wait();  // never leave the thread running past `load`'s captures
  }
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  bool done() const { return next_ >= count_; }
  // Item `next`, waiting for it if it is still loading (an exception in `load` is rethrown
  // here), and starts loading the one after.
  T next() {
    T item = pending_.get();
    start(++next_);
    return item;
  }

 private:
  void start(int64_t i) {
    if (i < count_) pending_ = std::async(std::launch::async, load_, i);
  }
  int64_t count_;
  int64_t next_ = 0;
  std::function<T(int64_t)> load_;
  std::future<T> pending_;
};

}  // namespace mirage

// lib/log.h — the one logger and the progress bar. Everything goes to stderr (data goes to
// stdout or files); --quiet silences both, and the bar draws only on a terminal.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace mirage {

enum class LogLevel { kQuiet = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
// Replaces where log lines go (tests capture them); nullptr restores stderr.
void set_log_sink(std::function<void(const std::string& line)> sink);

// ISO-8601 UTC timestamp of now ("2026-01-31T12:00:00Z"), for reports and run headers.
std::string utc_now();

void log_warn(const std::string& message);
void log_info(const std::string& message);
void log_debug(const std::string& message);

// A progress bar on stderr: "label [=====>    ] 120/600 img 35.2 img/s eta 14s  status".
// Redrawn at most 10 times a second; silent when stderr is not a terminal or when quiet
// (then a long run logs nothing but its start and end lines, as batch jobs want).
class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "img");
  ~Progress();
  void advance(int64_t n, const std::string& status = "");
  void finish(const std::string& status = "");
  int64_t done() const { return done_; }
  double seconds() const;

 private:
  void draw(bool final);
  std::string label_;
  std::string unit_;
  int64_t total_;
  int64_t done_ = 0;
  std::string status_;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace mirage

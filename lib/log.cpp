#include "lib/log.h"

#include <ctime>

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <mutex>
#include <sstream>

namespace mirage {
namespace {

LogLevel g_level = LogLevel::kInfo;
std::function<void(const std::string&)> g_sink;
std::mutex g_mutex;

void emit(LogLevel level, const char* prefix, const std::string& message) {
  if (static_cast<int>(level) > static_cast<int>(g_level)) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  std::string line = std::string(prefix) + message;
  if (g_sink) {
    g_sink(line);
  } else {
    std::cerr << line << '\n';
  }
}

std::string format_seconds(double s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%.0fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof(buf), "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%dh%02dm", static_cast<int>(s) / 3600,
                  (static_cast<int>(s) % 3600) / 60);
  }
  return buf;
}

}  // namespace

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }
void set_log_sink(std::function<void(const std::string&)> sink) { g_sink = std::move(sink); }

void log_warn(const std::string& message) { emit(LogLevel::kWarn, "warning: ", message); }
void log_info(const std::string& message) { emit(LogLevel::kInfo, "", message); }
void log_debug(const std::string& message) { emit(LogLevel::kDebug, "debug: ", message); }

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(g_level != LogLevel::kQuiet && !g_sink && ::isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - std::chrono::seconds(1)) {}

Progress::~Progress() {
  if (!finished_ && enabled_ && done_ > 0) std::cerr << '\n';
}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::advance(int64_t n, const std::string& status) {
  done_ += n;
  if (!status.empty()) status_ = status;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(false);
}

void Progress::finish(const std::string& status) {
  if (finished_) return;
  if (!status.empty()) status_ = status;
  if (enabled_) draw(true);
  finished_ = true;
}

void Progress::draw(bool final) {
  double elapsed = seconds();
  double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  std::ostringstream line;
  line << '\r' << label_ << ' ';
  if (total_ > 0) {
    const int width = 24;
    int filled = static_cast<int>(width * std::min<double>(1.0, static_cast<double>(done_) / total_));
    line << '[' << std::string(filled, '=') << (filled < width ? ">" : "")
         << std::string(std::max(0, width - filled - 1), ' ') << "] " << done_ << '/' << total_;
  } else {
    line << done_;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), " %s %.1f %s/s", unit_.c_str(), rate, unit_.c_str());
  line << buf;
  if (!final && total_ > 0 && rate > 0) {
    line << " eta " << format_seconds(static_cast<double>(total_ - done_) / rate);
  } else if (final) {
    line << " in " << format_seconds(elapsed);
  }
  if (!status_.empty()) line << "  " << status_;
  line << "\x1b[K";  // clear the rest of the line
  if (final) line << '\n';
  std::lock_guard<std::mutex> lock(g_mutex);
  std::cerr << line.str() << std::flush;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace mirage

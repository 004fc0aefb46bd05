// lib/atomic_file.h — every output file is written atomically: to a temporary file in the same
// folder, flushed to disk, then renamed over the target. A writer that throws (or a process
// that dies) leaves the old file, or nothing, never a truncated one.
#pragma once
#include <fstream>
#include <functional>
#include <string>

namespace mirage {

// Calls `write` with a stream on a temporary file, then renames it to `path`.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write);
void write_text_atomic(const std::string& path, const std::string& text);

// For writers that insist on a path (torch::jit::Module::save, cv::imwrite): `save` gets a
// temporary path in the target's folder; on return the file is renamed to `path`.
void save_atomic(const std::string& path, const std::function<void(const std::string& tmp)>& save);

// A file written over time (JSON Lines of a long batch run): appears at `path` only on
// commit(); destroyed uncommitted, the temporary file is removed.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  std::ostream& stream() { return out_; }
  void commit();

 private:
  std::string path_;
  std::string tmp_;
  std::ofstream out_;
  bool committed_ = false;
};

// An output folder written over time (adversarial images + JSON Lines + summary): everything is
// written under a staging folder beside `path` (`<path>.partial-<pid>`), which replaces `path`
// only on commit(). Destroyed uncommitted, the staging folder is removed, so a failed run leaves
// the old folder, or nothing. An existing non-empty `path` is a UsageError unless `overwrite`.
class AtomicDirectory {
 public:
  AtomicDirectory(std::string path, bool overwrite);
  ~AtomicDirectory();
  AtomicDirectory(const AtomicDirectory&) = delete;
  AtomicDirectory& operator=(const AtomicDirectory&) = delete;
  // Where to write now: the staging folder.
  const std::string& staging() const { return staging_; }
  void commit();

 private:
  std::string path_;
  std::string staging_;
  bool committed_ = false;
};

// Throws UsageError unless `path` could be written: its folder exists and it is not a folder.
// Commands call it for every output before long work starts, so a typo fails in a second.
void check_output_path(const std::string& path);

// Creates `dir` and its parents; an existing file in the way is a UsageError.
void ensure_directory(const std::string& dir);

}  // namespace mirage

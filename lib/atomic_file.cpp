#include "lib/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "lib/error.h"

namespace fs = std::filesystem;

namespace mirage {
namespace {

// A temporary name in the target's folder (rename is atomic only within one file system).
// Hidden, and unique per process and call, so concurrent writers never collide.
std::string temp_path_for(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  fs::path target(path);
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string name = "." + target.filename().string() + ".tmp." + std::to_string(::getpid()) +
                     "." + std::to_string(counter++);
  return (dir / name).string();
}

}  // namespace

void check_output_path(const std::string& path) {
  if (path.empty()) throw UsageError("output path is empty");
  fs::path target(path);
  std::error_code ec;
  if (fs::is_directory(target, ec)) throw UsageError(path + ": is a directory, expected a file path");
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) {
    throw UsageError(path + ": folder " + dir.string() + " does not exist");
  }
}

namespace {

void sync_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void commit_temp(const std::string& tmp, const std::string& path) {
  sync_file(tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    throw InputError(path + ": cannot write (" + std::strerror(err) + ")");
  }
}

}  // namespace

void save_atomic(const std::string& path, const std::function<void(const std::string&)>& save) {
  check_output_path(path);
  // The temporary file keeps the target's name, inside a hidden temporary folder beside it:
  // writers that record their file name (TorchScript names the archive after it) then produce
  // the same bytes for the same content.
  fs::path tmp_dir = temp_path_for(path);
  std::error_code ec;
  fs::create_directory(tmp_dir, ec);
  if (ec) throw InputError(path + ": cannot create a temporary folder beside it (" + ec.message() + ")");
  std::string tmp = (tmp_dir / fs::path(path).filename()).string();
  try {
    save(tmp);
    if (!fs::exists(tmp)) throw InternalError(path + ": writer produced no file");
    commit_temp(tmp, path);
  } catch (...) {
    fs::remove_all(tmp_dir, ec);
    throw;
  }
  fs::remove_all(tmp_dir, ec);
}

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write) {
  save_atomic(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError(path + ": cannot create file (" + std::strerror(errno) + ")");
    write(out);
    out.flush();
    if (!out) throw InputError(path + ": write failed (disk full?)");
  });
}

void write_text_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, [&](std::ostream& out) { out << text; });
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  check_output_path(path_);
  tmp_ = temp_path_for(path_);
  out_.open(tmp_, std::ios::binary | std::ios::trunc);
  if (!out_) throw InputError(path_ + ": cannot create file (" + std::strerror(errno) + ")");
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    out_.close();
    std::remove(tmp_.c_str());
  }
}

void AtomicFile::commit() {
  if (committed_) return;
  out_.flush();
  bool ok = static_cast<bool>(out_);
  out_.close();
  if (!ok) {
    std::remove(tmp_.c_str());
    committed_ = true;
    throw InputError(path_ + ": write failed (disk full?)");
  }
  commit_temp(tmp_, path_);
  committed_ = true;
}

void ensure_directory(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw UsageError(dir + ": exists and is not a directory");
  }
  fs::create_directories(dir, ec);
  if (ec) throw UsageError(dir + ": cannot create directory (" + ec.message() + ")");
}

}  // namespace mirage

namespace mirage {

AtomicDirectory::AtomicDirectory(std::string path, bool overwrite) : path_(std::move(path)) {
  if (path_.empty()) throw UsageError("output folder is empty");
  while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
  fs::path target(path_);
  std::error_code ec;
  if (fs::exists(target, ec)) {
    if (!fs::is_directory(target, ec)) throw UsageError(path_ + ": exists and is not a folder");
    if (!fs::is_empty(target, ec) && !overwrite) {
      throw UsageError(path_ + ": folder exists and is not empty (use --overwrite to replace it)");
    }
  } else {
    fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    if (!fs::is_directory(dir, ec)) throw UsageError(path_ + ": folder " + dir.string() + " does not exist");
  }
  staging_ = path_ + ".partial-" + std::to_string(::getpid());
  fs::remove_all(staging_, ec);
  if (!fs::create_directory(staging_, ec)) {
    throw InputError(staging_ + ": cannot create folder (" + ec.message() + ")");
  }
}

AtomicDirectory::~AtomicDirectory() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void AtomicDirectory::commit() {
  std::error_code ec;
  std::string old;
  if (fs::exists(path_, ec)) {
    old = path_ + ".old-" + std::to_string(::getpid());
    fs::rename(path_, old, ec);
    if (ec) throw InputError(path_ + ": cannot replace folder (" + ec.message() + ")");
  }
  fs::rename(staging_, path_, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, path_, ec);
    throw InputError(path_ + ": cannot move " + staging_ + " into place");
  }
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

}  // namespace mirage

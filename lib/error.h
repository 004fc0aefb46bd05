// lib/error.h — typed errors and the exit codes the CLI maps them to.
//
// Library code throws; only cli/ turns an error into an exit code. Each message is one line
// naming the file, flag or field and what is wrong with it.
#pragma once
#include <stdexcept>
#include <string>

namespace mirage {

enum ExitCode : int {
  kExitOk = 0,          // success, every gate passed
  kExitGateFailed = 1,  // the run worked, a quality gate failed (or a batch item failed)
  kExitUsage = 2,       // bad usage or bad input (flag, config, file, shape)
  kExitInternal = 3,    // a bug or an unexpected failure inside mirage or LibTorch
};

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  virtual int exit_code() const { return kExitInternal; }
};

// A flag, option, config field or argument the user gave is wrong.
class UsageError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return kExitUsage; }
};

// A file or data the user gave is unreadable, corrupt, of the wrong shape, or produced
// NaN/Inf (a user's model is input too).
class InputError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return kExitUsage; }
};

// Something that should not happen did; the message says what.
class InternalError : public Error {
 public:
  using Error::Error;
};

// The exit code for any exception: typed errors carry their own, anything else is internal.
int exit_code_for(const std::exception& e);

// One line for a user: the message without LibTorch's backtrace or trailing newlines.
std::string one_line(const std::exception& e);
// The line of a LibTorch error that says what went wrong: for the TorchScript interpreter's
// errors (a traceback, then "RuntimeError: <what>") the text after the last "RuntimeError: ",
// else one_line.
std::string torch_error_text(const std::exception& e);
// Whether `e` says an allocation failed: CUDA's "CUDA out of memory" (c10::OutOfMemoryError),
// the CPU allocator's "can't allocate memory", or std::bad_alloc.
bool is_out_of_memory(const std::exception& e);

}  // namespace mirage

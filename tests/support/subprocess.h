// Running the project's binaries from tests: argv and environment are
// explicit, output is captured, and every wait is bounded.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/unique_fd.h"

namespace serpwow::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 if killed or timed out
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs argv[0] (a path) with `env` added to a minimal environment, waits at
// most `timeout` (then SIGKILL), and returns its exit code and output.
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env = {},
                         absl::Duration timeout = absl::Seconds(20));

// A long-running child (a server) whose stderr is collected in the background.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env);
  ~ChildProcess();  // SIGKILL if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Waits until stderr contains `needle`; returns everything read so far, or
  // "" on timeout or exit.
  std::string WaitForOutput(const std::string& needle, absl::Duration timeout);
  // Sends `signal` and waits for the exit; returns the exit code (-1 if it
  // was killed by a signal or did not exit in time).
  int Stop(int signal, absl::Duration timeout);
  // All stderr (and stdout, merged) collected so far; after Stop(), all of it.
  std::string Output();
  pid_t pid() const { return pid_; }

 private:
  void ReadAvailable(absl::Duration wait);
  pid_t pid_ = -1;
  UniqueFd fd_;  // read end of the child's stdout+stderr pipe
  std::string output_;
  bool exited_ = false;
  int exit_code_ = -1;
};

}  // namespace serpwow::testing

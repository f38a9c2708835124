// Process-wide set-up for the project's programs, done once at the top of
// main() before any thread exists (a signal mask is inherited by the threads
// created after it; libcurl requires curl_global_init before any thread).
#pragma once

#include "absl/status/status.h"
#include "common/fd_limit.h"

namespace serpwow {

struct ProcessSetupOptions {
  // Block SIGINT and SIGTERM so that only WaitForShutdownSignal() sees them
  // (set before threads start, every thread inherits the mask).
  bool block_shutdown_signals = true;
  // Ignore SIGPIPE: a peer that goes away mid-write must yield EPIPE, not
  // kill the process.
  bool ignore_sigpipe = true;
  // Raise the soft RLIMIT_NOFILE towards the hard limit (see RaiseFdLimit):
  // every connection in flight holds an fd, and the common soft default of
  // 1024 would cap concurrency.
  bool raise_fd_limit = true;
  // curl_global_init(CURL_GLOBAL_DEFAULT), for programs that use libcurl.
  bool init_curl = false;
};

// Does what `options` asks. Errors: Internal if libcurl's initialisation
// fails (the only step whose failure matters; the others cannot fail in a
// way a program could act on, and a limit that stays low is logged).
// Call once; the programs call curl_global_cleanup() themselves at exit.
absl::Status SetUpProcess(const ProcessSetupOptions& options = {});

// Waits until SIGINT or SIGTERM arrives (blocked by SetUpProcess) and returns
// its number. Retries if interrupted.
int WaitForShutdownSignal();

}  // namespace serpwow

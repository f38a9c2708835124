#include "common/process.h"

#include <curl/curl.h>
#include <signal.h>

namespace serpwow {
namespace {

sigset_t ShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

}  // namespace

absl::Status SetUpProcess(const ProcessSetupOptions& options) {
  if (options.block_shutdown_signals) {
    sigset_t signals = ShutdownSignals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  }
  if (options.ignore_sigpipe) signal(SIGPIPE, SIG_IGN);
  if (options.raise_fd_limit) RaiseFdLimit();
  if (options.init_curl && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    return absl::InternalError("libcurl initialisation failed");
  }
  return absl::OkStatus();
}

int WaitForShutdownSignal() {
  sigset_t signals = ShutdownSignals();
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  return signal_number;
}

}  // namespace serpwow

// gtest main for tests that use libcurl: curl_global_init once, before any
// thread starts (libcurl's rule), and SIGPIPE ignored (a peer that resets a
// socket must not kill the test binary): common/process.h, as the programs
// do it, without blocking SIGINT/SIGTERM (Ctrl-C still stops a test run).
#include <curl/curl.h>
#include <gtest/gtest.h>

#include "common/process.h"

int main(int argc, char** argv) {
  serpwow::ProcessSetupOptions process;
  process.block_shutdown_signals = false;
  process.init_curl = true;
  if (!serpwow::SetUpProcess(process).ok()) return 1;
  testing::InitGoogleTest(&argc, argv);
  int result = RUN_ALL_TESTS();
  curl_global_cleanup();
  return result;
}

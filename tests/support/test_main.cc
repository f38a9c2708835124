// gtest main for tests that use libcurl: curl_global_init once, before any
// thread starts (libcurl's rule), and SIGPIPE ignored (a peer that resets a
// socket must not kill the test binary).
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <csignal>

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  testing::InitGoogleTest(&argc, argv);
  int result = RUN_ALL_TESTS();
  curl_global_cleanup();
  return result;
}

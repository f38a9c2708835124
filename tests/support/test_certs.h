// Throwaway PKI for TLS tests, generated with the openssl CLI into a fresh
// temporary directory (nothing is committed, nothing outlives the test).
#pragma once

#include <string>

namespace serpwow::testing {

struct TestCerts {
  std::string dir;
  std::string ca_cert, ca_key;          // the CA (PEM paths)
  std::string server_cert, server_key;  // CN=localhost, SAN localhost and 127.0.0.1
  std::string client_cert, client_key;  // signed by the CA
  std::string other_ca_cert;            // an unrelated CA
  std::string error;                    // non-empty when generation failed
};

// Generates everything; check `error`.
TestCerts MakeTestCerts();
// Reads a whole file ("" if unreadable).
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace serpwow::testing

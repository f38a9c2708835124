// Throwaway PKI for the simulator's TLS tests, made with the openssl CLI at
// test time in a fresh mkdtemp directory (nothing is committed; the directory
// is removed when the SimTestCerts is destroyed). A copy of the idea in
// tests/support/test_certs.cc, which tests/sim must not link.
#pragma once

#include <string>

namespace serpwow::sim::testing {

class SimTestCerts {
 public:
  // Generates everything; check error().
  SimTestCerts();
  ~SimTestCerts();
  SimTestCerts(const SimTestCerts&) = delete;
  SimTestCerts& operator=(const SimTestCerts&) = delete;

  // Non-empty when generation failed (says which openssl step and why).
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_; }
  // The test CA (for CURLOPT_CAINFO).
  std::string ca_cert() const { return dir_ + "/ca.crt"; }
  // CN=localhost, SAN DNS:localhost and IP:127.0.0.1, signed by the CA (EC P-256).
  std::string server_cert() const { return dir_ + "/server.crt"; }
  std::string server_key() const { return dir_ + "/server.key"; }
  // server.key encrypted with the passphrase "secret".
  std::string encrypted_server_key() const { return dir_ + "/server-encrypted.key"; }
  // An unrelated CA that signed nothing here (a client trusting only it
  // rejects the server).
  std::string other_ca_cert() const { return dir_ + "/other-ca.crt"; }
  // The CA's own key: valid PEM, but not the server certificate's key.
  std::string other_key() const { return dir_ + "/ca.key"; }
  // A file that is not PEM at all.
  std::string garbage_file() const { return dir_ + "/garbage.pem"; }

 private:
  bool Run(const std::string& step, const std::string& args_line);

  std::string dir_;
  std::string error_;
};

// One SimTestCerts for the whole test binary, made on first use (the openssl
// steps take a while) and removed at exit.
const SimTestCerts& SharedSimTestCerts();

}  // namespace serpwow::sim::testing

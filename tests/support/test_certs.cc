#include "tests/support/test_certs.h"

#include <cstdlib>
#include <fstream>
#include <vector>

#include "common/file.h"
#include "tests/support/subprocess.h"

namespace serpwow::testing {
namespace {

bool Run(const std::vector<std::string>& args, std::string* error) {
  std::vector<std::string> argv = {"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult r = RunProcess(argv, {}, absl::Seconds(30));
  if (r.exit_code == 0) return true;
  *error = "openssl " + args[0] + " failed: " + r.err;
  return false;
}

bool KeyAndCsr(const std::string& key, const std::string& csr, const std::string& subject,
               std::string* error) {
  return Run({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", key, "-out", csr, "-subj", subject},
             error);
}

bool SelfSignedCa(const std::string& key, const std::string& cert, const std::string& subject,
                  std::string* error) {
  return Run({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", key, "-out", cert, "-days", "2", "-subj", subject},
             error);
}

}  // namespace

std::string ReadFileOrEmpty(const std::string& path) { return ReadFile(path).value_or(""); }

TestCerts MakeTestCerts() {
  TestCerts c;
  char tmpl[] = "/tmp/serpwow-certs-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    c.error = "mkdtemp failed";
    return c;
  }
  c.dir = tmpl;
  c.ca_cert = c.dir + "/ca.crt";
  c.ca_key = c.dir + "/ca.key";
  c.server_cert = c.dir + "/server.crt";
  c.server_key = c.dir + "/server.key";
  c.client_cert = c.dir + "/client.crt";
  c.client_key = c.dir + "/client.key";
  c.other_ca_cert = c.dir + "/other-ca.crt";
  const std::string ext = c.dir + "/server.ext";
  {
    std::ofstream out(ext);
    out << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
  }
  const std::string client_ext = c.dir + "/client.ext";
  {
    std::ofstream out(client_ext);
    out << "extendedKeyUsage=clientAuth\n";
  }
  std::string* e = &c.error;
  bool ok = SelfSignedCa(c.ca_key, c.ca_cert, "/CN=serpwow-test-ca", e) &&
            SelfSignedCa(c.dir + "/other-ca.key", c.other_ca_cert, "/CN=other-ca", e) &&
            KeyAndCsr(c.server_key, c.dir + "/server.csr", "/CN=localhost", e) &&
            Run({"x509", "-req", "-in", c.dir + "/server.csr", "-CA", c.ca_cert, "-CAkey", c.ca_key,
                 "-CAcreateserial", "-out", c.server_cert, "-days", "2", "-extfile", ext},
                e) &&
            KeyAndCsr(c.client_key, c.dir + "/client.csr", "/CN=test-client", e) &&
            Run({"x509", "-req", "-in", c.dir + "/client.csr", "-CA", c.ca_cert, "-CAkey", c.ca_key,
                 "-CAcreateserial", "-out", c.client_cert, "-days", "2", "-extfile", client_ext},
                e);
  (void)ok;
  return c;
}

}  // namespace serpwow::testing

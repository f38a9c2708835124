#include "tests/sim/sim_test_certs.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/file.h"

extern "C" char** environ;

namespace serpwow::sim::testing {
namespace {

std::vector<std::string> SplitWords(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace

SimTestCerts::SimTestCerts() {
  char tmpl[] = "/tmp/serpwow-sim-certs-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  {
    std::ofstream ext(dir_ + "/server.ext");
    ext << "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        << "extendedKeyUsage=serverAuth\n";
    std::ofstream garbage(garbage_file());
    garbage << "this is not a PEM file\n";
  }
  const std::string d = dir_ + "/";
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
  // Paths come from mkdtemp under /tmp: no spaces, so a word split is safe.
  (void)(Run("CA", "req -x509" + ec + "-keyout " + d + "ca.key -out " + d +
                       "ca.crt -days 2 -subj /CN=serpwow-sim-test-ca") &&
         Run("other CA", "req -x509" + ec + "-keyout " + d + "other-ca.key -out " + d +
                             "other-ca.crt -days 2 -subj /CN=unrelated-ca") &&
         Run("server CSR", "req -new" + ec + "-keyout " + d + "server.key -out " + d +
                               "server.csr -subj /CN=localhost") &&
         Run("server cert", "x509 -req -in " + d + "server.csr -CA " + d + "ca.crt -CAkey " + d +
                                "ca.key -CAcreateserial -out " + d +
                                "server.crt -days 2 -extfile " + d + "server.ext") &&
         Run("encrypted key", "pkey -in " + d + "server.key -aes256 -passout pass:secret -out " +
                                  d + "server-encrypted.key"));
}

SimTestCerts::~SimTestCerts() {
  if (dir_.empty()) return;
  if (DIR* dir = ::opendir(dir_.c_str())) {
    while (dirent* e = ::readdir(dir)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") ::unlink((dir_ + "/" + name).c_str());
    }
    ::closedir(dir);
  }
  ::rmdir(dir_.c_str());
}

bool SimTestCerts::Run(const std::string& step, const std::string& args_line) {
  std::vector<std::string> args = SplitWords(args_line);
  args.insert(args.begin(), "openssl");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log = dir_ + "/openssl.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, "openssl", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    error_ = "cannot run openssl (is the openssl package installed?)";
    return false;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      error_ = "waitpid(openssl) failed";
      return false;
    }
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  error_ = "openssl " + step + " failed: " + serpwow::ReadFile(log).value_or("(no log)");
  return false;
}

const SimTestCerts& SharedSimTestCerts() {
  static const SimTestCerts certs;
  return certs;
}

}  // namespace serpwow::sim::testing

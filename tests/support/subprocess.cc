#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/time/clock.h"

namespace serpwow::testing {
namespace {

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::vector<std::string> BaseEnv(const std::vector<std::string>& extra) {
  std::vector<std::string> env = {"PATH=/usr/bin:/bin", "LANG=C"};
  // Sanitizer settings must reach children built with sanitizers.
  for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"}) {
    if (const char* v = getenv(name)) env.push_back(std::string(name) + "=" + v);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// Spawns with stdout->out_fd, stderr->err_fd. Returns the pid or -1.
pid_t Spawn(std::vector<std::string> argv, std::vector<std::string> env, int out_fd, int err_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> cargv = CStrings(argv);
  std::vector<char*> cenv = CStrings(env);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

int DecodeStatus(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                         absl::Duration timeout) {
  ProcessResult result;
  UniqueFd pipes[2][2];  // [stdout, stderr][read end, write end]
  for (auto& p : pipes) {
    if (!MakePipe(&p[0], &p[1], O_CLOEXEC)) return result;
  }
  pid_t pid = Spawn(argv, BaseEnv(env), pipes[0][1].get(), pipes[1][1].get());
  pipes[0][1].reset();  // only the child writes
  pipes[1][1].reset();
  if (pid < 0) {
    result.err = "spawn failed";
    return result;
  }
  const absl::Time deadline = absl::Now() + timeout;
  pollfd fds[2] = {{pipes[0][0].get(), POLLIN, 0}, {pipes[1][0].get(), POLLIN, 0}};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      result.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    int n = poll(fds, 2, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP)) == 0) continue;
      ssize_t r = read(fds[i].fd, buf, sizeof(buf));
      if (r > 0) {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(r));
      } else {
        pipes[i][0].reset();
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = result.timed_out ? -1 : DecodeStatus(status);
  return result;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env) {
  UniqueFd write_end;
  if (!MakePipe(&fd_, &write_end, O_CLOEXEC)) return;
  pid_ = Spawn(argv, BaseEnv(env), write_end.get(), write_end.get());
  fcntl(fd_.get(), F_SETFL, O_NONBLOCK);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void ChildProcess::ReadAvailable(absl::Duration wait) {
  if (!fd_) return;
  pollfd p{fd_.get(), POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(wait))) <= 0) return;
  char buf[4096];
  for (;;) {
    ssize_t r = read(fd_.get(), buf, sizeof(buf));
    if (r > 0) {
      output_.append(buf, static_cast<size_t>(r));
      continue;
    }
    if (r == 0) fd_.reset();
    return;
  }
}

std::string ChildProcess::WaitForOutput(const std::string& needle, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (output_.find(needle) == std::string::npos) {
    if (absl::Now() >= deadline || !fd_) return "";
    ReadAvailable(absl::Milliseconds(50));
  }
  return output_;
}

int ChildProcess::Stop(int signal, absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  if (!exited_) {
    kill(pid_, signal);
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        exit_code_ = DecodeStatus(status);
        break;
      }
      if (absl::Now() >= deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        exited_ = true;
        exit_code_ = -1;
        break;
      }
      ReadAvailable(absl::Milliseconds(20));
    }
  }
  // Drain what is left; bounded in case a grandchild still holds the pipe.
  const absl::Time drain_deadline = absl::Now() + absl::Seconds(2);
  while (fd_ && absl::Now() < drain_deadline) ReadAvailable(absl::Milliseconds(100));
  return exit_code_;
}

std::string ChildProcess::Output() {
  ReadAvailable(absl::ZeroDuration());
  return output_;
}

}  // namespace serpwow::testing

// Process set-up: signal mask, SIGPIPE, the fd limit. Each case runs in a
// forked child, so the test binary's own signal state is left alone.
#include "common/process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include "gtest/gtest.h"

namespace serpwow {
namespace {

// Runs `body` in a child; returns its exit status (0 = all checks held).
int InChild(const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

TEST(ProcessTest, BlocksShutdownSignalsAndIgnoresSigpipe) {
  EXPECT_EQ(InChild([] {
              if (!SetUpProcess().ok()) return 1;
              sigset_t mask;
              pthread_sigmask(SIG_BLOCK, nullptr, &mask);
              if (sigismember(&mask, SIGINT) != 1 || sigismember(&mask, SIGTERM) != 1) return 2;
              struct sigaction pipe_action {};
              sigaction(SIGPIPE, nullptr, &pipe_action);
              if (pipe_action.sa_handler != SIG_IGN) return 3;
              // Writing to a closed pipe is EPIPE, not death.
              int fds[2];
              if (::pipe(fds) != 0) return 4;
              ::close(fds[0]);
              if (::write(fds[1], "x", 1) != -1 || errno != EPIPE) return 5;
              return 0;
            }),
            0);
}

TEST(ProcessTest, WaitForShutdownSignalReturnsTheSignal) {
  for (int sig : {SIGTERM, SIGINT}) {
    EXPECT_EQ(InChild([sig] {
                if (!SetUpProcess().ok()) return 1;
                ::kill(::getpid(), sig);  // pending: blocked, not delivered
                return WaitForShutdownSignal() == sig ? 0 : 2;
              }),
              0)
        << sig;
  }
}

TEST(ProcessTest, OptionsTurnStepsOff) {
  EXPECT_EQ(InChild([] {
              ProcessSetupOptions none;
              none.block_shutdown_signals = false;
              none.ignore_sigpipe = false;
              none.raise_fd_limit = false;
              if (!SetUpProcess(none).ok()) return 1;
              sigset_t mask;
              pthread_sigmask(SIG_BLOCK, nullptr, &mask);
              return sigismember(&mask, SIGTERM) == 0 ? 0 : 2;
            }),
            0);
}

TEST(ProcessTest, InitialisesLibcurl) {
  EXPECT_EQ(InChild([] {
              ProcessSetupOptions curl;
              curl.block_shutdown_signals = false;
              curl.init_curl = true;
              return SetUpProcess(curl).ok() ? 0 : 1;
            }),
            0);
}

TEST(ProcessTest, RaiseFdLimitRaisesTowardsTheHardLimitAndNeverLowers) {
  EXPECT_EQ(InChild([] {
              rlimit lim{};
              if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 1;
              if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < 600) return 0;  // nothing to try
              lim.rlim_cur = 512;
              if (setrlimit(RLIMIT_NOFILE, &lim) != 0) return 2;
              if (RaiseFdLimit(600) != 600) return 3;
              if (RaiseFdLimit(550) != 600) return 4;  // never lowered
              getrlimit(RLIMIT_NOFILE, &lim);
              if (lim.rlim_cur != 600) return 5;
              // Asked for more than the hard limit: the hard limit.
              const rlim_t hard = lim.rlim_max;
              if (hard != RLIM_INFINITY && RaiseFdLimit(hard + 1000) != hard) return 6;
              return 0;
            }),
            0);
}

}  // namespace
}  // namespace serpwow

// RAII owner of one POSIX file descriptor: closes it exactly once, on
// destruction or reset(). Move-only. Used for every socket, the epoll
// instance and the wake-up eventfd so that no error path can leak an fd.
#pragma once

#include <unistd.h>

#include <utility>

namespace serpwow::sim {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }

  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }

  // Closes the current fd (if any) and takes `fd`. close(2) errors are
  // ignored: on Linux the fd is released even when close reports EINTR/EIO.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace serpwow::sim

// RAII owner of one POSIX file descriptor: closes it exactly once, on
// destruction or reset(). Move-only. Every socket, pipe, epoll instance and
// eventfd the project opens is held in one, so that no error path can leak
// an fd and none is closed twice.
#pragma once

#include <unistd.h>

#include <utility>

namespace serpwow {

class UniqueFd {
 public:
  UniqueFd() = default;
  // Takes ownership of `fd` (-1, or any negative value, means none).
  explicit UniqueFd(int fd) : fd_(fd < 0 ? -1 : fd) {}
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

  // Gives up ownership without closing; returns the fd (-1 if none).
  int release() { return std::exchange(fd_, -1); }

  // Closes the current fd (if any) and takes `fd`. close(2) errors are
  // ignored: on Linux the fd is released even when close reports EINTR/EIO,
  // so retrying could close an fd another thread has just been given.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd < 0 ? -1 : fd;
  }

 private:
  int fd_ = -1;
};

// pipe2(2) into two owners; false (and errno set) on failure.
inline bool MakePipe(UniqueFd* read_end, UniqueFd* write_end, int flags) {
  int fds[2];
  if (::pipe2(fds, flags) != 0) return false;
  read_end->reset(fds[0]);
  write_end->reset(fds[1]);
  return true;
}

}  // namespace serpwow

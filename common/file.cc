#include "common/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"

namespace serpwow {
namespace {

std::string ErrnoText(int err) {
  char buf[128];
  return strerror_r(err, buf, sizeof(buf));  // the GNU variant: thread-safe
}

absl::Status ReadError(const std::string& path, int err) {
  std::string message = absl::StrCat("cannot read ", path, ": ", ErrnoText(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case EISDIR:
      return absl::InvalidArgumentError(absl::StrCat("cannot read ", path, ": is a directory"));
    default:
      return absl::UnavailableError(message);
  }
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("cannot read a file: the path is empty");
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return ReadError(path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ReadError(path, errno);
  if (S_ISDIR(st.st_mode)) return ReadError(path, EISDIR);
  std::string content;
  if (S_ISREG(st.st_mode) && st.st_size > 0) {
    if (static_cast<uint64_t>(st.st_size) > kMaxReadFileBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read ", path, ": larger than ", kMaxReadFileBytes, " bytes"));
    }
    content.reserve(static_cast<size_t>(st.st_size));
  }
  // Read to EOF rather than trusting st_size: files in /proc and pipes
  // report 0, and a file may grow while it is read.
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ReadError(path, errno);
    }
    if (n == 0) break;
    if (content.size() + static_cast<size_t>(n) > kMaxReadFileBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read ", path, ": larger than ", kMaxReadFileBytes, " bytes"));
    }
    content.append(buf, static_cast<size_t>(n));
  }
  return content;
}

}  // namespace serpwow

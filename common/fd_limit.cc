#include "common/fd_limit.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "common/log.h"

namespace serpwow {

rlim_t RaiseFdLimit(rlim_t wanted) {
  // getrlimit and setrlimit are each atomic; the mutex makes the
  // read-modify-write one step, so two callers cannot undo each other.
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  const rlim_t target = lim.rlim_max == RLIM_INFINITY ? wanted : std::min(lim.rlim_max, wanted);
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < target) {
    const rlim_t before = lim.rlim_cur;
    lim.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
      char buf[128];
      SERPWOW_LOG(kWarning, "could not raise the open-file limit from ", before, " to ", target,
                  ": ", strerror_r(errno, buf, sizeof(buf)));
      return before;
    }
  }
  return lim.rlim_cur;
}

}  // namespace serpwow

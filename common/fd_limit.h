// The process's open-file limit.
#pragma once

#include <sys/resource.h>

namespace serpwow {

// What the project's servers want: every connection in flight holds an fd,
// and thousands of loopback connections (both ends in one process in the
// tests) exceed the common soft default of 1024.
inline constexpr rlim_t kWantedFdLimit = 65536;

// Raises the soft RLIMIT_NOFILE to min(hard limit, `wanted`) if it is lower;
// never lowers it. Thread-safe; calling it again is harmless. A failure is
// logged as a warning (the program goes on with the lower limit). Returns the
// soft limit now in force (0 if it cannot be read).
rlim_t RaiseFdLimit(rlim_t wanted = kWantedFdLimit);

}  // namespace serpwow

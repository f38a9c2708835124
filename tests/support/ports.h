// Loopback ports for tests and benchmarks.
#pragma once

namespace serpwow::testing {

// A port on 127.0.0.1 that the OS just handed out and that nothing listens on
// now (bound, read, closed). Racy by nature: use it for "connection refused"
// and for servers that must be told their port before they start.
int UnusedLoopbackPort();

}  // namespace serpwow::testing

// Raw TCP clients for tests that play a misbehaving peer (a client that never
// speaks, or stops halfway): connect to a loopback port, wait for the server
// to hang up. Every wait is bounded.
#pragma once

#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "common/unique_fd.h"

namespace serpwow::testing {

// A blocking TCP connection to 127.0.0.1:port; invalid if it failed.
UniqueFd ConnectLoopback(int port);

// Reads from `fd`, dropping whatever the server sends (e.g. its HTTP/2
// SETTINGS), until the server closes the connection (EOF or reset); returns
// how long after `since` that was, or nullopt if it was still open at
// `since + bound`.
absl::optional<absl::Duration> WaitForPeerClose(int fd, absl::Time since, absl::Duration bound);

}  // namespace serpwow::testing

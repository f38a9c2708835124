// Whether a cancel that gRPC reports to a server call is the caller's
// deadline passing (DEADLINE_EXCEEDED) or the caller giving up (CANCELLED).
//
// gRPC does not say. The caller's library ends the call when *its* deadline
// passes and sends RST_STREAM(CANCEL), the same frame as an explicit cancel.
// The server's copy of the deadline is later than the caller's: it is the
// time gRPC parsed the request's grpc-timeout plus that timeout, so it is
// late by the request's transit and queueing (the caller stamps the timeout
// when it writes the headers, the server counts from when it reads them) and
// by the encoding's rounding up (at most 1% of the timeout, or 1 ms). So the
// caller's cancel usually arrives before the server's deadline, and a bare
// `now >= deadline` calls most expired deadlines CANCELLED. Measured against a
// hanging upstream, 200 calls at 500/s: the server's deadline was up to 5 ms
// late in the release build and up to 56 ms in the ASan build; 400 calls at
// once, up to 24 ms and 320 ms.
//
// The rule: a cancel that arrives less than kDeadlineSkew plus 1% of the
// call's timeout before the server's deadline is the deadline. The price: a
// caller that really cancels in that last stretch is counted as
// DEADLINE_EXCEEDED (for a call whose whole timeout is shorter than the skew,
// any cancel), which is the honest reading when the server is loaded enough
// for the skew to matter, and rare otherwise. Pure: the caller passes the
// clock's reading (the seam the tests use).
#pragma once

#include "absl/time/time.h"

namespace serpwow::rpc {

// Covers transit and queueing with room to spare: 250 ms is 4x the worst
// skew measured at a steady 500 calls/s under ASan on two shared cores, and
// far below the deadlines callers use (the README asks for seconds).
inline constexpr absl::Duration kDeadlineSkew = absl::Milliseconds(250);

// `started`: when the server took the call; `deadline`: the server's copy of
// the caller's deadline (absl::InfiniteFuture() when it has none); `now`:
// when the cancel arrived. True when the cancel is the deadline passing.
bool CancelIsTheDeadline(absl::Time started, absl::Time deadline, absl::Time now);

}  // namespace serpwow::rpc

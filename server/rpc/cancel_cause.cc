#include "server/rpc/cancel_cause.h"

#include <algorithm>

namespace serpwow::rpc {

bool CancelIsTheDeadline(absl::Time started, absl::Time deadline, absl::Time now) {
  if (deadline == absl::InfiniteFuture()) return false;
  // The timeout as the server counts it; the encoding's rounding is at most
  // 1% of the caller's (never negative: a call read after its deadline).
  const absl::Duration timeout = std::max(deadline - started, absl::ZeroDuration());
  return now >= deadline - kDeadlineSkew - timeout / 100;
}

}  // namespace serpwow::rpc

// The simulator's name for the shared HTTP/1.1 message code in
// common/http1.h: sim/batch_api.* spells it sim::http (Request, Response,
// ParseQuery, PercentDecode). New code includes common/http1.h directly.
#pragma once

#include "common/http1.h"

namespace serpwow::sim {
namespace http = ::serpwow::http1;
}  // namespace serpwow::sim

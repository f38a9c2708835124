// A plain GET on loopback with libcurl, for tests of the server's own HTTP
// endpoints (/metrics). Never through a proxy; bounded at 5 s.
#pragma once

#include <string>
#include <utility>

namespace serpwow::testing {

// GET http://127.0.0.1:PORT/PATH; returns {status, body}, status 0 if the
// request failed.
std::pair<long, std::string> HttpGet(int port, const std::string& path);

}  // namespace serpwow::testing

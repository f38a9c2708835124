#include "server/upstream/http_types.h"

namespace serpwow::upstream {

const char* HttpMethodName(HttpMethod method) {
  switch (method) {
    case HttpMethod::kGet:
      return "GET";
    case HttpMethod::kPost:
      return "POST";
    case HttpMethod::kPut:
      return "PUT";
    case HttpMethod::kDelete:
      return "DELETE";
  }
  return "GET";
}

const char* TransportErrorName(TransportError error) {
  switch (error) {
    case TransportError::kNone:
      return "none";
    case TransportError::kResolve:
      return "resolve";
    case TransportError::kConnect:
      return "connect";
    case TransportError::kTls:
      return "tls";
    case TransportError::kConnectionLost:
      return "connection_lost";
    case TransportError::kTimeout:
      return "timeout";
    case TransportError::kBodyTooLarge:
      return "body_too_large";
    case TransportError::kHeadersTooLarge:
      return "headers_too_large";
    case TransportError::kBadReply:
      return "bad_reply";
    case TransportError::kCancelled:
      return "cancelled";
    case TransportError::kOther:
      return "other";
  }
  return "other";
}

}  // namespace serpwow::upstream

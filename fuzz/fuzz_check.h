// Shared invariant checks for the fuzz targets. A violated invariant prints
// what was expected and the status involved, then aborts, so libFuzzer saves
// the input as a crash file.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/rpc/error_details.pb.h"
#include "server/logic/errors.h"

namespace serpwow::fuzz {

[[noreturn]] inline void Fail(const char* file, int line, const char* condition,
                              const std::string& detail) {
  std::fprintf(stderr, "\n*** fuzz invariant violated at %s:%d: %s\n*** %s\n", file, line,
               condition, detail.c_str());
  std::abort();
}

// A status printed on one line, payload bytes escaped.
inline std::string Describe(const absl::Status& status) {
  return absl::CHexEscape(status.ToString(absl::StatusToStringMode::kWithEverything));
}

// `detail` is only evaluated when the check fails.
#define FUZZ_CHECK(condition, detail)                                                  \
  do {                                                                                 \
    if (!(condition)) ::serpwow::fuzz::Fail(__FILE__, __LINE__, #condition, (detail)); \
  } while (0)

// Bytes 0x20..0x7e only: our own wording is ASCII, so anything else in a
// message came from outside.
// Our own reading of UTF-8 validity (what protobuf accepts in a string
// field), independent of the project's common/utf8.h.
inline bool IsValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    auto u = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    unsigned min = 0;
    if (u < 0x80) {
      ++i;
      continue;
    } else if ((u & 0xE0) == 0xC0) {
      len = 2, min = 0x80;
    } else if ((u & 0xF0) == 0xE0) {
      len = 3, min = 0x800;
    } else if ((u & 0xF8) == 0xF0) {
      len = 4, min = 0x10000;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    unsigned cp = u & (0xFF >> (len + 1));
    for (size_t k = 1; k < len; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

inline bool IsPrintableAscii(absl::string_view text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) return false;
  }
  return true;
}

// What a non-OK status from server/logic must look like (errors.h, README
// "Error contract"), whatever produced it:
//  - every payload is one of the google.rpc details ErrorBuilder attaches,
//    under its type URL, and parses;
//  - exactly one of them is an ErrorInfo, domain "serpwow.com", with a
//    non-empty upper-case reason;
//  - a RetryInfo delay is within [0, 1h];
//  - the message is non-empty printable ASCII and names no URL or api_key;
//  - when `marker` is non-empty, neither the message nor any payload holds it.
// Returns the ErrorInfo.
inline google::rpc::ErrorInfo CheckErrorShape(const absl::Status& status,
                                              const std::string& marker) {
  using logic::TypeUrlOf;
  FUZZ_CHECK(!status.ok(), "CheckErrorShape needs an error");

  int error_infos = 0;
  google::rpc::ErrorInfo info;
  status.ForEachPayload([&](absl::string_view url_view, const absl::Cord& cord) {
    const std::string url(url_view);
    const std::string bytes(cord);
    if (!marker.empty()) {
      FUZZ_CHECK(!absl::StrContains(bytes, marker),
                 absl::StrCat("payload ", url, " carries body bytes: ", Describe(status)));
    }
    bool parsed = false;
    if (url == TypeUrlOf(google::rpc::ErrorInfo::descriptor()->full_name())) {
      ++error_infos;
      parsed = info.ParseFromString(bytes);
    } else if (url == TypeUrlOf(google::rpc::BadRequest::descriptor()->full_name())) {
      parsed = google::rpc::BadRequest().ParseFromString(bytes);
    } else if (url == TypeUrlOf(google::rpc::PreconditionFailure::descriptor()->full_name())) {
      parsed = google::rpc::PreconditionFailure().ParseFromString(bytes);
    } else if (url == TypeUrlOf(google::rpc::ResourceInfo::descriptor()->full_name())) {
      parsed = google::rpc::ResourceInfo().ParseFromString(bytes);
    } else if (url == TypeUrlOf(google::rpc::QuotaFailure::descriptor()->full_name())) {
      parsed = google::rpc::QuotaFailure().ParseFromString(bytes);
    } else if (url == TypeUrlOf(google::rpc::RetryInfo::descriptor()->full_name())) {
      google::rpc::RetryInfo retry;
      parsed = retry.ParseFromString(bytes);
      const auto& d = retry.retry_delay();
      FUZZ_CHECK(d.seconds() >= 0 && d.nanos() >= 0 && d.nanos() < 1000000000 &&
                     (d.seconds() < 3600 || (d.seconds() == 3600 && d.nanos() == 0)),
                 absl::StrCat("RetryInfo delay outside [0, 1h]: ", d.seconds(), "s ", d.nanos(),
                              "ns: ", Describe(status)));
    } else {
      FUZZ_CHECK(false, absl::StrCat("unexpected payload ", url, ": ", Describe(status)));
    }
    FUZZ_CHECK(parsed, absl::StrCat("payload ", url, " does not parse: ", Describe(status)));
  });
  FUZZ_CHECK(error_infos == 1,
             absl::StrCat(error_infos, " ErrorInfo payloads, want 1: ", Describe(status)));
  FUZZ_CHECK(info.domain() == logic::kErrorDomain,
             absl::StrCat("ErrorInfo.domain is '", info.domain(), "': ", Describe(status)));
  bool reason_ok = !info.reason().empty();
  for (char c : info.reason()) {
    reason_ok = reason_ok && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
  }
  FUZZ_CHECK(reason_ok, absl::StrCat("ErrorInfo.reason '", absl::CHexEscape(info.reason()),
                                     "' is not upper-case: ", Describe(status)));

  const std::string message(status.message());
  FUZZ_CHECK(!message.empty(), absl::StrCat("empty message: ", Describe(status)));
  FUZZ_CHECK(IsPrintableAscii(message),
             absl::StrCat("message has bytes outside printable ASCII: ", Describe(status)));
  const std::string lower = absl::AsciiStrToLower(message);
  for (const char* banned : {"http://", "https://", "api_key"}) {
    FUZZ_CHECK(!absl::StrContains(lower, banned),
               absl::StrCat("message contains '", banned, "': ", Describe(status)));
  }
  if (!marker.empty()) {
    FUZZ_CHECK(!absl::StrContains(message, marker),
               absl::StrCat("message carries body bytes: ", Describe(status)));
  }
  return info;
}

}  // namespace serpwow::fuzz

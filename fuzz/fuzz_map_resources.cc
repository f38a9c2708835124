// fuzz_map_resources: MapAccount, MapResultSet, MapSearch
// (server/logic/resource_mapping.h) and CheckDownloadLink
// (server/logic/download_links.h) on any input. The whole input is parsed as
// JSON (nlohmann, no exceptions) and given to each mapper; when it is an
// object it is mapped again with a valid "id" put in, so every input reaches
// the field mapping. Each string inside the input (and the raw input) is
// also checked as a download link.
//
// Invariants (abort when violated):
//  - each mapper is OK exactly when its contract says (account: an object;
//    result set: an object whose id is a positive int32 integer or canonical
//    decimal string; search: an object whose id is a string that is a safe
//    id segment); an error is INTERNAL UPSTREAM_BAD_RESPONSE with the
//    contract's shape (fuzz_check.h) and `out` cleared;
//  - on OK: the name is the documented form; every string is valid UTF-8 and
//    the message round-trips the wire format; counts are non-negative;
//    other_fields / params / destination_status / logs / pages within their
//    caps; no key named api_key anywhere;
//  - a link that CheckDownloadLink accepts starts with "https://" on a listed
//    host (or is on the plain-http origin), contains no "api_key" in any case
//    and never the key; a refusal is INTERNAL UNSAFE_DOWNLOAD_LINK whose
//    message does not contain the link.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_check.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/logic/download_links.h"
#include "server/logic/errors.h"
#include "server/logic/json_values.h"
#include "server/logic/resource_mapping.h"
#include "server/upstream/endpoints.h"

namespace serpwow::fuzz {
namespace {

namespace v1 = serpwow::batches::v1;
using Json = nlohmann::json;

constexpr char kKey[] = "FuzzKey+1/2";

template <typename Message>
void CheckRoundTrip(const Message& m) {
  std::string wire;
  FUZZ_CHECK(m.SerializeToString(&wire), "does not serialize");
  Message back;
  FUZZ_CHECK(back.ParseFromString(wire), "does not parse back");
  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(m, back), "no round trip");
}

// `id_mapped`: the resource reads "id" itself, so it is never kept aside.
void CheckMap(const google::protobuf::Map<std::string, std::string>& fields, bool id_mapped) {
  FUZZ_CHECK(fields.size() <= logic::kMaxOtherFields, absl::StrCat(fields.size(), " entries"));
  for (const auto& [k, v] : fields) {
    FUZZ_CHECK(k.size() <= logic::kMaxOtherFieldBytes && v.size() <= logic::kMaxOtherFieldBytes,
               "entry over the cap");
    FUZZ_CHECK(IsValidUtf8(k) && IsValidUtf8(v), "entry not UTF-8");
    FUZZ_CHECK(k != "api_key" && (!id_mapped || k != "id"), absl::StrCat("kept key ", k));
  }
}

void CheckError(const absl::Status& status, const google::protobuf::Message& out) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInternal, Describe(status));
  const google::rpc::ErrorInfo info = CheckErrorShape(status, "");
  FUZZ_CHECK(info.reason() == logic::reason::kUpstreamBadResponse, Describe(status));
  FUZZ_CHECK(out.ByteSizeLong() == 0, "out not cleared");
}

void CheckDelivery(const v1::DeliveryStatus& d) {
  FUZZ_CHECK(IsValidUtf8(d.status()) && d.status().size() <= 256, "delivery status");
  FUZZ_CHECK(d.log_size() <= logic::kMaxDeliveryLogEntries, "too many log entries");
  for (const auto& line : d.log()) FUZZ_CHECK(IsValidUtf8(line.text()), "log text");
}

const Json* IdOf(const Json& value) {
  if (!value.is_object()) return nullptr;
  auto it = value.find("id");
  return it == value.end() ? nullptr : &*it;
}

void MapAll(const Json& value) {
  {
    v1::Account a;
    a.set_name("stale");
    const absl::Status s = logic::MapAccount(value, &a);
    FUZZ_CHECK(s.ok() == value.is_object(), Describe(s));
    if (!s.ok()) {
      CheckError(s, a);
    } else {
      FUZZ_CHECK(a.name() == "account", "account name");
      CheckMap(a.other_fields(), false);
      CheckRoundTrip(a);
    }
  }
  {
    const Json* id = IdOf(value);
    bool want = false;
    if (id != nullptr) {
      if (const std::string* text = id->get_ptr<const Json::string_t*>()) {
        want = upstream::IsCanonicalPositiveInt(*text);
      } else if (id->is_number_integer()) {
        const bool is_unsigned = id->is_number_unsigned();
        want = is_unsigned ? id->get<uint64_t>() >= 1 && id->get<uint64_t>() <= 2147483647u
                           : id->get<int64_t>() >= 1 && id->get<int64_t>() <= 2147483647;
      }
    }
    v1::ResultSet r;
    r.set_name("stale");
    const absl::Status s = logic::MapResultSet(value, "FUZZ1", &r);
    FUZZ_CHECK(s.ok() == want, Describe(s));
    if (!s.ok()) {
      CheckError(s, r);
    } else {
      FUZZ_CHECK(r.result_set_id() >= 1, "result set id");
      FUZZ_CHECK(r.name() == absl::StrCat("batches/FUZZ1/resultSets/", r.result_set_id()),
                 r.name());
      FUZZ_CHECK(r.results_page_count() >= 0 && r.searches_completed() >= 0 &&
                     r.searches_failed() >= 0 && r.searches_total() >= 0,
                 "negative count");
      CheckMap(r.other_fields(), true);
      CheckDelivery(r.webhook_status());
      FUZZ_CHECK(r.destination_status_size() <= static_cast<int>(logic::kMaxOtherFields),
                 "too many destinations");
      for (const auto& [k, d] : r.destination_status()) {
        FUZZ_CHECK(IsValidUtf8(k), "destination key");
        CheckDelivery(d);
      }
      FUZZ_CHECK(r.download_links().page_uris_size() <= logic::kMaxDownloadPages, "pages");
      CheckRoundTrip(r);
    }
  }
  {
    const Json* id = IdOf(value);
    const std::string* text = id == nullptr ? nullptr : id->get_ptr<const Json::string_t*>();
    const bool want = text != nullptr && upstream::IsSafeIdSegment(*text);
    v1::Search search;
    search.set_q("stale");
    const absl::Status s = logic::MapSearch(value, "FUZZ1", &search);
    FUZZ_CHECK(s.ok() == want, Describe(s));
    if (!s.ok()) {
      CheckError(s, search);
    } else {
      FUZZ_CHECK(search.name() == "batches/FUZZ1/searches/" + search.search_id(), search.name());
      FUZZ_CHECK(search.max_page() >= 0, "max_page");
      for (const std::string* f :
           {&search.custom_id(), &search.q(), &search.location(), &search.search_type()}) {
        FUZZ_CHECK(IsValidUtf8(*f), "search string not UTF-8");
      }
      CheckMap(search.params(), true);
      CheckRoundTrip(search);
    }
  }
}

// The host of an accepted link, found independently of download_links.cc.
std::string HostOf(const std::string& lower) {
  const size_t start = lower.find("://") + 3;
  std::string authority = lower.substr(start, lower.find_first_of("/?#", start) - start);
  return authority.substr(0, authority.find(':'));
}

bool Listed(const std::string& host, const logic::DownloadLinkPolicy& policy) {
  for (const std::string& h : policy.https_hosts) {
    if (host == h || (h[0] == '.' && absl::EndsWith(host, h) && host.size() > h.size())) {
      return true;
    }
  }
  return false;
}

void CheckLink(const std::string& url, const logic::DownloadLinkPolicy& policy) {
  const absl::Status s = logic::CheckDownloadLink(url, policy, kKey, "FUZZ1");
  if (s.ok()) {
    const std::string lower = absl::AsciiStrToLower(url);
    bool plain = false;
    for (const std::string& origin : policy.plain_http_origins) {
      plain = plain || lower == origin || absl::StartsWith(lower, origin + "/") ||
              absl::StartsWith(lower, origin + "?") || absl::StartsWith(lower, origin + "#");
    }
    FUZZ_CHECK(plain || (absl::StartsWith(lower, "https://") && Listed(HostOf(lower), policy)),
               absl::CHexEscape(url));
    FUZZ_CHECK(!absl::StrContains(lower, "api_key"), absl::CHexEscape(url));
    FUZZ_CHECK(!absl::StrContains(url, kKey), absl::CHexEscape(url));
    for (char c : url) {
      const auto u = static_cast<unsigned char>(c);
      FUZZ_CHECK(u > 0x20 && u < 0x7f && c != '\\', absl::CHexEscape(url));
    }
  } else {
    FUZZ_CHECK(s.code() == absl::StatusCode::kInternal, Describe(s));
    FUZZ_CHECK(logic::ReasonOf(s) == logic::reason::kUnsafeDownloadLink, Describe(s));
    // One of the fixed messages: nothing of the link is in it.
    bool fixed = false;
    for (const char* why : {"not a plain ASCII URL", "not an absolute https URL", "not https",
                            "a host the gateway does not expect", "it carries an api_key parameter",
                            "it carries the gateway's API key"}) {
      fixed = fixed || s.message() == absl::StrCat(
                                          "SerpWow gave a download link the gateway "
                                          "does not pass on (",
                                          why,
                                          "); nothing was returned. The gateway's "
                                          "--download_link_hosts lists the hosts it "
                                          "accepts");
    }
    FUZZ_CHECK(fixed, Describe(s));
  }
}

void CheckStrings(const Json& value, const logic::DownloadLinkPolicy& policy, int depth) {
  if (depth > 8) return;
  if (const std::string* s = value.get_ptr<const Json::string_t*>()) {
    CheckLink(*s, policy);
  } else if (value.is_structured()) {
    int n = 0;
    for (const Json& child : value) {
      if (++n > 64) break;
      CheckStrings(child, policy, depth + 1);
    }
  }
}

}  // namespace
}  // namespace serpwow::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace serpwow::fuzz;
  static const serpwow::logic::DownloadLinkPolicy* const policy =
      new serpwow::logic::DownloadLinkPolicy(
          serpwow::logic::MakeDownloadLinkPolicy("http://127.0.0.1:4567/live", {}));
  static const serpwow::logic::DownloadLinkPolicy* const serpwow_policy =
      new serpwow::logic::DownloadLinkPolicy(
          serpwow::logic::MakeDownloadLinkPolicy("https://api.serpwow.com/live", {".cdn.example"}));
  const std::string raw(reinterpret_cast<const char*>(data), size);
  CheckLink(raw, *policy);
  CheckLink(raw, *serpwow_policy);
  Json value = Json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  MapAll(value);
  CheckStrings(value, *serpwow_policy, 0);
  if (value.is_object()) {
    value["id"] = 3;
    MapAll(value);
    value["id"] = "ABCDEFGH";
    MapAll(value);
  }
  return 0;
}

#include "client/child_format.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace serpwow::client {
namespace {

namespace v1 = serpwow::batches::v1;

std::string Rfc3339(const google::protobuf::Timestamp& t) {
  return google::protobuf::util::TimeUtil::ToString(t);
}

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// A past time as an age ("5h"), a future one as "in 5h"; RFC 3339 when exact.
std::string When(const google::protobuf::Timestamp& t, bool has, bool exact, absl::Time now) {
  if (!has) return "";
  if (exact) return Rfc3339(t);
  const absl::Time at = ToTime(t);
  return at > now ? absl::StrCat("in ", Age(at - now)) : Age(now - at);
}

template <typename Int>
std::string Figure(bool has, Int value) {
  return has ? absl::StrCat(value) : "";
}

// "used/limit", either side empty when unknown; "" when both are.
std::string UsedOf(bool has_used, int64_t used, bool has_limit, int64_t limit) {
  if (!has_used && !has_limit) return "";
  return absl::StrCat(has_used ? absl::StrCat(used) : "?", "/",
                      has_limit ? absl::StrCat(limit) : "?");
}

std::string Destinations(const v1::ResultSet& r) {
  std::vector<std::string> out;
  for (const auto& [id, status] : r.destination_status()) out.push_back(id + "=" + status.status());
  std::sort(out.begin(), out.end());
  return absl::StrJoin(out, ",");
}

}  // namespace

std::vector<Column> AccountColumns(bool wide) {
  std::vector<Column> columns = {{"CREDITS-REMAINING"}, {"USED"},        {"LIMIT"}, {"RESETS"},
                                 {"BATCHES"},           {"DESTINATIONS"}};
  if (wide) {
    columns.push_back({"TOPUP"});
    columns.push_back({"BATCHES-AVAILABLE"});
    columns.push_back({"DESTINATIONS-AVAILABLE"});
  }
  return columns;
}

std::vector<std::string> AccountCells(const v1::Account& a, bool wide, bool exact_times,
                                      absl::Time now) {
  std::vector<std::string> cells = {
      Figure(a.has_credits_remaining(), a.credits_remaining()),
      Figure(a.has_credits_used(), a.credits_used()),
      Figure(a.has_credits_limit(), a.credits_limit()),
      When(a.credits_reset_time(), a.has_credits_reset_time(), exact_times, now),
      UsedOf(a.has_batches_used(), a.batches_used(), a.has_batches_limit(), a.batches_limit()),
      UsedOf(a.has_destinations_used(), a.destinations_used(), a.has_destinations_limit(),
             a.destinations_limit()),
  };
  if (wide) {
    cells.push_back(Figure(a.has_topup_credits_remaining(), a.topup_credits_remaining()));
    cells.push_back(Figure(a.has_batches_available(), a.batches_available()));
    cells.push_back(Figure(a.has_destinations_available(), a.destinations_available()));
  }
  return cells;
}

std::vector<Column> ResultSetColumns(bool wide) {
  std::vector<Column> columns = {{"ID"},     {"STARTED"}, {"ENDED"},  {"COMPLETED"},
                                 {"FAILED"}, {"EXPIRES"}, {"WEBHOOK"}};
  if (wide) {
    columns.push_back({"PAGES"});
    columns.push_back({"DESTINATIONS", true});
  }
  return columns;
}

std::vector<std::string> ResultSetCells(const v1::ResultSet& r, bool wide, bool exact_times,
                                        absl::Time now) {
  std::vector<std::string> cells = {
      absl::StrCat(r.result_set_id()),
      When(r.start_time(), r.has_start_time(), exact_times, now),
      When(r.end_time(), r.has_end_time(), exact_times, now),
      absl::StrCat(r.searches_completed()),
      absl::StrCat(r.searches_failed()),
      When(r.expire_time(), r.has_expire_time(), exact_times, now),
      r.has_webhook_status() ? r.webhook_status().status() : "",
  };
  if (wide) {
    cells.push_back(absl::StrCat(r.results_page_count()));
    cells.push_back(Destinations(r));
  }
  return cells;
}

std::string FormatLinks(const v1::DownloadLinks& links) {
  std::string out;
  for (const std::string& uri : links.page_uris()) absl::StrAppend(&out, uri, "\n");
  if (!links.all_pages_uri().empty()) absl::StrAppend(&out, links.all_pages_uri(), "\n");
  return out;
}

std::string FormatResultSet(const v1::ResultSet& r) {
  std::string batch = r.name();
  if (const size_t slash = batch.find("/resultSets/"); slash != std::string::npos) {
    batch = batch.substr(0, slash);
  }
  if (batch.rfind("batches/", 0) == 0) batch = batch.substr(8);
  std::string out = absl::StrCat("result set ", r.result_set_id(), " of batch ", batch);
  auto line = [&out](const char* key, const std::string& value) {
    if (value.empty()) return;
    absl::StrAppend(&out, "\n  ", key, std::string(15 - std::min<size_t>(14, strlen(key)), ' '),
                    value);
  };
  if (r.has_start_time()) line("started:", Rfc3339(r.start_time()));
  if (r.has_end_time()) line("ended:", Rfc3339(r.end_time()));
  if (r.has_expire_time()) line("expires:", Rfc3339(r.expire_time()) + " (kept 14 days)");
  line("searches:", absl::StrCat(r.searches_completed(), " completed, ", r.searches_failed(),
                                 " failed, of ", r.searches_total()));
  line("pages:", absl::StrCat(r.results_page_count()));
  auto delivery = [&](const std::string& what, const v1::DeliveryStatus& status) {
    line((what + ":").c_str(), status.status().empty() ? "(no status)" : status.status());
    for (const auto& entry : status.log()) {
      absl::StrAppend(&out, "\n    ", entry.has_time() ? Rfc3339(entry.time()) + "  " : "",
                      entry.text());
    }
  };
  if (r.has_webhook_status()) delivery("webhook", r.webhook_status());
  std::vector<std::string> ids;
  for (const auto& [id, status] : r.destination_status()) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (const std::string& id : ids) delivery("destination " + id, r.destination_status().at(id));
  if (r.download_links().page_uris_size() > 0 || !r.download_links().all_pages_uri().empty()) {
    absl::StrAppend(&out, "\n  links:");
    for (const std::string& uri : r.download_links().page_uris()) {
      absl::StrAppend(&out, "\n    ", uri);
    }
    if (!r.download_links().all_pages_uri().empty()) {
      absl::StrAppend(&out, "\n    ", r.download_links().all_pages_uri(), " (all pages)");
    }
  }
  return out;
}

std::vector<Column> SearchColumns(bool wide) {
  std::vector<Column> columns = {{"ID"},   {"CUSTOM-ID", true}, {"Q", true}, {"LOCATION", true},
                                 {"TYPE"}, {"PARAMS", true}};
  if (wide) {
    columns.push_back({"INCLUDE-HTML"});
    columns.push_back({"MAX-PAGE"});
  }
  return columns;
}

std::vector<std::string> SearchCells(const v1::Search& s, bool wide, bool /*exact_times*/,
                                     absl::Time /*now*/) {
  std::vector<std::string> params;
  for (const auto& [key, value] : s.params()) params.push_back(key + "=" + value);
  std::sort(params.begin(), params.end());
  std::vector<std::string> cells = {s.search_id(), s.custom_id(),   s.q(),
                                    s.location(),  s.search_type(), absl::StrJoin(params, " ")};
  if (wide) {
    cells.push_back(s.has_include_html() ? (s.include_html() ? "yes" : "no") : "");
    cells.push_back(s.has_max_page() ? absl::StrCat(s.max_page()) : "");
  }
  return cells;
}

}  // namespace serpwow::client

#include "client/batchctl_format.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/output.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace serpwow::client {
namespace {

namespace v1 = serpwow::batches::v1;

template <typename Detail>
bool FindDetail(const google::rpc::Status& status, Detail* out) {
  for (const auto& any : status.details()) {
    if (any.Is<Detail>() && any.UnpackTo(out)) return true;
  }
  return false;
}

std::string StatusWord(v1::BatchStatus status) {
  switch (status) {
    case v1::BATCH_STATUS_IDLE:
      return "was idle";
    case v1::BATCH_STATUS_QUEUED:
      return "was queued";
    case v1::BATCH_STATUS_RUNNING:
      return "was running";
    default:
      return "previous status unknown";
  }
}

std::string StatusName(v1::BatchStatus status) {
  switch (status) {
    case v1::BATCH_STATUS_IDLE:
      return "idle";
    case v1::BATCH_STATUS_QUEUED:
      return "queued";
    case v1::BATCH_STATUS_RUNNING:
      return "running";
    default:
      return "status unknown";
  }
}

// The batch's schedule for a person, "manual (runs when started)", "daily
// at 09:00, 17:00 (account time zone)", "weekly on mon, wed at 09:00 (...)";
// `brief` for a table cell: "manual", "hourly", "daily 09,17", "weekly
// mon,wed 09", "monthly 1,15 09".
std::string Schedule(const v1::Batch& b, bool brief) {
  static constexpr const char* kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  const char* separator = brief ? "," : ", ";
  std::string out;
  switch (b.schedule_type()) {
    case v1::SCHEDULE_TYPE_MANUAL:
      return brief ? "manual" : "manual (runs when started)";
    case v1::SCHEDULE_TYPE_HOURLY:
      if (brief) return "hourly";
      out = "hourly";
      break;
    case v1::SCHEDULE_TYPE_DAILY:
      out = "daily";
      break;
    case v1::SCHEDULE_TYPE_WEEKLY:
      out = "weekly";
      if (b.schedule_days_of_week_size() > 0) {
        absl::StrAppend(
            &out, brief ? " " : " on ",
            absl::StrJoin(b.schedule_days_of_week(), separator, [](std::string* o, int32_t d) {
              o->append(d >= 0 && d <= 6 ? kDays[d] : "?");
            }));
      }
      break;
    case v1::SCHEDULE_TYPE_MONTHLY:
      out = "monthly";
      if (b.schedule_days_of_month_size() > 0) {
        absl::StrAppend(&out, brief ? " " : " on day ",
                        absl::StrJoin(b.schedule_days_of_month(), separator));
      }
      break;
    default:
      return "";
  }
  if (b.schedule_hours_size() > 0) {
    absl::StrAppend(
        &out, brief ? " " : " at ",
        absl::StrJoin(b.schedule_hours(), separator, [brief](std::string* o, int32_t h) {
          absl::StrAppend(o, absl::Dec(h, absl::kZeroPad2), brief ? "" : ":00");
        }));
  }
  return brief ? out : absl::StrCat(out, " (account time zone)");
}

std::string Priority(v1::Priority p) {
  switch (p) {
    case v1::PRIORITY_LOWEST:
      return "lowest";
    case v1::PRIORITY_LOW:
      return "low";
    case v1::PRIORITY_NORMAL:
      return "normal";
    case v1::PRIORITY_HIGH:
      return "high";
    case v1::PRIORITY_HIGHEST:
      return "highest";
    default:
      return "";
  }
}

std::string Time(const google::protobuf::Timestamp& t) {
  return google::protobuf::util::TimeUtil::ToString(t);
}

}  // namespace

std::vector<Column> BatchColumns(bool wide) {
  std::vector<Column> columns = {{"ID"},       {"NAME", true}, {"STATUS"},  {"SCHEDULE", true},
                                 {"PRIORITY"}, {"SEARCHES"},   {"CREDITS"}, {"RESULTS"},
                                 {"LAST-RUN"}, {"AGE"}};
  if (wide) {
    for (Column c : std::vector<Column>{
             {"ENABLED"}, {"NEXT-RESULT-SET"}, {"DESTINATIONS", true}, {"WEBHOOK", true}}) {
      columns.push_back(std::move(c));
    }
  }
  return columns;
}

std::vector<std::string> BatchCells(const v1::Batch& b, bool wide, bool exact_times,
                                    absl::Time now) {
  auto when = [&](const google::protobuf::Timestamp& t, bool has) -> std::string {
    if (!has) return exact_times ? "" : "never";
    if (exact_times) return Time(t);
    const absl::Time at = absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
    return Age(now - at);
  };
  std::vector<std::string> cells = {
      b.batch_id(),
      b.display_name(),
      StatusName(b.status()),
      Schedule(b, /*brief=*/true),
      b.has_priority() ? Priority(b.priority()) : "",
      absl::StrCat(b.searches_total_count()),
      absl::StrCat(b.credits_required()),
      absl::StrCat(b.results_count()),
      when(b.last_run_time(), b.has_last_run_time()),
      when(b.create_time(), b.has_create_time()),
  };
  if (wide) {
    cells.push_back(b.has_enabled() ? (b.enabled() ? "yes" : "no") : "");
    cells.push_back(absl::StrCat(b.next_result_set_id()));
    cells.push_back(absl::StrJoin(b.destination_ids(), ","));
    cells.push_back(b.notification_webhook());
  }
  return cells;
}

std::string FormatBatch(const v1::Batch& b) {
  std::string out =
      absl::StrCat("batch ", b.batch_id(), " \"", b.display_name(), "\": ", StatusName(b.status()));
  if (b.status() == v1::BATCH_STATUS_QUEUED || b.status() == v1::BATCH_STATUS_RUNNING) {
    absl::StrAppend(&out, " (", b.credits_required(), " credits reserved)");
  }
  auto line = [&out](const char* key, const std::string& value) {
    if (!value.empty())
      absl::StrAppend(&out, "\n  ", key, std::string(15 - strlen(key), ' '), value);
  };
  line("schedule:", Schedule(b, /*brief=*/false));
  if (b.has_enabled()) line("enabled:", b.enabled() ? "yes" : "no (its schedule does not run)");
  if (b.has_priority()) line("priority:", Priority(b.priority()));
  line("searches:", absl::StrCat(b.searches_total_count(), " (", b.searches_page_count(),
                                 b.searches_page_count() == 1 ? " page)" : " pages)"));
  line("credits:", absl::StrCat(b.credits_required(), " per run"));
  line("result sets:",
       absl::StrCat(b.results_count(), " (the next run's will be ", b.next_result_set_id(), ")"));
  std::vector<std::string> notify;
  if (!b.notification_email().empty()) notify.push_back("email " + b.notification_email());
  if (!b.notification_webhook().empty()) notify.push_back("webhook " + b.notification_webhook());
  std::vector<std::string> formats;
  if (b.notification_as_json()) formats.push_back("json");
  if (b.notification_as_jsonlines()) formats.push_back("jsonlines");
  if (b.notification_as_csv()) formats.push_back("csv");
  if (!formats.empty()) notify.push_back("as " + absl::StrJoin(formats, ", "));
  line("notifications:", absl::StrJoin(notify, "; "));
  line("destinations:", absl::StrJoin(b.destination_ids(), ", "));
  if (b.has_create_time()) line("created:", Time(b.create_time()));
  if (b.has_last_run_time()) line("last run:", Time(b.last_run_time()));
  if (b.has_expire_time())
    line("expires:", absl::StrCat("about ", Time(b.expire_time()), " (2 months without a start)"));
  std::vector<std::string> others;
  for (const auto& [key, value] : b.other_fields()) others.push_back(key + "=" + value);
  std::sort(others.begin(), others.end());
  line("other fields:", absl::StrJoin(others, " "));
  return out;
}

int ExitCodeFor(grpc::StatusCode code) { return static_cast<int>(code); }

std::string CodeName(grpc::StatusCode code) {
  // gRPC and absl share the canonical code numbering and names.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

std::string FormatStopped(const v1::StopBatchResponse& response) {
  std::string refund;
  switch (response.refund_basis()) {
    case v1::REFUND_BASIS_UNKNOWN:
      refund = "refund unknown (the batch could not be read first; check the account's credits)";
      break;
    default:
      refund = response.credits_refunded() ? "credits refunded" : "no refund";
      break;
  }
  return absl::StrCat("stopped batch ", response.batch_id(), " (",
                      StatusWord(response.previous_status()), "): ", refund);
}

std::string FormatError(const grpc::Status& status) {
  std::string out = CodeName(status.error_code());
  google::rpc::Status details;
  const bool has_details =
      !status.error_details().empty() && details.ParseFromString(status.error_details());
  google::rpc::ErrorInfo info;
  if (has_details && FindDetail(details, &info) && !info.reason().empty()) {
    absl::StrAppend(&out, " (", info.reason(), ")");
  }
  absl::StrAppend(&out, ": ",
                  status.error_message().empty() ? "no message" : status.error_message());
  google::rpc::RetryInfo retry;
  if (has_details && FindDetail(details, &retry)) {
    absl::Duration delay = absl::Seconds(retry.retry_delay().seconds()) +
                           absl::Nanoseconds(retry.retry_delay().nanos());
    absl::StrAppend(&out, " [retry after ", absl::FormatDuration(delay), "]");
  }
  return out;
}

std::string FormatStarted(const v1::StartBatchResponse& r) {
  std::string id = r.name().rfind("batches/", 0) == 0 ? r.name().substr(8) : r.name();
  std::string out = absl::StrCat("started batch ", id);
  std::vector<std::string> parts;
  if (r.batch().status() != v1::BATCH_STATUS_UNSPECIFIED) {
    parts.push_back(StatusName(r.batch().status()));
  }
  if (r.credits_basis() == v1::CREDITS_BASIS_PRE_READ) {
    parts.push_back(absl::StrCat(r.credits_reserved(), " credits reserved"));
  } else {
    parts.push_back("credits reserved unknown (the batch could not be read first)");
  }
  absl::StrAppend(&out, ": ", absl::StrJoin(parts, ", "));
  if (const size_t at = r.result_set().rfind('/'); at != std::string::npos) {
    absl::StrAppend(&out, "; its results will be result set ", r.result_set().substr(at + 1));
  }
  if (r.reconciled()) absl::StrAppend(&out, " (confirmed by reading the batch after a lost reply)");
  return out;
}

std::string FormatStopAllTable(const v1::StopAllBatchesResponse& r, const Terminal& terminal,
                               bool no_headers) {
  if (r.batches_size() == 0) return "";
  Table table({{"ID"}, {"NAME", true}, {"STATUS"}, {"CREDITS"}, {"REFUND"}});
  for (const auto& b : r.batches()) {
    const std::string id = b.name().rfind("batches/", 0) == 0 ? b.name().substr(8) : b.name();
    table.AddRow({id, b.display_name(), StatusName(b.previous_status()),
                  absl::StrCat(b.credits_required()), absl::StrCat(b.credits_refunded())});
  }
  return table.Render(terminal, no_headers);
}

std::string FormatStopAllSummary(const v1::StopAllBatchesResponse& r, bool dry_run) {
  const bool known = r.listing_complete() && r.refund_basis() == v1::REFUND_BASIS_PRE_READ;
  if (dry_run) {
    if (!r.listing_complete()) return "the batches to stop could not be listed";
    return absl::StrCat("would stop ", r.batches_size(),
                        r.batches_size() == 1 ? " batch" : " batches", "; about ",
                        r.credits_refunded_estimate(), " credits would be refunded (pre-read)");
  }
  std::string out = absl::StrCat("stopped ", r.batches_stopped(),
                                 r.batches_stopped() == 1 ? " batch" : " batches");
  if (!r.message().empty()) absl::StrAppend(&out, " (\"", r.message(), "\")");
  if (known) {
    absl::StrAppend(&out, "; about ", r.credits_refunded_estimate(),
                    " credits refunded (pre-read)");
  } else {
    absl::StrAppend(&out,
                    "; refund unknown (the batches could not be listed first; check the "
                    "account's credits)");
  }
  if (r.retried()) absl::StrAppend(&out, "; the stop was sent again after a lost reply");
  return out;
}

std::string StoppedJson(const v1::StopBatchResponse& response) { return MessageJson(response); }

std::string ErrorJson(const grpc::Status& status) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
    details.Clear();
    details.set_code(static_cast<int>(status.error_code()));
    details.set_message(status.error_message());
  }
  return MessageJson(details);
}

std::string FormatWatchEvent(const v1::WatchBatchEvent& event, absl::TimeZone zone) {
  const v1::Batch& b = event.batch();
  std::string when = "--:--:--";
  if (event.has_observe_time()) {
    when = absl::FormatTime("%H:%M:%S",
                            absl::FromUnixSeconds(event.observe_time().seconds()) +
                                absl::Nanoseconds(event.observe_time().nanos()),
                            zone);
  }
  std::string type = v1::WatchBatchEvent::EventType_Name(event.type());
  if (type.rfind("EVENT_TYPE_", 0) == 0) type = type.substr(11);
  std::string what;
  const std::string was = absl::StrCat("(was ", StatusName(event.previous_status()), ")");
  switch (event.type()) {
    case v1::WatchBatchEvent::EVENT_TYPE_SNAPSHOT:
      what = absl::StrCat(StatusName(b.status()), ", ", b.searches_total_count(), " searches");
      if (b.next_result_set_id() > 0) {
        absl::StrAppend(&what, ", next result set ", b.next_result_set_id());
      }
      if (event.has_poll_interval()) {
        absl::StrAppend(
            &what, " (polled every ",
            // Jittered: tenths of a second say enough.
            absl::FormatDuration(absl::Trunc(absl::Seconds(event.poll_interval().seconds()) +
                                                 absl::Nanoseconds(event.poll_interval().nanos()),
                                             absl::Milliseconds(100))),
            ")");
      }
      break;
    case v1::WatchBatchEvent::EVENT_TYPE_STATUS_CHANGED:
      what = absl::StrCat(StatusName(b.status()), " ", was);
      break;
    case v1::WatchBatchEvent::EVENT_TYPE_RUN_COMPLETED: {
      const v1::ResultSet& rs = event.result_set();
      what = absl::StrCat("result set ", rs.result_set_id(), ": ", rs.searches_completed(),
                          " searches, ", rs.searches_failed(), " failed");
      break;
    }
    case v1::WatchBatchEvent::EVENT_TYPE_RUN_ENDED:
      what = absl::StrCat(StatusName(b.status()), " without a result set ", was);
      break;
    case v1::WatchBatchEvent::EVENT_TYPE_BATCH_CHANGED:
      what = absl::StrCat(StatusName(b.status()), ", ", b.searches_total_count(), " searches");
      break;
    case v1::WatchBatchEvent::EVENT_TYPE_BATCH_DELETED:
      what = "the batch was deleted";
      break;
    default:
      what = "(an event this batchctl does not know)";
  }
  std::string padded = type;
  if (padded.size() < 14) padded.resize(14, ' ');
  return absl::StrCat(when, "  ", padded, "  ", what);
}

}  // namespace serpwow::client

// What batchctl prints, as pure functions (unit-tested without a server).
#pragma once

#include <grpcpp/support/status.h>

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/output.h"
#include "serpwow/batches/v1/batch_service.pb.h"

namespace serpwow::client {

// Exit status for a finished call: 0 for OK, else the gRPC code's number
// (1 CANCELLED ... 16 UNAUTHENTICATED). Usage errors exit with kExitUsage.
inline constexpr int kExitUsage = 64;
int ExitCodeFor(grpc::StatusCode code);

// "stopped batch 9E867FAA (was queued): credits refunded"
std::string FormatStopped(const serpwow::batches::v1::StopBatchResponse& response);

// "FAILED_PRECONDITION (BATCH_NOT_STOPPABLE): batch X is not queued ... [retry after 2s]"
// The reason and retry delay come from the google.rpc.Status details.
std::string FormatError(const grpc::Status& status);

// A describe block for a person, one "key: value" line per field that says
// something (unset fields are left out):
//   batch 9E867FAA "Nightly": queued
//     schedule:      weekly on mon, wed at 09:00, 17:00
//     ...
std::string FormatBatch(const serpwow::batches::v1::Batch& batch);

std::string StoppedJson(const serpwow::batches::v1::StopBatchResponse& response);

// Proto JSON of the google.rpc.Status carried by `status` (code, message,
// details), or of code and message alone when it carries none.
std::string ErrorJson(const grpc::Status& status);

// A batch as a table row (`batchctl get`, `list`): ID NAME STATUS SCHEDULE
// PRIORITY SEARCHES CREDITS RESULTS LAST-RUN AGE, and with `wide` also
// ENABLED NEXT-RESULT-SET DESTINATIONS WEBHOOK. Times are ages relative to
// `now` ("5h"), or RFC 3339 when `exact_times` (-o wide, or stdout not a
// terminal).
std::vector<Column> BatchColumns(bool wide);
std::vector<std::string> BatchCells(const serpwow::batches::v1::Batch& batch, bool wide,
                                    bool exact_times, absl::Time now);

// "started batch 9E867FAA: queued, 200 credits reserved; its results will be
// result set 4" (the parts the gateway could not know are left out).
std::string FormatStarted(const serpwow::batches::v1::StartBatchResponse& response);

// Stop all: the batches that were (or, with validate_only, are) queued or
// running, as a table ID NAME STATUS CREDITS REFUND ("" when there are none
// or the listing is incomplete), and one summary line:
//   stopped 3 batches ("3 Batches stopped"); about 250 credits refunded (pre-read)
//   would stop 3 batches; about 250 credits would be refunded (pre-read)
std::string FormatStopAllTable(const serpwow::batches::v1::StopAllBatchesResponse& response,
                               const Terminal& terminal, bool no_headers);
std::string FormatStopAllSummary(const serpwow::batches::v1::StopAllBatchesResponse& response,
                                 bool dry_run);

// "OK", "INVALID_ARGUMENT", ...
std::string CodeName(grpc::StatusCode code);

// Exit status of `start --wait` and `watch --until_done` when the run ended
// without a result set (stopped, failed, or the batch was deleted).
inline constexpr int kExitRunEndedWithoutResults = 65;

// One line per watch event, the time (HH:MM:SS in `zone`) first:
//   19:05:15  SNAPSHOT        idle, 200 searches, next result set 4 (polled every 60s)
//   19:05:15  STATUS_CHANGED  running (was queued)
//   19:09:40  RUN_COMPLETED   result set 4: 200 searches, 0 failed
//   19:09:40  RUN_ENDED       idle without a result set (was running)
//   19:10:02  BATCH_CHANGED   idle, 210 searches
//   19:11:00  BATCH_DELETED   the batch was deleted
std::string FormatWatchEvent(const serpwow::batches::v1::WatchBatchEvent& event,
                             absl::TimeZone zone);

}  // namespace serpwow::client

// What batchctl prints for the account, result sets and searches (pure
// functions, unit-tested without a server). Table cells follow the rules of
// BatchCells (batchctl_format.h): ages on a terminal, RFC 3339 with -o wide or
// when stdout is not a terminal.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/output.h"
#include "serpwow/batches/v1/batch_service.pb.h"

namespace serpwow::client {

// CREDITS-REMAINING USED LIMIT RESETS BATCHES DESTINATIONS (used/limit);
// wide adds TOPUP, BATCHES-AVAILABLE, DESTINATIONS-AVAILABLE. A figure
// SerpWow did not send is empty.
std::vector<Column> AccountColumns(bool wide);
std::vector<std::string> AccountCells(const serpwow::batches::v1::Account& account, bool wide,
                                      bool exact_times, absl::Time now);

// ID STARTED ENDED COMPLETED FAILED EXPIRES WEBHOOK; wide adds PAGES and
// DESTINATIONS (each "id=status").
std::vector<Column> ResultSetColumns(bool wide);
std::vector<std::string> ResultSetCells(const serpwow::batches::v1::ResultSet& result_set,
                                        bool wide, bool exact_times, absl::Time now);

// A describe block for one result set, with its delivery logs and links:
//   result set 4 of batch 9E867FAA
//     started:       2026-12-02T10:00:00Z
//     ...
std::string FormatResultSet(const serpwow::batches::v1::ResultSet& result_set);

// ID CUSTOM-ID Q LOCATION TYPE PARAMS (params "k=v" sorted, space
// separated); wide adds INCLUDE-HTML and MAX-PAGE.
std::vector<Column> SearchColumns(bool wide);
std::vector<std::string> SearchCells(const serpwow::batches::v1::Search& search, bool wide,
                                     bool exact_times, absl::Time now);

// Download links, one URL per line (pipe-friendly): the pages in order, then
// the all-pages archive if any.
std::string FormatLinks(const serpwow::batches::v1::DownloadLinks& links);

}  // namespace serpwow::client

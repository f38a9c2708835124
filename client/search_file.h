// `batchctl searches add -f FILE`: searches from a CSV, JSON Lines or JSON
// file, and `--param k=v` pairs.
//
// Every format names a search's fields the same way: q, location,
// search_type, custom_id, include_html, max_page; any other name is one of
// the search's `params` (gl, hl, device, ...). A field named api_key is
// refused here, before anything is sent: the gateway holds the only key.
//
//   CSV (RFC 4180): a header row of field names, then one search per row.
//     Quoted cells may hold commas, quotes ("") and line breaks. An empty
//     cell leaves its field unset.
//   JSON Lines: one object per line; blank lines are skipped.
//   JSON: an array of objects, or an object with a "searches" array (the
//     shape SerpWow's own examples use).
// In the objects, numbers and booleans are accepted for include_html and
// max_page; a params value that is not a string is kept as its JSON text.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "serpwow/batches/v1/resources.pb.h"

namespace serpwow::client {

enum class SearchFileFormat { kCsv, kJsonLines, kJson };

// The format of `path`: by its extension (.csv, .jsonl/.ndjson, .json),
// else InvalidArgument.
absl::StatusOr<SearchFileFormat> SearchFileFormatOf(const std::string& path);

// The searches in `text`. `where` (the file name) starts every error
// message, with the line: "searches.csv line 4: max_page \"x\" is not a
// number".
absl::StatusOr<std::vector<serpwow::batches::v1::Search>> ParseSearches(const std::string& text,
                                                                        SearchFileFormat format,
                                                                        const std::string& where);

// ReadFile + SearchFileFormatOf + ParseSearches.
absl::StatusOr<std::vector<serpwow::batches::v1::Search>> ReadSearchFile(const std::string& path);

// Sets the field `name` of `*search` from the text `value` (the rules
// above); InvalidArgument naming the field otherwise. Used by the files and
// by `searches add|update` flags.
absl::Status SetSearchField(const std::string& name, const std::string& value,
                            serpwow::batches::v1::Search* search);

// The AIP-160 string literal of `text` ("..." with \" and \\ escaped): the
// value side of a ListSearches filter.
std::string FilterLiteral(const std::string& text);

}  // namespace serpwow::client

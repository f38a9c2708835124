// How batchctl prints resources, the habits of kubectl and gh: a table for
// a person on a terminal (columns that fit its width, long cells cut with
// "…"), tab-separated values with no header and nothing cut when stdout is
// not a terminal (gh's scriptability rule), and `-o json|jsonl|name` for
// programs. Pure functions, unit-tested without a server.
#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace serpwow::client {

// -o table (the default) | wide (more columns, exact times) | json (proto
// JSON: an array for lists, the object otherwise) | jsonl (one object per
// line) | name (one resource name per line, for xargs).
enum class Format { kTable, kWide, kJson, kJsonl, kName };
absl::StatusOr<Format> ParseFormat(absl::string_view text);

// Where the output goes.
struct Terminal {
  // stdout is a terminal, or BATCHCTL_FORCE_TTY=1 (as gh's GH_FORCE_TTY).
  bool is_tty = false;
  // Columns: $COLUMNS, else the terminal's, else 80. Unused when !is_tty.
  int width = 80;
};
Terminal DetectTerminal();

struct Column {
  std::string header;  // upper case, e.g. "LAST-RUN"
  // May be cut to fit the terminal's width (names, schedules, URLs); the
  // others (ids, numbers, states) never are.
  bool flexible = false;
};

class Table {
 public:
  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}
  // One cell per column (missing cells are empty, extra ones ignored).
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }

  // On a terminal: a header line (unless `no_headers`), then the rows,
  // columns left-aligned and three spaces apart; when a line would be wider
  // than the terminal, the flexible columns shrink (widest first, never
  // below 8 characters) and their cells are cut with "…". Not a terminal:
  // one line per row, cells separated by a tab, no header, nothing cut;
  // tabs and line breaks inside a cell become spaces. Widths count UTF-8
  // characters, not bytes.
  std::string Render(const Terminal& terminal, bool no_headers) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// kubectl's AGE: "45s", "12m", "5h", "3d", "2y" (the largest unit, rounded
// down); "0s" for negative durations (clock skew).
std::string Age(absl::Duration age);

// A UTF-8 string cut to at most `width` characters, the last one "…" when
// cut.
std::string CutToWidth(const std::string& text, size_t width);

// Proto JSON of a message (every field, default values included), on one
// line.
std::string MessageJson(const google::protobuf::Message& message);

// `messages` in `format` kJson (an array when `as_list`, else the single
// object), kJsonl (one per line) or kName (their `name` fields). Other
// formats are the caller's tables.
std::string PrintMessages(const std::vector<const google::protobuf::Message*>& messages,
                          Format format, bool as_list);

}  // namespace serpwow::client

#include "client/search_file.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"

namespace serpwow::client {
namespace {

namespace v1 = serpwow::batches::v1;
using json = nlohmann::json;

absl::StatusOr<bool> ParseBool(const std::string& name, const std::string& value) {
  const std::string v = absl::AsciiStrToLower(value);
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  return absl::InvalidArgumentError(absl::StrCat(name, " \"", value, "\" is not true or false"));
}

// One CSV record: its cells and the line it began on.
struct Record {
  std::vector<std::string> cells;
  int line = 0;
};

// RFC 4180, with LF or CRLF line ends; a quote inside an unquoted cell is
// kept as it is (lenient, like most spreadsheets' exports).
absl::StatusOr<std::vector<Record>> SplitCsv(const std::string& text, const std::string& where) {
  std::vector<Record> records;
  Record current;
  std::string cell;
  int line = 1;
  current.line = line;
  bool quoted = false;
  bool cell_started = false;  // the record has content (a blank line has none)
  size_t i = 0;
  if (absl::StartsWith(text, "\xEF\xBB\xBF")) i = 3;  // a UTF-8 byte order mark
  auto end_record = [&] {
    current.cells.push_back(std::move(cell));
    cell.clear();
    if (cell_started) records.push_back(std::move(current));
    current = Record();
    cell_started = false;
  };
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          cell.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        cell.push_back(c);
      }
      continue;
    }
    if (c == '"' && cell.empty()) {
      quoted = true;
      cell_started = true;
    } else if (c == ',') {
      current.cells.push_back(std::move(cell));
      cell.clear();
      cell_started = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_record();
      ++line;
      current.line = line;
    } else {
      cell.push_back(c);
      cell_started = true;
    }
  }
  if (quoted) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " line ", current.line, ": a quoted cell is not closed"));
  }
  end_record();
  return records;
}

absl::StatusOr<std::vector<v1::Search>> ParseCsv(const std::string& text,
                                                 const std::string& where) {
  absl::StatusOr<std::vector<Record>> records = SplitCsv(text, where);
  if (!records.ok()) return records.status();
  if (records->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": no header row"));
  }
  std::vector<std::string> header;
  for (const std::string& name : records->front().cells) {
    header.push_back(std::string(absl::StripAsciiWhitespace(name)));
    if (header.back().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " line 1: column ", header.size(), " has no name"));
    }
  }
  std::vector<v1::Search> out;
  for (size_t r = 1; r < records->size(); ++r) {
    const Record& record = (*records)[r];
    if (record.cells.size() > header.size()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " line ", record.line, ": ",
                                                     record.cells.size(), " cells for ",
                                                     header.size(), " columns"));
    }
    v1::Search search;
    for (size_t c = 0; c < record.cells.size(); ++c) {
      if (record.cells[c].empty()) continue;
      if (absl::Status s = SetSearchField(header[c], record.cells[c], &search); !s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " line ", record.line, ": ", s.message()));
      }
    }
    out.push_back(std::move(search));
  }
  return out;
}

// One JSON object into a search; `at` says where it is ("line 3", "item 2").
absl::Status FromObject(const json& object, const std::string& at, v1::Search* search) {
  if (!object.is_object()) return absl::InvalidArgumentError(absl::StrCat(at, ": not an object"));
  for (const auto& [name, value] : object.items()) {
    if (value.is_null()) continue;
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_boolean() || value.is_number_integer() || value.is_number_unsigned() ||
               value.is_number_float()) {
      text = value.dump();
    } else if (name == "q" || name == "location" || name == "search_type" || name == "custom_id" ||
               name == "include_html" || name == "max_page") {
      return absl::InvalidArgumentError(absl::StrCat(at, ": ", name, " is not a value"));
    } else {
      text = value.dump();  // a structured parameter, as its JSON text
    }
    if (absl::Status s = SetSearchField(name, text, search); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(at, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::Search>> ParseJsonLines(const std::string& text,
                                                       const std::string& where) {
  std::vector<v1::Search> out;
  int line = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line;
    const std::string row(absl::StripAsciiWhitespace(text.substr(start, end - start)));
    start = end + 1;
    if (row.empty()) continue;
    json object = json::parse(row, nullptr, false);
    if (object.is_discarded()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " line ", line, ": not JSON"));
    }
    v1::Search search;
    if (absl::Status s = FromObject(object, absl::StrCat(where, " line ", line), &search);
        !s.ok()) {
      return s;
    }
    out.push_back(std::move(search));
  }
  return out;
}

absl::StatusOr<std::vector<v1::Search>> ParseJson(const std::string& text,
                                                  const std::string& where) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(where, ": not JSON"));
  if (doc.is_object() && doc.contains("searches")) doc = doc["searches"];
  if (!doc.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected an array of searches or {\"searches\": [...]}"));
  }
  std::vector<v1::Search> out;
  for (size_t i = 0; i < doc.size(); ++i) {
    v1::Search search;
    if (absl::Status s = FromObject(doc[i], absl::StrCat(where, " item ", i + 1), &search);
        !s.ok()) {
      return s;
    }
    out.push_back(std::move(search));
  }
  return out;
}

}  // namespace

absl::StatusOr<SearchFileFormat> SearchFileFormatOf(const std::string& path) {
  const std::string lower = absl::AsciiStrToLower(path);
  if (absl::EndsWith(lower, ".csv")) return SearchFileFormat::kCsv;
  if (absl::EndsWith(lower, ".jsonl") || absl::EndsWith(lower, ".ndjson")) {
    return SearchFileFormat::kJsonLines;
  }
  if (absl::EndsWith(lower, ".json")) return SearchFileFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": name the file .csv, .jsonl or .json so its format is known"));
}

absl::StatusOr<std::vector<v1::Search>> ParseSearches(const std::string& text,
                                                      SearchFileFormat format,
                                                      const std::string& where) {
  switch (format) {
    case SearchFileFormat::kCsv:
      return ParseCsv(text, where);
    case SearchFileFormat::kJsonLines:
      return ParseJsonLines(text, where);
    case SearchFileFormat::kJson:
      return ParseJson(text, where);
  }
  return absl::InvalidArgumentError("unknown format");
}

absl::StatusOr<std::vector<v1::Search>> ReadSearchFile(const std::string& path) {
  absl::StatusOr<SearchFileFormat> format = SearchFileFormatOf(path);
  if (!format.ok()) return format.status();
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseSearches(*text, *format, path);
}

absl::Status SetSearchField(const std::string& name, const std::string& value, v1::Search* search) {
  if (absl::AsciiStrToLower(name) == "api_key") {
    return absl::InvalidArgumentError(
        "api_key may not be a search parameter: the gateway sends its own key");
  }
  if (name == "q") {
    search->set_q(value);
  } else if (name == "location") {
    search->set_location(value);
  } else if (name == "search_type") {
    search->set_search_type(value);
  } else if (name == "custom_id") {
    search->set_custom_id(value);
  } else if (name == "include_html") {
    absl::StatusOr<bool> b = ParseBool(name, value);
    if (!b.ok()) return b.status();
    search->set_include_html(*b);
  } else if (name == "max_page") {
    int32_t n = 0;
    if (!absl::SimpleAtoi(value, &n) || n < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("max_page \"", value, "\" is not a positive number"));
    }
    search->set_max_page(n);
  } else if (name.empty()) {
    return absl::InvalidArgumentError("a parameter needs a name");
  } else {
    (*search->mutable_params())[name] = value;
  }
  return absl::OkStatus();
}

std::string FilterLiteral(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace serpwow::client

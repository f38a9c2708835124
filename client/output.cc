#include "client/output.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace serpwow::client {
namespace {

// Characters (code points) in well-formed or not UTF-8: every byte that is
// not a continuation byte starts one.
size_t Width(const std::string& text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

std::string Flatten(std::string cell) {
  for (char& c : cell) {
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  }
  return cell;
}

}  // namespace

absl::StatusOr<Format> ParseFormat(absl::string_view text) {
  if (text == "table" || text.empty()) return Format::kTable;
  if (text == "wide") return Format::kWide;
  if (text == "json") return Format::kJson;
  if (text == "jsonl") return Format::kJsonl;
  if (text == "name") return Format::kName;
  return absl::InvalidArgumentError(
      absl::StrCat("-o ", std::string(text.data(), text.size()),
                   ": the formats are table, wide, json, jsonl and name"));
}

Terminal DetectTerminal() {
  Terminal t;
  const char* force = std::getenv("BATCHCTL_FORCE_TTY");
  t.is_tty = (force != nullptr && std::string(force) == "1") || isatty(STDOUT_FILENO) == 1;
  int columns = 0;
  if (const char* env = std::getenv("COLUMNS");
      env != nullptr && absl::SimpleAtoi(env, &columns) && columns >= 20 && columns <= 1000) {
    t.width = columns;
  } else {
    winsize size{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col >= 20) t.width = size.ws_col;
  }
  return t;
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  for (std::string& cell : cells) cell = Flatten(std::move(cell));
  rows_.push_back(std::move(cells));
}

std::string Table::Render(const Terminal& terminal, bool no_headers) const {
  std::string out;
  if (!terminal.is_tty) {
    for (const auto& row : rows_) {
      for (size_t i = 0; i < row.size(); ++i) absl::StrAppend(&out, i == 0 ? "" : "\t", row[i]);
      out += '\n';
    }
    return out;
  }
  constexpr size_t kGap = 3;
  constexpr size_t kMinFlexible = 8;
  std::vector<size_t> widths(columns_.size(), 0);
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (!no_headers) widths[i] = Width(columns_[i].header);
    for (const auto& row : rows_) widths[i] = std::max(widths[i], Width(row[i]));
  }
  auto total = [&] {
    size_t sum = 0;
    for (size_t w : widths) sum += w;
    return sum + kGap * (widths.empty() ? 0 : widths.size() - 1);
  };
  const size_t limit = static_cast<size_t>(std::max(terminal.width, 20));
  while (total() > limit) {
    size_t widest = widths.size();
    for (size_t i = 0; i < widths.size(); ++i) {
      if (columns_[i].flexible && widths[i] > kMinFlexible &&
          (widest == widths.size() || widths[i] > widths[widest])) {
        widest = i;
      }
    }
    if (widest == widths.size()) break;  // nothing left to shrink
    --widths[widest];
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t i = 0; i < cells.size(); ++i) {
      std::string cell = CutToWidth(cells[i], widths[i]);
      text += cell;
      if (i + 1 < cells.size()) text.append(widths[i] - Width(cell) + kGap, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text;
    out += '\n';
  };
  if (!no_headers) {
    std::vector<std::string> headers;
    for (const Column& c : columns_) headers.push_back(c.header);
    line(headers);
  }
  for (const auto& row : rows_) line(row);
  return out;
}

std::string Age(absl::Duration age) {
  const int64_t s = absl::ToInt64Seconds(age);
  if (s < 0) return "0s";
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrCat(s / 60, "m");
  if (s < 86400) return absl::StrCat(s / 3600, "h");
  if (s < 365 * 86400) return absl::StrCat(s / 86400, "d");
  return absl::StrCat(s / (365 * 86400), "y");
}

std::string CutToWidth(const std::string& text, size_t width) {
  if (Width(text) <= width) return text;
  if (width == 0) return "";
  std::string out;
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80) {
      if (chars == width - 1) break;
      ++chars;
    }
    out += text[i];
  }
  return out + "\u2026";
}

std::string MessageJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "{}";
  return out;
}

std::string PrintMessages(const std::vector<const google::protobuf::Message*>& messages,
                          Format format, bool as_list) {
  std::string out;
  switch (format) {
    case Format::kJson:
      if (!as_list) return messages.empty() ? "{}\n" : MessageJson(*messages[0]) + "\n";
      out = "[";
      for (size_t i = 0; i < messages.size(); ++i) {
        absl::StrAppend(&out, i == 0 ? "" : ",\n", MessageJson(*messages[i]));
      }
      return out + "]\n";
    case Format::kJsonl:
      for (const auto* m : messages) absl::StrAppend(&out, MessageJson(*m), "\n");
      return out;
    case Format::kName:
      for (const auto* m : messages) {
        const auto* field = m->GetDescriptor()->FindFieldByName("name");
        if (field != nullptr && field->type() == google::protobuf::FieldDescriptor::TYPE_STRING &&
            !field->is_repeated()) {
          absl::StrAppend(&out, m->GetReflection()->GetString(*m, field), "\n");
        }
      }
      return out;
    case Format::kTable:
    case Format::kWide:
      break;
  }
  return out;
}

}  // namespace serpwow::client

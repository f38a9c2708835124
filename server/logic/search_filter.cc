#include "server/logic/search_filter.h"

#include "absl/strings/str_cat.h"
#include "server/logic/errors.h"

namespace serpwow::logic {
namespace {

absl::Status Bad(size_t position, const std::string& what) {
  return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                      absl::StrCat("invalid filter at position ", position, ": ", what,
                                   "; a searches filter is q = \"TERM\" or custom_id = \"ID\""),
                      reason::kInvalidFilter)
      .BadRequestField("filter", absl::StrCat("position ", position, ": ", what));
}

bool Space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

std::string SearchFilter::Canonical() const {
  std::string out = absl::StrCat(param(), " = \"");
  for (char c : term) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

absl::StatusOr<SearchFilter> ParseSearchFilter(const std::string& filter) {
  if (filter.size() > kMaxSearchFilterBytes) {
    return Bad(kMaxSearchFilterBytes + 1,
               absl::StrCat("the filter is ", filter.size(), " bytes; at most ",
                            kMaxSearchFilterBytes, " are allowed"));
  }
  size_t i = 0;
  const size_t n = filter.size();
  auto skip = [&] {
    while (i < n && Space(filter[i])) ++i;
  };
  skip();
  SearchFilter out;
  const size_t field_at = i;
  while (i < n && (filter[i] == '_' || (filter[i] >= 'a' && filter[i] <= 'z') ||
                   (filter[i] >= 'A' && filter[i] <= 'Z'))) {
    ++i;
  }
  const std::string field = filter.substr(field_at, i - field_at);
  if (field == "q") {
    out.field = SearchFilter::Field::kQ;
  } else if (field == "custom_id") {
    out.field = SearchFilter::Field::kCustomId;
  } else {
    return Bad(field_at + 1, field.empty() ? "expected a field name (q or custom_id)"
                                           : "unknown field: only q and custom_id are supported");
  }
  skip();
  if (i >= n || filter[i] != '=') {
    return Bad(i + 1, "expected \"=\" (the only operator SerpWow's Find supports)");
  }
  ++i;
  skip();
  if (i >= n || (filter[i] != '"' && filter[i] != '\'')) {
    return Bad(i + 1, "expected a quoted string");
  }
  const char quote = filter[i++];
  const size_t term_at = i;
  bool closed = false;
  while (i < n) {
    const char c = filter[i];
    if (c == quote) {
      closed = true;
      ++i;
      break;
    }
    if (c == '\\') {
      if (i + 1 >= n) return Bad(i + 1, "an escape at the end of the filter");
      const char e = filter[i + 1];
      switch (e) {
        case '"':
        case '\'':
        case '\\':
          out.term.push_back(e);
          break;
        case 'n':
          out.term.push_back('\n');
          break;
        case 't':
          out.term.push_back('\t');
          break;
        case 'r':
          out.term.push_back('\r');
          break;
        default:
          return Bad(i + 1, "unknown escape (use \\\", \\', \\\\, \\n, \\t or \\r)");
      }
      i += 2;
      continue;
    }
    out.term.push_back(c);
    ++i;
  }
  if (!closed) return Bad(term_at, "the string is not closed");
  if (out.term.empty()) return Bad(term_at, "the term is empty");
  skip();
  if (i < n) {
    return Bad(i + 1,
               "unexpected text after the term (AND, OR and other fields are not supported)");
  }
  return out;
}

}  // namespace serpwow::logic

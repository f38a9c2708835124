#include "server/logic/list_filter.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "server/logic/errors.h"
#include "server/upstream/endpoints.h"

namespace serpwow::logic {
namespace {

constexpr char kFields[] =
    "status, display_name, create_time, last_run_time, destination_ids, results_count";

enum class Kind { kWord, kString, kOp, kParen, kEnd };

struct Token {
  Kind kind = Kind::kEnd;
  std::string text;     // a word, an unescaped string, an operator
  size_t position = 0;  // 1-based byte offset of its first character
};

absl::Status FilterError(size_t position, const std::string& what) {
  const std::string where = absl::StrCat("at position ", position);
  return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                      absl::StrCat("filter is not valid ", where, ": ", what,
                                   " (supported: predicates on ", kFields, " joined by AND)"),
                      reason::kInvalidFilter)
      .Metadata("position", absl::StrCat(position))
      .BadRequestField("filter", absl::StrCat(where, ": ", what));
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsSpecial(char c) {
  return c == '=' || c == '<' || c == '>' || c == ':' || c == '!' || c == '(' || c == ')' ||
         c == '"' || c == '\'';
}

// Quoted in messages only when it is short, made of safe characters and
// not a word messages must never carry (the key's parameter name).
std::string Shown(const std::string& text) {
  if (text.empty() || text.size() > 32) return "a value";
  if (absl::StrContains(absl::AsciiStrToLower(text), "api_key")) return "a value";
  for (char c : text) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) {
      return "a value";
    }
  }
  return absl::StrCat("\"", text, "\"");
}

absl::StatusOr<std::vector<Token>> Tokenize(const std::string& in) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < in.size()) {
    const char c = in[i];
    const size_t pos = i + 1;
    if (IsSpace(c)) {
      ++i;
      continue;
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return FilterError(pos, "a control character");
    }
    if (c == '"' || c == '\'') {
      std::string text;
      size_t j = i + 1;
      bool closed = false;
      while (j < in.size()) {
        if (in[j] == '\\' && j + 1 < in.size()) {
          text.push_back(in[j + 1]);
          j += 2;
          continue;
        }
        if (in[j] == c) {
          closed = true;
          break;
        }
        text.push_back(in[j]);
        ++j;
      }
      if (!closed) return FilterError(pos, "a string that is never closed");
      tokens.push_back({Kind::kString, std::move(text), pos});
      i = j + 1;
      continue;
    }
    if (c == '(' || c == ')') {
      tokens.push_back({Kind::kParen, std::string(1, c), pos});
      ++i;
      continue;
    }
    if (c == '=' || c == '<' || c == '>' || c == ':' || c == '!') {
      std::string op(1, c);
      if (i + 1 < in.size() && in[i + 1] == '=' && c != '=' && c != ':') op.push_back('=');
      tokens.push_back({Kind::kOp, op, pos});
      i += op.size();
      continue;
    }
    size_t j = i;
    while (j < in.size() && !IsSpace(in[j]) && !IsSpecial(in[j]) &&
           static_cast<unsigned char>(in[j]) >= 0x20 && in[j] != 0x7f) {
      ++j;
    }
    tokens.push_back({Kind::kWord, in.substr(i, j - i), pos});
    i = j;
  }
  tokens.push_back({Kind::kEnd, "", in.size() + 1});
  return tokens;
}

std::string Quote(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// One predicate: the parameters it sets and its canonical text. `slot` names
// the SerpWow parameter it occupies (one predicate per slot).
struct Predicate {
  std::string slot;
  std::string canonical;
  QueryParams params;
};

absl::StatusOr<Predicate> NamePattern(const Token& value, bool bare) {
  std::string v = value.text;
  const bool leading = !v.empty() && v.front() == '*';
  if (leading) v.erase(0, 1);
  const bool trailing = !v.empty() && v.back() == '*';
  if (trailing) v.pop_back();
  if (bare && (leading || trailing)) {
    return FilterError(value.position,
                       "a bare value matches names containing it; use display_name = \"x*\" "
                       "for a pattern");
  }
  if (v.empty()) return FilterError(value.position, "an empty name pattern");
  if (size_t star = v.find('*'); star != std::string::npos) {
    return FilterError(value.position + star + (leading ? 1 : 0) + (value.kind == Kind::kString),
                       "'*' is allowed only at the start or the end of a name pattern");
  }
  const char* type = bare                  ? "contains"
                     : leading && trailing ? "contains"
                     : trailing            ? "starts_with"
                     : leading             ? "ends_with"
                                           : "exact";
  Predicate p;
  p.slot = "search_term";
  p.canonical = bare
                    ? Quote(v)
                    : absl::StrCat("display_name = ",
                                   Quote(absl::StrCat(leading ? "*" : "", v, trailing ? "*" : "")));
  p.params = {{"search_term", v}, {"search_type", type}};
  return p;
}

absl::StatusOr<Predicate> Restriction(const Token& field, const Token& op, const Token& value) {
  if (value.kind != Kind::kWord && value.kind != Kind::kString) {
    return FilterError(value.position, "a value is expected after the operator");
  }
  if (op.text == "<=" || op.text == ">=") {
    return FilterError(op.position,
                       "'<=' and '>=' are not supported (SerpWow's before/after bounds may not "
                       "be inclusive); use '<' or '>'");
  }
  if (op.text == "!=" || op.text == "!") {
    return FilterError(op.position, "negation is not supported");
  }
  const std::string& f = field.text;
  auto only = [&](const char* allowed) -> absl::Status {
    if (op.text == allowed) return absl::OkStatus();
    return FilterError(op.position, absl::StrCat(f, " takes only '", allowed, "'"));
  };
  Predicate p;
  if (f == "status") {
    if (absl::Status s = only("="); !s.ok()) return s;
    std::string v = absl::AsciiStrToLower(value.text);
    if (absl::StartsWith(v, "batch_status_")) v.erase(0, 13);
    if (v != "idle" && v != "queued" && v != "running") {
      return FilterError(value.position, "status must be IDLE, QUEUED or RUNNING");
    }
    p.slot = "status";
    p.canonical = absl::StrCat("status = ", absl::AsciiStrToUpper(v));
    p.params = {{"status", v}};
    return p;
  }
  if (f == "display_name") {
    if (absl::Status s = only("="); !s.ok()) return s;
    return NamePattern(value, /*bare=*/false);
  }
  if (f == "create_time" || f == "last_run_time") {
    if (op.text != "<" && op.text != ">") {
      return FilterError(op.position, absl::StrCat(f, " takes only '<' or '>'"));
    }
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, value.text, &t, &err)) {
      return FilterError(value.position, absl::StrCat(f,
                                                      " needs an RFC 3339 time in quotes, e.g. "
                                                      "\"2026-01-31T00:00:00Z\""));
    }
    const std::string iso = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
    const std::string stem = f == "create_time" ? "created_" : "last_run_";
    p.slot = absl::StrCat(stem, op.text == ">" ? "after" : "before");
    p.canonical = absl::StrCat(f, " ", op.text, " ", Quote(iso));
    p.params = {{p.slot, iso}};
    return p;
  }
  if (f == "destination_ids") {
    if (absl::Status s = only(":"); !s.ok()) return s;
    const std::string& v = value.text;
    if (v.empty() || v.size() > upstream::kMaxIdSegmentLength ||
        !std::all_of(v.begin(), v.end(), upstream::IsAllowedIdChar)) {
      return FilterError(value.position, "a destination id is 1 to 64 letters, digits, '_' or '-'");
    }
    p.slot = "destination_id";
    p.canonical = absl::StrCat("destination_ids:", Quote(v));
    p.params = {{"destination_id", v}};
    return p;
  }
  if (f == "results_count") {
    if (value.text != "0" || (op.text != ">" && op.text != "=")) {
      return FilterError(op.position, "results_count takes only '> 0' or '= 0'");
    }
    p.slot = "results";
    p.canonical = absl::StrCat("results_count ", op.text, " 0");
    p.params = {{op.text == ">" ? "only_with_results" : "only_without_results", "true"}};
    return p;
  }
  return FilterError(field.position,
                     absl::StrCat(Shown(f), " is not a field that can be filtered on"));
}

bool IsKeyword(const Token& t, const char* word) { return t.kind == Kind::kWord && t.text == word; }

absl::Status Unexpected(const Token& t) {
  if (IsKeyword(t, "OR")) return FilterError(t.position, "OR is not supported, only AND");
  if (IsKeyword(t, "NOT") || (t.kind == Kind::kWord && absl::StartsWith(t.text, "-")) ||
      (t.kind == Kind::kOp && t.text == "!")) {
    return FilterError(t.position, "negation (NOT, '-') is not supported");
  }
  if (t.kind == Kind::kParen) return FilterError(t.position, "parentheses are not supported");
  if (t.kind == Kind::kEnd) return FilterError(t.position, "the filter ends too early");
  if (t.kind == Kind::kOp) return FilterError(t.position, "an operator without a field");
  return FilterError(t.position, "join predicates with AND");
}

}  // namespace

absl::StatusOr<BatchFilter> ParseBatchFilter(const std::string& filter) {
  if (filter.size() > kMaxFilterLength) {
    return FilterError(kMaxFilterLength + 1,
                       absl::StrCat("a filter is at most ", kMaxFilterLength, " bytes"));
  }
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(filter);
  if (!tokens.ok()) return tokens.status();
  const std::vector<Token>& t = *tokens;
  std::vector<Predicate> predicates;
  size_t i = 0;
  if (t[0].kind == Kind::kEnd) return BatchFilter{};
  while (true) {
    const Token& first = t[i];
    const bool word = first.kind == Kind::kWord && !IsKeyword(first, "AND") &&
                      !IsKeyword(first, "OR") && !IsKeyword(first, "NOT") &&
                      !absl::StartsWith(first.text, "-");
    if (!word && first.kind != Kind::kString) return Unexpected(first);
    absl::StatusOr<Predicate> p;
    if (t[i + 1].kind == Kind::kOp) {
      if (first.kind != Kind::kWord) return FilterError(first.position, "a field name is expected");
      p = Restriction(first, t[i + 1], t[i + 2]);
      i += 3;
    } else {
      p = NamePattern(first, /*bare=*/true);
      i += 1;
    }
    if (!p.ok()) return p.status();
    for (const Predicate& seen : predicates) {
      if (seen.slot == p->slot) {
        return FilterError(first.position, "the same condition is given twice");
      }
    }
    predicates.push_back(std::move(*p));
    if (t[i].kind == Kind::kEnd) break;
    if (!IsKeyword(t[i], "AND")) return Unexpected(t[i]);
    ++i;
  }
  std::sort(predicates.begin(), predicates.end(),
            [](const Predicate& a, const Predicate& b) { return a.slot < b.slot; });
  BatchFilter out;
  std::vector<std::string> texts;
  for (Predicate& p : predicates) {
    texts.push_back(p.canonical);
    for (auto& param : p.params) out.params.push_back(std::move(param));
  }
  std::sort(out.params.begin(), out.params.end());
  out.canonical = absl::StrJoin(texts, " AND ");
  return out;
}

absl::StatusOr<BatchOrder> ParseBatchOrderBy(const std::string& order_by) {
  auto error = [](size_t position, const std::string& what) -> absl::Status {
    const std::string where = absl::StrCat("at position ", position);
    return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("order_by is not valid ", where, ": ", what,
                                     " (one of display_name, create_time, last_run_time, "
                                     "priority, status, optionally followed by \" desc\")"),
                        reason::kInvalidOrderBy)
        .Metadata("position", absl::StrCat(position))
        .BadRequestField("order_by", absl::StrCat(where, ": ", what));
  };
  if (order_by.size() > 64) return error(65, "too long");
  // Words and their positions.
  std::vector<std::pair<std::string, size_t>> words;
  for (size_t i = 0; i < order_by.size();) {
    if (IsSpace(order_by[i])) {
      ++i;
      continue;
    }
    if (order_by[i] == ',') return error(i + 1, "only one sort key is supported");
    size_t j = i;
    while (j < order_by.size() && !IsSpace(order_by[j]) && order_by[j] != ',') ++j;
    words.emplace_back(order_by.substr(i, j - i), i + 1);
    i = j;
  }
  BatchOrder out;
  if (words.empty()) {
    out.sort_by = "created_at";
    out.sort_direction = "ascending";
    out.canonical = "create_time";
    return out;
  }
  static constexpr std::pair<const char*, const char*> kKeys[] = {{"display_name", "name"},
                                                                  {"create_time", "created_at"},
                                                                  {"last_run_time", "last_run"},
                                                                  {"priority", "priority"},
                                                                  {"status", "status"}};
  for (const auto& [field, sort_by] : kKeys) {
    if (words[0].first == field) out.sort_by = sort_by;
  }
  if (out.sort_by.empty()) {
    return error(words[0].second, absl::StrCat(Shown(words[0].first), " is not a sort key"));
  }
  bool desc = false;
  if (words.size() >= 2) {
    if (words[1].first == "desc") {
      desc = true;
    } else if (words[1].first != "asc") {
      return error(words[1].second, "expected \"desc\" or \"asc\" after the key");
    }
  }
  if (words.size() > 2) return error(words[2].second, "only one sort key is supported");
  out.sort_direction = desc ? "descending" : "ascending";
  out.canonical = absl::StrCat(words[0].first, desc ? " desc" : "");
  return out;
}

}  // namespace serpwow::logic
